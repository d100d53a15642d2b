"""schemactl export / import / mirror (issue 13): a registry moved with every id, version, level and mode kept,
through the documented Confluent API only, between real server processes (SQLite and PostgreSQL), resumed after
a kill, and kept in sync while a writer registers."""
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest
import requests
import yaml

from conftest import REPO, RunningServer, postgres_registry_uri, server_binary

CT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


def schemactl_binary():
    return os.path.join(os.path.dirname(server_binary()), "schemactl")


def schemactl(*arguments, timeout=300):
    environment = dict(os.environ)
    for name in ("SCHEMA_REGISTRY_URL", "SCHEMA_REGISTRY_USER_INFO", "SCHEMA_REGISTRY_CA_CERT"):
        environment.pop(name, None)
    return subprocess.run([schemactl_binary(), *arguments], capture_output=True, text=True, env=environment, timeout=timeout)


def record(name, fields, namespace="com.acme"):
    return json.dumps({"type": "record", "name": name, "namespace": namespace, "fields": fields})


def ok(response):
    assert response.status_code == 200, (response.request.method, response.url, response.status_code, response.text)
    return response.json()


def register(url, subject, schema, **extra):
    quoted = requests.utils.quote(subject, safe="")
    return ok(requests.post(f"{url}/subjects/{quoted}/versions", headers=CT, json={"schema": schema, **extra}))["id"]


def populate(url):
    """Every feature in use: references across subjects, a schema shared by two subjects, soft and permanent
    deletes (a gap in the versions, a subject wholly soft-deleted), per-subject levels and modes, metadata and
    rule sets, a changed global level."""
    address = record("Address", [{"name": "street", "type": "string"}])
    register(url, "address-value", address)
    address2 = record("Address", [{"name": "street", "type": "string"}, {"name": "zip", "type": ["null", "string"], "default": None}])
    register(url, "address-value", address2)
    customer = record("Customer", [{"name": "id", "type": "long"}, {"name": "home", "type": "com.acme.Address"}])
    register(url, "customer-value", customer, references=[{"name": "com.acme.Address", "subject": "address-value", "version": 1}])
    register(url, "customer-value", record("Customer", [{"name": "id", "type": "long"}, {"name": "home", "type": "com.acme.Address"},
                                                        {"name": "note", "type": "string", "default": ""}]),
             references=[{"name": "com.acme.Address", "subject": "address-value", "version": 2}])
    # The same schema under another subject: one id.
    register(url, "address-copy", address)
    # Metadata and a rule set.
    register(url, "orders-value", record("Order", [{"name": "id", "type": "long", "doc": "the order's id"}]),
             metadata={"properties": {"owner": "shop-team", "email": "shop@example.com"}, "tags": {"Order.id": ["PII"]}},
             ruleSet={"domainRules": [{"name": "checkId", "kind": "CONDITION", "mode": "WRITE", "type": "CEL", "expr": "message.id > 0"}]})
    for number in range(2, 6):
        register(url, "orders-value", record("Order", [{"name": "id", "type": "long", "doc": "the order's id"}]
                                            + [{"name": f"f{n}", "type": "int", "default": n} for n in range(2, number + 1)]),
                 metadata={"properties": {"owner": "shop-team", "email": "shop@example.com"}, "tags": {"Order.id": ["PII"]}})
    # Version 3 soft-deleted, version 4 deleted for good (a gap).
    assert requests.delete(f"{url}/subjects/orders-value/versions/3").status_code == 200
    assert requests.delete(f"{url}/subjects/orders-value/versions/4").status_code == 200
    assert requests.delete(f"{url}/subjects/orders-value/versions/4?permanent=true").status_code == 200
    # A subject whose versions are all soft-deleted.
    register(url, "legacy-value", record("Legacy", [{"name": "x", "type": "int"}]))
    register(url, "legacy-value", record("Legacy", [{"name": "x", "type": "int"}, {"name": "y", "type": "int", "default": 0}]))
    assert requests.delete(f"{url}/subjects/legacy-value").status_code == 200
    # Levels and modes.
    ok(requests.put(f"{url}/config", headers=CT, json={"compatibility": "FULL"}))
    ok(requests.put(f"{url}/config/orders-value", headers=CT, json={"compatibility": "NONE"}))
    ok(requests.put(f"{url}/config/customer-value", headers=CT, json={"compatibility": "BACKWARD_TRANSITIVE"}))
    ok(requests.put(f"{url}/mode/address-copy", headers=CT, json={"mode": "READONLY"}))
    # Something enum-like and a subject name that needs encoding.
    register(url, "weird/subject name", json.dumps({"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}))


def without_timestamps(value):
    """`ts` is when a version was registered on that registry: the API offers no way to carry it over."""
    if isinstance(value, dict):
        return {key: without_timestamps(item) for key, item in value.items() if key != "ts"}
    if isinstance(value, list):
        return [without_timestamps(item) for item in value]
    return value


def answers(url):
    """Every read endpoint's answer (status and body) for every subject, version and id of the registry."""
    seen = {}

    def get(path):
        response = requests.get(url + path)
        body = response.json() if response.content else None
        seen[path] = (response.status_code, without_timestamps(body))
        return body

    quote = lambda subject: requests.utils.quote(subject, safe="")
    get("/config")
    get("/mode")
    get("/subjects")
    subjects = get("/subjects?deleted=true")
    get("/schemas?deleted=true")
    get("/schemas")
    max_id = 0
    for subject in subjects:
        s = quote(subject)
        for suffix in ("/versions", "/versions?deleted=true", "/versions/latest", "/versions/latest?deleted=true"):
            get(f"/subjects/{s}{suffix}")
        get(f"/config/{s}")
        get(f"/config/{s}?defaultToGlobal=true")
        get(f"/mode/{s}")
        for version in get(f"/subjects/{s}/versions?deleted=true"):
            body = get(f"/subjects/{s}/versions/{version}?deleted=true")
            get(f"/subjects/{s}/versions/{version}")
            get(f"/subjects/{s}/versions/{version}/schema?deleted=true")
            get(f"/subjects/{s}/versions/{version}/referencedby")
            max_id = max(max_id, body["id"])
    for schema_id in range(1, max_id + 3):
        get(f"/schemas/ids/{schema_id}")
        get(f"/schemas/ids/{schema_id}/subjects?deleted=true")
        get(f"/schemas/ids/{schema_id}/versions?deleted=true")
        get(f"/schemas/ids/{schema_id}/versions")
    return seen


def assert_same_answers(source_url, target_url):
    source, target = answers(source_url), answers(target_url)
    assert source.keys() == target.keys()
    different = [path for path in source if source[path] != target[path]]
    assert not different, "\n".join(f"{path}: source {source[path]} target {target[path]}" for path in different[:10])
    return len(source)


def export(url, *extra):
    result = schemactl("export", "--registry", url, *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout


def import_file(path, url, *extra):
    return schemactl("import", str(path), "--registry", url, *extra)


@pytest.fixture
def two_registries(tmp_path):
    servers = [RunningServer(str(tmp_path / f"{name}.db")).start() for name in ("source", "target")]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_export_then_import_gives_identical_answers_everywhere(two_registries, tmp_path):
    source, target = two_registries
    populate(source.url)
    text = export(source.url, "--include-deleted")
    lines = [json.loads(line) for line in text.splitlines()]
    header = lines[0]
    assert header["type"] == "header" and header["format"] == 1 and header["source"] == source.url
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", header["exportedAt"])
    versions = [line for line in lines if line["type"] == "version"]
    assert header["counts"]["versions"] == len(versions) == 12
    assert sum(1 for line in versions if line.get("deleted")) == header["counts"]["deletedVersions"] == 3
    # A referenced version comes before its referrer.
    position = {(line["subject"], line["version"]): index for index, line in enumerate(versions)}
    for line in versions:
        for reference in line.get("references", []):
            assert position[(reference["subject"], reference["version"])] < position[(line["subject"], line["version"])]
    assert {"type": "config", "subject": "orders-value", "config": {"compatibilityLevel": "NONE"}} in lines
    assert {"type": "mode", "subject": "address-copy", "mode": "READONLY"} in lines

    path = tmp_path / "registry.jsonl"
    path.write_text(text)
    result = import_file(path, target.url)
    assert result.returncode == 0, result.stderr
    assert re.match(r"imported \d+ schemas, 6 subjects, 0 differences", result.stdout), result.stdout
    compared = assert_same_answers(source.url, target.url)
    assert compared > 150
    # The target is back in its previous mode, and takes new registrations with the next id.
    assert ok(requests.get(f"{target.url}/mode")) == {"mode": "READWRITE"}
    new_source = register(source.url, "fresh", record("Fresh", [{"name": "a", "type": "int"}]))
    new_target = register(target.url, "fresh", record("Fresh", [{"name": "a", "type": "int"}]))
    assert new_source == new_target

    # Running it again changes nothing and finds nothing to write.
    again = import_file(path, target.url, "--force")
    assert again.returncode == 0, again.stderr
    assert "0 differences" in again.stdout and "0 written" in again.stdout, again.stdout


def test_export_without_deleted_keeps_what_live_versions_reference(two_registries, tmp_path):
    source, target = two_registries
    address = record("Address", [{"name": "street", "type": "string"}])
    register(source.url, "address-value", address)
    register(source.url, "customer-value", record("Customer", [{"name": "home", "type": "com.acme.Address"}]),
             references=[{"name": "com.acme.Address", "subject": "address-value", "version": 1}])
    register(source.url, "gone", record("Gone", [{"name": "a", "type": "int"}]))
    assert requests.delete(f"{source.url}/subjects/gone").status_code == 200
    lines = [json.loads(line) for line in export(source.url).splitlines()]
    subjects = {line["subject"] for line in lines if line["type"] == "version"}
    assert subjects == {"address-value", "customer-value"}
    only = [json.loads(line) for line in export(source.url, "--subject-prefix", "cust").splitlines()]
    kept = {(line["subject"], line.get("deleted", False)) for line in only if line["type"] == "version"}
    # The prefix selects customer-value; the version it references comes along.
    assert kept == {("customer-value", False), ("address-value", False)}
    path = tmp_path / "part.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in only) + "\n")
    result = import_file(path, target.url)
    assert result.returncode == 0, result.stderr + result.stdout
    assert ok(requests.get(f"{target.url}/schemas/ids/2"))["references"][0]["subject"] == "address-value"


def test_import_refuses_a_target_with_other_subjects_and_stops_on_a_conflict(two_registries, tmp_path):
    source, target = two_registries
    register(source.url, "a", record("A", [{"name": "x", "type": "int"}]))
    register(source.url, "b", record("B", [{"name": "x", "type": "int"}]))
    path = tmp_path / "source.jsonl"
    path.write_text(export(source.url))
    # A foreign subject on the target: refused, nothing written, the mode untouched.
    register(target.url, "someone-else", record("Else", [{"name": "y", "type": "int"}]))
    refused = import_file(path, target.url)
    assert refused.returncode == 2
    assert "already has subjects that are not in the source (someone-else)" in refused.stderr
    assert ok(requests.get(f"{target.url}/mode")) == {"mode": "READWRITE"}
    assert ok(requests.get(f"{target.url}/subjects")) == ["someone-else"]
    # With --force it goes ahead: id 1 holds other content there, so it stops with both texts.
    conflict = import_file(path, target.url, "--force")
    assert conflict.returncode == 1, conflict.stderr
    assert "id 1 holds other content on the target" in conflict.stderr
    assert '"name":"A"' in conflict.stderr and '"name":"Else"' in conflict.stderr
    assert ok(requests.get(f"{target.url}/mode")) == {"mode": "READWRITE"}


def test_a_damaged_file_is_refused_before_anything_is_written(two_registries, tmp_path):
    source, target = two_registries
    register(source.url, "a", record("A", [{"name": "x", "type": "int"}]))
    lines = export(source.url).splitlines()
    for name, content, message in [
        ("headless.jsonl", "\n".join(lines[1:]), "not a schemactl export header"),
        ("cut.jsonl", "\n".join(lines)[:-10], "not JSON"),
        ("future.jsonl", "\n".join([lines[0].replace('"format":1', '"format":99')] + lines[1:]), "unknown export format 99"),
        ("empty.jsonl", "", "empty"),
        ("twice.jsonl", "\n".join(lines + [lines[-1]]), f":{len(lines) + 1}: subject a version 1 again (first on line {len(lines)})"),
    ]:
        path = tmp_path / name
        path.write_text(content)
        result = import_file(path, target.url)
        assert result.returncode == 2 and message in result.stderr, (name, result.stderr)
    assert ok(requests.get(f"{target.url}/subjects")) == []
    assert ok(requests.get(f"{target.url}/mode")) == {"mode": "READWRITE"}


def openapi_operations():
    with open(os.path.join(REPO, "openapi.yaml")) as file:
        spec = yaml.safe_load(file)
    operations = {}
    for path, item in spec["paths"].items():
        shared = [parameter.get("name") for parameter in item.get("parameters", [])]
        for method, operation in item.items():
            if method in ("get", "put", "post", "delete"):
                names = shared + [parameter.get("name") for parameter in operation.get("parameters", [])
                                  if isinstance(parameter, dict)]
                # $ref parameters: resolve to their names.
                for parameter in operation.get("parameters", []):
                    if "$ref" in parameter:
                        names.append(spec["components"]["parameters"][parameter["$ref"].split("/")[-1]]["name"])
                operations[(method.upper(), path)] = set(filter(None, names))
    return operations


def migration_calls():
    """The (method, path, query) templates the migration code calls, read from its source."""
    directory = os.path.join(REPO, "Sources", "SchemaCtl", "Migration")
    calls = []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name)) as file:
            source = file.read()
        found = re.findall(r'return \("(GET|PUT|POST|DELETE)", "(/[^"]*)", \[([^\]]*)\]\)', source)
        if name != "ConfluentAPI.swift":
            # No other file of the migration builds a request path.
            assert not re.search(r'"/(subjects|schemas|config|mode|compatibility)', source), name
            continue
        calls += [(method, path, re.findall(r'"(\w+)"', query)) for method, path, query in found]
    return calls


# The Confluent Schema Registry API as CONFLUENT-API.md §4 documents it (paths and query parameters) that the
# migration may use: a registry offering nothing more still exports, imports and mirrors.
CONFLUENT_ONLY = {
    ("GET", "/subjects"): {"deleted", "subjectPrefix", "deletedOnly"},
    ("GET", "/subjects/{subject}/versions"): {"deleted", "deletedOnly"},
    ("GET", "/subjects/{subject}/versions/{version}"): {"deleted"},
    ("POST", "/subjects/{subject}/versions"): {"normalize"},
    ("DELETE", "/subjects/{subject}/versions/{version}"): {"permanent"},
    ("GET", "/schemas/ids/{id}"): {"subject", "fetchMaxId"},
    ("GET", "/config"): {"defaultToGlobal"},
    ("PUT", "/config"): set(),
    ("GET", "/config/{subject}"): {"defaultToGlobal"},
    ("PUT", "/config/{subject}"): set(),
    ("DELETE", "/config/{subject}"): set(),
    ("GET", "/mode"): {"defaultToGlobal"},
    ("PUT", "/mode"): {"force"},
    ("GET", "/mode/{subject}"): {"defaultToGlobal"},
    ("PUT", "/mode/{subject}"): {"force"},
    ("DELETE", "/mode/{subject}"): {"recursive"},
}


def test_the_migration_calls_only_documented_confluent_endpoints():
    calls = migration_calls()
    assert len(calls) >= 12
    operations = openapi_operations()
    for method, path, query in calls:
        assert (method, path) in operations, f"{method} {path} is not in openapi.yaml"
        assert set(query) <= operations[(method, path)], f"{method} {path}?{query}: not all declared in openapi.yaml"
        assert (method, path) in CONFLUENT_ONLY and set(query) <= CONFLUENT_ONLY[(method, path)], f"{method} {path} is not Confluent's"


class ConfluentOnlyProxy:
    """Forwards only CONFLUENT_ONLY requests to a registry and answers 404 to anything else, recording what
    came: a stand-in for a registry that speaks nothing but the documented API."""

    def __init__(self, upstream):
        import http.server
        import urllib.parse

        proxy = self
        self.upstream = upstream
        self.calls = []
        self.refused = []

        def template(path):
            parts = path.split("/")
            if len(parts) >= 3 and parts[1] in ("subjects", "config", "mode"):
                parts[2] = "{subject}"
            if len(parts) >= 5 and parts[1] == "subjects" and parts[3] == "versions":
                parts[4] = "{version}"
            if len(parts) >= 4 and parts[1] == "schemas" and parts[2] == "ids":
                parts[3] = "{id}"
            return "/".join(parts)

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *arguments):
                pass

            def handle_any(self):
                parsed = urllib.parse.urlsplit(self.path)
                key = (self.command, template(parsed.path))
                query = set(urllib.parse.parse_qs(parsed.query).keys())
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if key not in CONFLUENT_ONLY or not query <= CONFLUENT_ONLY[key]:
                    proxy.refused.append((self.command, self.path))
                    self.send_response(404)
                    payload = b'{"error_code":404,"message":"HTTP 404 Not Found"}'
                else:
                    proxy.calls.append(key)
                    answer = requests.request(self.command, proxy.upstream + self.path, data=body, headers=CT)
                    self.send_response(answer.status_code)
                    payload = answer.content
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = handle_any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_export_and_import_through_a_registry_that_speaks_only_the_confluent_api(two_registries, tmp_path):
    source, target = two_registries
    populate(source.url)
    source_proxy, target_proxy = ConfluentOnlyProxy(source.url), ConfluentOnlyProxy(target.url)
    try:
        path = tmp_path / "registry.jsonl"
        path.write_text(export(source_proxy.url, "--include-deleted"))
        result = import_file(path, target_proxy.url)
        assert result.returncode == 0, result.stderr
        assert "0 differences" in result.stdout
    finally:
        source_proxy.close()
        target_proxy.close()
    assert source_proxy.refused == [] and target_proxy.refused == []
    assert len(source_proxy.calls) > 20 and len(target_proxy.calls) > 20
    assert_same_answers(source.url, target.url)


def fill(url, subjects=40, versions=30):
    """Many versions quickly: level NONE, one keep-alive session."""
    session = requests.Session()
    session.headers.update(CT)
    ok(session.put(f"{url}/config", json={"compatibility": "NONE"}))
    for number in range(versions):
        for subject in range(subjects):
            schema = record(f"R{subject}", [{"name": f"f{n}", "type": "int", "default": n} for n in range(number + 1)])
            assert session.post(f"{url}/subjects/bulk-{subject}/versions", json={"schema": schema}).status_code == 200
    return subjects * versions


def test_an_import_killed_half_way_finishes_when_run_again(two_registries, tmp_path):
    source, target = two_registries
    total = fill(source.url)
    for subject in range(0, 40, 7):
        assert requests.delete(f"{source.url}/subjects/bulk-{subject}/versions/3").status_code == 200
    path = tmp_path / "registry.jsonl"
    path.write_text(export(source.url, "--include-deleted"))
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SCHEMA_REGISTRY")}
    process = subprocess.Popen([schemactl_binary(), "import", str(path), "--registry", target.url],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    progress = []
    for line in process.stderr:
        progress.append(line)
        match = re.match(r"import: (\d+)/(\d+) \((\d+)%\)", line)
        if match and int(match.group(3)) >= 30:
            process.kill()
            break
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, progress
    present = len(requests.get(f"{target.url}/schemas?deleted=true").json())
    assert 0 < present < total, present
    assert ok(requests.get(f"{target.url}/mode")) == {"mode": "IMPORT"}

    again = import_file(path, target.url)
    assert again.returncode == 0, again.stderr
    assert "note: the target is already in IMPORT mode" in again.stderr
    match = re.search(r"imported (\d+) schemas, 40 subjects, 0 differences \((\d+) versions: (\d+) written, (\d+) already present\)", again.stdout)
    assert match, again.stdout
    assert int(match.group(2)) == total and int(match.group(4)) >= present - 40 and int(match.group(3)) > 0
    assert ok(requests.get(f"{target.url}/mode")) == {"mode": "READWRITE"}
    assert_same_answers(source.url, target.url)


def light_state(url):
    """What a mirror must have caught up with, cheaply: every subject's version lists, level and mode."""
    state = {"subjects": requests.get(f"{url}/subjects?deleted=true").json()}
    for subject in state["subjects"]:
        quoted = requests.utils.quote(subject, safe="")
        state[subject] = [requests.get(f"{url}/subjects/{quoted}/versions?deleted=true").json(),
                          requests.get(f"{url}/subjects/{quoted}/versions").json(),
                          requests.get(f"{url}/config/{quoted}").json(), requests.get(f"{url}/mode/{quoted}").json()]
    state["config"] = requests.get(f"{url}/config").json()
    return state


def start_mirror(source_url, target_url, *extra):
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SCHEMA_REGISTRY")}
    process = subprocess.Popen([schemactl_binary(), "mirror", "--from", source_url, "--to", target_url, "--interval", "1s", *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    lines = []
    threading.Thread(target=lambda: lines.extend(iter(process.stderr.readline, "")), daemon=True).start()
    deadline = time.time() + 60
    while not any("following every" in line for line in lines):
        assert process.poll() is None and time.time() < deadline, lines
        time.sleep(0.05)
    return process, lines


def test_mirror_follows_a_writer_and_converges_within_two_seconds(two_registries):
    source, target = two_registries
    populate(source.url)
    process, lines = start_mirror(source.url, target.url)
    assert ok(requests.get(f"{target.url}/mode")) == {"mode": "IMPORT"}
    stop = time.time() + 30
    session = requests.Session()
    session.headers.update(CT)
    ok(session.put(f"{source.url}/config/mirrored-0", json={"compatibility": "NONE"}))
    written = 0
    while time.time() < stop:
        subject = f"mirrored-{written % 3}"
        schema = record(f"M{written % 3}", [{"name": f"f{n}", "type": "int", "default": n} for n in range(written // 3 + 1)])
        assert session.post(f"{source.url}/subjects/{subject}/versions", json={"schema": schema}).status_code == 200
        written += 1
        if written % 25 == 0:
            # Deletes, levels and modes are followed too.
            assert session.delete(f"{source.url}/subjects/{subject}/versions/{written // 3 - 2}").status_code == 200
            level = ["FULL", "NONE", "FORWARD"][written // 25 % 3]
            ok(session.put(f"{source.url}/config/mirrored-2", json={"compatibility": level}))
            mode = ["READONLY", "READWRITE"][written // 25 % 2]
            ok(session.put(f"{source.url}/mode/address-copy", json={"mode": mode}))
        if written == 60:
            assert session.delete(f"{source.url}/subjects/legacy-value?permanent=true").status_code == 200
        time.sleep(0.02)
    stopped = time.time()
    wanted = light_state(source.url)
    while (present := light_state(target.url)) != wanted:
        if time.time() - stopped >= 2:
            differing = {key: (wanted.get(key), present.get(key)) for key in set(wanted) | set(present) if wanted.get(key) != present.get(key)}
            pytest.fail(f"the mirror did not converge within 2 s: {differing}; mirror said {lines[-6:]}")
        time.sleep(0.1)
    converged = time.time() - stopped
    assert written > 300
    assert process.poll() is None
    assert any(re.match(r"mirror: lag \d+ \(source changes not yet applied\)", line) for line in lines), lines[-5:]
    # Stopped, the target has its mode back and answers every endpoint as the source does.
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0, lines[-5:]
    assert ok(requests.get(f"{target.url}/mode")) == {"mode": "READWRITE"}
    assert_same_answers(source.url, target.url)
    print(f"mirror: {written} registrations in 30 s, converged {converged:.2f} s after the writer stopped")


def test_mirror_stops_with_an_error_on_a_conflict(two_registries):
    source, target = two_registries
    register(source.url, "a", record("A", [{"name": "x", "type": "int"}]))
    register(target.url, "foreign", record("Foreign", [{"name": "y", "type": "int"}]))
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SCHEMA_REGISTRY")}
    result = subprocess.run([schemactl_binary(), "mirror", "--from", source.url, "--to", target.url, "--force"],
                            capture_output=True, text=True, env=environment, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "id 1 holds other content on the target" in result.stderr
    assert ok(requests.get(f"{target.url}/mode")) == {"mode": "READWRITE"}


def test_sqlite_to_postgresql_and_back(postgres, tmp_path):
    sqlite = RunningServer(str(tmp_path / "first.db")).start()
    pg = RunningServer(postgres_registry_uri(postgres)).start()
    back = RunningServer(str(tmp_path / "back.db")).start()
    try:
        populate(sqlite.url)
        there = tmp_path / "to-postgresql.jsonl"
        there.write_text(export(sqlite.url, "--include-deleted"))
        result = import_file(there, pg.url)
        assert result.returncode == 0 and "0 differences" in result.stdout, result.stderr + result.stdout
        assert_same_answers(sqlite.url, pg.url)
        home = tmp_path / "to-sqlite.jsonl"
        home.write_text(export(pg.url, "--include-deleted"))
        result = import_file(home, back.url)
        assert result.returncode == 0 and "0 differences" in result.stdout, result.stderr + result.stdout
        assert_same_answers(sqlite.url, back.url)
    finally:
        for server in (sqlite, pg, back):
            server.stop()


def test_export_import_and_mirror_over_tls_with_credentials(tmp_path, two_registries):
    from test_auth import PASSWORDS, SecureRegistry

    plain_source, target = two_registries
    (tmp_path / "secure").mkdir()
    secure = SecureRegistry(tmp_path / "secure").start()
    try:
        ok(secure.post("/subjects/orders-value/versions", {"schema": record("Order", [{"name": "id", "type": "long"}])}, user="admin"))
        # Without credentials: refused, exit 2, and the message says why.
        refused = schemactl("export", "--registry", secure.url, "--ca-cert", secure.ca)
        assert refused.returncode == 2 and "401" in refused.stderr
        exported = schemactl("export", "--registry", secure.url.replace("https://", f"https://admin:{PASSWORDS['admin']}@"), "--ca-cert", secure.ca)
        assert exported.returncode == 0, exported.stderr
        assert PASSWORDS["admin"] not in exported.stdout and json.loads(exported.stdout.splitlines()[0])["source"] == secure.url
        path = tmp_path / "secure.jsonl"
        path.write_text(exported.stdout)
        assert "0 differences" in import_file(path, target.url).stdout
        # Into the secure registry as a user who may not change the global mode: refused, clearly, nothing written.
        ci = schemactl("import", str(path), "--registry", secure.url, "--ca-cert", secure.ca, "--user-info", f"ci:{PASSWORDS['ci']}")
        assert ci.returncode == 2, ci.stderr
        assert "the target registry refused to show its global mode (HTTP 403" in ci.stderr and PASSWORDS["ci"] not in ci.stderr
        # Standard input works as the file, with a progress bar when stderr is a terminal.
        import pty
        leader, follower = pty.openpty()
        with open(path) as stdin:
            piped = subprocess.run([schemactl_binary(), "import", "-", "--registry", plain_source.url], stdin=stdin,
                                   stdout=subprocess.PIPE, stderr=follower, text=True, timeout=60)
        os.close(follower)
        drawn = os.read(leader, 65536).decode()
        os.close(leader)
        assert piped.returncode == 0 and "0 differences" in piped.stdout, drawn
        assert "\rimport [" in drawn and "] 1/1" in drawn, drawn
        assert requests.delete(f"{plain_source.url}/subjects/orders-value").status_code == 200
        assert requests.delete(f"{plain_source.url}/subjects/orders-value?permanent=true").status_code == 200
        # The mirror, TLS and credentials on the source side.
        result = subprocess.run([schemactl_binary(), "mirror", "--from", secure.url, "--from-ca-cert", secure.ca,
                                 "--from-user-info", f"admin:{PASSWORDS['admin']}", "--to", plain_source.url, "--duration", "1"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert ok(requests.get(f"{plain_source.url}/subjects")) == ["orders-value"]
        assert PASSWORDS["admin"] not in result.stderr
    finally:
        secure.stop()


def wait_until(predicate, seconds=10, what="condition"):
    deadline = time.time() + seconds
    while not predicate():
        assert time.time() < deadline, what
        time.sleep(0.1)


def test_mirror_follows_a_subject_deleted_and_registered_anew_and_read_only_subjects(two_registries):
    source, target = two_registries
    register(source.url, "s", record("S", [{"name": "a", "type": "int"}]))
    register(source.url, "s", record("S", [{"name": "a", "type": "int"}, {"name": "b", "type": "int", "default": 0}]))
    register(source.url, "ro", record("Ro", [{"name": "a", "type": "int"}]))
    ok(requests.put(f"{source.url}/mode/ro", headers=CT, json={"mode": "READONLY"}))
    process, lines = start_mirror(source.url, target.url)
    try:
        # Deleted for good and registered anew between two looks: the same version numbers, other ids.
        assert requests.delete(f"{source.url}/subjects/s").status_code == 200
        assert requests.delete(f"{source.url}/subjects/s?permanent=true").status_code == 200
        new_ids = [register(source.url, "s", record("S2", [{"name": "x", "type": "string"}])),
                   register(source.url, "s", record("S2", [{"name": "x", "type": "string"}, {"name": "y", "type": "int", "default": 1}]))]
        # A subject read-only on both sides gets a version through a short READWRITE window on the source.
        ok(requests.put(f"{source.url}/mode/ro", headers=CT, json={"mode": "READWRITE"}))
        ro2 = register(source.url, "ro", record("Ro", [{"name": "a", "type": "int"}, {"name": "b", "type": "int", "default": 0}]))
        ok(requests.put(f"{source.url}/mode/ro", headers=CT, json={"mode": "READONLY"}))
        wait_until(lambda: [requests.get(f"{target.url}/subjects/s/versions/{v}").json().get("id") for v in (1, 2)] == new_ids
                   and requests.get(f"{target.url}/subjects/ro/versions/2").json().get("id") == ro2
                   and requests.get(f"{target.url}/mode/ro").json() == {"mode": "READONLY"}, 10, f"not followed: {lines[-4:]}")
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, lines[-4:]
    assert_same_answers(source.url, target.url)


def test_a_mirror_never_overwrites_a_target_subject_holding_other_content(two_registries):
    source, target = two_registries
    register(source.url, "orders", record("Order", [{"name": "id", "type": "long"}]))
    register(target.url, "pad", record("Pad", [{"name": "p", "type": "int"}]))
    mine = register(target.url, "orders", record("Mine", [{"name": "m", "type": "int"}]))
    before = answers(target.url)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SCHEMA_REGISTRY")}
    result = subprocess.run([schemactl_binary(), "mirror", "--from", source.url, "--to", target.url, "--force", "--duration", "2"],
                            capture_output=True, text=True, env=environment, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "subject orders version 1 differs between the source and the target" in result.stderr
    assert ok(requests.get(f"{target.url}/schemas/ids/{mine}"))["schema"].startswith('{"type":"record","name":"Mine"')
    assert answers(target.url) == before


def test_a_prefix_export_keeps_a_referenced_version_soft_deleted(two_registries, tmp_path):
    source, target = two_registries
    register(source.url, "dep", record("Dep", [{"name": "a", "type": "int"}]))
    register(source.url, "user", record("User", [{"name": "d", "type": "com.acme.Dep"}]),
             references=[{"name": "com.acme.Dep", "subject": "dep", "version": 1}])
    assert requests.delete(f"{source.url}/subjects/user").status_code == 200
    assert requests.delete(f"{source.url}/subjects/dep").status_code == 200
    text = export(source.url, "--include-deleted", "--subject-prefix", "user")
    versions = {line["subject"]: line.get("deleted") for line in map(json.loads, text.splitlines()) if line["type"] == "version"}
    assert versions == {"dep": True, "user": True}
    path = tmp_path / "prefix.jsonl"
    path.write_text(text)
    result = import_file(path, target.url)
    assert result.returncode == 0 and "0 differences" in result.stdout, result.stderr
    assert ok(requests.get(f"{target.url}/subjects")) == []
    assert ok(requests.get(f"{target.url}/subjects?deleted=true")) == ["dep", "user"]


def test_schema_texts_another_registry_kept_as_sent_import_and_verify(two_registries, tmp_path):
    """Karapace and Apicurio answer the text as it was sent; we store the canonical string. Same schema."""
    _, target = two_registries
    raw = '{ "type": "record", "name": "R", "fields": [ {"name": "a", "type": {"type": "int"}, "doc": "an int"} ] }'
    header = {"type": "header", "format": 1, "source": "http://karapace", "exportedAt": "2026-12-06T00:00:00Z", "counts": {}}
    line = {"type": "version", "subject": "r", "version": 4, "id": 17, "schemaType": "AVRO", "schema": raw}
    path = tmp_path / "karapace.jsonl"
    path.write_text(json.dumps(header) + "\n" + json.dumps(line) + "\n")
    for attempt in range(2):
        result = import_file(path, target.url)
        assert result.returncode == 0 and "0 differences" in result.stdout, result.stderr
        assert f"{1 - attempt} written" in result.stdout
    stored = ok(requests.get(f"{target.url}/subjects/r/versions/4"))
    assert stored["id"] == 17 and stored["schema"] == '{"type":"record","name":"R","fields":[{"name":"a","type":"int","doc":"an int"}]}'
    # Another schema under the same id is still a conflict.
    line["schema"] = raw.replace('"int"', '"long"')
    path.write_text(json.dumps(header) + "\n" + json.dumps(line) + "\n")
    conflict = import_file(path, target.url)
    assert conflict.returncode == 1 and "subject r version 4 differs" in conflict.stderr


def test_an_interrupted_import_puts_the_mode_back(two_registries, tmp_path):
    source, target = two_registries
    fill(source.url, subjects=10, versions=30)
    path = tmp_path / "registry.jsonl"
    path.write_text(export(source.url))
    ok(requests.put(f"{target.url}/mode", headers=CT, json={"mode": "READONLY"}))
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SCHEMA_REGISTRY")}
    process = subprocess.Popen([schemactl_binary(), "import", str(path), "--registry", target.url],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    for line in process.stderr:
        if line.startswith("import: "):
            process.send_signal(signal.SIGINT)
            break
    assert process.wait(timeout=30) == 130
    assert "error: interrupted" in process.stderr.read()
    assert ok(requests.get(f"{target.url}/mode")) == {"mode": "READONLY"}


def test_a_mirror_rides_out_a_restart_of_either_registry(tmp_path):
    source = RunningServer(str(tmp_path / "source.db")).start()
    target = RunningServer(str(tmp_path / "target.db")).start()
    try:
        ok(requests.put(f"{source.url}/config", headers=CT, json={"compatibility": "NONE"}))

        def add(number):
            register(source.url, "a", record("R", [{"name": f"f{k}", "type": "int", "default": 0} for k in range(number + 1)]))

        for number in range(3):
            add(number)
        process, lines = start_mirror(source.url, target.url, "--interval", "500ms")
        try:
            for server, numbers in ((target, range(3, 6)), (source, range(6, 8))):
                listen = server.url.split("//")[1]
                server.stop()
                if server is target:
                    for number in numbers:
                        add(number)
                time.sleep(1.5)  # looks fail meanwhile: waited out
                server.start(listen=listen)
                if server is source:
                    for number in numbers:
                        add(number)
            wait_until(lambda: requests.get(f"{target.url}/subjects/a/versions").json() == list(range(1, 9)), 15, f"not caught up: {lines[-4:]}")
            assert process.poll() is None
            assert any("retrying in 500ms" in line for line in lines)
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=20) == 0, lines[-4:]
        assert ok(requests.get(f"{target.url}/mode")) == {"mode": "READWRITE"}
        assert_same_answers(source.url, target.url)
    finally:
        source.stop()
        target.stop()
