"""Binary interoperability with fastavro: bytes either side writes, the other side reads to the same values."""
import io
import json
import os
import struct
import subprocess

import fastavro

from conftest import server_binary

SCHEMA = {"type": "record", "name": "Row", "namespace": "com.example", "fields": [
    {"name": "id", "type": "long"}, {"name": "name", "type": "string"}, {"name": "score", "type": "double"},
    {"name": "flag", "type": "boolean"}, {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "attrs", "type": {"type": "map", "values": "int"}},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "DONE"]}},
    {"name": "email", "type": ["null", "string"], "default": None},
    {"name": "blob", "type": "bytes"}, {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
    {"name": "small", "type": "int"}, {"name": "ratio", "type": "float"}]}

ROWS = [
    {"id": -(2 ** 63), "name": "", "score": 0.5, "flag": False, "tags": [], "attrs": {}, "status": "NEW", "email": None,
     "blob": b"", "hash": b"\x00\x01\x02\x03", "small": -(2 ** 31), "ratio": 1.5},
    {"id": 2 ** 63 - 1, "name": "Ada ✓ 😀", "score": -1e300, "flag": True, "tags": ["a", "b"], "attrs": {"x": 2 ** 31 - 1},
     "status": "DONE", "email": "ada@example.com", "blob": b"\xff\x00", "hash": b"abcd", "small": 7, "ratio": -0.25},
]


def schemactl(*arguments, stdin=b"", url=None):
    binary = os.path.join(os.path.dirname(server_binary()), "schemactl")
    environment = dict(os.environ)
    if url:
        environment["SCHEMA_REGISTRY_URL"] = url
    return subprocess.run([binary, *arguments], input=stdin, capture_output=True, env=environment, timeout=60)


def plain_json(row):
    """The plain JSON schemactl reads and writes: bytes as ISO-8859-1 strings, unions unwrapped."""
    return {k: (v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in row.items()}


def test_fastavro_bytes_decode_in_swift(tmp_path):
    schema_file = tmp_path / "row.avsc"
    schema_file.write_text(json.dumps(SCHEMA))
    parsed = fastavro.parse_schema(SCHEMA)
    for row in ROWS:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed, row)
        result = schemactl("decode", "--no-frame", "--schema", str(schema_file), stdin=buffer.getvalue())
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == plain_json(row)


def test_swift_bytes_decode_in_fastavro(tmp_path):
    schema_file = tmp_path / "row.avsc"
    schema_file.write_text(json.dumps(SCHEMA))
    parsed = fastavro.parse_schema(SCHEMA)
    for row in ROWS:
        result = schemactl("encode", "--schema", str(schema_file), "--no-frame", stdin=json.dumps(plain_json(row)).encode())
        assert result.returncode == 0, result.stderr
        expected = io.BytesIO()
        fastavro.schemaless_writer(expected, parsed, row)
        assert result.stdout == expected.getvalue()  # byte-identical
        assert fastavro.schemaless_reader(io.BytesIO(result.stdout), parsed) == row


def test_framed_records_through_the_registry(registry, tmp_path):
    schema_file = tmp_path / "row.avsc"
    schema_file.write_text(json.dumps(SCHEMA))
    lines = "\n".join(json.dumps(plain_json(row)) for row in ROWS).encode()
    encoded = schemactl("encode", "--schema", str(schema_file), "--subject", "rows-value", stdin=lines, url=registry.url)
    assert encoded.returncode == 0, encoded.stderr
    data = encoded.stdout
    length = struct.unpack(">I", data[:4])[0]
    assert data[4] == 0 and struct.unpack(">I", data[5:9])[0] == 1
    assert len(data) > length + 4
    decoded = schemactl("decode", stdin=data, url=registry.url)
    assert decoded.returncode == 0, decoded.stderr
    assert [json.loads(line) for line in decoded.stdout.decode().splitlines()] == [plain_json(row) for row in ROWS]


def test_bad_records_name_the_record_and_field(tmp_path):
    schema_file = tmp_path / "row.avsc"
    schema_file.write_text(json.dumps(SCHEMA))
    good = json.dumps(plain_json(ROWS[0]))
    bad = json.dumps({**plain_json(ROWS[0]), "small": "seven"})
    result = schemactl("encode", "--schema", str(schema_file), "--id", "1", stdin=(good + "\n" + bad).encode())
    assert result.returncode == 2
    assert b"record 2" in result.stderr and b"/10" in result.stderr
    truncated = schemactl("decode", "--no-frame", "--schema", str(schema_file), stdin=b"\x02\x06ab")
    assert truncated.returncode == 2
    assert b"record 1" in truncated.stderr


def test_decode_with_an_older_reader_schema(registry, tmp_path):
    schema_file = tmp_path / "row.avsc"
    schema_file.write_text(json.dumps(SCHEMA))
    older = {**SCHEMA, "fields": [f for f in SCHEMA["fields"] if f["name"] in ("id", "name")] + [
        {"name": "note", "type": ["null", "string"], "default": None}]}
    reader_file = tmp_path / "older.avsc"
    reader_file.write_text(json.dumps(older))
    lines = "\n".join(json.dumps(plain_json(row)) for row in ROWS).encode()
    encoded = schemactl("encode", "--schema", str(schema_file), "--subject", "rows-value", stdin=lines, url=registry.url)
    assert encoded.returncode == 0, encoded.stderr
    decoded = schemactl("decode", "--reader", str(reader_file), stdin=encoded.stdout, url=registry.url)
    assert decoded.returncode == 0, decoded.stderr
    assert [json.loads(line) for line in decoded.stdout.decode().splitlines()] == [
        {"id": row["id"], "name": row["name"], "note": None} for row in ROWS]
