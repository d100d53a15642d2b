"""schemactl on a repository of schema files (issue 14, first part): several files and directories, named types
used across files and resolved through schemactl.toml's [paths], errors naming both files, cycles."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import REPO, edit_json as edit, git, server_binary

FIXTURE = os.path.join(REPO, "fixtures", "repository")


def schemactl(*arguments, cwd):
    binary = os.path.join(os.path.dirname(server_binary()), "schemactl")
    return subprocess.run([binary, *arguments], capture_output=True, text=True, cwd=cwd, timeout=60)


@pytest.fixture
def repository(tmp_path):
    target = tmp_path / "repo"
    shutil.copytree(FIXTURE, target)
    return target


def write(path, document):
    path.write_text(json.dumps(document))


def test_a_folder_with_types_across_files_validates(repository):
    result = schemactl("validate", "schemas/", cwd=repository)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "9 files: 9 valid"
    assert "schemas/customer.avsc: valid Avro schema (record com.acme.Customer" in result.stdout
    assert any(line.startswith("schemas/shipment.avsc: valid") and "using types from" in line and "schemas/order.avsc" in line
               for line in lines), result.stdout
    # Files named one by one, with a directory, and a file twice: each once.
    named = schemactl("validate", "schemas/order.avsc", "common", "./schemas/order.avsc", cwd=repository)
    assert named.returncode == 0 and named.stdout.splitlines()[-1] == "4 files: 4 valid", named.stdout


def test_validate_reports_for_tools_and_github(repository):
    edit(repository / "common" / "money.avsc", lambda d: d["fields"][1].update({"default": 7}))  # a string with a number default
    document = json.loads(schemactl("validate", "schemas/", "common/", "--format", "json", cwd=repository).stdout)
    assert document["valid"] is False and document["summary"] == "12 files: 3 valid, 9 INVALID", document["summary"]
    by_path = {entry["path"]: entry for entry in document["files"]}
    assert by_path["common/money.avsc"]["verdict"] == "invalid" and "/fields/1/default" in by_path["common/money.avsc"]["message"]
    assert by_path["schemas/product.avsc"]["verdict"] == "invalid" and "uses com.acme.common.Money from common/money.avsc" in by_path["schemas/product.avsc"]["message"]
    assert by_path["schemas/customer.avsc"]["uses"] == ["common/address.avsc"]
    github = schemactl("validate", "schemas/", "common/", "--format", "github", cwd=repository)
    assert github.returncode == 2
    errors = [line for line in github.stdout.splitlines() if line.startswith("::error file=")]
    assert len(errors) == 9 and any(line.startswith("::error file=common/money.avsc,title=invalid schema::") for line in errors), github.stdout
    assert github.stdout.splitlines()[-1] == "::error title=schemactl validate::12 files: 3 valid, 9 INVALID"


def test_without_the_project_file_a_type_from_another_file_is_unknown_unless_that_file_is_given(repository):
    os.remove(repository / "schemactl.toml")
    alone = schemactl("validate", "schemas/customer.avsc", cwd=repository)
    assert alone.returncode == 2
    assert 'schemas/customer.avsc: invalid Avro schema at /fields/2/type: unknown type "com.acme.common.Address"' in alone.stderr
    folder = schemactl("validate", "schemas", cwd=repository)
    assert folder.returncode == 2 and folder.stdout.splitlines()[-1] == "9 files: 0 valid, 9 INVALID", folder.stdout
    both = schemactl("validate", "schemas", "common", cwd=repository)
    assert both.returncode == 0 and both.stdout.splitlines()[-1] == "12 files: 12 valid", both.stdout


def test_two_files_defining_a_type_differently_is_an_error_naming_both(repository):
    write(repository / "schemas" / "money-copy.avsc",
          {"type": "record", "name": "Money", "namespace": "com.acme.common", "fields": [{"name": "cents", "type": "long"}]})
    result = schemactl("validate", "schemas/product.avsc", cwd=repository)
    assert result.returncode == 2
    assert "type com.acme.common.Money is defined differently in" in result.stderr
    assert "schemas/money-copy.avsc" in result.stderr and "common/money.avsc" in result.stderr
    # The same definition in two files is no conflict.
    shutil.copy(repository / "common" / "money.avsc", repository / "schemas" / "money-copy.avsc")
    assert schemactl("validate", "schemas/product.avsc", cwd=repository).returncode == 0


def test_one_file_defining_a_type_twice_is_an_error_naming_it(repository):
    write(repository / "schemas" / "twice.avsc", {"type": "record", "name": "T", "namespace": "x", "fields": [
        {"name": "a", "type": {"type": "enum", "name": "E", "symbols": ["A"]}},
        {"name": "b", "type": {"type": "enum", "name": "E", "symbols": ["B"]}}]})
    result = schemactl("validate", "schemas/twice.avsc", cwd=repository)
    assert result.returncode == 2 and "schemas/twice.avsc: invalid Avro schema at /fields/1/type/name" in result.stderr, result.stderr


def test_a_cycle_of_files_is_reported(repository):
    write(repository / "schemas" / "a.avsc", {"type": "record", "name": "A", "namespace": "cyc", "fields": [{"name": "b", "type": "cyc.B"}]})
    write(repository / "schemas" / "b.avsc", {"type": "record", "name": "B", "namespace": "cyc", "fields": [{"name": "a", "type": "cyc.A"}]})
    result = schemactl("validate", "schemas/a.avsc", "schemas/b.avsc", cwd=repository)
    assert result.returncode == 2
    assert "the files use each other's types in a cycle (schemas/a.avsc → schemas/b.avsc → schemas/a.avsc)" in result.stdout, result.stdout


def test_a_cycle_of_files_is_fine_when_the_types_allow_it(repository):
    # a.avsc's record uses Y from b.avsc; b.avsc's Y uses the enum E defined inside a.avsc: the files need each
    # other, the types do not (A → Y → E).
    write(repository / "schemas" / "a.avsc", {"type": "record", "name": "A", "namespace": "cyc", "fields": [
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X", "Z"]}}, {"name": "y", "type": "Y"}]})
    write(repository / "schemas" / "b.avsc", {"type": "record", "name": "Y", "namespace": "cyc", "fields": [
        {"name": "kind", "type": "E"}, {"name": "n", "type": "int"}]})
    for order in (["schemas/a.avsc", "schemas/b.avsc"], ["schemas/b.avsc", "schemas/a.avsc"]):
        result = schemactl("validate", *order, cwd=repository)
        assert result.returncode == 0 and result.stdout.splitlines()[-1] == "2 files: 2 valid", result.stdout + result.stderr
        assert "copied in: the files use each other's types" in result.stdout
    canonical = schemactl("canonical", "schemas/a.avsc", "schemas/b.avsc", cwd=repository)
    assert canonical.returncode == 0, canonical.stderr
    a, b = (line.split(": ", 1)[1] for line in canonical.stdout.splitlines())
    assert '"name":"cyc.Y"' in a and '"name":"cyc.E"' in b, canonical.stdout  # each holds what it needs from the other
    # The whole folder, with the cycle inside it, still validates.
    assert schemactl("validate", "schemas", cwd=repository).stdout.splitlines()[-1] == "11 files: 11 valid"
    # E defined after the field using Y: Y's copy comes first, so E's definition moves up to it.
    write(repository / "schemas" / "a.avsc", {"type": "record", "name": "A", "namespace": "cyc", "fields": [
        {"name": "y", "type": "Y"}, {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X", "Z"]}}]})
    late = schemactl("validate", "schemas/a.avsc", "schemas/b.avsc", cwd=repository)
    assert late.returncode == 0 and late.stdout.splitlines()[-1] == "2 files: 2 valid", late.stdout + late.stderr


def test_an_invalid_file_another_one_uses_is_named_in_both_verdicts(repository):
    address = json.loads((repository / "common" / "address.avsc").read_text())
    address["fields"][0]["default"] = 7  # a string field with a number default
    write(repository / "common" / "address.avsc", address)
    result = schemactl("validate", "schemas/customer.avsc", "common/address.avsc", cwd=repository)
    assert result.returncode == 2
    assert "schemas/customer.avsc uses com.acme.common.Address from common/address.avsc, which is invalid" in result.stdout
    assert result.stdout.splitlines()[-1] == "2 files: 0 valid, 2 INVALID"


def test_normalize_and_canonical_take_several_files(repository):
    canonical = schemactl("canonical", "schemas/customer.avsc", "schemas/product.avsc", cwd=repository)
    assert canonical.returncode == 0, canonical.stderr
    lines = canonical.stdout.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == ["schemas/customer.avsc", "schemas/product.avsc"]
    # Parsing Canonical Form writes the types from other files in full.
    assert '"name":"com.acme.common.Address","type":"record"' in lines[0]
    registered = schemactl("normalize", "--as-registered", "schemas/customer.avsc", cwd=repository)
    # The registry's canonical string names them: they travel as references.
    assert registered.returncode == 0 and '"type":"com.acme.common.Address"' in registered.stdout, registered.stdout


@pytest.fixture
def history(repository):
    """A real repository: the fixture with a `legacy` field in Customer (commit 1), the field removed (commit 2),
    payment.avsc renamed to payments.avsc (commit 3)."""
    git("init", "-q", "-b", "main", cwd=repository)
    git("config", "user.email", "ci@example.com", cwd=repository)
    git("config", "user.name", "CI", cwd=repository)
    edit(repository / "schemas" / "customer.avsc", lambda d: d["fields"].append({"name": "legacy", "type": "string"}))
    git("add", "-A", cwd=repository)
    git("commit", "-q", "-m", "schemas", cwd=repository)
    edit(repository / "schemas" / "customer.avsc", lambda d: d["fields"].pop())
    git("commit", "-q", "-am", "customer without legacy", cwd=repository)
    git("mv", "schemas/payment.avsc", "schemas/payments.avsc", cwd=repository)
    git("commit", "-q", "-m", "rename", cwd=repository)
    return repository


def test_a_pull_request_checked_against_git_history(history):
    # The working tree: a required field added to Order (breaks BACKWARD, and FULL from schemactl.toml), a new
    # file, a deleted one, an optional field in Payment (renamed earlier).
    edit(history / "schemas" / "order.avsc", lambda d: d["fields"].append({"name": "channel", "type": "string"}))
    (history / "schemas" / "loyalty.avsc").write_text(json.dumps(
        {"type": "record", "name": "Loyalty", "namespace": "com.acme", "fields": [{"name": "customer", "type": "Customer"}]}))
    os.remove(history / "schemas" / "inventory.avsc")
    edit(history / "schemas" / "payments.avsc", lambda d: d["fields"].append({"name": "note", "type": "string", "default": ""}))
    result = schemactl("check", "schemas/", "--against-git", "HEAD", cwd=history)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    # Invoice holds an Order: the change breaks it too. The three common/ files the schemas use are checked as well
    # (register would send them).
    assert lines[-1] == "12 files: 10 compatible, 2 INCOMPATIBLE (1 new); 1 deleted", result.stdout
    assert "COMPATIBLE: common/money.avsc is BACKWARD compatible" in result.stdout
    assert "INCOMPATIBLE: schemas/order.avsc is not FULL compatible" in result.stdout
    assert "INCOMPATIBLE: schemas/invoice.avsc is not BACKWARD compatible" in result.stdout
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in result.stdout and "schemas/order.avsc@HEAD" in result.stdout
    assert "COMPATIBLE: schemas/loyalty.avsc is new since HEAD" in result.stdout
    assert "DELETED: schemas/inventory.avsc existed at HEAD and is gone" in result.stdout
    assert "COMPATIBLE: schemas/payments.avsc is BACKWARD compatible with 1 version: v1 (schemas/payments.avsc@HEAD)" in result.stdout
    # GitHub annotations carry each problem's file; JSON is one document.
    annotations = schemactl("check", "schemas/", "--against-git", "HEAD", "--format", "github", cwd=history)
    assert annotations.returncode == 1
    errors = [line for line in annotations.stdout.splitlines() if line.startswith("::error file=")]
    assert any(line.startswith("::error file=schemas/order.avsc,title=READER_FIELD_MISSING_DEFAULT_VALUE") for line in errors)
    # Invoice breaks through Order's new field: its annotation goes to order.avsc, where the fix is, and says so.
    assert len(errors) == 2 and not any(line.startswith("::error file=schemas/invoice.avsc") for line in errors), annotations.stdout
    assert any(line.startswith("::error file=schemas/order.avsc,") and "breaks schemas/invoice.avsc" in line for line in errors), annotations.stdout
    document = json.loads(schemactl("check", "schemas/", "--against-git", "HEAD", "--format", "json", cwd=history).stdout)
    assert document["compatible"] is False and len(document["files"]) == 13
    payments = next(entry for entry in document["files"] if entry["path"] == "schemas/payments.avsc")
    assert payments["verdict"] == "compatible" and payments["comparedFiles"] == ["schemas/payments.avsc@HEAD"], payments
    # Only the fixed files: compatible, exit 0.
    fine = schemactl("check", "schemas/payments.avsc", "schemas/customer.avsc", "--against-git", "HEAD", cwd=history)
    assert fine.returncode == 0 and fine.stdout.splitlines()[-1] == "5 files: 5 compatible", fine.stdout  # + money, address, country


def test_transitive_levels_compare_with_every_version_in_history_renames_followed(history):
    # `legacy` back as an int with a default: compatible with the newest version (which lacks it), not with the
    # first (where it was a string).
    edit(history / "schemas" / "customer.avsc", lambda d: d["fields"].append({"name": "legacy", "type": "int", "default": 0}))
    latest = schemactl("check", "schemas/customer.avsc", "--against-git", "HEAD", cwd=history)
    assert latest.returncode == 0, latest.stdout
    transitive = schemactl("check", "schemas/customer.avsc", "--against-git", "HEAD", "--level", "BACKWARD_TRANSITIVE", cwd=history)
    assert transitive.returncode == 1, transitive.stdout
    assert "TYPE_MISMATCH" in transitive.stdout and "1 problem with 1 existing version" in transitive.stdout, transitive.stdout
    # The renamed file's history reaches back through its old name.
    renamed = schemactl("check", "schemas/payments.avsc", "--against-git", "HEAD", "--level", "FULL_TRANSITIVE", cwd=history)
    assert renamed.returncode == 0 and "schemas/payment.avsc@" in renamed.stdout, renamed.stdout


def test_against_git_errors_are_clear(history, tmp_path):
    unknown = schemactl("check", "schemas/", "--against-git", "no-such-branch", cwd=history)
    assert unknown.returncode == 2 and "no-such-branch is not a commit in this repository" in unknown.stderr
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(history / "schemas" / "product.avsc", outside / "product.avsc")
    result = schemactl("check", "product.avsc", "--against-git", "HEAD", cwd=outside)
    assert result.returncode == 2 and "is not inside a git work tree" in result.stderr, result.stderr
    several = schemactl("check", "schemas/", "--against", "schemas/product.avsc", cwd=history)
    assert several.returncode == 2 and "with --against, check one file" in several.stderr


def test_paths_absolute_from_a_subdirectory_and_through_symlinks_find_their_history(history):
    # Money gets a required field: Payment (which holds a Money) breaks.
    edit(history / "common" / "money.avsc", lambda d: d["fields"].append({"name": "rate", "type": "double"}))
    absolute = schemactl("check", str(history / "schemas" / "payments.avsc"), "--against-git", "HEAD", cwd=history)
    assert absolute.returncode == 1 and "INCOMPATIBLE" in absolute.stdout, absolute.stdout + absolute.stderr
    # From a subdirectory: schemactl.toml is found above, and the paths are the repository's.
    below = schemactl("check", "payments.avsc", "../common/money.avsc", "--against-git", "HEAD", cwd=history / "schemas")
    assert below.returncode == 1, below.stdout + below.stderr
    assert below.stdout.splitlines()[-1] == "2 files: 0 compatible, 2 INCOMPATIBLE", below.stdout
    os.symlink(history / "schemas", history / "linked")
    linked = schemactl("check", "linked/payments.avsc", "--against-git", "HEAD", cwd=history)
    assert linked.returncode == 1, linked.stdout + linked.stderr
    # A symlink back up does not make the walk endless.
    os.symlink("..", history / "schemas" / "up")
    assert schemactl("validate", "schemas", cwd=history).stdout.splitlines()[-1] == "9 files: 9 valid"


def test_a_change_in_a_type_from_another_file_counts_as_a_version_and_renames_since_rev_are_followed(history):
    # customer.avsc itself unchanged since commit 2; Address (another file) gains an optional field in a commit.
    edit(history / "common" / "address.avsc", lambda d: d["fields"].append({"name": "zip", "type": "int", "default": 0}))
    git("commit", "-q", "-am", "zip", cwd=history)
    # The working tree makes `zip` a string: BACKWARD and BACKWARD_TRANSITIVE both see the break through Customer.
    edit(history / "common" / "address.avsc", lambda d: d["fields"][-1].update({"type": "string", "default": ""}))
    for level in ("BACKWARD", "BACKWARD_TRANSITIVE"):
        result = schemactl("check", "schemas/customer.avsc", "--against-git", "HEAD", "--level", level, cwd=history)
        assert result.returncode == 1 and "TYPE_MISMATCH" in result.stdout, (level, result.stdout)
    git("checkout", "-q", "--", "common/address.avsc", cwd=history)
    # Renamed since REV, and a required field added: checked against its old name, not "new".
    git("mv", "schemas/refund.avsc", "schemas/refunds.avsc", cwd=history)
    edit(history / "schemas" / "refunds.avsc", lambda d: d["fields"].append({"name": "reason", "type": "string"}))
    git("commit", "-q", "-am", "renamed and changed", cwd=history)
    result = schemactl("check", "schemas/", "--against-git", "HEAD~1", cwd=history)
    assert result.returncode == 1, result.stdout
    assert "INCOMPATIBLE: schemas/refunds.avsc" in result.stdout and "schemas/refund.avsc@HEAD~1" in result.stdout, result.stdout
    assert "DELETED" not in result.stdout
    # A file deleted since REV and named on the command line (git diff --name-only) is reported as deleted.
    git("rm", "-q", "schemas/inventory.avsc", cwd=history)
    named = schemactl("check", "schemas/inventory.avsc", "schemas/product.avsc", "--against-git", "HEAD", cwd=history)
    assert named.returncode == 0, named.stdout + named.stderr
    assert "DELETED: schemas/inventory.avsc existed at HEAD and is gone" in named.stdout


def test_many_large_files_through_git_do_not_hang(history):
    bulk = history / "schemas" / "bulk"
    bulk.mkdir()
    for number in range(1200):
        write(bulk / f"s{number:04}.avsc", {"type": "record", "name": f"S{number}", "namespace": "bulk", "doc": "x" * 2000,
                                             "fields": [{"name": "a", "type": "int"}]})
    git("add", "-A", cwd=history)
    git("commit", "-q", "-m", "bulk", cwd=history)
    result = subprocess.run([os.path.join(os.path.dirname(server_binary()), "schemactl"), "check", "schemas/bulk", "--against-git", "HEAD"],
                            capture_output=True, text=True, cwd=history, timeout=120)
    assert result.returncode == 0 and result.stdout.splitlines()[-1] == "1200 files: 1200 compatible", result.stdout[-500:]


def test_one_type_written_two_ways_is_one_definition_and_an_unused_conflict_is_still_an_error(repository):
    # The same Money as common/money.avsc, with the namespace folded into the name and keys in another order.
    money = json.loads((repository / "common" / "money.avsc").read_text())
    same = {"fields": money["fields"], "name": "com.acme.common.Money", "type": "record"}
    write(repository / "schemas" / "money-again.avsc", same)
    assert schemactl("validate", "schemas/", cwd=repository).returncode == 0
    # Two definitions of a type nobody uses by name, differing: both files are refused.
    write(repository / "schemas" / "x1.avsc", {"type": "enum", "name": "Lonely", "namespace": "z", "symbols": ["A"]})
    write(repository / "schemas" / "x2.avsc", {"type": "enum", "name": "z.Lonely", "symbols": ["B"]})
    result = schemactl("validate", "schemas/x1.avsc", "schemas/x2.avsc", cwd=repository)
    assert result.returncode == 2
    assert "schemas/x1.avsc: type z.Lonely is defined differently in schemas/x1.avsc and schemas/x2.avsc" in result.stdout, result.stdout
    assert "schemas/x2.avsc: type z.Lonely is defined differently in schemas/x2.avsc and schemas/x1.avsc" in result.stdout, result.stdout


# --- Found by attacking it: names git quotes or cannot batch, deep chains, endless files, project-file syntax ---


def test_a_file_name_with_a_line_break_is_refused_not_misread(history):
    # A line break in a name would shift git's batch answers: a breaking change must not pass because of it.
    edit(history / "schemas" / "customer.avsc", lambda d: d["fields"].append({"name": "legacy", "type": "string"}))
    (history / "schemas" / "a\nz.avsc").write_text(json.dumps({"type": "record", "name": "Z", "fields": [{"name": "z", "type": "int"}]}))
    git("add", "-A", cwd=history)
    result = schemactl("check", "schemas/", "--against-git", "HEAD~1", cwd=history)
    assert result.returncode == 2 and "a file name with a line break is not supported" in result.stderr, result.stdout + result.stderr


def test_non_ascii_names_keep_their_history_and_deletions(history):
    git("mv", "schemas/product.avsc", "schemas/café.avsc", cwd=history)
    git("commit", "-q", "-m", "accent", cwd=history)
    edit(history / "schemas" / "café.avsc", lambda d: d["fields"].append({"name": "legacy", "type": "string", "default": ""}))
    git("commit", "-q", "-am", "legacy string", cwd=history)
    edit(history / "schemas" / "café.avsc", lambda d: d["fields"].pop())
    git("commit", "-q", "-am", "no legacy", cwd=history)
    edit(history / "schemas" / "café.avsc", lambda d: d["fields"].append({"name": "legacy", "type": "int", "default": 0}))
    result = schemactl("check", "schemas/café.avsc", "--against-git", "HEAD", "--level", "BACKWARD_TRANSITIVE", cwd=history)
    assert result.returncode == 1 and "TYPE_MISMATCH" in result.stdout, result.stdout + result.stderr
    os.remove(history / "schemas" / "café.avsc")
    gone = schemactl("check", "schemas/", "--against-git", "HEAD", cwd=history)
    assert "DELETED: schemas/café.avsc existed at HEAD and is gone" in gone.stdout, gone.stdout


def test_a_rename_git_cannot_see_is_paired_by_subject(history):
    # Renamed and rewritten at once (git sees a delete and an add): schemactl.toml maps both names to one subject.
    with open(history / "schemactl.toml", "a") as project:
        project.write('\n[subjects]\n"schemas/refund.avsc" = "refunds-value"\n"schemas/refunds-v2.avsc" = "refunds-value"\n')
    git("commit", "-q", "-am", "subjects", cwd=history)
    git("mv", "schemas/refund.avsc", "schemas/refunds-v2.avsc", cwd=history)
    write(history / "schemas" / "refunds-v2.avsc", {"type": "record", "name": "Refund", "namespace": "com.acme", "fields": [
        {"name": "id", "type": "string"}, {"name": "reason", "type": "string"}, {"name": "a_very_long_field_name_for_the_new_layout", "type": "long"}]})
    result = schemactl("check", "schemas/", "--against-git", "HEAD", cwd=history)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "INCOMPATIBLE: schemas/refunds-v2.avsc" in result.stdout and "schemas/refund.avsc@HEAD" in result.stdout, result.stdout
    assert "DELETED" not in result.stdout and "new since" not in result.stdout


def test_transitive_history_follows_files_used_in_the_past(history):
    # Customer's home was an Address (common/address.avsc); Address gained a string `zip`, then Customer dropped
    # Address for an inline Home. The registry holds a Customer version with the string zip: an int zip breaks it.
    edit(history / "common" / "address.avsc", lambda d: d["fields"].append({"name": "zip", "type": "string", "default": ""}))
    git("commit", "-q", "-am", "address zip", cwd=history)
    edit(history / "common" / "address.avsc", lambda d: d["fields"].pop())
    git("commit", "-q", "-am", "address without zip", cwd=history)
    home = {"type": "record", "name": "Home", "aliases": ["com.acme.common.Address"], "fields": [
        {"name": "street", "type": "string"}, {"name": "city", "type": "string"}]}
    edit(history / "schemas" / "customer.avsc", lambda d: d["fields"][2].update({"type": home}))
    git("commit", "-q", "-am", "customer without address", cwd=history)
    edit(history / "schemas" / "customer.avsc", lambda d: d["fields"][2]["type"]["fields"].append({"name": "zip", "type": "int", "default": 0}))
    result = schemactl("check", "schemas/customer.avsc", "--against-git", "HEAD", "--level", "BACKWARD_TRANSITIVE", cwd=history)
    assert result.returncode == 1 and "TYPE_MISMATCH" in result.stdout, result.stdout + result.stderr


def test_deep_chains_and_endless_files_are_errors_not_crashes(tmp_path):
    chain = tmp_path / "chain"
    chain.mkdir()
    for n in range(400):
        fields = [{"name": "x", "type": "int"}] + ([{"name": "next", "type": f"d.T{n + 1}"}] if n < 399 else [])
        write(chain / f"t{n:04d}.avsc", {"type": "record", "name": f"T{n}", "namespace": "d", "fields": fields})
    result = schemactl("validate", ".", cwd=chain)
    assert result.returncode == 2 and "more than 256 files deep" in result.stdout, result.stdout[-2000:] + result.stderr
    assert len(result.stdout) < 200_000, len(result.stdout)  # each file's message names the cause once, not the chain
    os.symlink("/dev/zero", chain / "zero.avsc")
    endless = schemactl("validate", "zero.avsc", cwd=chain)
    assert endless.returncode == 2 and "larger than 64 MiB" in endless.stderr, endless.stderr


def test_one_file_named_two_ways_is_one_file(repository):
    result = schemactl("validate", "order.avsc", "../schemas/order.avsc", "./order.avsc", cwd=repository / "schemas")
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 1, result.stdout


def test_project_file_toml_forms(repository):
    (repository / "schemactl.toml").write_text(
        "# comment\n[paths]\nschemas = [\n  'schemas',  # the records\n  \"common\",\n]\n\n"
        "[subjects]\n'schemas/order.avsc' = 'orders#value'\n")
    result = schemactl("validate", "schemas/order.avsc", cwd=repository)
    assert result.returncode == 0, result.stdout + result.stderr  # [paths] read over several lines


@pytest.mark.parametrize("text,problem", [
    ('[levels]\n"orders-value" = "FULL_TRANSITVE"\n', "unknown level FULL_TRANSITVE for orders-value"),
    ('[subjects]\n"schemas/order.avsc" = "a"\n"schemas/order.avsc" = "b"\n', "schemas/order.avsc is given twice in [subjects]"),
    ('[subjects]\nschemas.order = "a"\n', "dotted key schemas.order"),
    ('[subjects]\n"schemas/order.avsc" = { name = "a" }\n', "inline tables and multi-line strings are not read"),
    ('[paths]\nschemas = ["schemas",\n', "an array is not closed"),
    ('[paths\nschemas = ["schemas"]\n', "is not a table header"),
    ('[paths]\nschemas\n', "not a key = value line"),
])
def test_a_project_file_schemactl_cannot_read_as_meant_is_an_error(repository, text, problem):
    (repository / "schemactl.toml").write_text(text)
    for command in (["validate", "schemas/order.avsc"], ["check", "schemas/", "--against-git", "HEAD"], ["normalize", "schemas/order.avsc"]):
        result = schemactl(*command, cwd=repository)
        assert result.returncode == 2 and problem in result.stderr and "schemactl.toml line" in result.stderr, (command, result.stderr)


def test_crlf_and_a_byte_order_mark_read_like_any_project_file(repository):
    text = (repository / "schemactl.toml").read_text()
    (repository / "schemactl.toml").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    result = schemactl("validate", "schemas/order.avsc", cwd=repository)
    assert result.returncode == 0, result.stdout + result.stderr  # [paths] read: Customer found in its file


def test_the_files_a_file_uses_are_checked_too(history):
    # Address (FORWARD in schemactl.toml) loses `city`: Customer reads old data fine (BACKWARD), but register would
    # send Address first and the registry would refuse it. Checking customer.avsc alone says so.
    with open(history / "schemactl.toml", "a") as project:
        project.write('"address" = "FORWARD"\n')
    git("commit", "-q", "-am", "address level", cwd=history)
    edit(history / "common" / "address.avsc", lambda d: d["fields"].pop(1))
    result = schemactl("check", "schemas/customer.avsc", "--against-git", "HEAD", cwd=history)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "INCOMPATIBLE: common/address.avsc is not FORWARD compatible" in result.stdout
    assert "COMPATIBLE: schemas/customer.avsc is BACKWARD compatible" in result.stdout


def test_the_project_file_at_the_revision_pairs_renames_and_resolves_old_versions(history):
    # The pull request renames order.avsc to orders.avsc, moves its [subjects] key along, and breaks it: the old
    # project file says schemas/order.avsc was orders-value, so the old content is the version to compare with.
    toml = (history / "schemactl.toml").read_text()
    (history / "schemactl.toml").write_text(toml.replace('"schemas/order.avsc" = "orders-value"', '"schemas/orders.avsc" = "orders-value"'))
    git("mv", "schemas/order.avsc", "schemas/orders.avsc", cwd=history)
    document = json.loads((history / "schemas" / "orders.avsc").read_text())
    document["fields"][0]["type"] = "string"  # id: long → string
    document["fields"].append({"name": "a_long_field_name_that_makes_git_see_a_new_file", "type": "long", "default": 0})
    document["fields"].append({"name": "another_long_field_name_for_the_same_reason", "type": "string", "default": ""})
    write(history / "schemas" / "orders.avsc", document)
    git("add", "-A", cwd=history)
    renamed = schemactl("check", "schemas/", "--against-git", "HEAD", cwd=history)
    assert renamed.returncode == 1 and "INCOMPATIBLE: schemas/orders.avsc is not FULL compatible" in renamed.stdout, renamed.stdout
    assert "schemas/order.avsc@HEAD" in renamed.stdout and "DELETED" not in renamed.stdout
    git("reset", "-q", "--hard", "HEAD", cwd=history)

    # The pull request drops common/ from [paths] and writes Money inline in product.avsc, breaking it: REV's
    # product.avsc still resolves through REV's project file, so it is compared, not skipped as unreadable.
    (history / "schemactl.toml").write_text(toml.replace('schemas = ["schemas", "common"]', 'schemas = ["schemas"]'))
    money = json.loads((history / "common" / "money.avsc").read_text())
    money["fields"][0]["type"] = "int"  # amount: decimal bytes → int
    edit(history / "schemas" / "product.avsc", lambda d: [field.update({"type": money}) for field in d["fields"] if field["type"] == "com.acme.common.Money"])
    product = schemactl("check", "schemas/product.avsc", "--against-git", "HEAD", cwd=history)
    assert product.returncode == 1 and "INCOMPATIBLE: schemas/product.avsc" in product.stdout, product.stdout + product.stderr


def test_a_symlinked_schema_is_compared_with_what_the_link_pointed_to(history):
    (history / "versions").mkdir()
    write(history / "versions" / "v1.avsc", {"type": "record", "name": "Current", "fields": [{"name": "id", "type": "int"}]})
    write(history / "versions" / "v2.avsc", {"type": "record", "name": "Current", "fields": [{"name": "id", "type": "string"}]})
    os.symlink("../versions/v1.avsc", history / "schemas" / "current.avsc")
    git("add", "-A", cwd=history)
    git("commit", "-q", "-m", "current is v1", cwd=history)
    os.remove(history / "schemas" / "current.avsc")
    os.symlink("../versions/v2.avsc", history / "schemas" / "current.avsc")
    result = schemactl("check", "schemas/", "--against-git", "HEAD", cwd=history)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "INCOMPATIBLE: schemas/current.avsc" in result.stdout and "schemas/current.avsc@HEAD" in result.stdout, result.stdout
    assert "DELETED" not in result.stdout
    differences = schemactl("diff", "--against-git", "HEAD", "schemas/current.avsc", cwd=history)
    assert differences.returncode == 0 and "int → string" in differences.stdout, differences.stdout + differences.stderr


def test_standard_input_has_no_history(history):
    text = (history / "schemas" / "order.avsc").read_text()
    for command in (["check", "-", "--against-git", "HEAD"], ["diff", "--against-git", "HEAD", "-"], ["diff", "-", "-"]):
        result = subprocess.run([os.path.join(os.path.dirname(server_binary()), "schemactl"), *command], input=text,
                                capture_output=True, text=True, cwd=history, timeout=60)
        assert result.returncode == 2 and ("no history in git" in result.stderr or "read once" in result.stderr), (command, result.stderr)


def test_an_edited_copy_outside_the_library_shadows_its_original(repository):
    (repository / "pr").mkdir()
    edit_copy = json.loads((repository / "schemas" / "order.avsc").read_text())
    edit_copy["fields"].append({"name": "channel", "type": "string", "default": "web"})
    write(repository / "pr" / "order.avsc", edit_copy)
    result = schemactl("validate", "pr/order.avsc", cwd=repository)
    assert result.returncode == 0, result.stdout + result.stderr
    # Inside the library's directories, two different definitions stay an error, whoever is given.
    write(repository / "schemas" / "money-copy.avsc",
          {"type": "record", "name": "Money", "namespace": "com.acme.common", "fields": [{"name": "cents", "type": "long"}]})
    folder = schemactl("validate", "schemas/", cwd=repository)
    assert folder.returncode == 2 and "type com.acme.common.Money is defined differently" in folder.stdout, folder.stdout


def test_a_problem_at_a_type_from_another_file_is_annotated_there(history):
    # Address loses `city`: Order (FULL) can no longer be read by its old version; the problem's path ends at the
    # Address that Customer holds, so the annotation goes to address.avsc.
    edit(history / "common" / "address.avsc", lambda d: d["fields"].pop(1))
    result = schemactl("check", "schemas/order.avsc", "--against-git", "HEAD", "--format", "github", cwd=history)
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error file=")]
    assert result.returncode == 1 and len(errors) == 1, result.stdout
    assert errors[0].startswith("::error file=common/address.avsc,") and "breaks schemas/order.avsc" in errors[0], errors


def test_the_repository_root_as_a_directory(history):
    result = schemactl("check", ".", "--against-git", "HEAD", "--level", "BACKWARD_TRANSITIVE", cwd=history)
    assert result.returncode == 0 and result.stdout.splitlines()[-1] == "12 files: 12 compatible", result.stdout + result.stderr
