"""openapi.yaml is valid OpenAPI 3.1 and matches the server: every documented operation exists, and
what it answers (for an ordinary and for an unknown-resource request) is a documented response."""
import json
import os
import subprocess
import sys

import yaml

from conftest import REPO, evolution_schema

SPEC_PATH = os.path.join(REPO, "openapi.yaml")


def test_spec_validates():
    result = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "validate_openapi.py"), SPEC_PATH], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid OpenAPI 3.1" in result.stdout


def body_for(method, path):
    if method not in ("post", "put"):
        return None
    if path.startswith("/config"):
        return {"compatibility": "FULL"}
    if path.startswith("/mode"):
        return {"mode": "READWRITE"}
    return {"schema": evolution_schema("user-add-optional-email")}


def test_every_documented_operation_answers_as_documented(registry, session):
    spec = yaml.safe_load(open(SPEC_PATH))
    url = registry.url
    session.post(url + "/subjects/s/versions", data=json.dumps({"schema": evolution_schema("user-v1")}))
    checked = 0
    # Deletes last, so that the other operations see the subject.
    operations = [(path, method, operation) for path, item in spec["paths"].items() for method, operation in item.items()
                  if method in ("get", "post", "put", "delete")]
    operations.sort(key=lambda entry: entry[1] == "delete")
    for path, method, operation in operations:
        for subject, version, schema_id in (("s", "1", "1"), ("missing", "9", "999")):
            concrete = path.replace("{subject}", subject).replace("{version}", version).replace("{id}", schema_id)
            body = body_for(method, path)
            response = session.request(method.upper(), url + concrete, data=json.dumps(body) if body is not None else None)
            documented = set(operation["responses"].keys())
            assert str(response.status_code) in documented, f"{method.upper()} {concrete} answered {response.status_code}: {response.text}"
            if response.status_code >= 400:
                assert set(response.json()) == {"error_code", "message"}
            checked += 1
    assert checked >= 60
