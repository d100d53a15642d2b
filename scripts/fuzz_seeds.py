"""Seed corpora for the fuzz targets, from fixtures/ (written under the given directory, never committed)."""
import glob
import hashlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1]


def put(target, data):
    directory = os.path.join(OUT, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "seed-" + hashlib.sha1(data).hexdigest()[:16]), "wb") as file:
        file.write(data)


def fixture_files(*patterns):
    for pattern in patterns:
        yield from sorted(glob.glob(os.path.join(ROOT, "fixtures", pattern), recursive=True))


schemas = []
for path in fixture_files("**/*.avsc"):
    schemas.append(open(path, "rb").read())
pairs = []
for path in fixture_files("compatibility/*.json"):
    for case in json.load(open(path)):
        pairs.append((json.dumps(case["writer"]).encode(), json.dumps(case["reader"]).encode()))
        schemas += [json.dumps(case["writer"]).encode(), json.dumps(case["reader"]).encode()]
for path in fixture_files("invalid-schemas/*.json"):
    for case in json.load(open(path)):
        schema = case.get("text", case.get("schema")) if isinstance(case, dict) else None
        if schema is not None:
            schemas.append((schema if isinstance(schema, str) else json.dumps(schema)).encode())

for schema in schemas:
    put("FuzzJSON", schema)
    put("FuzzSchema", schema)
for writer, reader in pairs:
    put("FuzzCompatibility", writer + b"\0" + reader)
for choice in range(6):
    put("FuzzBinary", bytes([choice]) + bytes(range(0, 64, 3)))
    put("FuzzBinary", bytes([choice, 2, 4, 6, 0, 1, 0x80, 0x01, 0x7f, 0x06, 0x61, 0x62, 0x63]))
    put("FuzzFrame", b"\0\0\0\0" + bytes([choice]) + bytes([2, 4, 6, 0, 1, 0x80, 0x01, 0x7f]))
register = json.dumps({"schema": json.dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]})}).encode()
references = json.dumps({"schema": '{"type":"record","name":"W","fields":[{"name":"r","type":"R"}]}',
                         "references": [{"name": "R", "subject": "s", "version": 1}]}).encode()
GET, POST, PUT, DELETE = 0, 1, 2, 3
requests = [
    (GET, "/", b""), (GET, "/subjects?deleted=true&subjectPrefix=s", b""), (GET, "/schemas?latestOnly=true&limit=5", b""),
    (GET, "/schemas/ids/1?fetchMaxId=true&subject=s", b""), (GET, "/schemas/ids/1/schema?format=resolved", b""),
    (GET, "/schemas/ids/1/subjects", b""), (GET, "/schemas/ids/1/versions", b""), (GET, "/schemas/types", b""),
    (POST, "/subjects/s/versions?normalize=true", register), (POST, "/subjects/w/versions", references),
    (POST, "/subjects/s", register), (GET, "/subjects/s/versions/latest", b""), (GET, "/subjects/s/versions/1/referencedby", b""),
    (GET, "/subjects/s/versions/-1/schema", b""), (GET, "/subjects/s/metadata?key=a&value=b", b""),
    (POST, "/compatibility/subjects/s/versions/latest?verbose=true", register), (POST, "/compatibility/subjects/s/versions", register),
    (PUT, "/config/s", b'{"compatibility":"FULL"}'), (GET, "/config/s?defaultToGlobal=true", b""), (DELETE, "/config/s", b""),
    (PUT, "/mode/s", b'{"mode":"READONLY"}'), (PUT, "/mode?force=true", b'{"mode":"IMPORT"}'), (GET, "/mode", b""),
    (DELETE, "/subjects/s/versions/1?permanent=true", b""), (DELETE, "/subjects/s", b""), (GET, "/metrics", b""),
    (GET, "/v1/metadata/id", b""), (GET, "/schemas/guids/00000000-0000-0000-0000-000000000000", b""), (GET, "/contexts", b""),
]
for method, target, body in requests:
    put("FuzzRouter", bytes([method]) + target.encode() + b"\naccept: application/json\n\n" + body)
