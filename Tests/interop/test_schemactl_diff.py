"""schemactl diff: what changed between two versions of a schema, field by field, and the verdict each way; two files,
a file against git history, registered versions (with references) on the real registry."""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO, server_binary

FIXTURES = os.path.join(REPO, "fixtures", "diff")
OLD = os.path.join(FIXTURES, "messages-old.avsc")
NEW = os.path.join(FIXTURES, "messages-new.avsc")


def schemactl(*arguments, cwd=None):
    binary = os.path.join(os.path.dirname(server_binary()), "schemactl")
    environment = dict(os.environ)
    environment.pop("SCHEMA_REGISTRY_URL", None)
    return subprocess.run([binary, "diff", *arguments], capture_output=True, text=True, cwd=cwd, env=environment, timeout=60)


def change_lines(output):
    """The change lines of the text format as (sign, path, message)."""
    return [match.groups() for match in (re.match(r"^([+~-]) (/\S*)\s+(.*)$", line) for line in output.splitlines()) if match]


def test_two_files_print_each_change_then_the_verdict_each_way():
    result = schemactl(OLD, NEW)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"--- {OLD}", f"+++ {NEW}"]
    assert change_lines(result.stdout) == [
        ("~", "/fields/visits/type", "type changed: int → long (promotion int → long)"),
        ("~", "/fields/points/type", "type changed: long → int (narrowed: old readers promote int → long, the new schema cannot read old long)"),
        ("+", "/fields/phone", "default added: null"),
        ("~", "/fields/phone/type", "type changed: string → [null, string] (made optional)"),
        ("~", "/fields/fullName", "field renamed: name → fullName (through the alias name)"),
        ("+", "/fields/email", 'field added: string, default ""'),
        ("-", "/fields/fax", "field removed: string, no default"),
    ]
    assert "BACKWARD (new reads old): INCOMPATIBLE, 1 problem" in lines
    assert "FORWARD (old reads new): INCOMPATIBLE, 4 problems" in lines
    # The problems as check prints them: type, path, whose data cannot be read, the fix.
    assert "1. TYPE_MISMATCH at /fields/1/type" in lines
    assert "   the new schema cannot read data written with the old one" in lines
    assert any(line.startswith("   fix: keep field `fax`") for line in lines), result.stdout


def test_json_is_one_document_for_tools():
    result = schemactl(OLD, NEW, "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["old"], document["new"]) == (OLD, NEW)
    assert [(change["kind"], change["path"], change["old"], change["new"]) for change in document["changes"]] == [
        ("typeChanged", "/fields/visits/type", "int", "long"),
        ("typeChanged", "/fields/points/type", "long", "int"),
        ("defaultAdded", "/fields/phone", None, "null"),
        ("typeChanged", "/fields/phone/type", "string", "[null, string]"),
        ("fieldRenamed", "/fields/fullName", "name", "fullName"),
        ("fieldAdded", "/fields/email", None, "string"),
        ("fieldRemoved", "/fields/fax", "string", None),
    ]
    assert document["changes"][0]["promotion"] == "int → long" and "promotion" not in document["changes"][1]
    assert document["backward"]["compatible"] is False
    assert [problem["type"] for problem in document["backward"]["problems"]] == ["TYPE_MISMATCH"]
    assert document["backward"]["problems"][0]["direction"] == "backward" and document["backward"]["problems"][0]["fix"]
    assert sorted(problem["type"] for problem in document["forward"]["problems"]) == [
        "READER_FIELD_MISSING_DEFAULT_VALUE", "READER_FIELD_MISSING_DEFAULT_VALUE", "TYPE_MISMATCH", "TYPE_MISMATCH"]


def test_the_same_schema_has_no_changes_and_both_verdicts_compatible():
    result = schemactl(OLD, OLD)
    assert result.returncode == 0
    assert result.stdout.splitlines()[2:] == ["no changes", "BACKWARD (new reads old): compatible", "FORWARD (old reads new): compatible"]


def test_invalid_input_and_usage_exit_2(tmp_path):
    broken = tmp_path / "broken.avsc"
    broken.write_text('{"type": "record", "name": "R", "fields": [{"name": "n", "type": "int", "default": "x"}]}')
    invalid = schemactl(OLD, str(broken))
    assert invalid.returncode == 2 and f"{broken}: invalid Avro schema at /fields/0/default" in invalid.stderr, invalid.stderr
    missing = schemactl(OLD, str(tmp_path / "missing.avsc"))
    assert missing.returncode == 2 and "cannot read file" in missing.stderr
    one = schemactl(OLD)
    assert one.returncode == 2 and "give two files" in one.stderr
    directory = schemactl(OLD, FIXTURES)
    assert directory.returncode == 2 and "a directory; diff compares two files" in directory.stderr
    both = schemactl("--subject", "s", "--to", "2", OLD)
    assert both.returncode == 2 and "either --to or a file" in both.stderr
    version = schemactl("--subject", "s", "--from", "x")
    assert version.returncode == 2 and "neither a number from 1 nor latest" in version.stderr


@pytest.fixture
def repository(tmp_path):
    """fixtures/repository: schemas using types from other files, resolved through schemactl.toml's [paths]."""
    target = tmp_path / "repo"
    shutil.copytree(os.path.join(REPO, "fixtures", "repository"), target)
    return target


def edit(path, change):
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2) + "\n")


def test_files_using_types_from_other_files(repository):
    # An old copy outside the schema folders, the new version inside them: each side's own definition of Customer
    # wins over the other's, Address comes from common/.
    (repository / "old").mkdir()
    shutil.copy(repository / "schemas" / "customer.avsc", repository / "old" / "customer.avsc")
    edit(repository / "schemas" / "customer.avsc", lambda d: d["fields"].append(
        {"name": "tier", "type": {"type": "enum", "name": "Tier", "symbols": ["GOLD", "SILVER"]}, "default": "GOLD"}))
    result = schemactl("old/customer.avsc", "schemas/customer.avsc", cwd=repository)
    assert result.returncode == 0, result.stdout + result.stderr
    assert change_lines(result.stdout) == [("+", "/fields/tier", 'field added: com.acme.Tier, default "GOLD"')]
    os.remove(repository / "schemactl.toml")
    unknown = schemactl("old/customer.avsc", "schemas/customer.avsc", cwd=repository)
    assert unknown.returncode == 2 and 'unknown type "com.acme.common.Address"' in unknown.stderr, unknown.stderr


def git(*arguments, cwd):
    result = subprocess.run(["git", "-c", "user.name=CI", "-c", "user.email=ci@example.com", *arguments], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_against_git_compares_with_the_files_at_a_revision(repository):
    git("init", "-q", "-b", "main", cwd=repository)
    git("add", "-A", cwd=repository)
    git("commit", "-q", "-m", "schemas", cwd=repository)
    # City made optional in Address (another file): Customer's diff shows it where Customer uses it.
    edit(repository / "common" / "address.avsc", lambda d: d["fields"][1].update({"type": ["null", "string"], "default": None}))
    result = schemactl("--against-git", "HEAD", "schemas/customer.avsc", cwd=repository)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[:2] == ["--- schemas/customer.avsc@HEAD", "+++ schemas/customer.avsc"]
    assert change_lines(result.stdout) == [
        ("+", "/fields/home/type/fields/city", "default added: null"),
        ("~", "/fields/home/type/fields/city/type", "type changed: string → [null, string] (made optional)"),
    ]
    assert "BACKWARD (new reads old): compatible" in result.stdout
    assert "FORWARD (old reads new): INCOMPATIBLE, 1 problem" in result.stdout
    # Renamed since the revision: compared with its old name there.
    git("mv", "schemas/customer.avsc", "schemas/client.avsc", cwd=repository)
    renamed = schemactl("--against-git", "HEAD", "schemas/client.avsc", "--format", "json", cwd=repository)
    document = json.loads(renamed.stdout)
    assert (document["old"], document["new"]) == ("schemas/customer.avsc@HEAD", "schemas/client.avsc")
    assert [change["path"] for change in document["changes"]] == ["/fields/home/type/fields/city", "/fields/home/type/fields/city/type"]
    # New since the revision: said, nothing to diff, exit 0.
    (repository / "schemas" / "loyalty.avsc").write_text(json.dumps({"type": "record", "name": "Loyalty", "fields": []}))
    new = schemactl("--against-git", "HEAD", "schemas/loyalty.avsc", cwd=repository)
    assert new.returncode == 0 and new.stdout == "schemas/loyalty.avsc is new since HEAD: nothing to diff against\n", new.stdout
    document = json.loads(schemactl("--against-git", "HEAD", "schemas/loyalty.avsc", "--format", "json", cwd=repository).stdout)
    assert document["old"] is None and document["newSince"] == "HEAD" and document["changes"] == []
    unknown = schemactl("--against-git", "no-such-branch", "schemas/client.avsc", cwd=repository)
    assert unknown.returncode == 2 and "no-such-branch is not a commit in this repository" in unknown.stderr


def register(session, url, subject, path, references=()):
    with open(path) as file:
        body = {"schema": file.read(), "references": list(references)}
    response = session.post(f"{url}/subjects/{subject}/versions", json=body)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def test_registered_versions_with_references(registry, session, repository):
    url = registry.url
    common = repository / "common"
    register(session, url, "country", common / "country.avsc")
    register(session, url, "address", common / "address.avsc", [{"name": "com.acme.common.Country", "subject": "country", "version": 1}])
    address = [{"name": "com.acme.common.Address", "subject": "address", "version": 1}]
    register(session, url, "customers-value", repository / "schemas" / "customer.avsc", address)
    edit(repository / "schemas" / "customer.avsc", lambda d: d["fields"].append({"name": "vip", "type": "boolean", "default": False}))
    register(session, url, "customers-value", repository / "schemas" / "customer.avsc", address)

    result = schemactl("--registry", url, "--subject", "customers-value", "--from", "1", "--to", "2", cwd=repository)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[:2] == ["--- customers-value v1 (id 3)", "+++ customers-value v2 (id 4)"]
    assert change_lines(result.stdout) == [("+", "/fields/vip", "field added: boolean, default false")]
    assert "BACKWARD (new reads old): compatible" in result.stdout and "FORWARD (old reads new): compatible" in result.stdout
    # --to defaults to latest.
    latest = json.loads(schemactl("--registry", url, "--subject", "customers-value", "--from", "1", "--format", "json").stdout)
    assert latest["new"] == "customers-value v2 (id 4)" and [change["kind"] for change in latest["changes"]] == ["fieldAdded"]
    # A registered version against a file: the subject from schemactl.toml, --from latest by default.
    edit(repository / "schemas" / "customer.avsc", lambda d: d["fields"][1].update({"doc": "as printed on invoices"}))
    against_file = schemactl("--registry", url, "schemas/customer.avsc", cwd=repository)
    assert against_file.returncode == 0, against_file.stdout + against_file.stderr
    assert against_file.stdout.splitlines()[:2] == ["--- customers-value v2 (id 4)", "+++ schemas/customer.avsc"]
    assert change_lines(against_file.stdout) == [("~", "/fields/name", "doc added")]
    # Versions and subjects that do not exist: the registry's refusal, exit 2.
    missing = schemactl("--registry", url, "--subject", "customers-value", "--from", "7")
    assert missing.returncode == 2 and "40402" in missing.stderr, missing.stderr
    assert schemactl("--registry", url, "--subject", "nobody", "--from", "1").returncode == 2


def test_unreachable_registry_exits_3():
    result = schemactl("--registry", "http://127.0.0.1:9", "--subject", "x", "--from", "1")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "unavailable" in result.stderr
