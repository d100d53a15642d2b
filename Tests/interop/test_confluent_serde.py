"""Wire-level interoperability between confluent-kafka's AvroSerializer/AvroDeserializer and
`schemactl encode` / `schemactl decode`, all against the real server, plus schema evolution
across the wire (writer schemas fetched by id, resolved into a reader schema)."""
import io
import json
import os
import struct
import subprocess

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest import REPO, evolution_schema, server_binary

RICH = evolution_schema("serde-rich")
V1 = evolution_schema("serde-v1")
V2 = evolution_schema("serde-v2")
V2_FULL = evolution_schema("serde-v2-full")


def fixture_path(name):
    return os.path.join(REPO, "fixtures", "evolution", name + ".avsc")


def schemactl(*arguments, stdin=b"", url=None):
    binary = os.path.join(os.path.dirname(server_binary()), "schemactl")
    environment = dict(os.environ)
    if url:
        environment["SCHEMA_REGISTRY_URL"] = url
    return subprocess.run([binary, *arguments], input=stdin, capture_output=True, env=environment, timeout=60)


def plain_json(value):
    """The plain JSON schemactl reads and writes: bytes (and fixed) as ISO-8859-1 strings, unions unwrapped."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, dict):
        return {k: plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_json(v) for v in value]
    return value


def length_prefixed(frames):
    return b"".join(struct.pack(">I", len(frame)) + frame for frame in frames)


def split_frames(data):
    """Splits schemactl's stream into Confluent frames; the stream must be consumed exactly."""
    frames, position = [], 0
    while position < len(data):
        assert position + 4 <= len(data), "truncated length prefix in schemactl's output"
        (length,) = struct.unpack(">I", data[position:position + 4])
        position += 4
        assert position + length <= len(data), "frame length exceeds schemactl's output"
        frames.append(data[position:position + length])
        position += length
    assert position == len(data)
    return frames


def frame_id(frame):
    assert frame[0] == 0, "magic byte"
    return struct.unpack(">I", frame[1:5])[0]


def json_lines(stdout):
    # Split on \n only: str.splitlines would also split on U+0085/U+2028 inside decoded strings.
    return [json.loads(line) for line in stdout.split(b"\n") if line]


def decode(stream, url, *arguments):
    result = schemactl("decode", *arguments, stdin=stream, url=url)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return json_lines(result.stdout)


def context(topic):
    return SerializationContext(topic, MessageField.VALUE)


def serializer(client, schema_str):
    return AvroSerializer(client, schema_str, conf={"auto.register.schemas": True})


ADDRESS_ZERO = {"street": "", "zip": None, "checksum": b"\x00\x00\x00\x00"}

RICH_ROWS = [
    {"id": -(2 ** 63), "count": -(2 ** 31), "name": "", "score": -1.7976931348623157e308, "ratio": -0.25,
     "active": False, "payload": b"", "digest": b"\x00\x00\x00\x00", "state": "ACTIVE", "tags": [], "counters": {},
     "nickname": None, "address": ADDRESS_ZERO, "previous": None},
    {"id": 2 ** 63 - 1, "count": 2 ** 31 - 1, "name": "Ada ✓ 😀 日本語", "score": 5e-324, "ratio": 1.5,
     "active": True, "payload": bytes(range(256)), "digest": b"\xff\xfe\x80\x7f", "state": "DELETED",
     "tags": ["", "ü", "😀"], "counters": {"": 0, "ключ": 2 ** 63 - 1, "neg": -(2 ** 63)},
     "nickname": "", "address": {"street": "Main St ✓", "zip": 2 ** 31 - 1, "checksum": b"abcd"},
     "previous": {"street": "Old \"quoted\" \\ path\n\ttab\u0001", "zip": -(2 ** 31), "checksum": b"\x01\x02\x03\x04"}},
    {"id": 0, "count": 0, "name": "quote \" backslash \\ newline \n tab \t nul \u0000 del \u007f line-sep \u2028",
     "score": 0.1, "ratio": 0.0, "active": True, "payload": b"\x00", "digest": b"zzzz", "state": "SUSPENDED",
     "tags": ["a", "a", "a"], "counters": {"a": 1}, "nickname": "Nick",
     "address": {"street": "x", "zip": 0, "checksum": b"\x85\x85\x85\x85"}, "previous": ADDRESS_ZERO},
]


# 1. confluent-kafka AvroSerializer -> schemactl decode

def test_confluent_serializer_frames_decode_in_schemactl(registry):
    client = SchemaRegistryClient({"url": registry.url})
    serialize = serializer(client, RICH)
    frames = [serialize(row, context("rich")) for row in RICH_ROWS]
    latest = client.get_latest_version("rich-value")
    assert latest.version == 1
    assert [frame_id(frame) for frame in frames] == [latest.schema_id] * len(RICH_ROWS)
    assert decode(length_prefixed(frames), registry.url) == [plain_json(row) for row in RICH_ROWS]


# 2. schemactl encode -> confluent-kafka AvroDeserializer

@pytest.mark.parametrize("ensure_ascii", [True, False], ids=["escaped-json", "utf8-json"])
def test_schemactl_frames_decode_in_confluent_deserializer(registry, ensure_ascii):
    lines = "\n".join(json.dumps(plain_json(row), ensure_ascii=ensure_ascii) for row in RICH_ROWS) + "\n"
    encoded = schemactl("encode", "--schema", fixture_path("serde-rich"), "--subject", "rich-value",
                        stdin=lines.encode("utf-8"), url=registry.url)
    assert encoded.returncode == 0, encoded.stderr.decode(errors="replace")
    frames = split_frames(encoded.stdout)
    assert len(frames) == len(RICH_ROWS)
    client = SchemaRegistryClient({"url": registry.url})
    latest = client.get_latest_version("rich-value")
    assert latest.version == 1
    assert [frame_id(frame) for frame in frames] == [latest.schema_id] * len(RICH_ROWS)
    deserialize = AvroDeserializer(client)
    assert [deserialize(frame, context("rich")) for frame in frames] == RICH_ROWS
    # The payload is the plain Avro encoding fastavro produces for the same values.
    parsed = fastavro.parse_schema(json.loads(RICH))
    for frame, row in zip(frames, RICH_ROWS):
        expected = io.BytesIO()
        fastavro.schemaless_writer(expected, parsed, row)
        assert frame[5:] == expected.getvalue()


# 3. Evolution over the registry

V1_ROWS = [
    {"id": 1, "name": "Ada", "status": "A", "visits": 2 ** 31 - 1, "weight": 0.1, "score": None, "legacy_code": "L-1"},
    {"id": -(2 ** 63), "name": "Bob ✓", "status": "B", "visits": -(2 ** 31), "weight": -2.5, "score": -(2 ** 31),
     "legacy_code": ""},
    {"id": 3, "name": "", "status": "B", "visits": 0, "weight": 3.0e38, "score": 42, "legacy_code": "x"},
]
# fastavro writes a Python float into an Avro float as float32: what a v1 reader gets back, and what
# promotion to double must yield (the float32 value widened exactly, not the decimal the writer was given).
FLOAT32 = {0.1: struct.unpack("<f", struct.pack("<f", 0.1))[0], -2.5: -2.5,
           3.0e38: struct.unpack("<f", struct.pack("<f", 3.0e38))[0]}
assert FLOAT32[0.1] == 0.10000000149011612

V2_ROWS = [
    {"id": 10, "name": "Cy", "status": "C", "visits": 2 ** 40, "weight": 1e100, "score": "high", "region": "us-east",
     "labels": ["x", "y"]},
    {"id": 11, "name": "Di", "status": "A", "visits": -(2 ** 63), "weight": -0.1, "score": 7, "region": "",
     "labels": []},
    {"id": 12, "name": "Ed", "status": "B", "visits": 2 ** 63 - 1, "weight": 0.0, "score": None, "region": "eu-west",
     "labels": ["ü"]},
]


def v1_as_v2(row):
    """A v1 record resolved into v2: legacy_code dropped, region/labels defaulted, int->long, float->double."""
    return {"id": row["id"], "name": row["name"], "status": row["status"], "visits": row["visits"],
            "weight": FLOAT32[row["weight"]], "score": row["score"], "region": "eu-west", "labels": []}


def v1_as_written(row):
    return {**row, "weight": FLOAT32[row["weight"]]}


def write_schema(tmp_path, name, text):
    path = tmp_path / (name + ".avsc")
    path.write_text(text)
    return str(path)


def test_backward_evolution_across_the_wire(registry, tmp_path):
    client = SchemaRegistryClient({"url": registry.url})
    assert client.set_compatibility("accounts-value", "BACKWARD")["compatibility"] == "BACKWARD"
    v1_frames = [serializer(client, V1)(row, context("accounts")) for row in V1_ROWS]
    v2_frames = [serializer(client, V2)(row, context("accounts")) for row in V2_ROWS]
    assert client.get_versions("accounts-value") == [1, 2]
    v1_id = client.get_version("accounts-value", 1).schema_id
    v2_id = client.get_version("accounts-value", 2).schema_id
    assert v1_id != v2_id
    assert [frame_id(f) for f in v1_frames] == [v1_id] * 3 and [frame_id(f) for f in v2_frames] == [v2_id] * 3
    stream = length_prefixed(v1_frames + v2_frames)

    # Each record in its writer's shape (no reader schema).
    assert decode(stream, registry.url) == [v1_as_written(r) for r in V1_ROWS] + V2_ROWS

    # v1 data read as v2: defaults appear, int->long and float->double promoted; v2 data unchanged.
    expected = [v1_as_v2(r) for r in V1_ROWS] + V2_ROWS
    ours = decode(stream, registry.url, "--reader", fixture_path("serde-v2"))
    theirs = [AvroDeserializer(client, V2)(f, context("accounts")) for f in v1_frames + v2_frames]
    assert ours == expected
    assert theirs == expected
    assert ours == theirs

    # v2 is not FORWARD compatible (long->int, a string union branch): a FORWARD subject refuses it.
    assert client.set_compatibility("accounts-fwd-value", "FORWARD")["compatibility"] == "FORWARD"
    assert client.register_schema("accounts-fwd-value", Schema(V1, "AVRO")) == v1_id
    assert client.test_compatibility("accounts-fwd-value", Schema(V2, "AVRO")) is False
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema("accounts-fwd-value", Schema(V2, "AVRO"))
    assert refused.value.http_status_code == 409
    assert client.get_versions("accounts-fwd-value") == [1]


V2_FULL_ROWS = [
    {"id": 20, "name": "Fay", "status": "C", "visits": 5, "weight": 0.5, "score": 9, "region": "ap-south"},
    {"id": 21, "name": "Gus", "status": "B", "visits": -7, "weight": 2.25, "score": None, "region": "eu-west"},
]
V1_FULL_ROWS = [
    {"id": 1, "name": "Ada", "status": "B", "visits": 1, "weight": 1.5, "score": None, "legacy_code": "old"},
]


def test_full_evolution_newer_writer_older_reader(registry):
    client = SchemaRegistryClient({"url": registry.url})
    assert client.set_compatibility("ledger-value", "FULL")["compatibility"] == "FULL"
    v1_frames = [serializer(client, V1)(row, context("ledger")) for row in V1_FULL_ROWS]
    assert client.test_compatibility("ledger-value", Schema(V2_FULL, "AVRO")) is True
    v2_frames = [serializer(client, V2_FULL)(row, context("ledger")) for row in V2_FULL_ROWS]
    assert client.get_versions("ledger-value") == [1, 2]
    assert frame_id(v2_frames[0]) == client.get_latest_version("ledger-value").schema_id
    stream = length_prefixed(v1_frames + v2_frames)

    # The older reader: the added enum symbol C resolves to v1's enum default A, the removed field
    # takes v1's default, the added field is skipped.
    expected_v1 = V1_FULL_ROWS + [
        {"id": 20, "name": "Fay", "status": "A", "visits": 5, "weight": 0.5, "score": 9, "legacy_code": "none"},
        {"id": 21, "name": "Gus", "status": "B", "visits": -7, "weight": 2.25, "score": None, "legacy_code": "none"},
    ]
    ours = decode(stream, registry.url, "--reader", fixture_path("serde-v1"))
    theirs = [AvroDeserializer(client, V1)(f, context("ledger")) for f in v1_frames + v2_frames]
    assert ours == expected_v1
    assert theirs == expected_v1

    # The newer reader over the same stream.
    expected_v2 = [{"id": 1, "name": "Ada", "status": "B", "visits": 1, "weight": 1.5, "score": None,
                    "region": "eu-west"}] + V2_FULL_ROWS
    ours = decode(stream, registry.url, "--reader", fixture_path("serde-v2-full"))
    theirs = [AvroDeserializer(client, V2_FULL)(f, context("ledger")) for f in v1_frames + v2_frames]
    assert ours == expected_v2
    assert theirs == expected_v2


# 4. Broken frames

def encoded_rich(registry):
    lines = "\n".join(json.dumps(plain_json(row)) for row in RICH_ROWS[:2]).encode()
    encoded = schemactl("encode", "--schema", fixture_path("serde-rich"), "--subject", "rich-value",
                        stdin=lines, url=registry.url)
    assert encoded.returncode == 0, encoded.stderr.decode(errors="replace")
    return split_frames(encoded.stdout)


def test_unknown_schema_id_names_record_and_id(registry):
    good, second = encoded_rich(registry)
    unknown = b"\x00" + struct.pack(">I", 9999) + second[5:]
    result = schemactl("decode", stdin=length_prefixed([good, unknown]), url=registry.url)
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 2, stderr
    assert "record 2" in stderr, stderr
    assert "9999" in stderr, stderr


def test_wrong_magic_byte_names_record_and_byte(registry):
    good, second = encoded_rich(registry)
    wrong = b"\x07" + second[1:]
    result = schemactl("decode", stdin=length_prefixed([good, wrong]), url=registry.url)
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 2, stderr
    assert "record 2" in stderr, stderr
    assert "magic byte 7" in stderr, stderr


def avro_prefix(fields, row):
    """The Avro encoding of the first fields of a Rich row (a record's encoding is its fields' concatenation)."""
    schema = json.loads(RICH)
    names = [f["name"] for f in schema["fields"]]
    schema["fields"] = schema["fields"][:names.index(fields)]
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), {k: row[k] for k in names[:names.index(fields)]})
    return out.getvalue()


@pytest.mark.parametrize("field,path", [("name", "/name"), ("address", "/address/street")])
def test_truncated_payload_names_record_and_field_path(registry, field, path):
    good, second = encoded_rich(registry)
    row = RICH_ROWS[1]
    prefix = avro_prefix(field, row)
    assert second[5:].startswith(prefix)
    # Keep the string's length varint and 2 of its bytes, then stop.
    text = (row["name"] if field == "name" else row["address"]["street"]).encode()
    assert len(text) < 64  # one-byte zigzag length
    truncated = second[:5 + len(prefix) + 1 + 2]
    result = schemactl("decode", stdin=length_prefixed([good, truncated]), url=registry.url)
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 2, stderr
    assert "record 2" in stderr, stderr
    assert path in stderr, stderr
    assert len(json_lines(result.stdout)) <= 1
