"""A database written by the release before step 5 (fixtures/legacy-db) opens unchanged: every id and version
answers the text it answered then, nothing is renumbered, and registering or looking up the same schemas
again finds the existing ids and versions instead of adding versions."""
import json
import os
import shutil
import tempfile

import pytest

from conftest import REPO, RunningServer

FIXTURE = os.path.join(REPO, "fixtures", "legacy-db")


@pytest.fixture
def legacy_registry():
    with tempfile.TemporaryDirectory() as directory:
        database = os.path.join(directory, "registry.db")
        shutil.copy(os.path.join(FIXTURE, "registry-v4.db"), database)
        server = RunningServer(database).start()
        try:
            yield server
        finally:
            server.stop()


def expected():
    with open(os.path.join(FIXTURE, "expected.json")) as file:
        return json.load(file)


def test_every_id_and_version_answers_what_it_answered_before(legacy_registry, session):
    url = legacy_registry.url
    answers = expected()
    assert answers["ids"], "the fixture recorded no ids"
    for identifier, before in answers["ids"].items():
        now = session.get(f"{url}/schemas/ids/{identifier}").json()
        assert now["schema"] == before["schema"], identifier
        assert now.get("references", []) == before.get("references", []), identifier
        assert session.get(f"{url}/schemas/ids/{identifier}/schema").text == before["schema"]
    for key, before in answers["versions"].items():
        subject, version = key.split("/")
        now = session.get(f"{url}/subjects/{subject}/versions/{version}?deleted=true").json()
        for member in ("id", "version", "schema", "deleted", "ts"):
            assert now[member] == before[member], (key, member)
        assert now.get("references", []) == before.get("references", [])
    assert session.get(f"{url}/schemas/ids/1?fetchMaxId=true").json()["maxId"] == max(int(i) for i in answers["ids"])
    assert session.get(f"{url}/config/plain").json()["compatibilityLevel"] == "NONE"


def test_registering_the_same_schemas_again_finds_their_ids_and_versions(legacy_registry, session):
    url = legacy_registry.url
    for registration in expected()["registrations"]:
        subject, request, before = registration["subject"], registration["request"], registration["response"]
        if "id" in request:  # imported with an explicit id: look it up instead (READWRITE refuses explicit ids)
            request = {key: value for key, value in request.items() if key not in ("id", "version")}
        found = session.post(f"{url}/subjects/{subject}", data=json.dumps(request))
        if subject == "plain" and before["version"] == 1:
            assert found.status_code == 404  # soft-deleted: not found by a plain lookup
            continue
        assert found.status_code == 200, (subject, found.text)
        assert (found.json()["id"], found.json()["version"]) == (before["id"], before["version"]), subject
        again = session.post(f"{url}/subjects/{subject}/versions", data=json.dumps(request))
        assert again.status_code == 200, again.text
        assert (again.json()["id"], again.json()["version"]) == (before["id"], before["version"]), subject
    # Nothing was added: every subject still has exactly the versions it had.
    answers = expected()
    recorded = sorted(answers["versions"])
    now = sorted(f"{s}/{v}" for s in session.get(f"{url}/subjects?deleted=true").json()
                 for v in session.get(f"{url}/subjects/{s}/versions?deleted=true").json())
    assert now == recorded


def test_a_new_schema_after_the_upgrade_is_stored_as_registered(legacy_registry, session):
    url = legacy_registry.url
    schema = {"type": "record", "name": "Note", "doc": "kept now", "fields": [{"name": "text", "type": "string", "doc": "body"}]}
    response = session.post(f"{url}/subjects/notes/versions", data=json.dumps({"schema": json.dumps(schema)}))
    assert response.status_code == 200, response.text
    assert response.json()["id"] == 101  # after the imported id 100: nothing renumbered
    stored = json.loads(session.get(f"{url}/schemas/ids/101/schema").text)
    assert stored["doc"] == "kept now" and stored["fields"][0]["doc"] == "body"


def test_old_rows_with_references_are_still_compared(legacy_registry, session):
    url = legacy_registry.url
    assert session.get(f"{url}/subjects/customer-value/versions/1?format=resolved").status_code == 200
    breaking = {"type": "record", "name": "Customer", "namespace": "com.acme",
                "fields": [{"name": "id", "type": "string"}, {"name": "address", "type": "com.acme.Address"}]}
    response = session.post(f"{url}/subjects/customer-value/versions", data=json.dumps(
        {"schema": json.dumps(breaking), "references": [{"name": "com.acme.Address", "subject": "address", "version": 1}]}))
    assert response.status_code == 409, response.text
    # A registration carrying doc into a new subject is stored as registered, not as the old doc-less row.
    users = [r for r in expected()["registrations"] if r["subject"] == "users-value"][0]["request"]["schema"]
    fresh = session.post(f"{url}/subjects/brand-new/versions", data=json.dumps({"schema": users})).json()
    assert "A user of the shop" in session.get(f"{url}/schemas/ids/{fresh['id']}/schema").text
