"""wal-source and wal-consume end to end: a throwaway PostgreSQL cluster (pg_cluster.py), the real
schema-registry process, the real wal-source streaming a table into change-log files, and wal-consume
printing what was written.

The command-line contract these tests hold the binaries to:

  wal-source --pg CONNINFO --tables public.items[,public.other] --registry URL --slot NAME
             --publication NAME --topic-prefix PREFIX --out DIR [--snapshot]
      runs until SIGINT/SIGTERM, then acknowledges what is durable and exits 0; writes
      DIR/PREFIX.SCHEMA.TABLE.log, registers subjects PREFIX.SCHEMA.TABLE-key / -value, creates (or
      reuses) the publication and the slot; exits non-zero with the registry's reasons on stderr, without
      acknowledging, when the registry rejects a new schema.
  wal-consume --file DIR/PREFIX.SCHEMA.TABLE.log --registry URL [--reader FILE.avsc] [--follow]
      one JSON object a line: {"op", "lsn", "schema_id", "key", "before", "after"}, rows in plain JSON;
      stops at the end of the file without --follow.

Every wait is bounded (about 30 s); every wal-source started is stopped in a `finally`.
"""
import collections
import json
import math
import os
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import REPO, server_binary
from pg_cluster import wait_until

PREFIX = "cdc"
WAIT_SECONDS = 30
CONTENT_TYPE = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


# --- binaries ------------------------------------------------------------------------------------------

def wal_binary(name):
    """`wal-source` / `wal-consume` from the directory schema-registry is in (SCHEMA_REGISTRY_BIN or the
    build directory). Skipped only while Package.swift does not declare the product yet."""
    path = os.path.join(os.path.dirname(server_binary()), name)
    if not os.path.exists(path):
        with open(os.path.join(REPO, "Package.swift")) as file:
            declared = f'"{name}"' in file.read()
        if not declared:
            pytest.skip(f"{name} is not a product of this package yet")
        pytest.fail(f"{name} is declared in Package.swift but not built at {path}")
    return path


# --- the one place each documented-but-adjustable shape is decided ----------------------------------------

def assert_truncate_event(event):
    """A truncate: op "t", no row images; the key null or an empty object. Adjust here (only) if the
    implementation documents another shape."""
    assert event["op"] == "t", event
    assert event["key"] in (None, {}), event
    assert event["before"] is None, event
    assert event["after"] is None, event


def assert_key_only_before(event, key):
    """REPLICA IDENTITY DEFAULT: an update's or delete's `before` has the key columns, every other column
    absent or null."""
    before = event["before"]
    assert isinstance(before, dict), f"before should hold the key columns: {event}"
    for column, value in key.items():
        assert before.get(column) == value, f"before.{column}: {event}"
    for column, value in before.items():
        if column not in key:
            assert value is None, f"before.{column} should be absent or null under REPLICA IDENTITY DEFAULT: {event}"


def lsn_number(value):
    """An event's LSN as an integer, whether printed as a number or as PostgreSQL's "X/Y" text."""
    if isinstance(value, bool):
        raise AssertionError(f"lsn is not an LSN: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if "/" in value:
            high, low = value.split("/")
            return (int(high, 16) << 32) | int(low, 16)
        return int(value)
    raise AssertionError(f"lsn is not an LSN: {value!r}")


# --- registry ------------------------------------------------------------------------------------------

def registry_json(url, path):
    response = requests.get(url + path, timeout=10)
    assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
    return response.json()


def set_compatibility(url, subject, level):
    response = requests.put(f"{url}/config/{subject}", json={"compatibility": level}, headers=CONTENT_TYPE, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == {"compatibility": level}


def value_subject(table):
    return f"{PREFIX}.public.{table}-value"


def key_subject(table):
    return f"{PREFIX}.public.{table}-key"


def save_value_schema(url, table, version, path):
    """GET /subjects/PREFIX.public.TABLE-value/versions/N/schema into a file for `wal-consume --reader`."""
    response = requests.get(f"{url}/subjects/{value_subject(table)}/versions/{version}/schema", timeout=10)
    assert response.status_code == 200, response.text
    json.loads(response.text)
    path.write_text(response.text)
    return str(path)


# --- wal-source ----------------------------------------------------------------------------------------

class WalSource:
    """One wal-source configuration; `start()` may be called again after a stop (a restart)."""

    def __init__(self, database, registry_url, work_dir, tables, snapshot=False, extra_arguments=()):
        self.database = database
        self.registry_url = registry_url
        self.work_dir = str(work_dir)  # the run logs; the sink files go to its out/
        self.out_dir = os.path.join(self.work_dir, "out")
        os.makedirs(self.out_dir, exist_ok=True)
        self.tables = [f"public.{table}" for table in tables]
        self.snapshot = snapshot
        self.extra_arguments = list(extra_arguments)
        self.process = None
        self.runs = 0
        self.stderr_path = None

    def arguments(self):
        arguments = [
            wal_binary("wal-source"), "--pg", self.database.conninfo,
            *(["--tables", ",".join(self.tables)] if self.tables else []),
            "--registry", self.registry_url, "--slot", self.database.slot, "--publication", self.database.publication,
            "--topic-prefix", PREFIX, "--out", self.out_dir,
        ]
        if self.snapshot:
            arguments.append("--snapshot")
        return arguments + self.extra_arguments

    def start(self):
        assert self.process is None or self.process.poll() is not None, "wal-source is already running"
        self.runs += 1
        self.stderr_path = os.path.join(self.work_dir, f"wal-source-run-{self.runs}.stderr")
        stdout_path = os.path.join(self.work_dir, f"wal-source-run-{self.runs}.stdout")
        with open(self.stderr_path, "wb") as stderr, open(stdout_path, "wb") as stdout:
            self.process = subprocess.Popen(self.arguments(), stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
        return self

    def stderr(self):
        if not self.stderr_path or not os.path.exists(self.stderr_path):
            return ""
        with open(self.stderr_path, errors="replace") as file:
            return file.read()

    def check_running(self):
        code = self.process.poll()
        if code is not None:
            raise AssertionError(f"wal-source exited {code} unexpectedly; stderr:\n{self.stderr()}")

    def wait_ready(self):
        """Until the slot is consistent (confirmed_flush_lsn set: every later commit will be decoded) and
        the publication covers the tables. A fresh slot only; a restart needs no wait."""
        def ready():
            self.check_running()
            state = self.database.slot_state()
            if state is None or state[1] == 0:
                return False
            rows = self.database.execute(
                "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = %s", (self.database.publication,))
            return set(self.tables) <= {row[0] for row in rows}
        wait_until(ready, WAIT_SECONDS, message="wal-source to create its slot and publication")
        return self

    def stop(self, expect_code=0):
        """SIGTERM, wait, and check the exit code."""
        self.check_running()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"wal-source did not exit within {WAIT_SECONDS} s of SIGTERM; stderr:\n{self.stderr()}")
        if expect_code is not None:
            assert code == expect_code, f"wal-source exited {code} on SIGTERM; stderr:\n{self.stderr()}"
        self.wait_slot_released()
        return code

    def kill(self):
        self.check_running()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=WAIT_SECONDS)
        self.wait_slot_released()

    def wait_exit(self):
        """For a source expected to give up by itself: its exit code."""
        try:
            code = self.process.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"wal-source still running after {WAIT_SECONDS} s; stderr:\n{self.stderr()}")
        self.wait_slot_released()
        return code

    def wait_slot_released(self):
        """The server notices a gone client a moment later; a restart before that finds the slot active."""
        wait_until(lambda: not (self.database.slot_state() or (False, 0))[0], WAIT_SECONDS, message="the slot to become inactive")

    def close(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def sink(self, table):
        return os.path.join(self.out_dir, f"{PREFIX}.public.{table}.log")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- wal-consume ---------------------------------------------------------------------------------------

def consume(path, registry_url, reader=None):
    """(exit code, events, stderr) of `wal-consume --file PATH` without --follow; a sink file that does not
    exist yet reads as no events."""
    if not os.path.exists(path):
        return 0, [], ""
    arguments = [wal_binary("wal-consume"), "--file", path, "--registry", registry_url]
    if reader:
        arguments += ["--reader", reader]
    result = subprocess.run(arguments, capture_output=True, text=True, timeout=WAIT_SECONDS, stdin=subprocess.DEVNULL)
    events = []
    for line in result.stdout.splitlines():
        if line.strip():
            events.append(json.loads(line))
    return result.returncode, events, result.stderr


def read_events(path, registry_url, reader=None):
    """Every event of a sink file; wal-consume must succeed."""
    code, events, stderr = consume(path, registry_url, reader)
    assert code == 0, f"wal-consume exited {code}:\n{stderr}"
    return events


def wait_for_events(path, registry_url, count, source=None, reader=None, settle=0.5):
    """Polls wal-consume until at least `count` events are in the file (at most ~30 s), then once more after
    `settle` seconds so that extra events (duplicates) are seen too. A torn last entry while the source
    writes is tolerated; the final read must succeed."""
    deadline = time.monotonic() + WAIT_SECONDS
    last = (None, [], "")
    while time.monotonic() < deadline:
        if source is not None:
            source.check_running()
        last = consume(path, registry_url, reader)
        if last[0] == 0 and len(last[1]) >= count:
            time.sleep(settle)
            return read_events(path, registry_url, reader)
        time.sleep(0.2)
    detail = f"\nwal-source stderr:\n{source.stderr()}" if source else ""
    raise AssertionError(
        f"{len(last[1])} of {count} events in {path} after {WAIT_SECONDS} s (wal-consume exit {last[0]}: {last[2]})\n"
        f"events: {json.dumps(last[1], indent=1)[:4000]}{detail}")


def assert_lsn_order(events):
    lsns = [lsn_number(event["lsn"]) for event in events]
    assert lsns == sorted(lsns), f"events out of LSN order: {lsns}"


def assert_event(event, op, key, after, before=None):
    assert event["op"] == op, event
    assert event["key"] == key, event
    assert event["after"] == after, event
    if before is not None or op == "c":
        assert event["before"] == before, event


# --- a. inserts, updates, deletes, truncate; REPLICA IDENTITY DEFAULT and FULL; the type mapping --------

def create_items(db, table="items", full=False):
    db.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text, qty int)")
    if full:
        db.execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")


def test_row_changes_with_replica_identity_default_and_full(pg_database, registry, tmp_path):
    db = pg_database
    create_items(db, "items")
    create_items(db, "items_full", full=True)
    with WalSource(db, registry.url, tmp_path, ["items", "items_full"]) as source:
        source.start().wait_ready()
        for table in ("items", "items_full"):
            with db.connect() as connection:
                with connection.transaction():  # two events in one transaction
                    connection.execute(f"INSERT INTO {table} VALUES (1, 'one', 10)")
                    connection.execute(f"INSERT INTO {table} VALUES (2, 'two', 20)")
            db.execute(f"UPDATE {table} SET qty = 11 WHERE id = 1")
            db.execute(f"UPDATE {table} SET name = NULL WHERE id = 2")
            db.execute(f"DELETE FROM {table} WHERE id = 1")
            db.execute(f"TRUNCATE {table}")
            db.execute(f"INSERT INTO {table} VALUES (3, 'three', 30)")

        default = wait_for_events(source.sink("items"), registry.url, 7, source)
        full = wait_for_events(source.sink("items_full"), registry.url, 7, source)
        source.stop()

    for events in (default, full):
        assert len(events) == 7, json.dumps(events, indent=1)
        assert [event["op"] for event in events] == ["c", "c", "u", "u", "d", "t", "c"]
        assert_lsn_order(events)
        assert_event(events[0], "c", {"id": 1}, {"id": 1, "name": "one", "qty": 10})
        assert_event(events[1], "c", {"id": 2}, {"id": 2, "name": "two", "qty": 20})
        assert_event(events[2], "u", {"id": 1}, {"id": 1, "name": "one", "qty": 11})
        assert_event(events[3], "u", {"id": 2}, {"id": 2, "name": None, "qty": 20})
        assert_event(events[4], "d", {"id": 1}, None)
        assert_truncate_event(events[5])
        assert_event(events[6], "c", {"id": 3}, {"id": 3, "name": "three", "qty": 30})

    assert_key_only_before(default[2], {"id": 1})
    assert_key_only_before(default[3], {"id": 2})
    assert_key_only_before(default[4], {"id": 1})
    assert full[2]["before"] == {"id": 1, "name": "one", "qty": 10}
    assert full[3]["before"] == {"id": 2, "name": "two", "qty": 20}
    assert full[4]["before"] == {"id": 1, "name": "one", "qty": 11}

    subjects = registry_json(registry.url, "/subjects")
    for table, events in (("items", default), ("items_full", full)):
        assert key_subject(table) in subjects and value_subject(table) in subjects, subjects
        assert registry_json(registry.url, f"/subjects/{value_subject(table)}/versions") == [1]
        value_id = registry_json(registry.url, f"/subjects/{value_subject(table)}/versions/1")["id"]
        assert {event["schema_id"] for event in events} == {value_id}

    # Acknowledged on the way out: the slot is past everything written.
    confirmed = db.slot_state()[1]
    assert confirmed >= max(lsn_number(event["lsn"]) for event in default + full)


TYPES_DDL = """
CREATE TABLE types (
    id int PRIMARY KEY,
    c_int2 int2, c_int4 int4, c_int8 int8, c_float4 float4, c_float8 float8,
    c_numeric numeric(10, 2), c_numeric_any numeric, c_bool bool,
    c_text text, c_varchar varchar(20), c_char char(5), c_bytea bytea,
    c_date date, c_time time, c_timestamp timestamp, c_timestamptz timestamptz,
    c_uuid uuid, c_json json, c_jsonb jsonb
)"""

TYPE_ROWS = [
    (
        "(1, -32768, 2147483647, 9007199254740993, 1.5, -2.718281828459045, 12.5, 12345.678901, true,"
        " 'héllo ☃', 'varchar', 'ab', '\\x00ff4180'::bytea, '2024-02-29', '13:45:30.123456',"
        " '2024-02-29 13:45:30.123456', '2024-02-29 13:45:30.123456+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',"
        " '{\"a\": [1, 2.5, \"x\"]}', '{\"b\": {\"c\": null}}')",
        {
            "id": 1, "c_int2": -32768, "c_int4": 2147483647, "c_int8": 9007199254740993, "c_float4": 1.5,
            "c_float8": -2.718281828459045, "c_numeric": "12.50", "c_numeric_any": "12345.678901", "c_bool": True,
            "c_text": "héllo ☃", "c_varchar": "varchar", "c_char": "ab   ", "c_bytea": b"\x00\xffA\x80".decode("latin-1"),
            "c_date": "2024-02-29", "c_time": "13:45:30.123456", "c_timestamp": "2024-02-29T13:45:30.123456",
            "c_timestamptz": "2024-02-29T11:45:30.123456Z", "c_uuid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "c_json": '{"a": [1, 2.5, "x"]}', "c_jsonb": '{"b": {"c": null}}',
        },
    ),
    (
        "(2, 32767, -2147483648, -9223372036854775808, -0.25, 0, -0.05, 'NaN', false,"
        " '', 'x', 'abcde', ''::bytea, '1969-12-31', '00:00:00', '1900-01-01 00:00:00',"
        " '1999-12-31 23:59:59.999999-05', '00000000-0000-0000-0000-000000000000', '[]', '\"s\"')",
        {
            "id": 2, "c_int2": 32767, "c_int4": -2147483648, "c_int8": -9223372036854775808, "c_float4": -0.25,
            "c_float8": 0.0, "c_numeric": "-0.05", "c_numeric_any": "NaN", "c_bool": False,
            "c_text": "", "c_varchar": "x", "c_char": "abcde", "c_bytea": "",
            "c_date": "1969-12-31", "c_time": "00:00:00.000000", "c_timestamp": "1900-01-01T00:00:00.000000",
            "c_timestamptz": "2000-01-01T04:59:59.999999Z", "c_uuid": "00000000-0000-0000-0000-000000000000",
            "c_json": "[]", "c_jsonb": '"s"',
        },
    ),
    (
        "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        {column: None for column in [
            "c_int2", "c_int4", "c_int8", "c_float4", "c_float8", "c_numeric", "c_numeric_any", "c_bool", "c_text",
            "c_varchar", "c_char", "c_bytea", "c_date", "c_time", "c_timestamp", "c_timestamptz", "c_uuid", "c_json", "c_jsonb"]} | {"id": 3},
    ),
]


def test_type_mapping_in_plain_json(pg_database, registry, tmp_path):
    db = pg_database
    db.execute(TYPES_DDL)
    with WalSource(db, registry.url, tmp_path, ["types"]) as source:
        source.start().wait_ready()
        with db.connect() as connection:
            # The writer's session settings must not leak into the stream (the source reads in UTC, ISO).
            connection.execute("SET TimeZone = 'Asia/Kathmandu'")
            connection.execute("SET DateStyle = 'SQL, DMY'")
            for values, _ in TYPE_ROWS:
                connection.execute(f"INSERT INTO types VALUES {values}")
        events = wait_for_events(source.sink("types"), registry.url, len(TYPE_ROWS), source)
        source.stop()

    assert len(events) == len(TYPE_ROWS)
    for event, (_, expected) in zip(events, TYPE_ROWS):
        assert event["op"] == "c" and event["before"] is None, event
        assert event["key"] == {"id": expected["id"]}
        after = event["after"]
        assert set(after) == set(expected), f"columns: {sorted(after)}"
        for column, value in expected.items():
            actual = after[column]
            if isinstance(value, float) and value is not None:
                assert isinstance(actual, (int, float)) and not isinstance(actual, bool), f"{column}: {actual!r}"
                assert math.isclose(actual, value, rel_tol=1e-15, abs_tol=0), f"{column}: {actual!r} != {value!r}"
            else:
                assert actual == value and type(actual) is type(value), f"row {expected['id']} {column}: {actual!r} != {value!r}"

    # The value schema names the Avro types the mapping promises (inside the envelope's row record).
    schema = json.loads(registry_json(registry.url, f"/subjects/{value_subject('types')}/versions/1")["schema"])
    row_types = {}

    def collect(node):
        if isinstance(node, dict):
            if node.get("type") == "record" and any(field["name"] == "c_numeric" for field in node.get("fields", [])):
                for field in node["fields"]:
                    branches = field["type"] if isinstance(field["type"], list) else [field["type"]]
                    row_types[field["name"]] = [branch for branch in branches if branch != "null"][0]
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(schema)

    def logical(column):
        avro = row_types[column]
        return (avro.get("type"), avro.get("logicalType")) if isinstance(avro, dict) else (avro, None)

    assert logical("c_int2") == ("int", None) and logical("c_int4") == ("int", None)
    assert logical("c_int8") == ("long", None)
    assert logical("c_float4") == ("float", None) and logical("c_float8") == ("double", None)
    assert logical("c_numeric") == ("bytes", "decimal")
    assert row_types["c_numeric"]["precision"] == 10 and row_types["c_numeric"]["scale"] == 2
    assert logical("c_numeric_any") == ("string", None)
    assert logical("c_bool") == ("boolean", None)
    assert logical("c_bytea") == ("bytes", None)
    assert logical("c_date") == ("int", "date")
    assert logical("c_time") == ("long", "time-micros")
    assert logical("c_timestamp") == ("long", "local-timestamp-micros")
    assert logical("c_timestamptz") == ("long", "timestamp-micros")
    assert logical("c_uuid") == ("string", "uuid")
    for column in ("c_text", "c_varchar", "c_char", "c_json", "c_jsonb"):
        assert logical(column) == ("string", None), column


# --- b. ADD COLUMN: a new value schema version, read back with the old and the new reader ------------------

def test_add_column_registers_a_new_version_readable_by_both_readers(pg_database, registry, tmp_path):
    db = pg_database
    create_items(db)
    with WalSource(db, registry.url, tmp_path, ["items"]) as source:
        source.start().wait_ready()
        db.execute("INSERT INTO items VALUES (1, 'one', 1)")
        db.execute("INSERT INTO items VALUES (2, 'two', 2)")
        db.execute("UPDATE items SET qty = 10 WHERE id = 1")
        wait_for_events(source.sink("items"), registry.url, 3, source)
        db.execute("ALTER TABLE items ADD COLUMN note text")
        db.execute("INSERT INTO items VALUES (3, 'three', 3, 'hello')")
        db.execute("UPDATE items SET qty = 20 WHERE id = 2")
        db.execute("DELETE FROM items WHERE id = 1")
        events = wait_for_events(source.sink("items"), registry.url, 6, source)
        source.stop()

    subject = value_subject("items")
    assert registry_json(registry.url, f"/subjects/{subject}/versions") == [1, 2]
    v1_id = registry_json(registry.url, f"/subjects/{subject}/versions/1")["id"]
    v2_id = registry_json(registry.url, f"/subjects/{subject}/versions/2")["id"]
    assert v1_id != v2_id
    assert registry_json(registry.url, f"/subjects/{key_subject('items')}/versions") == [1], "the key did not change"

    assert len(events) == 6, json.dumps(events, indent=1)
    assert [event["schema_id"] for event in events] == [v1_id] * 3 + [v2_id] * 3
    assert [event["op"] for event in events] == ["c", "c", "u", "c", "u", "d"]
    assert events[3]["after"] == {"id": 3, "name": "three", "qty": 3, "note": "hello"}
    assert events[4]["after"] == {"id": 2, "name": "two", "qty": 20, "note": None}

    v1 = save_value_schema(registry.url, "items", 1, tmp_path / "v1.avsc")
    v2 = save_value_schema(registry.url, "items", 2, tmp_path / "v2.avsc")
    expected_rows = [
        {"id": 1, "name": "one", "qty": 1},
        {"id": 2, "name": "two", "qty": 2},
        {"id": 1, "name": "one", "qty": 10},
        {"id": 3, "name": "three", "qty": 3},
        {"id": 2, "name": "two", "qty": 20},
        None,
    ]

    old_reader = read_events(source.sink("items"), registry.url, reader=v1)
    assert len(old_reader) == 6
    assert [event["op"] for event in old_reader] == [event["op"] for event in events]
    assert [event["key"] for event in old_reader] == [event["key"] for event in events]
    assert [event["after"] for event in old_reader] == expected_rows, "v1 reader: no note"

    new_reader = read_events(source.sink("items"), registry.url, reader=v2)
    assert len(new_reader) == 6
    assert [event["op"] for event in new_reader] == [event["op"] for event in events]
    notes = [None, None, None, "hello", None, None]
    expected_v2 = [None if row is None else row | {"note": note} for row, note in zip(expected_rows, notes)]
    assert [event["after"] for event in new_reader] == expected_v2, "v2 reader: note null for old events"
    assert_key_only_before(new_reader[5], {"id": 1})


def test_widening_and_drop_column_are_new_versions_too(pg_database, registry, tmp_path):
    """int → bigint is an Avro promotion and a dropped nullable column is a removed field with a default:
    both are BACKWARD compatible, so each registers a version and later events use its id. The newest
    reader reads every event; the first reader reads its own events and refuses, loudly, a long it
    cannot hold in its int."""
    db = pg_database
    create_items(db)
    with WalSource(db, registry.url, tmp_path, ["items"]) as source:
        source.start().wait_ready()
        db.execute("INSERT INTO items VALUES (1, 'one', 1)")
        wait_for_events(source.sink("items"), registry.url, 1, source)
        db.execute("ALTER TABLE items ALTER COLUMN qty TYPE bigint")
        db.execute("INSERT INTO items VALUES (2, 'two', 5000000000)")
        wait_for_events(source.sink("items"), registry.url, 2, source)
        db.execute("ALTER TABLE items DROP COLUMN name")
        db.execute("INSERT INTO items VALUES (3, 3)")
        events = wait_for_events(source.sink("items"), registry.url, 3, source)
        source.stop()

    subject = value_subject("items")
    assert registry_json(registry.url, f"/subjects/{subject}/versions") == [1, 2, 3]
    ids = [registry_json(registry.url, f"/subjects/{subject}/versions/{n}")["id"] for n in (1, 2, 3)]
    assert [event["schema_id"] for event in events] == ids
    assert [event["after"] for event in events] == [
        {"id": 1, "name": "one", "qty": 1}, {"id": 2, "name": "two", "qty": 5000000000}, {"id": 3, "qty": 3}]
    v2 = json.loads(requests.get(f"{registry.url}/subjects/{subject}/versions/2/schema", timeout=10).text)
    row = next(branch for branch in v2["fields"][0]["type"] if isinstance(branch, dict) and branch["name"].endswith("Value"))
    assert next(field for field in row["fields"] if field["name"] == "qty")["type"] == ["null", "long"]

    # The newest reader reads every event: qty promoted from int, name dropped.
    v3 = save_value_schema(registry.url, "items", 3, tmp_path / "v3.avsc")
    assert [event["after"] for event in read_events(source.sink("items"), registry.url, reader=v3)] == [
        {"id": 1, "qty": 1}, {"id": 2, "qty": 5000000000}, {"id": 3, "qty": 3}]
    # The first reader reads every event too: the dropped name comes back as its default (null).
    v1 = save_value_schema(registry.url, "items", 1, tmp_path / "v1.avsc")
    code, old_reader, stderr = consume(source.sink("items"), registry.url, reader=v1)
    assert [event["after"] for event in old_reader[:1]] == [{"id": 1, "name": "one", "qty": 1}]
    # A long written under v2 cannot be read as v1's int: the consumer says so instead of truncating.
    assert code != 0 and "event 2" in stderr, stderr


# --- c. restart mid-stream: nothing lost, no acknowledged row twice ---------------------------------------

@pytest.mark.parametrize("stop_with", ["sigterm", "sigkill"])
def test_restart_mid_stream_loses_nothing(pg_database, registry, tmp_path, capsys, stop_with):
    db = pg_database
    create_items(db)
    streamed, while_down = 300, 50
    total = streamed + while_down
    writer_error = []

    def write_rows():
        try:
            with db.connect() as connection:
                for number in range(1, streamed + 1):
                    connection.execute("INSERT INTO items VALUES (%s, %s, %s)", (number, f"row {number}", number))
                    time.sleep(0.01)
        except Exception as error:  # reported by the test thread
            writer_error.append(error)

    with WalSource(db, registry.url, tmp_path, ["items"]) as source:
        source.start().wait_ready()
        writer = threading.Thread(target=write_rows)
        writer.start()
        try:
            wait_for_events(source.sink("items"), registry.url, streamed // 4, source, settle=0)
            if stop_with == "sigterm":
                source.stop()
            else:
                source.kill()
        finally:
            writer.join(timeout=60)
        assert not writer.is_alive() and not writer_error, writer_error
        written_before_restart = read_events(source.sink("items"), registry.url)
        acknowledged = db.slot_state()[1]
        with db.connect() as connection:
            for number in range(streamed + 1, total + 1):
                connection.execute("INSERT INTO items VALUES (%s, %s, %s)", (number, f"row {number}", number))

        source.start()
        wait_for_events(source.sink("items"), registry.url, total, source)
        # The source may still be catching up on duplicates: wait until every id is there.
        def complete():
            return {event["key"]["id"] for event in read_events(source.sink("items"), registry.url)} >= set(range(1, total + 1))
        wait_until(complete, WAIT_SECONDS, interval=0.3, message="every row")
        source.stop()

    events = read_events(source.sink("items"), registry.url)
    ids = [event["key"]["id"] for event in events]
    counts = collections.Counter(ids)
    missing = sorted(set(range(1, total + 1)) - set(counts))
    duplicates = sum(count - 1 for count in counts.values())
    with capsys.disabled():
        print(f"\n[{stop_with}] {len(written_before_restart)} events written before the stop "
              f"(slot acknowledged up to {acknowledged >> 32:X}/{acknowledged & 0xFFFFFFFF:X}), {len(events)} events in all for {total} rows: "
              f"{len(missing)} missing, {duplicates} duplicates")

    assert not missing, f"rows lost: {missing}"
    assert all(event["op"] == "c" for event in events)
    for event in events:
        number = event["key"]["id"]
        assert event["after"] == {"id": number, "name": f"row {number}", "qty": number}
    acknowledged_twice = sorted(
        number for number, count in counts.items()
        if count > 1 and any(lsn_number(e["lsn"]) < acknowledged for e in events if e["key"]["id"] == number))
    assert not acknowledged_twice, f"rows acknowledged before the stop and written again: {acknowledged_twice}"
    if stop_with == "sigterm":
        assert duplicates == 0
        assert ids == list(range(1, total + 1)), "in commit order"
        assert_lsn_order(events)
        # A clean stop acknowledges everything it had written.
        assert acknowledged >= max(lsn_number(event["lsn"]) for event in written_before_restart)


# --- d. incompatible DDL: the source stops without acknowledging, then resumes once allowed --------------

def test_incompatible_ddl_stops_the_source_until_the_registry_allows_it(pg_database, registry, tmp_path):
    db = pg_database
    create_items(db)
    subject = value_subject("items")
    with WalSource(db, registry.url, tmp_path, ["items"]) as source:
        source.start().wait_ready()
        db.execute("INSERT INTO items VALUES (1, 'one', 1)")
        wait_for_events(source.sink("items"), registry.url, 1, source)
        set_compatibility(registry.url, subject, "FULL")

        db.execute("ALTER TABLE items ALTER COLUMN name TYPE integer USING length(name)")
        db.execute("INSERT INTO items VALUES (2, 42, 2)")
        code = source.wait_exit()
        stderr = source.stderr()
        assert code != 0, f"wal-source should fail on the rejected schema; stderr:\n{stderr}"
        assert "incompatible" in stderr.lower() and "errorType" in stderr, f"the registry's reasons should be on stderr:\n{stderr}"
        before_change = read_events(source.sink("items"), registry.url)
        assert [event["key"] for event in before_change] == [{"id": 1}], "nothing after the rejected change"
        assert registry_json(registry.url, f"/subjects/{subject}/versions") == [1]

        set_compatibility(registry.url, subject, "NONE")
        source.start()
        events = wait_for_events(source.sink("items"), registry.url, 2, source)
        source.stop()

    assert len(events) == 2, json.dumps(events, indent=1)
    assert events[0] == before_change[0]
    assert_event(events[1], "c", {"id": 2}, {"id": 2, "name": 42, "qty": 2})
    assert registry_json(registry.url, f"/subjects/{subject}/versions") == [1, 2]
    assert events[1]["schema_id"] == registry_json(registry.url, f"/subjects/{subject}/versions/2")["id"]


# --- --snapshot: existing rows first as reads, then the stream ------------------------------------------

def test_snapshot_reads_existing_rows_then_streams(pg_database, registry, tmp_path):
    db = pg_database
    create_items(db)
    for number in range(1, 6):
        db.execute("INSERT INTO items VALUES (%s, %s, %s)", (number, f"row {number}", number))
    with WalSource(db, registry.url, tmp_path, ["items"], snapshot=True) as source:
        source.start().wait_ready()
        db.execute("INSERT INTO items VALUES (6, 'row 6', 6)")
        db.execute("UPDATE items SET qty = 100 WHERE id = 1")
        events = wait_for_events(source.sink("items"), registry.url, 7, source)
        source.stop()

    assert len(events) == 7, json.dumps(events, indent=1)
    reads = events[:5]
    assert all(event["op"] == "r" and event["before"] is None for event in reads), reads
    assert sorted(event["key"]["id"] for event in reads) == [1, 2, 3, 4, 5]
    for event in reads:
        number = event["key"]["id"]
        assert event["after"] == {"id": number, "name": f"row {number}", "qty": number}
    assert_event(events[5], "c", {"id": 6}, {"id": 6, "name": "row 6", "qty": 6})
    assert_event(events[6], "u", {"id": 1}, {"id": 1, "name": "row 1", "qty": 100})


def test_a_failed_snapshot_is_undone_and_taken_again(pg_database, registry, tmp_path):
    """A NOT NULL numeric(10,2) holding NaN has no Avro decimal value: the snapshot fails. Its events are
    removed and its new slot dropped, so that the next start snapshots every row again, exactly once."""
    db = pg_database
    db.execute("CREATE TABLE prices (id int PRIMARY KEY, price numeric(10,2) NOT NULL)")
    for number in range(1, 21):
        db.execute("INSERT INTO prices VALUES (%s, %s)", (number, "NaN" if number == 15 else f"{number}.50"))
    with WalSource(db, registry.url, tmp_path, ["prices"], snapshot=True) as source:
        source.start()
        code = source.wait_exit()
        assert code != 0, source.stderr()
        assert "NOT NULL" in source.stderr() and "snapshot failed" in source.stderr(), source.stderr()
        assert db.slot_state() is None, "the half-done snapshot's slot must be gone"
        assert read_events(source.sink("prices"), registry.url) == [], "no events of the failed snapshot remain"

        db.execute("UPDATE prices SET price = 15.50 WHERE id = 15")
        source.start().wait_ready()
        db.execute("INSERT INTO prices VALUES (21, 21.50)")
        events = wait_for_events(source.sink("prices"), registry.url, 21, source)
        source.stop()
    assert [event["op"] for event in events] == ["r"] * 20 + ["c"]
    assert [event["after"] for event in events] == [{"id": n, "price": f"{n}.50"} for n in range(1, 22)]


def test_the_slot_advances_while_published_tables_are_idle(pg_database, registry, tmp_path):
    """Traffic on a table outside the publication sends no transactions to the source, only keepalives:
    their position is acknowledged, so the slot does not hold WAL back."""
    db = pg_database
    create_items(db)
    db.execute("CREATE TABLE other (id int PRIMARY KEY, payload text)")
    with WalSource(db, registry.url, tmp_path, ["items"]) as source:
        source.start().wait_ready()
        db.execute("INSERT INTO other SELECT n, repeat('x', 200) FROM generate_series(1, 20000) n")
        target = int(db.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")[0][0])
        wait_until(lambda: (db.slot_state() or (False, 0))[1] >= target, WAIT_SECONDS,
                   message="the slot's confirmed position to pass the unpublished table's changes")
        # Events of the published table still arrive afterwards, once.
        db.execute("INSERT INTO items VALUES (1, 'one', 1)")
        events = wait_for_events(source.sink("items"), registry.url, 1, source)
        source.stop()
    assert [event["after"] for event in events] == [{"id": 1, "name": "one", "qty": 1}]


def test_values_without_an_avro_form_in_nullable_columns_become_null_with_a_warning(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE TABLE odd (id int PRIMARY KEY, amount numeric(10,2), day date, at timestamptz)")
    with WalSource(db, registry.url, tmp_path, ["odd"]) as source:
        source.start().wait_ready()
        db.execute("INSERT INTO odd VALUES (1, 'NaN', 'infinity', '-infinity')")
        db.execute("INSERT INTO odd VALUES (2, 1.25, '0044-03-15 BC', '2024-01-31 12:00:00+00')")
        events = wait_for_events(source.sink("odd"), registry.url, 2, source)
        source.stop()
    assert events[0]["after"]["amount"] is None
    assert "warning" in source.stderr() and "amount" in source.stderr(), source.stderr()
    assert events[1]["after"]["amount"] == "1.25"
    assert events[1]["after"]["at"] == "2024-01-31T12:00:00.000000Z"
    assert events[1]["after"]["day"] == "-0043-03-15"


def test_wal_consume_follow_prints_events_as_they_arrive(pg_database, registry, tmp_path):
    db = pg_database
    create_items(db)
    with WalSource(db, registry.url, tmp_path, ["items"]) as source:
        source.start().wait_ready()
        db.execute("INSERT INTO items VALUES (1, 'one', 1)")
        wait_for_events(source.sink("items"), registry.url, 1, source)
        follower = subprocess.Popen(
            [wal_binary("wal-consume"), "--file", source.sink("items"), "--registry", registry.url, "--follow"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        # Lines through a thread and a queue, so that no read can block the test past its deadline.
        import queue
        import threading
        received = queue.Queue()
        threading.Thread(target=lambda: [received.put(line) for line in follower.stdout], daemon=True).start()

        def next_event():
            return json.loads(received.get(timeout=WAIT_SECONDS))

        try:
            first = next_event()
            assert first["after"] == {"id": 1, "name": "one", "qty": 1}
            # Events written after the follower reached the end of the file still arrive.
            db.execute("INSERT INTO items VALUES (2, 'two', 2)")
            db.execute("DELETE FROM items WHERE id = 1")
            lines = [next_event(), next_event()]
            assert [event["op"] for event in lines] == ["c", "d"], lines
            assert lines[0]["after"] == {"id": 2, "name": "two", "qty": 2}
            assert follower.poll() is None, "--follow must keep running at the end of the file"
        finally:
            follower.terminate()
            follower.wait(timeout=10)
        source.stop()


def test_a_uri_conninfo_works_and_sessions_run_in_utc(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE TABLE times (id int PRIMARY KEY, at timestamptz NOT NULL)")
    parts = dict(item.split("=", 1) for item in db.conninfo.split())
    uri = f"postgresql://{parts['user']}@{parts['host']}:{parts['port']}/{parts['dbname']}"

    class UriSource(WalSource):
        def arguments(self):
            arguments = super().arguments()
            arguments[arguments.index("--pg") + 1] = uri
            return arguments

    with UriSource(db, registry.url, tmp_path, ["times"]) as source:
        source.start().wait_ready()
        with db.connect() as connection:
            connection.execute("SET TIME ZONE 'Asia/Kathmandu'")
            connection.execute("INSERT INTO times VALUES (1, '2024-01-31 17:45:00')")  # +05:45 local
        events = wait_for_events(source.sink("times"), registry.url, 1, source)
        source.stop()
    assert events[0]["after"] == {"id": 1, "at": "2024-01-31T12:00:00.000000Z"}
