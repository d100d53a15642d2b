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
