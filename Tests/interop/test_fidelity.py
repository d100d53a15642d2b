"""Step 5 through the real server: schemas come back as registered (canonical string, references not inlined),
identity over text, references, metadata and rules, normalize, data contracts, the rest of Confluent's Avro surface,
and the hostile-input bugs (each of these tests failed on the release before)."""
import json
import os
import threading

import requests

from conftest import REPO, RunningServer

MEDIA = "application/vnd.schemaregistry.v1+json"
FIXTURES = os.path.join(REPO, "fixtures", "registry")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as file:
        return file.read()


def error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}, body
    assert body["error_code"] == code, body
    return body["message"]


def register(session, url, subject, schema, query="", **extra):
    return session.post(f"{url}/subjects/{subject}/versions{query}", data=json.dumps({"schema": schema, **extra}))


# --- Schemas as registered --------------------------------------------------------------------------------------

def test_doc_comes_back_as_the_canonical_string_from_every_endpoint(registry, session):
    from confluent_kafka.schema_registry import SchemaRegistryClient, Schema
    url = registry.url
    text = fixture("order-with-doc.avsc")
    expected = fixture("order-with-doc.canonical").strip()
    registered = register(session, url, "orders-value", text).json()
    assert registered["schema"] == expected
    identifier = registered["id"]
    assert session.get(f"{url}/schemas/ids/{identifier}").json()["schema"] == expected
    assert session.get(f"{url}/schemas/ids/{identifier}/schema").text == expected
    assert session.get(f"{url}/subjects/orders-value/versions/1").json()["schema"] == expected
    assert session.get(f"{url}/subjects/orders-value/versions/latest/schema").text == expected
    assert session.post(f"{url}/subjects/orders-value", data=json.dumps({"schema": text})).json()["schema"] == expected
    client = SchemaRegistryClient({"url": url})
    assert client.get_schema(identifier).schema_str == expected
    assert client.get_latest_version("orders-value").schema.schema_str == expected
    assert client.lookup_schema("orders-value", Schema(text, "AVRO")).version == 1
    # Whitespace alone does not make a new schema; the compact text registers as the same id and version.
    again = register(session, url, "orders-value", expected).json()
    assert (again["id"], again["version"]) == (identifier, 1)


def test_a_doc_change_alone_is_a_new_version_and_id(registry, session):
    url = registry.url
    text = fixture("order-with-doc.avsc")
    first = register(session, url, "orders-value", text).json()
    changed = json.loads(text)
    changed["fields"][0]["doc"] = "the order's number, unique per shop"
    second = register(session, url, "orders-value", json.dumps(changed)).json()
    assert second["version"] == 2
    assert second["id"] != first["id"]
    assert "unique per shop" in session.get(f"{url}/schemas/ids/{second['id']}/schema").text
    assert "unique per shop" not in session.get(f"{url}/schemas/ids/{first['id']}/schema").text


def test_normalize_dedupes_textual_variants(registry, session):
    url = registry.url
    a = '{"type":"record","name":"P","fields":[{"name":"f","type":{"type":"string","x-b":2,"x-a":1}}]}'
    b = '{"fields":[{"type":{"x-a":1,"x-b":2,"type":"string"},"name":"f"}],"name":"P","type":"record"}'
    # Without normalize, custom properties keep their order, so these are two schemas (as in Confluent).
    plain_a = register(session, url, "plain", a).json()
    plain_b = register(session, url, "plain", b).json()
    assert plain_a["id"] != plain_b["id"]
    first = register(session, url, "normalized", a, "?normalize=true").json()
    second = register(session, url, "normalized", b, "?normalize=true").json()
    assert (first["id"], first["version"]) == (second["id"], second["version"])
    # The config field does the same for every request of the subject.
    assert session.put(f"{url}/config/by-config", data=json.dumps({"normalize": True})).status_code == 200
    assert session.get(f"{url}/config/by-config").json()["normalize"] is True
    third = register(session, url, "by-config", a).json()
    fourth = register(session, url, "by-config", b).json()
    assert third["id"] == fourth["id"] == first["id"]
    # A lookup without normalize finds the normalized version.
    found = session.post(f"{url}/subjects/normalized", data=json.dumps({"schema": b}))
    assert found.status_code == 200 and found.json()["version"] == 1


def test_references_are_kept_as_sent_chains_and_diamonds(registry, session):
    url = registry.url
    address = '{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"street","type":"string"}]}'
    customer = '{"type":"record","name":"Customer","namespace":"com.acme","fields":[{"name":"address","type":"com.acme.Address"}]}'
    vip = '{"type":"record","name":"Vip","namespace":"com.acme","fields":[{"name":"customer","type":"com.acme.Customer"},{"name":"level","type":"int"}]}'
    assert register(session, url, "address", address).status_code == 200
    customer_refs = [{"name": "com.acme.Address", "subject": "address", "version": 1}]
    assert register(session, url, "customer", customer, references=customer_refs).status_code == 200
    vip_refs = [{"name": "com.acme.Customer", "subject": "customer", "version": 1}]
    registered = register(session, url, "vip-value", vip, references=vip_refs)
    assert registered.status_code == 200, registered.text
    fetched = session.get(f"{url}/subjects/vip-value/versions/1").json()
    assert fetched["references"] == vip_refs
    stored = json.loads(fetched["schema"])
    assert stored["namespace"] == "com.acme" and stored["fields"][0]["type"] == "Customer"  # named, not inlined
    assert "street" not in fetched["schema"]
    # Registering the fetched text with the fetched references again (every export/import/mirror does) is the same id.
    again = register(session, url, "vip-value", fetched["schema"], references=fetched["references"])
    assert again.status_code == 200, again.text
    assert (again.json()["id"], again.json()["version"]) == (fetched["id"], 1)
    # format=resolved inlines the whole chain.
    resolved = json.loads(session.get(f"{url}/subjects/vip-value/versions/1?format=resolved").json()["schema"])
    assert resolved["fields"][0]["type"]["fields"][0]["type"]["name"] == "Address"
    assert json.loads(session.get(f"{url}/schemas/ids/{fetched['id']}/schema?format=resolved").text) == resolved
    # The inlined form is found by a lookup too (Confluent's semantic match).
    found = session.post(f"{url}/subjects/vip-value", data=json.dumps({"schema": json.dumps(resolved)}))
    assert found.status_code == 200, found.text
    assert found.json()["id"] == fetched["id"]

    # A diamond: Top -> Left, Right -> Base.
    base = '{"type":"fixed","name":"Base","namespace":"d","size":4}'
    left = '{"type":"record","name":"Left","namespace":"d","fields":[{"name":"b","type":"d.Base"}]}'
    right = '{"type":"record","name":"Right","namespace":"d","fields":[{"name":"b","type":"d.Base"}]}'
    top = '{"type":"record","name":"Top","namespace":"d","fields":[{"name":"l","type":"d.Left"},{"name":"r","type":"d.Right"}]}'
    base_ref = [{"name": "d.Base", "subject": "base", "version": 1}]
    assert register(session, url, "base", base).status_code == 200
    assert register(session, url, "left", left, references=base_ref).status_code == 200
    assert register(session, url, "right", right, references=base_ref).status_code == 200
    top_refs = [{"name": "d.Left", "subject": "left", "version": 1}, {"name": "d.Right", "subject": "right", "version": 1}]
    top_registered = register(session, url, "top-value", top, references=top_refs)
    assert top_registered.status_code == 200, top_registered.text
    top_fetched = session.get(f"{url}/schemas/ids/{top_registered.json()['id']}").json()
    # As registered, in Java's canonical string: names relative to the enclosing namespace, nothing inlined.
    assert top_fetched["schema"] == '{"type":"record","name":"Top","namespace":"d","fields":[{"name":"l","type":"Left"},{"name":"r","type":"Right"}]}'
    assert top_fetched["references"] == top_refs
    assert register(session, url, "top-value", top_fetched["schema"], references=top_fetched["references"]).json()["version"] == 1


def test_confluent_serializers_read_and_write_through_references(registry, session):
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext
    url = registry.url
    # A chain (Person -> Customer -> Address) and a diamond (Customer and Person both use Address).
    address = '{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"street","type":"string"}]}'
    customer = '{"type":"record","name":"Customer","namespace":"com.acme","fields":[{"name":"home","type":"com.acme.Address"},{"name":"work","type":["null","com.acme.Address"],"default":null}]}'
    person = '{"type":"record","name":"Person","namespace":"com.acme","fields":[{"name":"customer","type":"com.acme.Customer"},{"name":"mail","type":"com.acme.Address"}]}'
    address_ref = {"name": "com.acme.Address", "subject": "address", "version": 1}
    register(session, url, "address", address)
    assert register(session, url, "customer", customer, references=[address_ref]).status_code == 200
    registered = register(session, url, "people-value", person, references=[{"name": "com.acme.Customer", "subject": "customer", "version": 1}, address_ref])
    assert registered.status_code == 200, registered.text
    client = SchemaRegistryClient({"url": url})
    serializer = AvroSerializer(client, None, conf={"auto.register.schemas": False, "use.latest.version": True})
    context = SerializationContext("people", MessageField.VALUE)
    record = {"customer": {"home": {"street": "Main St 1"}, "work": {"street": "Dock 7"}}, "mail": {"street": "PO Box 3"}}
    payload = serializer(record, context)
    assert payload[0] == 0 and int.from_bytes(payload[1:5], "big") == registered.json()["id"]
    assert AvroDeserializer(client)(payload, context) == record


# --- Data contracts --------------------------------------------------------------------------------------------

def test_metadata_and_rule_sets_round_trip_and_change_identity(registry, session):
    from confluent_kafka.schema_registry import Metadata, MetadataProperties, Rule, RuleKind, RuleMode, RuleSet, Schema, SchemaRegistryClient
    url = registry.url
    client = SchemaRegistryClient({"url": url})
    text = '{"type":"record","name":"Pay","fields":[{"name":"card","type":"string"}]}'
    rules = RuleSet(migration_rules=None, domain_rules=[Rule("checkCard", None, RuleKind.CONDITION, RuleMode.WRITE, "CEL", None, None, "size(message.card) == 16", None, None, False)])
    first_id = client.register_schema("pay-value", Schema(text, "AVRO", metadata=Metadata(None, MetadataProperties({"owner": "payments", "application.version": "1"}), None), rule_set=rules))
    latest = client.get_latest_version("pay-value")
    assert latest.schema.metadata.properties.properties == {"owner": "payments", "application.version": "1"}
    assert latest.schema.rule_set.domain_rules[0].name == "checkCard"
    assert latest.schema.rule_set.domain_rules[0].expr == "size(message.card) == 16"
    raw = session.get(f"{url}/subjects/pay-value/versions/1").json()
    assert raw["metadata"] == {"properties": {"application.version": "1", "owner": "payments"}}
    assert raw["ruleSet"]["domainRules"][0] == {"name": "checkCard", "kind": "CONDITION", "mode": "WRITE", "type": "CEL", "expr": "size(message.card) == 16", "disabled": False}
    # The same schema with the same contract is the same id; another contract is a new version and id.
    assert client.register_schema("pay-value", Schema(text, "AVRO", metadata=Metadata(None, MetadataProperties({"owner": "payments", "application.version": "1"}), None), rule_set=rules)) == first_id
    second_id = client.register_schema("pay-value", Schema(text, "AVRO", metadata=Metadata(None, MetadataProperties({"owner": "payments", "application.version": "2"}), None)))
    assert second_id != first_id
    assert session.get(f"{url}/subjects/pay-value/versions").json() == [1, 2]
    # A request without metadata copies the previous version's, so it is the latest version again.
    assert client.register_schema("pay-value", Schema(text, "AVRO")) == second_id
    found = client.get_latest_with_metadata("pay-value", {"application.version": "1"})
    assert (found.version, found.schema_id) == (1, first_id)
    assert client.get_latest_with_metadata("pay-value", {"application.version": "2"}).version == 2
    error(session.get(f"{url}/subjects/pay-value/metadata?key=application.version&value=9"), 404, 40403)
    error(session.get(f"{url}/subjects/nobody/metadata?key=a&value=b"), 404, 40401)
    # Shapes Confluent refuses.
    bad = {"domainRules": [{"name": "9bad", "type": "CEL", "mode": "WRITE"}]}
    error(register(session, url, "pay-value", text, ruleSet=bad), 422, 42210)
    bad_mode = {"migrationRules": [{"name": "m", "type": "JSONATA", "mode": "WRITE"}]}
    error(register(session, url, "pay-value", text, ruleSet=bad_mode), 422, 42210)
    error(register(session, url, "pay-value", text, metadata={"properties": {"owner": 7}}), 422, 42201)


def test_config_defaults_overrides_and_compatibility_group(registry, session):
    url = registry.url
    config = {"defaultMetadata": {"properties": {"owner": "team-a"}}, "overrideMetadata": {"properties": {"env": "prod"}},
              "compatibilityGroup": "major"}
    echoed = session.put(f"{url}/config/orders", data=json.dumps(config))
    assert echoed.status_code == 200, echoed.text
    got = session.get(f"{url}/config/orders").json()
    assert got["compatibilityGroup"] == "major" and got["defaultMetadata"] == config["defaultMetadata"]
    v1 = '{"type":"record","name":"O","fields":[{"name":"a","type":"int"}]}'
    first = register(session, url, "orders", v1, metadata={"properties": {"major": "1"}}).json()
    assert first["metadata"]["properties"] == {"env": "prod", "major": "1", "owner": "team-a"}
    # The request's own value wins over the default; the override wins over the request.
    second = register(session, url, "orders", '{"type":"record","name":"O","fields":[{"name":"a","type":"int"},{"name":"b","type":"int","default":0}]}',
                      metadata={"properties": {"major": "1", "owner": "team-b", "env": "dev"}}).json()
    assert second["metadata"]["properties"] == {"env": "prod", "major": "1", "owner": "team-b"}
    breaking = '{"type":"record","name":"O","fields":[{"name":"a","type":"string"}]}'
    # Incompatible within group 1 ...
    error(register(session, url, "orders", breaking, metadata={"properties": {"major": "1"}}), 409, 40901)
    # ... but a new major version starts a group of its own.
    third = register(session, url, "orders", breaking, metadata={"properties": {"major": "2"}})
    assert third.status_code == 200, third.text
    # A PUT merges: fields it leaves out keep their values.
    session.put(f"{url}/config/orders", data=json.dumps({"compatibility": "FULL"}))
    merged = session.get(f"{url}/config/orders").json()
    assert merged["compatibilityLevel"] == "FULL" and merged["compatibilityGroup"] == "major"
    deleted = session.delete(f"{url}/config/orders").json()
    assert deleted["compatibilityGroup"] == "major"


# --- The rest of the Avro surface -----------------------------------------------------------------------------

def test_new_endpoints_answer_as_confluent(registry, session):
    url = registry.url
    first = register(session, url, "s", '"string"').json()
    assert session.put(f"{url}/config/s", data=json.dumps({"compatibility": "NONE"})).status_code == 200
    register(session, url, "s", '"int"')
    register(session, url, "s", '"long"')
    session.delete(f"{url}/subjects/s/versions/2")
    assert session.get(f"{url}/subjects/s/versions?deletedAsNegative=true&deleted=true").json() == [1, -2, 3]
    assert session.get(f"{url}/subjects/s/versions?deletedOnly=true").json() == [2]
    register(session, url, "gone", '"boolean"')
    session.delete(f"{url}/subjects/gone")
    assert session.get(f"{url}/subjects?deletedOnly=true").json() == ["gone"]
    assert session.get(f"{url}/subjects").json() == ["s"]
    # guids: the identity hash as a UUID.
    guid = first["guid"]
    assert len(guid) == 36 and guid.count("-") == 4
    by_guid = session.get(f"{url}/schemas/guids/{guid}").json()
    assert by_guid["schema"] == '"string"'
    assert session.get(f"{url}/schemas/guids/{guid}/ids").json() == [{"context": ".", "id": first["id"]}]
    error(session.get(f"{url}/schemas/guids/00000000-0000-0000-0000-000000000000"), 404, 40403)
    # Modes: DELETE on the registry and on a subject.
    assert session.put(f"{url}/mode/s", data=json.dumps({"mode": "READONLY"})).status_code == 200
    assert session.delete(f"{url}/mode/s").json() == {"mode": "READONLY"}
    error(session.delete(f"{url}/mode/s"), 404, 40401)
    assert session.put(f"{url}/mode", data=json.dumps({"mode": "READONLY"})).status_code == 200
    error(register(session, url, "s", '"float"'), 422, 42205)
    assert session.delete(f"{url}/mode").json() == {"mode": "READONLY"}
    assert session.get(f"{url}/mode").json() == {"mode": "READWRITE"}
    # Server metadata.
    assert set(session.get(f"{url}/v1/metadata/id").json()["scope"]["clusters"]) == {"kafka-cluster", "schema-registry-cluster"}
    assert set(session.get(f"{url}/v1/metadata/version").json()) == {"version", "commitId"}
    # Contexts are not supported: a clear 422, not a silent misreading.
    message = error(register(session, url, ":.staging:s", '"string"'), 422, 42208)
    assert "context" in message
    error(session.get(f"{url}/subjects/:.staging:s/versions"), 422, 42208)


def test_head_is_answered_like_get_and_a_bom_is_skipped(registry, session):
    url = registry.url
    body = b"\xef\xbb\xbf" + json.dumps({"schema": '"string"'}).encode()
    assert session.post(f"{url}/subjects/bom/versions", data=body).status_code == 200
    head = session.head(f"{url}/subjects")
    get = session.get(f"{url}/subjects")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    assert session.head(f"{url}/subjects/nobody/versions").status_code == 404


# --- Bugs found by using it as a hostile user would -----------------------------------------------------------

def test_ids_and_versions_outside_the_int_range_are_refused_and_nothing_traps(registry, session):
    url = registry.url
    assert session.put(f"{url}/mode/imported", data=json.dumps({"mode": "IMPORT"})).status_code == 200
    for body in ({"id": 9223372036854775807, "version": 1}, {"id": 1, "version": 9223372036854775807}, {"id": 4294967297, "version": 1},
                 {"id": 2147483648, "version": 1}, {"id": 0, "version": 1}, {"id": 1, "version": 0}, {"id": 1e30, "version": 1}):
        error(register(session, url, "imported", '"string"', **body), 422, 42201)
    ok = register(session, url, "imported", '"string"', id=2147483647, version=2147483647)
    assert ok.status_code == 200, ok.text
    session.put(f"{url}/mode/imported", data=json.dumps({"mode": "READWRITE"}))
    # Every id is used up to 2^31-1 now: a new schema is a clear 422, not a crash, and the server keeps serving.
    error(register(session, url, "next", '"int"'), 422, 42201)
    session.put(f"{url}/config/imported", data=json.dumps({"compatibility": "NONE"}))
    message = error(register(session, url, "imported", '"int"'), 422, 42201)
    assert "version number" in message
    error(session.get(f"{url}/schemas/ids/4294967297"), 422, 42201)
    error(session.get(f"{url}/schemas/ids/99999999999999999999999"), 422, 42201)
    error(session.get(f"{url}/subjects/imported/versions/2147483648"), 422, 42202)
    error(register(session, url, "refs", '"int"', references=[{"name": "x", "subject": "imported", "version": 4294967297}]), 422, 42201)
    assert session.get(f"{url}/schemas/ids/2147483647").status_code == 200
    registry.stop()
    registry.start()
    assert session.get(f"{registry.url}/schemas/ids/2147483647").status_code == 200
    error(register(session, registry.url, "after-restart", '"int"'), 422, 42201)


def test_reserved_and_empty_subjects_are_refused_on_every_route(registry, session):
    url = registry.url
    assert session.put(f"{url}/mode", data=json.dumps({"mode": "READONLY"})).status_code == 200
    error(session.delete(f"{url}/mode/__GLOBAL"), 422, 42208)
    error(session.delete(f"{url}/config/__GLOBAL"), 422, 42208)
    error(session.put(f"{url}/mode/__GLOBAL", data=json.dumps({"mode": "READWRITE"})), 422, 42208)
    error(session.get(f"{url}/subjects/__GLOBAL/versions"), 422, 42208)
    error(session.get(f"{url}/config/__EMPTY"), 422, 42208)
    assert session.get(f"{url}/mode").json() == {"mode": "READONLY"}
    session.put(f"{url}/mode", data=json.dumps({"mode": "READWRITE"}))
    error(session.post(f"{url}/subjects//versions", data=json.dumps({"schema": '"string"'})), 422, 42208)
    assert session.get(f"{url}/subjects?deleted=true").json() == []


def test_a_transitive_failure_reports_the_first_failing_version_and_stays_small(registry, session):
    url = registry.url
    session.put(f"{url}/config/many", data=json.dumps({"compatibility": "NONE"}))
    for number in range(2001):
        schema = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}, {"name": f"x{number}", "type": "int", "default": 0}]}
        assert register(session, url, "many", json.dumps(schema)).status_code == 200
    session.put(f"{url}/config/many", data=json.dumps({"compatibility": "FULL_TRANSITIVE"}))
    breaking = '{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}'
    response = register(session, url, "many", breaking)
    message = error(response, 409, 40901)
    assert len(response.content) < 1_000_000
    assert "{oldSchemaVersion: 2001}" in message
    assert "{oldSchemaVersion: 2000}" not in message
    assert "moreIncompatibleVersions: 2000" in message
    verbose = session.post(f"{url}/compatibility/subjects/many/versions?verbose=true", data=json.dumps({"schema": breaking})).json()
    assert verbose["is_compatible"] is False
    assert sum(1 for m in verbose["messages"] if m.startswith("{oldSchemaVersion:")) == 1


def test_listings_page_with_offset_and_limit(registry, session):
    url = registry.url
    for number in range(30):
        register(session, url, f"sub-{number:02d}", '"string"')
    assert session.get(f"{url}/subjects?limit=10").json() == [f"sub-{n:02d}" for n in range(10)]
    assert session.get(f"{url}/subjects?offset=25&limit=10").json() == [f"sub-{n:02d}" for n in range(25, 30)]
    assert session.get(f"{url}/subjects?offset=5&limit=0").json() == [f"sub-{n:02d}" for n in range(5, 30)]
    session.put(f"{url}/config/sub-00", data=json.dumps({"compatibility": "NONE"}))
    for schema in ('"int"', '"long"', '"float"'):
        register(session, url, "sub-00", schema)
    assert session.get(f"{url}/subjects/sub-00/versions?offset=1&limit=2").json() == [2, 3]
    walked = []
    offset = 0
    while True:
        page = session.get(f"{url}/schemas?limit=7&offset={offset}").json()
        if not page:
            break
        walked += [(item["subject"], item["version"]) for item in page]
        offset += 7
    everything = [(item["subject"], item["version"]) for item in session.get(f"{url}/schemas").json()]
    assert walked == everything and len(everything) == 33
    assert [(i["subject"], i["version"]) for i in session.get(f"{url}/schemas?limit=1&offset=2").json()] == [("sub-00", 3)]


def test_a_permanently_deleted_id_stops_answering_even_when_a_read_races_the_delete(registry, session):
    url = registry.url
    stale = 0
    for trial in range(40):
        schema = json.dumps({"type": "record", "name": f"Race{trial}", "fields": [{"name": f"f{n}", "type": "long"} for n in range(1500)]})
        identifier = register(session, url, f"race-{trial}", schema).json()["id"]
        session.delete(f"{url}/subjects/race-{trial}")
        stop = threading.Event()

        def reader():
            with requests.Session() as own:
                while not stop.is_set():
                    own.get(f"{url}/schemas/ids/{identifier}")

        threads = [threading.Thread(target=reader) for _ in range(4)]
        for thread in threads:
            thread.start()
        assert session.delete(f"{url}/subjects/race-{trial}?permanent=true").status_code == 200
        stop.set()
        for thread in threads:
            thread.join()
        stale += sum(session.get(f"{url}/schemas/ids/{identifier}").status_code != 404 for _ in range(3))
    assert stale == 0, f"{stale} answers for permanently deleted ids"


def test_reregistering_a_soft_deleted_schema_removes_the_old_version(registry, session):
    url = registry.url
    first = register(session, url, "s", '"string"').json()
    session.delete(f"{url}/subjects/s/versions/1")
    again = register(session, url, "s", '"string"').json()
    assert (again["id"], again["version"]) == (first["id"], 2)
    assert session.get(f"{url}/subjects/s/versions?deleted=true").json() == [2]


REGISTER_BODY = b'{"schema":"\\"string\\""}'


def query_of(count, length):
    return b"&".join(b"p%d=%s" % (index, b"v" * length) for index in range(count))


# Requests each answered with one well-formed error, over plain HTTP and over TLS (test_tls.py): unreadable
# Content-Length values, and request targets whose query used to exhaust libmicrohttpd's per-connection memory
# (it closed the connection with no answer from about 450 short parameters, or 200 of 100 bytes).
FRAMING_AND_TARGET_CASES = [
    (b"POST /subjects/s/versions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n" + REGISTER_BODY, 400),
    (b"POST /subjects/s/versions HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n" + REGISTER_BODY, 400),
    (b"POST /subjects/s/versions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n" + REGISTER_BODY, 413),
] + [
    (b"GET /subjects?" + query_of(count, length) + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414)
    for count, length in [(257, 0), (450, 1), (1000, 10), (200, 100), (3000, 1), (20, 1000)]
]


def test_answers_libmicrohttpd_makes_itself_are_json_once(registry):
    import re
    import socket
    port = int(registry.url.rsplit(":", 1)[1])
    chunked = b"POST /subjects/s/versions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    cases = [
        (chunked + b"10000000000000000\r\nabc\r\n0\r\n\r\n", 413),
        (chunked + b"5;" + b"e" * 100_000 + b"\r\nhello\r\n0\r\n\r\n", 500),
        (b"GET /subjects HTTP/9.9\r\nHost: x\r\n\r\n", 505),
        (b"GET /subjects HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 100_000 + b"\r\n\r\n", 431),
        (b"POST /subjects/s/versions HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551616\r\n\r\n", 413),
        # Issue 12's framing cases: each one well-formed answer, once (the head used to be written twice, then
        # the connection was closed with no answer), and nothing registered.
        (b"POST /subjects/s/versions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n" + REGISTER_BODY, 400),
        (b"POST /subjects/s/versions HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n" + REGISTER_BODY, 400),
        (b"POST /subjects/s/versions HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n" + REGISTER_BODY, 400),
        # Two Content-Lengths (smuggling behind a proxy): one 400 and a closed connection, not two answers.
        (b"POST /subjects/s/versions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nContent-Length: 5\r\n\r\n"
         % len(REGISTER_BODY) + REGISTER_BODY + b"GET /subjects HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"POST /subjects/s/versions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n"
         % (len(REGISTER_BODY), len(REGISTER_BODY)) + REGISTER_BODY, 400),
        (b"POST /subjects/s/versions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(REGISTER_BODY) + REGISTER_BODY + b"\r\n0\r\n\r\n", 400),
    ] + FRAMING_AND_TARGET_CASES
    for raw, status in cases:
        with socket.create_connection(("127.0.0.1", port)) as connection:
            connection.settimeout(10)
            connection.sendall(raw)
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        assert answer.count(b"HTTP/1.1 ") == 1, answer[:400]
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 %d" % status), head
        assert b"Content-Type: application/vnd.schemaregistry.v1+json" in head
        assert json.loads(body)["error_code"] == status, body
        assert not re.search(rb"<html", answer, re.I)
    subjects = requests.get(registry.url + "/subjects")
    assert subjects.status_code == 200 and subjects.json() == [], "a refused request registered something"


def test_review_findings_references_contracts_and_unparsable_versions(registry, session):
    url = registry.url
    # A reference to the latest version is stored as the concrete version, and protects it.
    register(session, url, "addr", '{"type":"record","name":"A","fields":[{"name":"s","type":"string"}]}')
    cust = register(session, url, "cust", '{"type":"record","name":"C","fields":[{"name":"a","type":"A"}]}',
                    references=[{"name": "A", "subject": "addr", "version": -1}])
    assert cust.status_code == 200, cust.text
    assert cust.json()["references"] == [{"name": "A", "subject": "addr", "version": 1}]
    register(session, url, "addr", '{"type":"record","name":"A","fields":[{"name":"s","type":"string"},{"name":"t","type":["null","int"],"default":null}]}')
    assert session.get(f"{url}/subjects/addr/versions/1/referencedby").json() == [cust.json()["id"]]
    error(session.delete(f"{url}/subjects/addr"), 422, 42206)
    # Reference names and subjects with control characters are refused (they would corrupt the stored list).
    error(register(session, url, "cust", '{"type":"record","name":"C2","fields":[{"name":"a","type":"A"}]}',
                   references=[{"name": "A\u0001x", "subject": "addr", "version": 1}]), 422, 42201)
    # A float default beyond Float's range stays valid JSON in the normalized text.
    stored = register(session, url, "f1", '{"type":"record","name":"F","fields":[{"name":"x","type":"float","default":1e300}]}', "?normalize=true")
    assert stored.status_code == 200, stored.text
    json.loads(stored.json()["schema"])
    # A change of metadata is a new version even when the text matches a normalized version.
    text = '{"type":"record","name":"M","fields":[{"name":"a","type":"int"}]}'
    first = register(session, url, "m1", text, "?normalize=true", metadata={"properties": {"owner": "a"}}).json()
    second = register(session, url, "m1", text, metadata={"properties": {"owner": "b"}}).json()
    assert second["version"] == 2 and second["metadata"]["properties"]["owner"] == "b" and first["version"] == 1
    # IMPORT can give the same content a second id; deleting that one keeps the first findable by content.
    original = register(session, url, "orig", '"bytes"').json()
    session.put(f"{url}/mode/imp", data=json.dumps({"mode": "IMPORT"}))
    assert register(session, url, "imp", '"bytes"', id=500, version=1).status_code == 200
    session.put(f"{url}/mode/imp", data=json.dumps({"mode": "READWRITE"}))
    session.delete(f"{url}/subjects/imp")
    session.delete(f"{url}/subjects/imp?permanent=true")
    assert session.get(f"{url}/schemas/guids/{original['guid']}").status_code == 200
    assert register(session, url, "another", '"bytes"').json()["id"] == original["id"]


def test_subject_prefixes_compare_code_points(registry, session):
    url = registry.url
    for subject in ("ea", "e\u20dd", "e\u4e00", "f"):
        assert register(session, url, requests.utils.quote(subject, safe=""), '"string"').status_code == 200
    assert sorted(session.get(f"{url}/subjects?subjectPrefix=e").json()) == sorted(["ea", "e\u20dd", "e\u4e00"])


def test_reference_chains_are_limited_at_registration_and_survive_a_restart(registry, session):
    url = registry.url
    register(session, url, "C0", '{"type":"record","name":"C0","fields":[]}')
    accepted = 0
    for level in range(1, 40):
        body = {"type": "record", "name": f"C{level}", "fields": [{"name": "a", "type": f"C{level - 1}"}]}
        response = register(session, url, f"C{level}", json.dumps(body), references=[{"name": f"C{level - 1}", "subject": f"C{level - 1}", "version": 1}])
        if response.status_code != 200:
            error(response, 422, 42201)
            break
        accepted = level
    assert 30 <= accepted < 39
    registry.stop()
    registry.start()
    url = registry.url
    top = session.get(f"{url}/subjects/C{accepted}/versions/1").json()
    assert session.get(f"{url}/subjects/C{accepted}/versions/1?format=resolved").status_code == 200
    again = register(session, url, f"C{accepted}", top["schema"], references=top["references"])
    assert again.status_code == 200 and again.json()["id"] == top["id"], again.text
