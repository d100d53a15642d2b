"""schemactl register / check of a whole repository against the real registry binary (issue 14): types used
across files become Confluent references registered in dependency order, and an online check of a pull request
gives the same verdicts as the offline check against git history."""
import json
import os
import shutil
import subprocess

import pytest
import requests

from conftest import REPO, edit_json as edit, git, server_binary

FIXTURE = os.path.join(REPO, "fixtures", "repository")


def schemactl(*arguments, cwd, url):
    binary = os.path.join(os.path.dirname(server_binary()), "schemactl")
    environment = dict(os.environ)
    environment["SCHEMA_REGISTRY_URL"] = url
    return subprocess.run([binary, *arguments], capture_output=True, text=True, cwd=cwd, env=environment, timeout=120)


def field(name, type_, default=None, has_default=True):
    entry = {"name": name, "type": type_}
    if has_default:
        entry["default"] = default
    return entry


def verdicts(result):
    """path -> verdict from a JSON report ("new" counts as compatible: nothing to break either way)."""
    document = json.loads(result.stdout)
    return {entry["path"]: ("compatible" if entry["verdict"] == "new" else entry["verdict"]) for entry in document["files"]}


@pytest.fixture
def repository(tmp_path):
    target = tmp_path / "repo"
    shutil.copytree(FIXTURE, target)
    with open(target / "schemactl.toml", "a") as project:
        project.write('"customers-value" = "BACKWARD_TRANSITIVE"\n"invoice" = "FULL_TRANSITIVE"\n')
    # payment.avsc is renamed in the history; both names are one subject.
    text = (target / "schemactl.toml").read_text().replace(
        '[subjects]\n', '[subjects]\n"schemas/payments.avsc" = "payment"\n')
    (target / "schemactl.toml").write_text(text)
    git("init", "-q", "-b", "main", cwd=target)
    git("config", "user.email", "ci@example.com", cwd=target)
    git("config", "user.name", "CI", cwd=target)
    return target


def subject_versions(registry, subject):
    answer = requests.get(f"{registry.url}/subjects/{subject}/versions", timeout=10)
    return answer.json() if answer.status_code == 200 else []


def test_register_sends_references_in_dependency_order(registry, repository):
    result = schemactl("register", "schemas/customer.avsc", "--format", "json", cwd=repository, url=registry.url)
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    # Country before Address (Address uses it) before Customer; the two library files are registered because
    # Customer needs them.
    assert [entry["path"] for entry in document["files"]] == ["common/country.avsc", "common/address.avsc", "schemas/customer.avsc"]
    assert document["summary"] == "3 files: 3 registered" and document["registered"] is True
    stored = requests.get(f"{registry.url}/subjects/customers-value/versions/latest", timeout=10).json()
    assert stored["references"] == [{"name": "com.acme.common.Address", "subject": "address", "version": 1}], stored
    address = requests.get(f"{registry.url}/subjects/address/versions/1", timeout=10).json()
    assert address["references"] == [{"name": "com.acme.common.Country", "subject": "country", "version": 1}], address
    # The registry serves the resolved schema: the references really resolve there.
    resolved = requests.get(f"{registry.url}/schemas/ids/{stored['id']}/schema", timeout=10)
    assert resolved.status_code == 200

    # Everything again: what is registered keeps its version; the rest follows its dependencies.
    everything = schemactl("register", "schemas/", cwd=repository, url=registry.url)
    assert everything.returncode == 0, everything.stdout + everything.stderr
    lines = everything.stdout.splitlines()
    assert lines[-1] == "12 files: 9 registered, 3 already registered", everything.stdout
    assert "common/address.avsc: already registered under address as version 1" in everything.stdout
    order = [line.split()[1] if line.startswith("registered ") else line.split(":")[0] for line in lines[:-1]]
    for dependency, user in [("common/money.avsc", "schemas/product.avsc"), ("schemas/order_line.avsc", "schemas/order.avsc"),
                             ("schemas/customer.avsc", "schemas/order.avsc"), ("schemas/order.avsc", "schemas/invoice.avsc")]:
        assert order.index(dependency) < order.index(user), order
    invoice = requests.get(f"{registry.url}/subjects/invoice/versions/latest", timeout=10).json()
    # Invoice uses Order, then Address: Order's references bring Address already, so only Order is referenced.
    assert invoice["references"] == [{"name": "com.acme.Order", "subject": "orders-value", "version": 1}], invoice

    # A change to a shared type: Address gets version 2 and every file using it a new version referencing it.
    edit(repository / "common" / "address.avsc", lambda d: d["fields"].append(field("zip", "string", "")))
    again = schemactl("register", "schemas/", cwd=repository, url=registry.url)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "registered common/address.avsc under address: id 13, version 2" in again.stdout, again.stdout
    customer = requests.get(f"{registry.url}/subjects/customers-value/versions/latest", timeout=10).json()
    assert customer["version"] == 2 and customer["references"][0]["version"] == 2, customer


def test_subjects_from_the_project_file_from_any_directory(registry, repository):
    # schemactl.toml is above the working directory: its [subjects] paths are relative to its own directory.
    result = schemactl("register", "order.avsc", "--format", "json", cwd=repository / "schemas", url=registry.url)
    assert result.returncode == 0, result.stdout + result.stderr
    subjects = {entry["path"]: entry["subject"] for entry in json.loads(result.stdout)["files"]}
    assert subjects["order.avsc"] == "orders-value" and subjects["../schemas/customer.avsc"] == "customers-value", subjects
    assert subjects["../common/address.avsc"] == "address"
    absolute = schemactl("check", str(repository / "schemas" / "order.avsc"), "--format", "json", cwd=repository / "common", url=registry.url)
    assert absolute.returncode == 0, absolute.stdout + absolute.stderr
    checked = {entry["path"]: entry["subject"] for entry in json.loads(absolute.stdout)["files"]}
    assert checked[str(repository / "schemas" / "order.avsc")] == "orders-value", checked


def test_subject_flags_and_project_file_forms(registry, repository):
    # --subject names the file given, not the files it uses.
    result = schemactl("register", "schemas/customer.avsc", "--subject", "people", "--format", "json", cwd=repository, url=registry.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {entry["path"]: entry["subject"] for entry in json.loads(result.stdout)["files"]} == {
        "common/country.avsc": "country", "common/address.avsc": "address", "schemas/customer.avsc": "people"}
    # Standard input has no name to take a subject from.
    piped = subprocess.run([os.path.join(os.path.dirname(server_binary()), "schemactl"), "register", "-", "--registry", registry.url],
                           input=(repository / "schemas" / "product.avsc").read_text(), capture_output=True, text=True, cwd=repository)
    assert piped.returncode == 2 and "give --subject" in piped.stderr, piped.stderr
    # TOML as people write it: literal strings, a '#' inside one, an array over several lines.
    (repository / "schemactl.toml").write_text(
        "[paths]\nschemas = [\n  'schemas',\n  \"common\",  # shared types\n]\n[subjects]\n'schemas/product.avsc' = 'catalog#products'\n")
    assert schemactl("register", "schemas/product.avsc", cwd=repository, url=registry.url).returncode == 0
    assert subject_versions(registry, "catalog%23products") == [1]


def test_subjects_are_matched_from_the_project_directory_only(registry, repository):
    # other/order.avsc is not schemas/order.avsc, though both are "order.avsc" from their own directory; and a
    # project file with Windows line endings maps as any other.
    (repository / "other").mkdir()
    (repository / "other" / "order.avsc").write_text(json.dumps({"type": "record", "name": "Other", "fields": [{"name": "x", "type": "int"}]}))
    (repository / "schemactl.toml").write_bytes((repository / "schemactl.toml").read_bytes().replace(b"\n", b"\r\n"))
    crlf = (repository / "schemactl.toml").read_bytes()
    assert b"[subjects]\r\n" in crlf
    (repository / "schemactl.toml").write_bytes(crlf.replace(b"[subjects]\r\n", b'[subjects]\r\n"order.avsc" = "root-order"\r\n'))
    result = schemactl("register", "order.avsc", "--format", "json", cwd=repository / "other", url=registry.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["files"][0]["subject"] == "order", result.stdout
    mapped = schemactl("register", "schemas/order.avsc", "--format", "json", cwd=repository, url=registry.url)
    assert {entry["path"]: entry["subject"] for entry in json.loads(mapped.stdout)["files"]}["schemas/order.avsc"] == "orders-value"


def test_a_registry_refusing_writes_gets_a_report_per_file(registry, repository):
    assert requests.put(f"{registry.url}/mode", json={"mode": "READONLY"}, timeout=10).status_code == 200
    result = schemactl("register", "schemas/customer.avsc", "--format", "json", cwd=repository, url=registry.url)
    assert result.returncode == 2, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert [entry["verdict"] for entry in document["files"]] == ["refused", "skipped", "skipped"], document
    assert document["files"][0]["errorCode"] == 42205 and document["summary"] == "3 files: 0 registered, 2 NOT REGISTERED, 1 REFUSED"


def test_a_refused_dependency_stops_what_uses_it(registry, repository):
    assert schemactl("register", "schemas/", cwd=repository, url=registry.url).returncode == 0
    before = {subject: subject_versions(registry, subject) for subject in ("address", "customers-value", "orders-value", "country")}
    edit(repository / "common" / "address.avsc", lambda d: d["fields"].append(field("zip", "string", has_default=False)))
    result = schemactl("register", "schemas/", cwd=repository, url=registry.url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "INCOMPATIBLE: common/address.avsc under address:" in result.stdout
    assert "NOT REGISTERED: schemas/customer.avsc: it uses types from common/address.avsc, which was not registered" in result.stdout
    assert "NOT REGISTERED: schemas/order.avsc: it uses types from schemas/customer.avsc" in result.stdout
    after = {subject: subject_versions(registry, subject) for subject in before}
    assert after == before

    # An invalid file: nothing at all is sent.
    (repository / "schemas" / "broken.avsc").write_text('{"type": "record", "name": "Broken", "fields": [{"name": "x", "type": "nope"}]}')
    edit(repository / "common" / "address.avsc", lambda d: d["fields"][-1].update({"default": ""}))
    invalid = schemactl("register", "schemas/", cwd=repository, url=registry.url)
    assert invalid.returncode == 2, invalid.stdout + invalid.stderr
    assert "nothing registered: 1 of 10 files are invalid" in invalid.stderr and "INVALID: schemas/broken.avsc" in invalid.stdout
    as_json = schemactl("register", "schemas/", "--format", "json", cwd=repository, url=registry.url)
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["files"][0]["path"] == "schemas/broken.avsc", as_json.stdout
    assert {subject: subject_versions(registry, subject) for subject in before} == before

    # Two files under one subject would overwrite each other: refused before anything is sent.
    (repository / "schemas" / "broken.avsc").unlink()
    shutil.copy(repository / "schemas" / "refund.avsc", repository / "common" / "refund.avsc")
    clash = schemactl("register", "schemas/", "common/", cwd=repository, url=registry.url)
    assert clash.returncode == 2 and "both map to subject refund" in clash.stderr, clash.stdout + clash.stderr


def test_a_cycle_of_files_registers_without_references_between_them(registry, repository):
    (repository / "schemas" / "a.avsc").write_text(json.dumps({"type": "record", "name": "A", "namespace": "cyc", "fields": [
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X", "Z"]}}, {"name": "y", "type": "Y"}]}))
    (repository / "schemas" / "b.avsc").write_text(json.dumps({"type": "record", "name": "Y", "namespace": "cyc", "fields": [
        {"name": "kind", "type": "E"}, {"name": "n", "type": "int"}]}))
    result = schemactl("register", "schemas/a.avsc", "schemas/b.avsc", cwd=repository, url=registry.url)
    assert result.returncode == 0 and result.stdout.splitlines()[-1] == "2 files: 2 registered", result.stdout + result.stderr
    for subject in ("a", "b"):
        stored = requests.get(f"{registry.url}/subjects/{subject}/versions/1", timeout=10).json()
        assert stored.get("references", []) == [], stored  # a reference cannot point both ways: the types are copied in
    assert schemactl("check", "schemas/a.avsc", "schemas/b.avsc", cwd=repository, url=registry.url).returncode == 0


def test_a_commit_changing_only_a_used_type_is_a_version_of_the_file_using_it(registry, repository):
    """Address alone gets a string `zip` (commit 2), then loses it (commit 3): the registry holds a Customer version
    with the string zip although customer.avsc never changed, so an int zip breaks Customer's transitive history
    both online and against git."""
    url = registry.url

    def commit(message):
        git("add", "-A", cwd=repository)
        git("commit", "-q", "-m", message, cwd=repository)
        assert schemactl("register", "schemas/customer.avsc", cwd=repository, url=url).returncode == 0

    commit("schemas")
    edit(repository / "common" / "address.avsc", lambda d: d["fields"].append(field("zip", "string", "")))
    commit("zip")
    edit(repository / "common" / "address.avsc", lambda d: d["fields"].pop())
    commit("no zip")
    assert len(subject_versions(registry, "customers-value")) == 2
    assert requests.put(f"{url}/config/customers-value", json={"compatibility": "BACKWARD_TRANSITIVE"}, timeout=10).status_code == 200
    edit(repository / "common" / "address.avsc", lambda d: d["fields"].append(field("zip", "int", 0)))
    online = schemactl("check", "schemas/customer.avsc", cwd=repository, url=url)
    offline = schemactl("check", "schemas/customer.avsc", "--against-git", "HEAD", cwd=repository, url=url)
    assert online.returncode == 1 and offline.returncode == 1, online.stdout + offline.stdout
    assert "TYPE_MISMATCH" in offline.stdout and "/fields/2/type/fields/3" in offline.stdout, offline.stdout
    # Both put the GitHub annotation on address.avsc, where the change to undo is, naming the file it breaks.
    for arguments in ([], ["--against-git", "HEAD"]):
        github = schemactl("check", "schemas/customer.avsc", *arguments, "--format", "github", cwd=repository, url=url)
        errors = [line for line in github.stdout.splitlines() if line.startswith("::error file=")]
        # address.avsc itself is checked too (register would send it): its own problem, and Customer's through it.
        assert errors and all(line.startswith("::error file=common/address.avsc,") for line in errors), github.stdout
        assert any("breaks schemas/customer.avsc" in line for line in errors), github.stdout


def test_online_check_gives_the_verdicts_of_the_git_check(registry, repository):
    """The same history registered commit by commit, then a pull request checked both ways: every file's verdict
    is the same online (references to the registered versions, the registry's levels) and offline (--against-git,
    schemactl.toml's levels)."""
    url = registry.url
    for subject, level in [("orders-value", "FULL"), ("customers-value", "BACKWARD_TRANSITIVE"), ("invoice", "FULL_TRANSITIVE")]:
        assert requests.put(f"{url}/config/{subject}", json={"compatibility": level}, timeout=10).status_code == 200

    def commit(message):
        git("add", "-A", cwd=repository)
        git("commit", "-q", "-m", message, cwd=repository)
        registered = schemactl("register", "schemas/", "common/", cwd=repository, url=url)
        assert registered.returncode == 0, registered.stdout + registered.stderr

    commit("schemas")
    edit(repository / "schemas" / "customer.avsc", lambda d: d["fields"].append(field("nickname", "string", "")))
    commit("customer nickname")
    edit(repository / "schemas" / "customer.avsc", lambda d: d["fields"].pop())
    edit(repository / "common" / "address.avsc", lambda d: d["fields"].append(field("zip", "string", "")))
    commit("no nickname; address zip")
    git("mv", "schemas/payment.avsc", "schemas/payments.avsc", cwd=repository)
    commit("rename")
    assert len(subject_versions(registry, "customers-value")) == 3  # v1, the nickname, Address's zip

    # The pull request: nickname back as an int (fine against the latest version, not against version 2: caught
    # only by the transitive level), a required field in Invoice, an optional one in Order, a new Address field
    # with a default (every file using Address changes with it) and a new file.
    edit(repository / "schemas" / "customer.avsc", lambda d: d["fields"].append(field("nickname", "int", 0)))
    edit(repository / "schemas" / "invoice.avsc", lambda d: d["fields"].append(field("due", "long", has_default=False)))
    edit(repository / "schemas" / "order.avsc", lambda d: d["fields"].append(field("note", ["null", "string"], None)))
    edit(repository / "common" / "address.avsc", lambda d: d["fields"].append(field("region", "string", "")))
    (repository / "schemas" / "loyalty.avsc").write_text(json.dumps(
        {"type": "record", "name": "Loyalty", "namespace": "com.acme", "fields": [{"name": "customer", "type": "Customer"}]}))

    online = schemactl("check", "schemas/", "common/", "--format", "json", cwd=repository, url=url)
    offline = schemactl("check", "schemas/", "common/", "--against-git", "HEAD", "--format", "json", cwd=repository, url=url)
    assert online.returncode == 1 and offline.returncode == 1, online.stdout + online.stderr + offline.stdout + offline.stderr
    assert verdicts(online) == verdicts(offline), (online.stdout, offline.stdout)
    # Customer's int nickname breaks only its transitive history (version 2 had a string nickname); Invoice's
    # required field breaks FULL_TRANSITIVE; Order (FULL, latest version only) takes both changes of its types.
    incompatible = {path for path, verdict in verdicts(online).items() if verdict == "incompatible"}
    assert incompatible == {"schemas/customer.avsc", "schemas/invoice.avsc"}, verdicts(online)
    files = {entry["path"]: entry for entry in json.loads(online.stdout)["files"]}
    # Unchanged dependencies are referenced at their registered versions; a changed one (Address) is sent inline,
    # as register would create it first; the renamed file is checked under its subject.
    assert files["schemas/product.avsc"]["inline"] is False and files["schemas/customer.avsc"]["inline"] is True, files
    assert files["schemas/payments.avsc"]["subject"] == "payment" and files["schemas/payments.avsc"]["verdict"] == "compatible"
    assert files["schemas/customer.avsc"]["level"] == "BACKWARD_TRANSITIVE"
    assert len(verdicts(online)) == 13

    # With the pull request fixed, both say compatible; registering it then finds nothing to refuse.
    edit(repository / "schemas" / "customer.avsc", lambda d: d["fields"][-1].update({"type": "string", "default": ""}))
    edit(repository / "schemas" / "invoice.avsc", lambda d: d["fields"][-1].update({"default": 0}))
    online = schemactl("check", "schemas/", "common/", cwd=repository, url=url)
    offline = schemactl("check", "schemas/", "common/", "--against-git", "HEAD", cwd=repository, url=url)
    assert online.returncode == 0 and offline.returncode == 0, online.stdout + offline.stdout
    assert online.stdout.splitlines()[-1] == "13 files: 13 compatible (1 new)", online.stdout
    assert schemactl("register", "schemas/", "common/", cwd=repository, url=url).returncode == 0
