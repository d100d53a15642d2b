"""Drives the server with Confluent's own Python client, unmodified."""
import json

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest import evolution_schema

USER_V1 = evolution_schema("user-v1")
USER_V2 = evolution_schema("user-add-optional-email")
USER_BREAKING = evolution_schema("user-add-required-email")

def test_schema_registry_client_round_trip(registry):
    client = SchemaRegistryClient({"url": registry.url})
    first = client.register_schema("users-value", Schema(USER_V1, "AVRO"))
    assert first == 1
    assert client.register_schema("users-value", Schema(USER_V1, "AVRO")) == 1
    fetched = client.get_schema(first)
    assert (json.loads(fetched.schema_str)["namespace"], json.loads(fetched.schema_str)["name"]) == ("com.example", "User")
    assert fetched.schema_type == "AVRO"

    found = client.lookup_schema("users-value", Schema(USER_V1, "AVRO"))
    assert (found.schema_id, found.subject, found.version) == (1, "users-value", 1)

    assert client.test_compatibility("users-value", Schema(USER_V2, "AVRO")) is True
    assert client.test_compatibility("users-value", Schema(USER_BREAKING, "AVRO")) is False
    second = client.register_schema("users-value", Schema(USER_V2, "AVRO"))
    assert second == 2

    latest = client.get_latest_version("users-value")
    assert (latest.schema_id, latest.version) == (2, 2)
    assert client.get_versions("users-value") == [1, 2]
    assert client.get_subjects() == ["users-value"]

    assert client.set_compatibility("users-value", "FULL")["compatibility"] == "FULL"
    assert client.get_compatibility("users-value") == "FULL"

    try:
        client.register_schema("users-value", Schema(USER_BREAKING, "AVRO"))
        raise AssertionError("incompatible schema was registered")
    except SchemaRegistryError as error:
        assert error.http_status_code == 409
        # v2's email is ["null","string"]; the breaking version makes it a plain string.
        assert "errorType:'TYPE_MISMATCH'" in error.error_message
        assert "fix:'add `null` back" in error.error_message

    assert client.delete_subject("users-value") == [1, 2]
    assert client.get_subjects() == []
    assert client.delete_subject("users-value", permanent=True) == [1, 2]
    try:
        client.get_versions("users-value")
        raise AssertionError("deleted subject still listed")
    except SchemaRegistryError as error:
        assert error.http_status_code == 404 and error.error_code == 40401


def test_avro_serializer_and_deserializer(registry):
    client = SchemaRegistryClient({"url": registry.url})
    serializer = AvroSerializer(client, USER_V2)
    context = SerializationContext("orders", MessageField.VALUE)
    record = {"id": 7, "name": "Ada", "email": "ada@example.com"}
    framed = serializer(record, context)
    assert framed[0] == 0
    schema_id = int.from_bytes(framed[1:5], "big")
    assert schema_id == client.get_latest_version("orders-value").schema_id
    # A consumer with no reader schema gets the writer's shape; one with v1 drops the new field.
    assert AvroDeserializer(client)(framed, context) == record
    assert AvroDeserializer(client, USER_V1)(framed, context) == {"id": 7, "name": "Ada"}
