"""Every endpoint of the REST API, and each error code, over HTTP against the real server."""
import json

from conftest import evolution_schema

V1 = evolution_schema("user-v1")
V2 = evolution_schema("user-add-optional-email")
BREAKING = evolution_schema("user-add-required-email")
MEDIA = "application/vnd.schemaregistry.v1+json"


def error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == code
    assert body["message"]
    return body["message"]


def register(session, url, subject, schema, **extra):
    return session.post(f"{url}/subjects/{subject}/versions", data=json.dumps({"schema": schema, **extra}))


def test_root_types_health_metrics(registry, session):
    url = registry.url
    assert session.get(url + "/").json() == {}
    assert session.get(url + "/").headers["Content-Type"].startswith(MEDIA)
    assert session.get(url + "/schemas/types").json() == ["AVRO"]
    assert session.get(url + "/health").json() == {"status": "UP"}
    register(session, url, "s", V1)
    metrics = session.get(url + "/metrics")
    assert metrics.status_code == 200
    assert "schema_registry_requests_total" in metrics.text
    assert "schema_registry_schemas 1" in metrics.text


def test_register_fetch_and_list(registry, session):
    url = registry.url
    response = register(session, url, "users-value", V1)
    assert response.status_code == 200
    assert response.json()["id"] == 1
    assert register(session, url, "users-value", V2).json()["id"] == 2
    other = register(session, url, "other", V1).json()
    assert (other["id"], other["version"]) == (1, 1)

    assert session.get(url + "/subjects").json() == ["other", "users-value"]
    assert session.get(url + "/subjects?subjectPrefix=users").json() == ["users-value"]
    assert session.get(url + "/subjects/users-value/versions").json() == [1, 2]
    version = session.get(url + "/subjects/users-value/versions/latest").json()
    assert (version["subject"], version["version"], version["id"], version["schemaType"]) == ("users-value", 2, 2, "AVRO")
    assert session.get(url + "/subjects/users-value/versions/-1").json()["version"] == 2
    assert session.get(url + "/subjects/users-value/versions/1/").json()["id"] == 1  # trailing slash
    raw = session.get(url + "/subjects/users-value/versions/1/schema")
    assert (json.loads(raw.text)["namespace"], json.loads(raw.text)["name"]) == ("com.example", "User")

    by_id = session.get(url + "/schemas/ids/1").json()
    assert (json.loads(by_id["schema"])["namespace"], json.loads(by_id["schema"])["name"]) == ("com.example", "User")
    assert session.get(url + "/schemas/ids/1?fetchMaxId=true").json()["maxId"] == 2
    assert json.loads(session.get(url + "/schemas/ids/2/schema").text)["fields"][2]["name"] == "email"
    assert session.get(url + "/schemas/ids/1/subjects").json() == ["other", "users-value"]
    assert session.get(url + "/schemas/ids/1/versions").json() == [
        {"subject": "other", "version": 1}, {"subject": "users-value", "version": 1}]
    listed = session.get(url + "/schemas").json()
    assert [(s["subject"], s["version"]) for s in listed] == [("other", 1), ("users-value", 1), ("users-value", 2)]
    assert len(session.get(url + "/schemas?latestOnly=true").json()) == 2
    assert len(session.get(url + "/schemas?offset=1&limit=1").json()) == 1

    lookup = session.post(url + "/subjects/users-value", data=json.dumps({"schema": V1}))
    assert (lookup.json()["id"], lookup.json()["version"]) == (1, 1)


def test_subject_with_slash_and_plus(registry, session):
    url = registry.url
    assert register(session, url, "a%2Fb+c", V1).status_code == 200
    assert session.get(url + "/subjects").json() == ["a/b+c"]
    assert session.get(url + "/subjects/a%2Fb+c/versions").json() == [1]


def test_compatibility_endpoints(registry, session):
    url = registry.url
    path = url + "/compatibility/subjects/s/versions"
    # Unknown subject: compatible.
    assert session.post(path, data=json.dumps({"schema": BREAKING})).json() == {"is_compatible": True}
    register(session, url, "s", V1)
    assert session.post(path + "/latest", data=json.dumps({"schema": V2})).json() == {"is_compatible": True}
    assert session.post(path + "?verbose=True", data=json.dumps({"schema": V2})).json() == {"is_compatible": True, "messages": []}
    verbose = session.post(path + "/1?verbose=true", data=json.dumps({"schema": BREAKING})).json()
    assert verbose["is_compatible"] is False
    assert verbose["messages"][0].startswith("{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE'")
    assert "{oldSchemaVersion: 1}" in verbose["messages"]
    assert any(m.startswith("{fix:'give field `email` a default") for m in verbose["messages"])
    assert verbose["messages"][-1] == "{validateFields: 'false', compatibility: 'BACKWARD'}"
    # An unparsable candidate: a verbose "no", or 42201.
    assert session.post(path + "?verbose=true", data=json.dumps({"schema": "{"})).json()["is_compatible"] is False
    error(session.post(path, data=json.dumps({"schema": "{"})), 422, 42201)
    error(session.post(path + "/7", data=json.dumps({"schema": V1})), 404, 40402)
    error(session.post(path + "/zero", data=json.dumps({"schema": V1})), 422, 42202)


def test_config_and_mode(registry, session):
    url = registry.url
    assert session.get(url + "/config").json() == {"compatibilityLevel": "BACKWARD"}
    assert session.put(url + "/config", data=json.dumps({"compatibility": "full"})).json() == {"compatibility": "FULL"}
    assert session.get(url + "/config/").json() == {"compatibilityLevel": "FULL"}
    error(session.get(url + "/config/s"), 404, 40408)
    assert session.get(url + "/config/s?defaultToGlobal=true").json() == {"compatibilityLevel": "FULL"}
    assert session.put(url + "/config/s", data=json.dumps({"compatibility": "NONE"})).json() == {"compatibility": "NONE"}
    assert session.delete(url + "/config/s").json() == {"compatibilityLevel": "NONE"}
    error(session.delete(url + "/config/s"), 404, 40401)
    error(session.put(url + "/config", data=json.dumps({"compatibility": "SIDEWAYS"})), 422, 42203)
    assert session.delete(url + "/config").json() == {"compatibilityLevel": "FULL"}

    assert session.get(url + "/mode").json() == {"mode": "READWRITE"}
    error(session.get(url + "/mode/s"), 404, 40409)
    error(session.put(url + "/mode", data=json.dumps({"mode": "SIDEWAYS"})), 422, 42204)
    register(session, url, "s", V1)
    assert session.put(url + "/mode/s", data=json.dumps({"mode": "READONLY"})).json() == {"mode": "READONLY"}
    assert register(session, url, "s", V1).json()["id"] == 1  # existing schema: fast path
    error(register(session, url, "s", V2), 422, 42205)
    assert session.delete(url + "/mode/s").json() == {"mode": "READONLY"}
    error(session.put(url + "/mode", data=json.dumps({"mode": "IMPORT"})), 422, 42205)
    assert session.put(url + "/mode?force=true", data=json.dumps({"mode": "IMPORT"})).json() == {"mode": "IMPORT"}
    imported = register(session, url, "imported", V2, id=50, version=3)
    assert imported.status_code == 200 and imported.json()["id"] == 50
    assert session.get(url + "/subjects/imported/versions").json() == [3]


def test_deletes_and_references(registry, session):
    url = registry.url
    register(session, url, "s", V1)
    register(session, url, "s", V2)
    error(session.delete(url + "/subjects/s/versions/1?permanent=true"), 404, 40407)
    assert session.delete(url + "/subjects/s/versions/1").json() == 1
    error(session.delete(url + "/subjects/s/versions/1"), 404, 40406)
    error(session.get(url + "/subjects/s/versions/1"), 404, 40402)
    assert session.get(url + "/subjects/s/versions/1?deleted=true").json()["version"] == 1
    assert session.get(url + "/subjects/s/versions?deleted=true").json() == [1, 2]
    error(session.delete(url + "/subjects/s?permanent=true"), 404, 40405)
    assert session.delete(url + "/subjects/s").json() == [2]
    error(session.delete(url + "/subjects/s"), 404, 40404)
    assert session.get(url + "/subjects?deleted=true").json() == ["s"]
    assert session.delete(url + "/subjects/s?permanent=true").json() == [1, 2]
    error(session.get(url + "/subjects/s/versions"), 404, 40401)
    error(session.get(url + "/schemas/ids/1"), 404, 40403)

    address = json.dumps({"type": "record", "name": "com.acme.Address", "fields": [{"name": "city", "type": "string"}]})
    user = json.dumps({"type": "record", "name": "com.acme.Customer", "fields": [{"name": "home", "type": "Address"}]})
    address_id = register(session, url, "address", address).json()["id"]
    user_response = register(session, url, "customer", user, references=[{"name": "com.acme.Address", "subject": "address", "version": 1}])
    assert user_response.status_code == 200, user_response.text
    assert session.get(url + "/subjects/address/versions/1/referencedby").json() == [user_response.json()["id"]]
    error(session.delete(url + "/subjects/address/versions/1"), 422, 42206)
    assert session.get(url + f"/schemas/ids/{user_response.json()['id']}").json()["references"] == [
        {"name": "com.acme.Address", "subject": "address", "version": 1}]
    assert address_id > 0


def test_bad_input_gets_confluent_errors(registry, session):
    url = registry.url
    error(session.get(url + "/nope"), 404, 404)
    error(session.get(url + "/schemas/ids/abc"), 404, 404)
    error(session.patch(url + "/subjects/s/versions"), 405, 405)
    error(session.get(url + "/subjects/s/versions"), 404, 40401)
    error(session.get(url + "/schemas/ids/999"), 404, 40403)
    error(session.post(url + "/subjects/s", data=json.dumps({"schema": V1})), 404, 40401)
    register(session, url, "s", V1)
    error(session.post(url + "/subjects/s", data=json.dumps({"schema": V2})), 404, 40403)
    error(session.get(url + "/subjects/s/versions/0"), 422, 42202)
    error(session.get(url + "/subjects/s/versions/9"), 404, 40402)
    error(session.post(url + "/subjects/s/versions", data="{not json"), 400, 400)
    error(session.post(url + "/subjects/s/versions", data=json.dumps({"schema": ""})), 422, 42201)
    message = error(register(session, url, "s", json.dumps({"type": "record", "name": "R", "fields": [
        {"name": "a", "type": "int", "default": "x"}]})), 422, 42201)
    assert "/fields/0/default" in message
    error(register(session, url, "s", V1, schemaType="PROTOBUF"), 422, 42201)
    error(register(session, url, "s", BREAKING), 409, 40901)
    error(register(session, url, "__GLOBAL", V1), 422, 42208)
    error(session.post(url + "/subjects/s/versions", data=json.dumps({"schema": V1}),
                       headers={"Content-Type": "application/x-www-form-urlencoded"}), 415, 415)
    error(session.get(url + "/subjects", headers={"Accept": "text/html"}), 406, 406)
    huge = json.dumps({"schema": "x" * (17 * 1024 * 1024)})
    error(session.post(url + "/subjects/s/versions", data=huge), 413, 413)
    # Nothing was half-written.
    assert session.get(url + "/subjects/s/versions").json() == [1]


def test_restart_keeps_ids_versions_and_config(registry, session):
    url = registry.url
    schemas = {}
    for subject_index in range(100):
        subject = f"subject-{subject_index:03d}"
        if subject_index % 10 == 0:
            session.put(f"{url}/config/{subject}", data=json.dumps({"compatibility": "NONE"}))
        for version in range(10):
            fields = [{"name": "id", "type": "long"}] + [
                {"name": f"f{n}", "type": ["null", "string"], "default": None} for n in range(version)]
            schema = json.dumps({"type": "record", "name": f"R{subject_index}", "fields": fields})
            response = register(session, url, subject, schema)
            assert response.status_code == 200, response.text
            schemas[(subject, version + 1)] = response.json()["id"]
    registry.stop()
    registry.start()
    url = registry.url
    for (subject, version), schema_id in schemas.items():
        assert session.get(f"{url}/subjects/{subject}/versions/{version}").json()["id"] == schema_id
    assert session.get(f"{url}/config/subject-000").json() == {"compatibilityLevel": "NONE"}
    assert len(session.get(url + "/subjects").json()) == 100
    assert max(schemas.values()) == 1000
