"""The WAL source under the workloads a Debezium user runs it in (issue "Step 2 of 7"): each test reproduces
one way changes were lost, duplicated or wedged, against a real PostgreSQL, the real registry and the real
wal-source, and checks the change log by replaying it onto an empty copy of the table.
"""
import json
import os
import re
import random
import signal
import subprocess
import threading
import time

import pytest
import requests

from pg_cluster import PostgresCluster, wait_until
from test_wal_source import WalSource, read_events, wait_for_events, assert_lsn_order, wal_binary


# --- the replay check ----------------------------------------------------------------------------------

def replay(events, key_columns):
    """The table a consumer rebuilds from the events: key tuple -> row. Creates and updates put the
    row, deletes remove it, a truncate empties it. Also checks per-key order: a key's events come in
    LSN order (reads aside)."""
    rows = {}
    last_lsn = {}
    for event in events:
        op = event["op"]
        if op == "t":
            rows.clear()
            continue
        image = event["after"] if op in ("c", "u", "r") else event["before"]
        key = tuple(image[column] for column in key_columns) if image else tuple(event["key"][column] for column in key_columns)
        lsn = int(event["lsn"]) if not isinstance(event["lsn"], str) or "/" not in event["lsn"] else None
        # A read has no change position of its own (an incremental chunk's reads carry their window's
        # close, which a change that began before it and committed after it may precede): only changes
        # are held to LSN order.
        if lsn is not None and op != "r":
            assert last_lsn.get(key, -1) <= lsn, f"events of key {key} out of order: {event}"
            last_lsn[key] = lsn
        if op == "d":
            rows.pop(key, None)
        else:
            rows[key] = image
    return rows


def assert_replays_to(db, table, events, key_columns, columns):
    """Replaying `events` gives exactly the rows of `table` now: 0 missing, 0 extra, 0 different."""
    replayed = replay(events, key_columns)
    actual = {}
    for row in db.execute(f"SELECT {', '.join(columns)} FROM {table}"):
        image = dict(zip(columns, row))
        actual[tuple(image[column] for column in key_columns)] = image
    missing = sorted(set(actual) - set(replayed))
    extra = sorted(set(replayed) - set(actual))
    different = sorted(key for key in set(actual) & set(replayed) if {c: replayed[key].get(c) for c in columns} != actual[key])
    assert (missing, extra, different) == ([], [], []), (
        f"{table}: {len(missing)} missing {missing[:5]}, {len(extra)} extra {extra[:5]}, {len(different)} different {different[:5]}")


def wait_for_slot(source, db):
    """Until the source's new slot is consistent (for sources without --tables, which wait_ready needs)."""
    wait_until(lambda: source.check_running() or (db.slot_state() or (0, 0))[1] != 0, 30, message="the slot")


def wait_for_log(source, text, timeout=60):
    """Until `text` is in the source's stderr."""
    wait_until(lambda: source.check_running() or text in source.stderr(), timeout, message=f"'{text}' in the source's log")


def value_fields(url, subject):
    """The fields of the Value record of a subject's latest value schema."""
    schema = json.loads(registry_schema(url, subject))
    return next(branch for branch in schema["fields"][0]["type"] if isinstance(branch, dict) and branch["name"] == "Value")["fields"]


def value_field_types(url, subject):
    """Field name -> Avro type (the non-null branch of a nullable one)."""
    return {field["name"]: (field["type"][1] if isinstance(field["type"], list) else field["type"]) for field in value_fields(url, subject)}


def value_field_columns(url, subject):
    """Field name -> the column it carries (its pg.column, else its own name)."""
    return {field["name"]: field.get("pg.column", field["name"]) for field in value_fields(url, subject)}


# --- 1. partitioned tables -------------------------------------------------------------------------------

def create_measurements(db):
    db.execute("CREATE TABLE measurements (id int, region text, reading int, PRIMARY KEY (id, region)) PARTITION BY LIST (region)")
    db.execute("CREATE TABLE measurements_eu PARTITION OF measurements FOR VALUES IN ('eu')")
    db.execute("CREATE TABLE measurements_us PARTITION OF measurements FOR VALUES IN ('us')")


def test_a_partitioned_table_streams_under_its_own_name_and_restarts(pg_database, registry, tmp_path):
    db = pg_database
    create_measurements(db)
    db.execute("INSERT INTO measurements VALUES (1, 'eu', 10), (2, 'us', 20)")
    with WalSource(db, registry.url, tmp_path, ["measurements"], snapshot=True) as source:
        source.start().wait_ready()
        db.execute("INSERT INTO measurements VALUES (3, 'eu', 30), (4, 'us', 40)")
        db.execute("UPDATE measurements SET reading = 11 WHERE id = 1")
        db.execute("DELETE FROM measurements WHERE id = 2")
        events = wait_for_events(source.sink("measurements"), registry.url, 6, source)
        source.stop()
        # The next start reuses the publication and the slot (it failed for good before).
        source.start()
        db.execute("INSERT INTO measurements VALUES (5, 'us', 50)")
        db.execute("UPDATE measurements SET reading = 41 WHERE id = 4")
        events = wait_for_events(source.sink("measurements"), registry.url, 8, source)
        source.stop()

    assert [event["op"] for event in events] == ["r", "r", "c", "c", "u", "d", "c", "u"], json.dumps(events, indent=1)
    assert_lsn_order(events[2:])
    assert_replays_to(db, "measurements", events, ["id", "region"], ["id", "region", "reading"])
    schema = json.loads(registry_schema(registry.url, "cdc.public.measurements-value"))
    assert schema["name"] == "Envelope" and schema["namespace"] == "cdc.public.measurements", schema
    # Nothing was written under the partitions' names.
    assert sorted(name for name in os.listdir(source.out_dir) if name.endswith(".log")) == ["cdc.public.measurements.log"]


def test_an_existing_publication_that_publishes_partitions_is_refused(pg_database, registry, tmp_path):
    db = pg_database
    create_measurements(db)
    db.execute(f"CREATE PUBLICATION {db.publication} FOR TABLE measurements")
    with WalSource(db, registry.url, tmp_path, ["measurements"]) as source:
        source.start()
        code = source.wait_exit()
    assert code != 0
    message = source.stderr()
    assert "publish_via_partition_root" in message and db.publication in message, message
    assert re.search(rf'ALTER PUBLICATION "?{db.publication}"? SET \(publish_via_partition_root = true\)', message), message


def registry_schema(url, subject):
    response = requests.get(f"{url}/subjects/{subject}/versions/latest/schema", timeout=10)
    assert response.status_code == 200, response.text
    return response.text


# --- 2. an interrupted snapshot is taken again, never left partial ----------------------------------------

SNAPSHOT_ROWS = 200_000


def create_big_table(db, rows=SNAPSHOT_ROWS):
    db.execute("CREATE TABLE big (id int PRIMARY KEY, payload text)")
    db.execute(f"INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, {rows}) g")


def wait_for_file_bytes(source, table, minimum):
    def grown():
        source.check_running()
        path = source.sink(table)
        return os.path.exists(path) and os.path.getsize(path) >= minimum
    wait_until(grown, 60, message=f"{minimum} bytes in the {table} change log")


def interrupt_snapshot(source, how, after_bytes):
    source.start()
    wait_for_file_bytes(source, "big", after_bytes)
    if how == "kill":
        source.kill()
    else:
        began = time.monotonic()
        source.process.send_signal(signal.SIGTERM)
        code = source.process.wait(timeout=30)
        stopped_in = time.monotonic() - began
        assert code == 0, source.stderr()
        assert stopped_in < 1.5, f"SIGTERM during the snapshot took {stopped_in:.2f} s to stop"
        source.wait_slot_released()


@pytest.mark.parametrize("how", ["kill", "sigterm"])
def test_an_interrupted_snapshot_is_taken_again_whole(pg_database, registry, tmp_path, how):
    db = pg_database
    create_big_table(db)
    with WalSource(db, registry.url, tmp_path, ["big"], snapshot=True) as source:
        # Interrupted twice at different points, with writes in between; then left to finish.
        interrupt_snapshot(source, how, 200_000)
        db.execute("UPDATE big SET payload = 'changed' WHERE id % 1000 = 0")
        db.execute("DELETE FROM big WHERE id % 777 = 0")
        interrupt_snapshot(source, how, 2_000_000)
        db.execute(f"INSERT INTO big SELECT g, 'late ' || g FROM generate_series({SNAPSHOT_ROWS + 1}, {SNAPSHOT_ROWS + 100}) g")
        source.start()
        expected = db.execute("SELECT count(*) FROM big")[0][0]
        events = wait_for_events(source.sink("big"), registry.url, expected, source, settle=1.0)
        db.execute("UPDATE big SET payload = 'after' WHERE id = 5")
        events = wait_for_events(source.sink("big"), registry.url, expected + 1, source)
        source.stop()
    reads = [event for event in events if event["op"] == "r"]
    assert len(reads) == expected, f"{len(reads)} snapshot reads for {expected} rows"
    assert_replays_to(db, "big", events, ["id"], ["id", "payload"])


BIG_SNAPSHOT_ROWS = 2_000_000


def caught_up(source, db):
    """Until the source has made durable (and acknowledged) everything committed so far."""
    target = db.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")[0][0]
    wait_until(lambda: source.check_running() or (db.slot_state() or (False, 0))[1] >= target, 120,
               message="the source to acknowledge the latest commit")


def replay_log_of_numbers(source, registry_url, table):
    """Replays a (id, v) table's whole log as wal-consume prints it, line by line (two million events do
    not fit in a list of dicts comfortably): (id -> v, reads per id, events per op)."""
    process = subprocess.Popen([wal_binary("wal-consume"), "--file", source.sink(table), "--registry", registry_url],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rows, reads, operations = {}, {}, {}
    last_lsn = {}
    for line in process.stdout:
        event = json.loads(line)
        op = event["op"]
        operations[op] = operations.get(op, 0) + 1
        image = event["after"] if op in ("c", "u", "r") else event["before"]
        key = image["id"]
        if op != "r":
            lsn = int(event["lsn"])
            assert last_lsn.get(key, -1) <= lsn, f"events of key {key} out of order: {event}"
            last_lsn[key] = lsn
        else:
            reads[key] = reads.get(key, 0) + 1
        if op == "d":
            rows.pop(key, None)
        else:
            rows[key] = image["v"]
    assert process.wait() == 0, process.stderr.read()
    return rows, reads, operations


@pytest.mark.parametrize("concurrent_writes", [False, True], ids=["quiet", "concurrent-writes"])
def test_a_two_million_row_snapshot_killed_three_times_replays_equal(pg_database, registry, tmp_path, concurrent_writes):
    """Killed (SIGKILL) at three random points of its snapshot, each time started again; with or without
    a writer changing the table all along. The log then replays to the table exactly."""
    db = pg_database
    began = time.monotonic()
    phases = []
    create_numbers(db, "huge", BIG_SNAPSHOT_ROWS)
    phases.append(("create", time.monotonic()))
    generator = random.Random(int(os.environ.get("WAL_TEST_SEED", "20261206")))
    # The whole snapshot's log is about 110 bytes a row (more with a longer database name): 200+ MB.
    kill_points = [generator.randint(2, 150) * 1_000_000 for _ in range(3)]
    writer = Writer(db, "huge", BIG_SNAPSHOT_ROWS) if concurrent_writes else None
    with WalSource(db, registry.url, tmp_path, ["huge"], snapshot=True) as source:
        if writer:
            writer.start()
        for after_bytes in kill_points:
            source.start()
            wait_for_file_bytes(source, "huge", after_bytes)
            source.kill()
        phases.append(("kills", time.monotonic()))
        source.start()
        wait_for_log(source, "snapshot of public.huge:", timeout=240)
        phases.append(("snapshot", time.monotonic()))
        if writer:
            time.sleep(1)
            writer.stop()
        db.execute("INSERT INTO huge VALUES (-1, 0)")
        caught_up(source, db)
        source.stop()
    assert source.stderr().count("did not finish") == 1, source.stderr()  # this run's; the earlier ones in their own files
    phases.append(("caught up", time.monotonic()))
    rows, reads, operations = replay_log_of_numbers(source, registry.url, "huge")
    phases.append(("replay", time.monotonic()))
    table = dict(db.execute("SELECT id, v FROM huge"))
    phases.append(("select", time.monotonic()))
    print(f"[2M rows, kills at {kill_points}] " + ", ".join(f"{name} {at - began:.1f} s" for name, at in phases))
    missing = sorted(set(table) - set(rows))
    extra = sorted(set(rows) - set(table))
    different = sorted(key for key in set(table) & set(rows) if rows[key] != table[key])
    assert (missing, extra, different) == ([], [], []), (
        f"kills at {kill_points} bytes: {len(missing)} missing {missing[:5]}, {len(extra)} extra {extra[:5]}, {len(different)} different {different[:5]}")
    # Every row read exactly once: the killed snapshots left nothing behind.
    twice = sorted(key for key, count in reads.items() if count > 1)
    assert not twice, f"kills at {kill_points} bytes: {len(twice)} rows read more than once, e.g. {twice[:5]}"
    if writer:
        assert writer.changes > 100, writer.changes
    else:
        assert operations == {"r": BIG_SNAPSHOT_ROWS, "c": 1}, operations


# --- 3. snapshot chunks are bounded in the key's own type and collation -----------------------------------

KEY_TYPES = {
    # type setup, column type, a row's key from n (text order differs from the type's order)
    "citext": ("CREATE EXTENSION IF NOT EXISTS citext", "citext", "CASE WHEN g % 2 = 0 THEN 'Key' ELSE 'key' END || g"),
    "inet": ("", "inet", "('10.' || (g / 65536) || '.' || ((g / 256) % 256) || '.' || (g % 256))::inet"),
    "enum": ("CREATE TYPE level AS ENUM ('zulu', 'alpha', 'mike', 'bravo')", "level",
             "(ARRAY['zulu', 'alpha', 'mike', 'bravo'])[1 + g % 4]::level"),
    "domain": ("CREATE DOMAIN positive AS int CHECK (VALUE > 0)", "positive", "g"),
    # A bare "character" cast means char(1): the bound must keep the column's length.
    "char": ("", "char(6)", "lpad(g::text, 6, 'x')"),
}


@pytest.mark.parametrize("key_type", sorted(KEY_TYPES))
def test_snapshot_chunks_compare_keys_in_their_own_type(pg_database, registry, tmp_path, key_type):
    db = pg_database
    setup, column_type, key_expression = KEY_TYPES[key_type]
    if setup:
        db.execute(setup)
    if key_type == "enum":
        # An enum has few values: the key is (level, n), a composite key with the enum first.
        db.execute(f"CREATE TABLE keyed (k {column_type}, n int, payload text, PRIMARY KEY (k, n))")
        db.execute(f"INSERT INTO keyed SELECT {key_expression}, g, 'p' || g FROM generate_series(1, 3000) g")
        key_columns = ["k", "n"]
    else:
        db.execute(f"CREATE TABLE keyed (k {column_type} PRIMARY KEY, payload text)")
        db.execute(f"INSERT INTO keyed SELECT {key_expression}, 'p' || g FROM generate_series(1, 3000) g")
        key_columns = ["k"]
    rows = db.execute("SELECT count(*) FROM keyed")[0][0]
    with WalSource(db, registry.url, tmp_path, ["keyed"], snapshot=True, extra_arguments=["--snapshot-chunk-rows", "97"]) as source:
        source.start()
        events = wait_for_events(source.sink("keyed"), registry.url, rows, source, settle=1.0)
        source.stop()
    reads = [event for event in events if event["op"] == "r"]
    keys = [tuple(event["after"][column] for column in key_columns) for event in reads]
    assert len(reads) == rows and len(set(keys)) == rows, f"{len(reads)} reads, {len(set(keys))} distinct keys, for {rows} rows"
    # Every row once, as the type's output function writes it (concat() uses it; inet's ::text does not).
    columns = key_columns + ["payload"]
    actual = {tuple(row) for row in db.execute(f"SELECT {', '.join(f'concat({c})' for c in columns)} FROM keyed")}
    replayed = {tuple(str(image[c]) for c in columns) for image in replay(events, key_columns).values()}
    assert replayed == actual, f"{len(actual - replayed)} missing, {len(replayed - actual)} extra"


# --- 4. a table without a key is snapshotted through a cursor, in bounded memory --------------------------

def peak_resident_megabytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_a_snapshot_without_a_key_streams_in_bounded_memory(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE TABLE nokey (n int, payload text)")
    db.execute("ALTER TABLE nokey REPLICA IDENTITY FULL")
    rows = 250_000
    db.execute(f"INSERT INTO nokey SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, {rows}) g")
    table_megabytes = db.execute("SELECT pg_table_size('nokey')")[0][0] / 1048576
    with WalSource(db, registry.url, tmp_path, ["nokey"], snapshot=True) as source:
        source.start()
        wait_for_log(source, "snapshot of public.nokey", timeout=120)
        peak = peak_resident_megabytes(source.process.pid)
        source.stop()
    events = read_events(source.sink("nokey"), registry.url)
    assert len(events) == rows and {event["op"] for event in events} == {"r"}
    assert sorted(event["after"]["n"] for event in events) == list(range(1, rows + 1))
    # Flat: the whole table is about 40 MB; reading it at once took several times that.
    print(f"[no-key snapshot] table {table_megabytes:.0f} MB, wal-source peak resident {peak:.0f} MB")
    assert peak < 64, f"wal-source peaked at {peak:.0f} MB for a {table_megabytes:.0f} MB table"


# --- 5. a dropped slot is an error, not a silent fresh start ----------------------------------------------

def test_a_dropped_slot_stops_the_source_until_told_how_to_recover(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
    with WalSource(db, registry.url, tmp_path, ["items"]) as source:
        source.start().wait_ready()
        db.execute("INSERT INTO items SELECT g, 'first ' || g FROM generate_series(1, 10) g")
        wait_for_events(source.sink("items"), registry.url, 10, source)
        source.stop()
        db.execute(f"SELECT pg_drop_replication_slot('{db.slot}')")
        db.execute("INSERT INTO items SELECT g, 'while gone ' || g FROM generate_series(11, 20) g")

        # The same command line again: refused, saying what was lost and the two ways on.
        source.start()
        assert source.wait_exit() != 0
        message = source.stderr()
        assert "slot" in message and "--snapshot" in message and "--allow-new-slot" in message, message
        assert db.slot_state() is None, "no slot may be created silently"

        # Recovery by a new snapshot: every row again as a read, then the stream.
        source.snapshot = True
        source.start()
        events = wait_for_events(source.sink("items"), registry.url, 30, source)
        db.execute("UPDATE items SET name = 'after' WHERE id = 15")
        events = wait_for_events(source.sink("items"), registry.url, 31, source)
        source.stop()
    assert_replays_to(db, "items", events, ["id"], ["id", "name"])


def test_allow_new_slot_streams_from_now_and_says_so(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
    with WalSource(db, registry.url, tmp_path, ["items"]) as source:
        source.start().wait_ready()
        db.execute("INSERT INTO items VALUES (1, 'one')")
        wait_for_events(source.sink("items"), registry.url, 1, source)
        source.stop()
        db.execute(f"SELECT pg_drop_replication_slot('{db.slot}')")
        db.execute("INSERT INTO items VALUES (2, 'lost')")
        source.extra_arguments = ["--allow-new-slot"]
        source.start().wait_ready()
        db.execute("INSERT INTO items VALUES (3, 'three')")
        events = wait_for_events(source.sink("items"), registry.url, 2, source)
        source.stop()
    assert [event["after"]["id"] for event in events] == [1, 3]
    assert "--allow-new-slot" in source.stderr() and "not captured" in source.stderr(), source.stderr()


# --- 6. what was made durable is not written again after PostgreSQL restarts -------------------------------

@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_durable_events_are_not_written_again_after_postgres_restarts(pg_database, registry, tmp_path, postgres, mode):
    db = pg_database
    db.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
    with WalSource(db, registry.url, tmp_path, ["items"]) as source:
        source.start().wait_ready()
        for number in range(1, 51):
            db.execute("INSERT INTO items VALUES (%s, %s)", (number, f"row {number}"))
        wait_for_events(source.sink("items"), registry.url, 50, source)
        with open(source.sink("items"), "rb") as log:
            durable = log.read()
        with open(os.path.join(source.out_dir, f".wal-source.{db.slot}.state.position"), "rb") as record:
            durable_lsn = int.from_bytes(record.read(8), "little")
        postgres.restart(mode)
        # The source reconnects by itself and resumes from its durable position.
        wait_for_log(source, "recovered")
        db.execute("INSERT INTO items VALUES (51, 'after the restart')")
        events = wait_for_events(source.sink("items"), registry.url, 51, source, settle=1.5)
        source.stop()
    ids = [event["after"]["id"] for event in events]
    assert ids == list(range(1, 52)), f"{len(ids)} events; repeated: {sorted(i for i in set(ids) if ids.count(i) > 1)[:10]}"
    # What a reader may already have read stays as it was: not cut and written again (with new
    # timestamps), which a reader following the log would see twice.
    with open(source.sink("items"), "rb") as log:
        assert log.read(len(durable)) == durable, "the durable part of the log was cut and written again"
    assert "cut" not in source.stderr(), source.stderr()
    # Whether the slot came back behind what was durable depends on whether PostgreSQL happened to save
    # it (it does when the slot's restart_lsn moves): when it did come back behind, the source said so.
    reused = re.search(r"reusing slot \S+, confirmed up to ([0-9A-F]+)/([0-9A-F]+)", source.stderr())
    assert reused, source.stderr()
    slot_lsn = (int(reused.group(1), 16) << 32) | int(reused.group(2), 16)
    if slot_lsn < durable_lsn:
        assert "behind the durable position" in source.stderr(), source.stderr()
    print(f"[{mode}] slot back at {slot_lsn:#x}, durable {durable_lsn:#x}: {'behind' if slot_lsn < durable_lsn else 'not behind'}")


# --- the durable position belongs to one server history -----------------------------------------------------

class ClusterDatabase:
    """The `postgres` database of a cluster of the test's own, shaped as the ScratchDatabase the helpers use."""

    def __init__(self, cluster, slot, publication):
        self.cluster, self.slot, self.publication, self.name = cluster, slot, publication, "postgres"

    @property
    def conninfo(self):
        return self.cluster.conninfo_for("postgres")

    def connect(self):
        import psycopg
        return psycopg.connect(self.conninfo, autocommit=True)

    def execute(self, sql, params=None):
        with self.connect() as connection:
            cursor = connection.execute(sql, params)
            return cursor.fetchall() if cursor.description else None

    def slot_state(self):
        rows = self.execute("SELECT active, confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = %s", (self.slot,))
        return (bool(rows[0][0]), int(rows[0][1] or 0)) if rows else None


def test_logs_of_another_cluster_are_refused(pg_database, registry, tmp_path):
    """Same slot name, same tables, another cluster: the logs' positions mean nothing there."""
    other = PostgresCluster().start()
    try:
        db = pg_database
        db.execute("CREATE TABLE items (id int PRIMARY KEY)")
        with WalSource(db, registry.url, tmp_path, ["items"]) as source:
            source.start().wait_ready()
            db.execute("INSERT INTO items VALUES (1)")
            wait_for_events(source.sink("items"), registry.url, 1, source)
            source.stop()
            stranger = ClusterDatabase(other, db.slot, db.publication)
            stranger.execute("CREATE TABLE items (id int PRIMARY KEY)")
            source.database = stranger
            source.extra_arguments = ["--allow-new-slot"]
            source.start()
            code = source.wait_exit()
        assert code == 2 and "another PostgreSQL cluster" in source.stderr(), source.stderr()
        assert [event["after"]["id"] for event in read_events(source.sink("items"), registry.url)] == [1]
        assert stranger.slot_state() is None
    finally:
        other.stop()


def test_after_a_failover_the_changes_the_new_primary_lacks_are_cut(registry, tmp_path):
    """A standby is promoted while the old primary goes on taking writes the standby never sees. The
    source moved to the new primary cuts what is not in its history, then streams its changes: the
    logs replay to the new primary's table."""
    primary = PostgresCluster().start()
    standby = PostgresCluster()
    try:
        old = ClusterDatabase(primary, "failover_slot", "failover_pub")
        old.execute("CREATE TABLE items (id int PRIMARY KEY, v int)")
        standby.start_standby_of(primary)
        new = ClusterDatabase(standby, "failover_slot", "failover_pub")
        with WalSource(old, registry.url, tmp_path, ["items"]) as source:
            source.start().wait_ready()
            old.execute("INSERT INTO items SELECT g, g FROM generate_series(1, 5) g")
            wait_for_events(source.sink("items"), registry.url, 5, source)
            wait_until(lambda: new.execute("SELECT count(*) FROM items")[0][0] == 5, 30, message="the standby to replay")
            standby.promote()
            # The old primary goes on: these rows are not in the new primary's history.
            old.execute("INSERT INTO items SELECT g, g FROM generate_series(6, 10) g")
            old.execute("UPDATE items SET v = -1 WHERE id = 1")
            wait_for_events(source.sink("items"), registry.url, 11, source)
            source.stop()
            # The new primary has no slot (PostgreSQL 15 does not carry logical slots to standbys).
            source.database = new
            source.extra_arguments = ["--allow-new-slot"]
            source.start()
            wait_for_log(source, "streaming from slot")
            new.execute("INSERT INTO items VALUES (11, 11)")
            new.execute("UPDATE items SET v = 20 WHERE id = 2")
            events = wait_for_events(source.sink("items"), registry.url, 7, source, settle=1.0)
            source.stop()
        log = source.stderr()
        assert "left timeline 1" in log and "cut from the logs" in log, log
        assert [(event["op"], event["after"]["id"]) for event in events] == [("c", 1), ("c", 2), ("c", 3), ("c", 4), ("c", 5), ("c", 11), ("u", 2)], events
        assert_replays_to(new, "items", events, ["id"], ["id", "v"])
    finally:
        standby.stop()
        primary.stop()


# --- 7. REPLICA IDENTITY USING INDEX on other columns than the primary key ---------------------------------

def test_replica_identity_using_an_index_other_than_the_primary_key(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE TABLE accounts (id int PRIMARY KEY, code text NOT NULL, name text)")
    db.execute("CREATE UNIQUE INDEX accounts_code ON accounts (code)")
    db.execute("ALTER TABLE accounts REPLICA IDENTITY USING INDEX accounts_code")
    db.execute("CREATE TABLE other (id int PRIMARY KEY)")
    with WalSource(db, registry.url, tmp_path, ["accounts", "other"]) as source:
        source.start().wait_ready()
        db.execute("INSERT INTO accounts VALUES (1, 'a', 'one'), (2, 'b', 'two'), (3, 'c', 'three')")
        db.execute("DELETE FROM accounts WHERE id = 1")
        db.execute("UPDATE accounts SET name = 'TWO' WHERE id = 2")
        db.execute("INSERT INTO other VALUES (1)")
        events = wait_for_events(source.sink("accounts"), registry.url, 5, source)
        wait_for_events(source.sink("other"), registry.url, 1, source)
        source.stop()
        # And the next start is not wedged either.
        source.start()
        db.execute("DELETE FROM accounts WHERE id = 3")
        events = wait_for_events(source.sink("accounts"), registry.url, 6, source)
        source.stop()
    assert [event["op"] for event in events] == ["c", "c", "c", "d", "u", "d"], json.dumps(events, indent=1)
    # The key is the replica identity's columns, which is what a delete's old row carries.
    assert events[3]["key"] == {"code": "a"} and events[3]["before"]["code"] == "a", events[3]
    assert events[0]["key"] == {"code": "a"}, events[0]
    assert events[5]["key"] == {"code": "c"}, events[5]
    assert_replays_to(db, "accounts", events, ["code"], ["id", "code", "name"])


# --- 8. catalog drift while the source was stopped -------------------------------------------------------

@pytest.mark.parametrize("registered_before", [True, False])
def test_nulls_written_before_set_not_null_widen_the_schema_instead_of_wedging(pg_database, registry, tmp_path, registered_before):
    """The table's schema was registered before the drift (it stays nullable: nullability never
    tightens), or is first derived after it, from a catalog that says NOT NULL while the rows streamed
    still hold NULLs (the column is widened when the first NULL arrives)."""
    db = pg_database
    db.execute("CREATE TABLE notes (id int PRIMARY KEY, note text)")
    with WalSource(db, registry.url, tmp_path, ["notes"]) as source:
        source.start().wait_ready()
        if registered_before:
            db.execute("INSERT INTO notes VALUES (1, 'one')")
            wait_for_events(source.sink("notes"), registry.url, 1, source)
        source.stop()
        # While the source is stopped: rows with NULLs, a backfill, then NOT NULL.
        if not registered_before:
            db.execute("INSERT INTO notes VALUES (1, 'one')")
        db.execute("INSERT INTO notes VALUES (2, NULL), (3, NULL)")
        db.execute("UPDATE notes SET note = 'filled' WHERE note IS NULL")
        db.execute("ALTER TABLE notes ALTER COLUMN note SET NOT NULL")
        source.start()
        db.execute("INSERT INTO notes VALUES (4, 'four')")
        events = wait_for_events(source.sink("notes"), registry.url, 6, source)
        source.stop()
        # And again: the widened column stays nullable, so no incompatible NOT NULL version follows.
        source.start()
        db.execute("INSERT INTO notes VALUES (5, 'five')")
        events = wait_for_events(source.sink("notes"), registry.url, 7, source)
        source.stop()
    assert [event["op"] for event in events] == ["c", "c", "c", "u", "u", "c", "c"], json.dumps(events, indent=1)
    assert events[1]["after"] == {"id": 2, "note": None}
    if not registered_before:
        logs = "".join(open(os.path.join(source.work_dir, name)).read() for name in os.listdir(source.work_dir) if name.endswith(".stderr"))
        assert "nullable from the next version on" in logs, logs
    assert_replays_to(db, "notes", events, ["id"], ["id", "note"])


# --- 9. a listed table that was dropped is a warning --------------------------------------------------------

def test_a_dropped_table_in_the_list_is_a_warning_not_a_stop(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE TABLE kept (id int PRIMARY KEY)")
    db.execute("CREATE TABLE dropped (id int PRIMARY KEY)")
    with WalSource(db, registry.url, tmp_path, ["kept", "dropped"], snapshot=True) as source:
        source.start().wait_ready()
        db.execute("INSERT INTO kept VALUES (1)")
        wait_for_events(source.sink("kept"), registry.url, 1, source)
        source.stop()
        db.execute("DROP TABLE dropped")
        db.execute("INSERT INTO kept VALUES (2)")
        source.start()
        db.execute("INSERT INTO kept VALUES (3)")
        events = wait_for_events(source.sink("kept"), registry.url, 3, source)
        source.stop()
    assert [event["after"]["id"] for event in events] == [1, 2, 3]
    assert "public.dropped" in source.stderr() and "does not exist" in source.stderr(), source.stderr()


@pytest.mark.parametrize("identity", ["default", "full"])
def test_changes_of_a_table_dropped_before_they_are_read_keep_their_key_and_schema(pg_database, registry, tmp_path, identity):
    """Changes written, then the table dropped while the source was stopped: the catalog no longer has the
    table when its changes arrive. They are keyed and written under the version they were written with
    (no key-less version, no new version at all)."""
    db = pg_database
    db.execute("CREATE TABLE kept (id int PRIMARY KEY)")
    db.execute("CREATE TABLE doomed (id int PRIMARY KEY, label text NOT NULL DEFAULT 'none', note text)")
    if identity == "full":
        db.execute("ALTER TABLE doomed REPLICA IDENTITY FULL")
    with WalSource(db, registry.url, tmp_path, ["kept", "doomed"]) as source:
        source.start().wait_ready()
        db.execute("INSERT INTO doomed VALUES (1, 'one', NULL)")
        wait_for_events(source.sink("doomed"), registry.url, 1, source)
        source.stop()
        db.execute("INSERT INTO doomed VALUES (2, 'two', 'x')")
        db.execute("UPDATE doomed SET note = 'y' WHERE id = 1")
        db.execute("DELETE FROM doomed WHERE id = 2")
        db.execute("DROP TABLE doomed")
        db.execute("INSERT INTO kept VALUES (1)")
        source.start()
        wait_for_events(source.sink("kept"), registry.url, 1, source)
        events = wait_for_events(source.sink("doomed"), registry.url, 4, source)
        source.stop()
    assert [(event["op"], event["key"]) for event in events] == [("c", {"id": 1}), ("c", {"id": 2}), ("u", {"id": 1}), ("d", {"id": 2})], events
    assert {event["schema_id"] for event in events} == {events[0]["schema_id"]}, events
    for subject in ("cdc.public.doomed-value", "cdc.public.doomed-key"):
        versions = requests.get(f"{registry.url}/subjects/{subject}/versions", timeout=10).json()
        assert versions == [1], (subject, versions, source.stderr())


def test_a_missing_table_at_the_first_start_is_a_warning_too(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE TABLE kept (id int PRIMARY KEY)")
    with WalSource(db, registry.url, tmp_path, ["kept", "never_created"], snapshot=True) as source:
        source.start()
        db.execute("INSERT INTO kept VALUES (1)")
        events = wait_for_events(source.sink("kept"), registry.url, 1, source)
        source.stop()
    assert "public.never_created" in source.stderr() and "does not exist" in source.stderr(), source.stderr()


# --- 11. the catalog connection is reopened when the server closed it ---------------------------------------

def test_a_catalog_connection_closed_for_idleness_is_reopened(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE TABLE items (id int PRIMARY KEY)")
    db.execute(f"ALTER DATABASE \"{db.name}\" SET idle_session_timeout = '1s'")
    with WalSource(db, registry.url, tmp_path, ["items"]) as source:
        source.start().wait_ready()
        db.execute("INSERT INTO items VALUES (1)")
        wait_for_events(source.sink("items"), registry.url, 1, source)
        time.sleep(2.5)  # the source's idle catalog session is ended by the server
        db.execute("ALTER TABLE items ADD COLUMN name text")
        db.execute("INSERT INTO items VALUES (2, 'two')")
        events = wait_for_events(source.sink("items"), registry.url, 2, source)
        source.stop()
    assert events[1]["after"] == {"id": 2, "name": "two"}
    assert "reconnect" in source.stderr(), source.stderr()


# --- 10. names: colliding columns, non-ASCII letters, tables with / and , -----------------------------------

def test_colliding_column_names_and_odd_table_names_are_captured(pg_database, registry, tmp_path):
    db = pg_database
    db.execute('CREATE TABLE "odd/name,x" (id int PRIMARY KEY, "a-b" text, "a b" text, "größe" int, "grüße" text)')
    tables_file = tmp_path / "tables.txt"
    tables_file.write_text("# the odd one\npublic.odd/name,x\n")
    with WalSource(db, registry.url, tmp_path, [], extra_arguments=["--tables-file", str(tables_file)]) as source:
        source.start()
        wait_for_slot(source, db)
        db.execute("""INSERT INTO "odd/name,x" VALUES (1, 'dash', 'space', 42, 'hallo')""")
        sink = os.path.join(source.out_dir, "cdc.public.odd_name_x.log")
        events = wait_for_events(sink, registry.url, 1, source)
        source.stop()
        source.start()  # and again: the same names, no wedge
        db.execute("""UPDATE "odd/name,x" SET "a b" = 'changed' WHERE id = 1""")
        events = wait_for_events(sink, registry.url, 2, source)
        source.stop()
    assert events[0]["after"] == {"id": 1, "a_b": "dash", "a_b_2": "space", "grosse": 42, "grusse": "hallo"}, events[0]
    assert events[1]["after"]["a_b_2"] == "changed"
    originals = value_field_columns(registry.url, "cdc.public.odd_name_x-value")
    assert originals == {"id": "id", "a_b": "a-b", "a_b_2": "a b", "grosse": "größe", "grusse": "grüße"}, originals


# --- 12. REPLICA IDENTITY FULL: an unchanged TOASTed value is taken from before ------------------------------

def test_an_unchanged_toasted_value_is_filled_from_the_old_row(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE TABLE docs (id int PRIMARY KEY, title text, body text)")
    db.execute("ALTER TABLE docs REPLICA IDENTITY FULL")
    db.execute("CREATE TABLE docs_default (id int PRIMARY KEY, title text, body text)")
    big = "".join(f"{n:08x}" for n in range(4000))  # 32 KB: stored out of line (TOAST)
    with WalSource(db, registry.url, tmp_path, ["docs", "docs_default"]) as source:
        source.start().wait_ready()
        for table in ("docs", "docs_default"):
            db.execute(f"INSERT INTO {table} VALUES (1, 'first', %s)", (big,))
            db.execute(f"UPDATE {table} SET title = 'second' WHERE id = 1")
        full = wait_for_events(source.sink("docs"), registry.url, 2, source)
        default = wait_for_events(source.sink("docs_default"), registry.url, 2, source)
        source.stop()
    assert full[1]["before"]["body"] == big
    assert full[1]["after"] == {"id": 1, "title": "second", "body": big}, {k: str(v)[:40] for k, v in full[1]["after"].items()}
    # Without the old row there is nothing to fill from: Debezium's placeholder, as documented.
    assert default[1]["after"]["body"] == "__debezium_unavailable_value"


# --- 13. a primary-key change is a delete of the old key and a create of the new ----------------------------

@pytest.mark.parametrize("full", [False, True])
def test_a_key_change_is_a_delete_then_a_create(pg_database, registry, tmp_path, full):
    db = pg_database
    db.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
    if full:
        db.execute("ALTER TABLE items REPLICA IDENTITY FULL")
    with WalSource(db, registry.url, tmp_path, ["items"]) as source:
        source.start().wait_ready()
        db.execute("INSERT INTO items VALUES (1, 'one')")
        db.execute("UPDATE items SET id = 2 WHERE id = 1")
        db.execute("UPDATE items SET name = 'two' WHERE id = 2")
        events = wait_for_events(source.sink("items"), registry.url, 4, source)
        source.stop()
    assert [(event["op"], event["key"]) for event in events] == [
        ("c", {"id": 1}), ("d", {"id": 1}), ("c", {"id": 2}), ("u", {"id": 2})], json.dumps(events, indent=1)
    assert events[1]["before"]["id"] == 1 and events[1]["after"] is None
    assert events[2]["after"] == {"id": 2, "name": "one"} and events[2]["before"] is None
    assert_replays_to(db, "items", events, ["id"], ["id", "name"])


# --- 14. interval in one form whatever IntervalStyle the server, database or role has ----------------------

def test_intervals_are_iso_8601_whatever_the_interval_style(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE TABLE spans (id int PRIMARY KEY, span interval, doc jsonb)")
    db.execute("INSERT INTO spans VALUES (1, '1 day 02:03:04', '{\"a\": 1}')")
    db.execute(f"ALTER DATABASE \"{db.name}\" SET IntervalStyle = 'postgres_verbose'")
    with WalSource(db, registry.url, tmp_path, ["spans"], snapshot=True) as source:
        source.start()
        db.execute("INSERT INTO spans VALUES (2, '1 year 2 mons -3 days 00:00:00.5', '[]')")
        events = wait_for_events(source.sink("spans"), registry.url, 2, source)
        source.stop()
    assert [event["after"]["span"] for event in events] == ["P1DT2H3M4S", "P1Y2M-3DT0.5S"], events
    types = value_field_types(registry.url, "cdc.public.spans-value")
    assert types["span"] == {"type": "string", "connect.name": "io.debezium.time.Interval"}, types
    assert types["doc"] == {"type": "string", "connect.name": "io.debezium.data.Json"}, types


# --- 16. a table without a key under REPLICA IDENTITY DEFAULT is refused -----------------------------------

def test_a_table_without_a_key_is_refused_unless_allowed(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE TABLE keyless (n int, note text)")
    db.execute("INSERT INTO keyless VALUES (1, 'one')")
    with WalSource(db, registry.url, tmp_path, ["keyless"]) as source:
        source.start()
        assert source.wait_exit() == 2
        message = source.stderr()
        assert "public.keyless" in message and "REPLICA IDENTITY" in message and "--allow-tables-without-key" in message, message
        rows = db.execute(f"SELECT count(*) FROM pg_publication_tables WHERE pubname = '{db.publication}'")
        assert rows[0][0] == 0, "the table must not have been added to a publication"
        db.execute("UPDATE keyless SET note = 'still works' WHERE n = 1")  # the application is unharmed

        source.extra_arguments = ["--allow-tables-without-key"]
        source.start()
        wait_for_slot(source, db)
        db.execute("INSERT INTO keyless VALUES (2, 'two')")
        events = wait_for_events(source.sink("keyless"), registry.url, 1, source)
        source.stop()
    assert events[0]["after"] == {"n": 2, "note": "two"}
    assert "UPDATE" in source.stderr() and "DELETE" in source.stderr(), source.stderr()


# --- 17. --snapshot on an existing slot says what it does -----------------------------------------------------

def test_snapshot_on_an_existing_slot_snapshots_the_tables_that_have_none(pg_database, registry, tmp_path):
    """A slot created without a snapshot, then a table added to the list: --snapshot on the existing slot
    reads the tables that have no snapshot recorded, incrementally while streaming, and says so; once
    each has one, --snapshot says there is nothing to take."""
    db = pg_database
    db.execute("CREATE TABLE items (id int PRIMARY KEY, v int)")
    db.execute("CREATE TABLE later (id int PRIMARY KEY, v int)")
    db.execute("INSERT INTO items VALUES (1, 1)")
    db.execute("INSERT INTO later VALUES (1, 10), (2, 20)")
    with WalSource(db, registry.url, tmp_path, ["items"]) as source:
        source.start().wait_ready()
        source.stop()
        source.snapshot = True
        source.start()
        wait_for_log(source, "incremental snapshot of public.items: done")
        db.execute("INSERT INTO items VALUES (2, 2)")
        items = wait_for_events(source.sink("items"), registry.url, 2, source)
        assert "--snapshot" in source.stderr() and "public.items has no snapshot yet" in source.stderr(), source.stderr()
        source.stop()
        # A table added to the list: only it is read.
        source.tables.append("public.later")
        source.start()
        wait_for_log(source, "incremental snapshot of public.later: done")
        later = wait_for_events(source.sink("later"), registry.url, 2, source)
        log = source.stderr()
        assert "public.later has no snapshot yet" in log and "snapshot of public.items" not in log, log
        source.stop()
        source.start()
        db.execute("INSERT INTO later VALUES (3, 30)")
        later = wait_for_events(source.sink("later"), registry.url, 3, source)
        assert "every table has its snapshot already" in source.stderr(), source.stderr()
        source.stop()
    assert [(event["op"], event["after"]["id"]) for event in items] == [("r", 1), ("c", 2)]
    assert [(event["op"], event["after"]["id"]) for event in later] == [("r", 1), ("r", 2), ("c", 3)]
    assert items[0]["source"]["snapshot"] == "incremental"


# --- source.snapshot, as Debezium sets it ----------------------------------------------------------------

def test_source_snapshot_marks_snapshot_reads_and_the_last_one(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE TABLE first_table (id int PRIMARY KEY)")
    db.execute("CREATE TABLE second_table (id int PRIMARY KEY)")
    db.execute("INSERT INTO first_table SELECT generate_series(1, 3)")
    db.execute("INSERT INTO second_table SELECT generate_series(1, 2)")
    with WalSource(db, registry.url, tmp_path, ["first_table", "second_table"], snapshot=True) as source:
        source.start()
        wait_for_events(source.sink("second_table"), registry.url, 2, source)
        db.execute("INSERT INTO second_table VALUES (3)")
        second = wait_for_events(source.sink("second_table"), registry.url, 3, source)
        first = read_events(source.sink("first_table"), registry.url)
        source.stop()
    assert [event["source"]["snapshot"] for event in first] == ["true", "true", "true"]
    assert [event["source"]["snapshot"] for event in second] == ["true", "last", "false"]
    assert second[0]["source"]["table"] == "second_table" and second[0]["source"]["db"] == db.name


# --- reconnecting by itself ------------------------------------------------------------------------------------

def test_the_source_rides_out_postgres_and_registry_outages(pg_database, registry, tmp_path, postgres):
    db = pg_database
    db.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
    with WalSource(db, registry.url, tmp_path, ["items"]) as source:
        source.start().wait_ready()
        db.execute("INSERT INTO items SELECT g, 'before' FROM generate_series(1, 20) g")
        wait_for_events(source.sink("items"), registry.url, 20, source)

        # PostgreSQL away for 10 s.
        postgres.stop_for(10)
        wait_for_log(source, "recovered")
        db.execute("INSERT INTO items SELECT g, 'after postgres' FROM generate_series(21, 40) g")
        wait_for_events(source.sink("items"), registry.url, 40, source)

        # The registry away for 10 s while a DDL needs a new schema version.
        port = registry.url.rsplit(":", 1)[1]
        registry.stop()
        db.execute("ALTER TABLE items ADD COLUMN extra int")
        db.execute("INSERT INTO items SELECT g, 'during registry outage', g FROM generate_series(41, 60) g")
        time.sleep(10)
        source.check_running()
        registry.start(listen=f"127.0.0.1:{port}")
        events = wait_for_events(source.sink("items"), registry.url, 60, source)
        source.stop()
    ids = [event["after"]["id"] for event in events]
    assert ids == list(range(1, 61)), f"{len(ids)} events"
    assert_replays_to(db, "items", events, ["id"], ["id", "name"])
    log = source.stderr()
    assert log.count("trying again") >= 2 and log.count("recovered") >= 2, log


# --- heartbeats --------------------------------------------------------------------------------------------

def test_heartbeats_advance_the_slot_while_published_tables_are_idle(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE TABLE items (id int PRIMARY KEY)")
    db.execute("CREATE TABLE other (id int PRIMARY KEY, payload text)")
    with WalSource(db, registry.url, tmp_path, ["items"],
                   extra_arguments=["--heartbeat-interval", "0.5", "--heartbeat-table", "public.cdc_heartbeat"]) as source:
        source.start().wait_ready()
        db.execute("INSERT INTO other SELECT n, 'x' FROM generate_series(1, 1000) n")
        target = int(db.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")[0][0])
        began = time.monotonic()
        wait_until(lambda: (db.slot_state() or (False, 0))[1] >= target, 10, message="the slot to pass the unpublished writes")
        took = time.monotonic() - began
        first = wait_until(lambda: db.execute("SELECT ts FROM cdc_heartbeat WHERE id = 1"), 5, message="the heartbeat row")[0][0]
        wait_until(lambda: db.execute("SELECT ts FROM cdc_heartbeat WHERE id = 1")[0][0] > first, 5, message="the heartbeat row to be updated")
        source.stop()
    assert took < 5, f"the slot took {took:.1f} s to advance with a 0.5 s heartbeat"


# --- lag you can alert on -----------------------------------------------------------------------------------

def test_metrics_report_server_side_lag_and_events(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE TABLE items (id int PRIMARY KEY)")
    with WalSource(db, registry.url, tmp_path, ["items"], extra_arguments=["--metrics-listen", "127.0.0.1:0"]) as source:
        source.start().wait_ready()
        url = wait_until(lambda: re.search(r"metrics on (http://127\.0\.0\.1:\d+/metrics)", source.stderr()), 10, message="the metrics address").group(1)
        db.execute("INSERT INTO items SELECT generate_series(1, 25)")
        wait_for_events(source.sink("items"), registry.url, 25, source)

        def metrics():
            text = requests.get(url, timeout=5).text
            return {match.group(1): float(match.group(2)) for match in re.finditer(r"^(wal_source_\w+) (\S+)$", text, re.M)}
        current = wait_until(lambda: (lambda m: m if m.get("wal_source_events_total") == 25 and "wal_source_lag_bytes" in m else None)(metrics()),
                             10, message="the metrics to show 25 events")
        assert current["wal_source_streaming"] == 1
        assert 0 <= current["wal_source_lag_bytes"] < 10_000_000
        assert 0 <= current["wal_source_lag_milliseconds"] < 60_000
        assert requests.get(url.replace("/metrics", "/other"), timeout=5).status_code == 404
        source.stop()
    assert "lag_ms=" in source.stderr()


# --- 15. Debezium's representations: domains, enums, money, timetz ----------------------------------------------

def test_domains_enums_money_and_timetz_as_debezium_represents_them(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE DOMAIN positive AS integer CHECK (VALUE > 0)")
    db.execute("CREATE DOMAIN price AS numeric(8,2)")
    db.execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
    db.execute("CREATE TABLE typed (id positive PRIMARY KEY, cost price, feeling mood, cash money, at timetz)")
    db.execute("INSERT INTO typed VALUES (1, 12.50, 'ok', 1234.56, '12:34:56.789+02')")
    with WalSource(db, registry.url, tmp_path, ["typed"], snapshot=True) as source:
        source.start()
        db.execute("INSERT INTO typed VALUES (2, 0.99, 'happy', -0.5, '23:30:00-05:30')")
        events = wait_for_events(source.sink("typed"), registry.url, 2, source)
        source.stop()
    assert events[0]["after"] == {"id": 1, "cost": "12.50", "feeling": "ok", "cash": "1234.56", "at": "10:34:56.789Z"}, events[0]
    assert events[1]["after"] == {"id": 2, "cost": "0.99", "feeling": "happy", "cash": "-0.50", "at": "05:00:00Z"}, events[1]
    types = value_field_types(registry.url, "cdc.public.typed-value")
    assert types["id"] == "int", types
    assert types["cost"] == {"type": "bytes", "logicalType": "decimal", "precision": 8, "scale": 2}, types
    assert types["feeling"] == {"type": "string", "connect.name": "io.debezium.data.Enum", "connect.parameters": {"allowed": "sad,ok,happy"}}, types
    assert types["cash"]["logicalType"] == "decimal" and types["cash"]["scale"] == 2, types
    assert types["at"] == {"type": "string", "connect.name": "io.debezium.time.ZonedTime"}, types


def test_arrays_are_avro_arrays_of_their_element_type(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
    db.execute("CREATE DOMAIN positive AS int CHECK (VALUE > 0)")
    db.execute("""CREATE TABLE arrays (id int PRIMARY KEY, numbers int[], words text[] NOT NULL, moods mood[],
                  prices numeric(5,2)[], counts positive[], stamps timestamptz[], grid int[][])""")
    db.execute("""INSERT INTO arrays VALUES (1, '{1,NULL,3}', '{"a b","q\\"uote",NULL,"NULL",""}', '{ok,happy}',
                  '{1.50,NULL}', '{7}', '{"2024-01-02 03:04:05+00"}', '{{1,2},{3,4}}')""")
    with WalSource(db, registry.url, tmp_path, ["arrays"], snapshot=True) as source:
        source.start()
        wait_for_events(source.sink("arrays"), registry.url, 1, source)
        db.execute("INSERT INTO arrays VALUES (2, '{}', '{}', NULL, NULL, NULL, NULL, '[0:1]={5,6}')")
        db.execute("UPDATE arrays SET numbers = array_append(numbers, 4) WHERE id = 1")
        events = wait_for_events(source.sink("arrays"), registry.url, 3, source)
        source.stop()
    assert events[0]["after"] == {"id": 1, "numbers": [1, None, 3], "words": ["a b", 'q"uote', None, "NULL", ""], "moods": ["ok", "happy"],
                                  "prices": ["1.50", None], "counts": [7], "stamps": ["2024-01-02T03:04:05.000000Z"], "grid": [1, 2, 3, 4]}, events[0]
    assert events[1]["after"] == {"id": 2, "numbers": [], "words": [], "moods": None, "prices": None, "counts": None, "stamps": None,
                                  "grid": [5, 6]}, events[1]
    assert events[2]["after"]["numbers"] == [1, None, 3, 4], events[2]
    types = value_field_types(registry.url, "cdc.public.arrays-value")
    assert types["numbers"] == {"type": "array", "items": ["null", "int"]}, types
    assert types["words"] == {"type": "array", "items": ["null", "string"]}, types
    assert types["moods"] == {"type": "array", "items": ["null", {"type": "string", "connect.name": "io.debezium.data.Enum",
                                                                    "connect.parameters": {"allowed": "sad,ok,happy"}}]}, types
    assert types["prices"] == {"type": "array", "items": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 2}]}, types
    assert types["counts"] == {"type": "array", "items": ["null", "int"]}, types
    assert types["stamps"]["items"][1] == {"type": "long", "logicalType": "timestamp-micros"}, types


def test_what_waiting_cannot_fix_ends_the_source_at_once(pg_database, registry, tmp_path):
    """A refusal while connecting (here: a database that does not exist) is not an outage: no retries."""
    db = pg_database
    db.execute("CREATE TABLE items (id int PRIMARY KEY)")
    with WalSource(db, registry.url, tmp_path, ["items"]) as source:
        source.database = type("Missing", (), {"conninfo": db.conninfo.replace(f"dbname={db.name}", "dbname=no_such_database"),
                                               "slot": db.slot, "publication": db.publication, "slot_state": lambda self: None})()
        began = time.monotonic()
        source.start()
        code = source.process.wait(timeout=20)
        took = time.monotonic() - began
    assert code != 0 and took < 10, f"exit {code} after {took:.1f} s:\n{source.stderr()}"
    assert "no_such_database" in source.stderr() and "trying again" not in source.stderr(), source.stderr()


# --- incremental snapshots -----------------------------------------------------------------------------------

def request_snapshot(db, *tables, slot=None):
    """`wal-source snapshot --table …` for this test's slot: (exit code, stdout + stderr)."""
    arguments = [wal_binary("wal-source"), "snapshot", "--pg", db.conninfo, "--slot", slot or db.slot]
    for table in tables:
        arguments += ["--table", table]
    result = subprocess.run(arguments, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    return result.returncode, result.stdout + result.stderr


class Writer:
    """Changes rows of `table` (id int key, v int) at random until stopped: updates, deletes, inserts of
    new ids and re-inserts, each in its own transaction, some several rows at once."""

    def __init__(self, db, table, rows):
        self.db, self.table, self.rows = db, table, rows
        self.stopping = threading.Event()
        self.changes = 0
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        generator = random.Random(7)
        try:
            with self.db.connect() as connection:
                next_id = self.rows + 1
                while not self.stopping.is_set():
                    choice = generator.random()
                    key = generator.randint(1, next_id - 1)
                    if choice < 0.5:
                        connection.execute(f"UPDATE {self.table} SET v = v + 1 WHERE id = %s", (key,))
                    elif choice < 0.65:
                        connection.execute(f"DELETE FROM {self.table} WHERE id = %s", (key,))
                    elif choice < 0.8:
                        connection.execute(f"INSERT INTO {self.table} VALUES (%s, 0) ON CONFLICT (id) DO UPDATE SET v = -1", (key,))
                    elif choice < 0.9:
                        connection.execute(f"INSERT INTO {self.table} VALUES (%s, 0)", (next_id,))
                        next_id += 1
                    else:
                        with connection.transaction():
                            # Kept below 2^31 however long the writer runs (a doubled int overflowed on a slow run).
                            connection.execute(f"UPDATE {self.table} SET v = mod(v, 1000000) * 2 WHERE id BETWEEN %s AND %s", (key, key + 20))
                            connection.execute(f"DELETE FROM {self.table} WHERE id = %s", (key + 21,))
                    self.changes += 1
        except Exception as error:  # reported by stop()
            self.error = error

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=30)
        assert self.error is None, f"the writer failed: {self.error!r}"


def wait_for_sentinel(source, db, table, registry_url, key=-1):
    """Inserts a row with id `key` and waits until its event is in the log; returns every event."""
    db.execute(f"INSERT INTO {table} (id, v) VALUES ({key}, 0)")
    found = []

    def seen():
        source.check_running()
        found[:] = read_events(source.sink(table), registry_url)
        return any(event["op"] == "c" and event["after"]["id"] == key for event in found)
    wait_until(seen, 60, message=f"the sentinel row of {table} in its log")
    return found


def create_numbers(db, table, rows):
    db.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")
    db.execute(f"INSERT INTO {table} SELECT g, g FROM generate_series(1, {rows}) g")


def test_an_incremental_snapshot_reads_a_table_while_changes_stream_on(pg_database, registry, tmp_path):
    """The watermark method: every chunk is read while a writer keeps changing the rows it covers; the
    log replays to the table, so no chunk's read overwrote a newer streamed change."""
    db = pg_database
    rows = 30_000
    create_numbers(db, "items", rows)
    with WalSource(db, registry.url, tmp_path, ["items"], extra_arguments=["--snapshot-chunk-rows", "3000"]) as source:
        source.start().wait_ready()
        writer = Writer(db, "items", rows).start()
        time.sleep(0.5)
        code, output = request_snapshot(db, "public.items")
        assert code == 0, output
        wait_for_log(source, 'incremental snapshot of public.items: done', timeout=120)
        writer.stop()
        events = wait_for_sentinel(source, db, "items", registry.url)
        source.stop()
    reads = [event for event in events if event["op"] == "r"]
    assert writer.changes > 200, f"only {writer.changes} concurrent changes"
    assert 0 < len(reads) <= rows + writer.changes, len(reads)
    assert {event["source"]["snapshot"] for event in reads} == {"incremental"}
    assert {event["source"]["snapshot"] for event in events if event["op"] != "r"} == {"false"}
    # Each key is read at most once: chunks do not overlap.
    read_keys = [event["after"]["id"] for event in reads]
    assert len(read_keys) == len(set(read_keys))
    assert_replays_to(db, "items", events, ["id"], ["id", "v"])
    # The concurrent changes did meet chunks being read (else this test would not test striking).
    struck = re.search(r"incremental snapshot of public.items: done, \d+ rows \((\d+) struck", source.stderr())
    assert struck and int(struck.group(1)) > 0, source.stderr()[-2000:]


def test_an_incremental_snapshot_resumes_after_a_kill_from_its_last_durable_chunk(pg_database, registry, tmp_path):
    db = pg_database
    rows = 40_000
    create_numbers(db, "big_items", rows)
    arguments = ["--snapshot-chunk-rows", "1000", "--snapshot-rows-per-second", "8000"]
    with WalSource(db, registry.url, tmp_path, ["big_items"], extra_arguments=arguments) as source:
        source.start().wait_ready()
        code, output = request_snapshot(db, "public.big_items")
        assert code == 0, output
        def reads():
            return sum(1 for event in read_events(source.sink("big_items"), registry.url) if event["op"] == "r")
        for _ in range(2):
            # Killed part-way (each start reads a few chunks first), changed meanwhile, started again.
            before = reads()
            wait_until(lambda: source.check_running() or reads() >= before + 5000, 60, message="some chunks read")
            source.kill()
            db.execute("UPDATE big_items SET v = -v WHERE id % 997 = 0")
            db.execute("DELETE FROM big_items WHERE id % 1009 = 0")
            source.start()
            wait_for_log(source, "incremental snapshots to go on with")
        assert re.search(r'"public"\."big_items" \(([1-9][0-9]*) rows read\)', source.stderr()), source.stderr()
        wait_for_log(source, "incremental snapshot of public.big_items: done", timeout=120)
        events = wait_for_sentinel(source, db, "big_items", registry.url)
        source.stop()
    reads = [event for event in events if event["op"] == "r"]
    # Resumed, not started over: at most the chunk in flight at each kill is read twice.
    assert rows * 0.95 <= len(reads) <= rows + 2 * 1000, len(reads)
    assert_replays_to(db, "big_items", events, ["id"], ["id", "v"])


def test_a_signal_table_row_asks_for_an_incremental_snapshot(pg_database, registry, tmp_path):
    db = pg_database
    create_numbers(db, "items", 2500)
    arguments = ["--signal-table", "public.debezium_signal", "--snapshot-chunk-rows", "500", "--snapshot-rows-per-second", "1000"]
    with WalSource(db, registry.url, tmp_path, ["items"], extra_arguments=arguments) as source:
        source.start().wait_ready()
        db.execute("UPDATE items SET v = 0 WHERE id = 3")
        began = time.monotonic()
        db.execute("""INSERT INTO debezium_signal VALUES ('ad-hoc-1', 'execute-snapshot', '{"data-collections": ["public.items"], "type": "incremental"}')""")
        wait_for_log(source, "incremental snapshot of public.items: done")
        took = time.monotonic() - began
        events = wait_for_sentinel(source, db, "items", registry.url)
        source.stop()
    # 2,500 rows at 1,000 a second: the last chunk starts 2 s after the first.
    assert took >= 1.9, f"throttled to 1,000 rows/s, 2,500 rows took {took:.2f} s"
    assert sum(1 for event in events if event["op"] == "r") == 2500
    assert_replays_to(db, "items", events, ["id"], ["id", "v"])
    assert "requested (a signal)" in source.stderr(), source.stderr()
    # The signal table is read, not captured.
    assert sorted(name for name in os.listdir(source.out_dir) if name.endswith(".log")) == ["cdc.public.items.log"]
    assert requests.get(f"{registry.url}/subjects", timeout=10).json() == ["cdc.public.items-key", "cdc.public.items-value"]


def test_a_snapshot_request_is_refused_or_ignored_with_a_reason(pg_database, registry, tmp_path):
    db = pg_database
    create_numbers(db, "items", 10)
    create_numbers(db, "other", 10)
    code, output = request_snapshot(db, "public.items")
    assert code == 2 and "does not exist" in output and db.slot in output, output
    with WalSource(db, registry.url, tmp_path, ["items"]) as source:
        source.start().wait_ready()
        code, output = request_snapshot(db, "public.no_such_table")
        assert code == 2 and "no_such_table" in output, output
        code, output = request_snapshot(db, "public.other")
        assert code == 0, output
        wait_for_log(source, "public.other, which this source does not capture")
        # A request for another slot's source is not ours.
        db.execute("SELECT pg_logical_emit_message(true, 'wal-source', %s)",
                    (json.dumps({"slot": "another", "type": "execute-snapshot", "tables": ['"public"."items"']}),))
        events = wait_for_sentinel(source, db, "items", registry.url)
        source.stop()
    assert [event["op"] for event in events] == ["c"], events


def test_an_incremental_snapshot_survives_ddl_generated_columns_and_a_dropped_table(pg_database, registry, tmp_path):
    """A generated column (which pgoutput does not send), a column added and another dropped while the
    snapshot runs, and a second table dropped before its turn: the snapshot finishes, the stream goes on,
    and the log replays to the table."""
    db = pg_database
    db.execute("CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL, twice int GENERATED ALWAYS AS (v * 2) STORED, extra text)")
    db.execute("INSERT INTO items (id, v) SELECT g, g FROM generate_series(1, 6000) g")
    create_numbers(db, "doomed", 100)
    arguments = ["--snapshot-chunk-rows", "500", "--snapshot-rows-per-second", "2000"]
    with WalSource(db, registry.url, tmp_path, ["items", "doomed"], extra_arguments=arguments) as source:
        source.start().wait_ready()
        db.execute("UPDATE items SET v = v + 1 WHERE id = 1")
        code, output = request_snapshot(db, "public.items", "public.doomed")
        assert code == 0, output
        db.execute("DROP TABLE doomed")
        wait_for_log(source, "incremental snapshot of public.items: started")
        time.sleep(0.5)
        db.execute("ALTER TABLE items ADD COLUMN added int")
        db.execute("UPDATE items SET added = 1 WHERE id % 100 = 0")
        time.sleep(0.5)
        db.execute("ALTER TABLE items DROP COLUMN extra")
        db.execute("UPDATE items SET v = -v WHERE id % 250 = 0")
        wait_for_log(source, "incremental snapshot of public.items: done")
        wait_for_log(source, "public.doomed is dropped")
        events = wait_for_sentinel(source, db, "items", registry.url)
        source.stop()
    # Each event read with the version it was written with; replayed, the table as it is.
    for event in events:
        if event["after"]:
            event["after"].setdefault("added", None)
    assert_replays_to(db, "items", events, ["id"], ["id", "v", "added"])
    assert "twice" not in json.dumps(value_field_types(registry.url, "cdc.public.items-value"))


def test_a_change_streamed_before_it_is_visible_is_not_overwritten_by_a_chunk(pg_database, registry, tmp_path, postgres):
    """PostgreSQL writes (and decodes) a commit record before it makes the transaction visible; with a
    synchronous standby that never answers, the gap lasts until the wait is cancelled. A chunk read in
    that gap holds the row's old value, and must not be written after the streamed change."""
    db = pg_database
    create_numbers(db, "items", 1000)
    local = {"options": "-c synchronous_commit=local"}
    with WalSource(db, registry.url, tmp_path, ["items"], extra_arguments=["--snapshot-chunk-rows", "2000"]) as source:
        source.start().wait_ready()
        admin = postgres.conninfo
        import psycopg
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute("ALTER SYSTEM SET synchronous_standby_names = 'nobody'")
            connection.execute("SELECT pg_reload_conf()")
        blocked = {}
        try:
            def update():
                with db.connect() as connection:  # synchronous_commit on: waits for the standby after its commit record
                    blocked["pid"] = connection.execute("SELECT pg_backend_pid()").fetchone()[0]
                    connection.execute("UPDATE items SET v = -1 WHERE id = 500")
            waiting = threading.Thread(target=update, daemon=True)
            time.sleep(1)  # the reload reaches every backend
            waiting.start()
            # The change is streamed (a logical walsender does not wait for synchronous standbys) ...
            wait_for_events(source.sink("items"), registry.url, 1, source)
            with db.connect(**local) as connection:
                # ... but invisible to new snapshots while its session waits.
                assert connection.execute("SELECT v FROM items WHERE id = 500").fetchone()[0] == 500
                connection.execute("SELECT pg_logical_emit_message(true, 'wal-source', %s)",
                                   (json.dumps({"slot": db.slot, "type": "execute-snapshot", "tables": ['"public"."items"']}),))
            time.sleep(3)
            assert "incremental snapshot of public.items: done" not in source.stderr(), source.stderr()
            with db.connect(**local) as connection:
                connection.execute("SELECT pg_cancel_backend(%s)", (blocked["pid"],))
            waiting.join(timeout=30)
        finally:
            with psycopg.connect(admin, autocommit=True, **local) as connection:
                connection.execute("ALTER SYSTEM RESET synchronous_standby_names")
                connection.execute("SELECT pg_reload_conf()")
        wait_for_log(source, "incremental snapshot of public.items: done")
        time.sleep(1)
        events = wait_for_sentinel(source, db, "items", registry.url)
        source.stop()
    assert re.search(r"public.items: done, 1000 rows \(\d+ struck by concurrent changes, [1-9]\d* chunks read again\)", source.stderr()), source.stderr()
    assert_replays_to(db, "items", events, ["id"], ["id", "v"])


def test_unchanged_toasted_arrays_and_json_do_not_stop_the_source(pg_database, registry, tmp_path):
    """Under REPLICA IDENTITY DEFAULT an UPDATE that leaves a TOASTed value alone does not send it: a
    string-like value (json, text[]) carries Debezium's placeholder; an array of numbers has nothing to
    carry it, so its NOT NULL column becomes nullable and the value null, instead of a stop for good."""
    db = pg_database
    db.execute("CREATE TABLE docs (id int PRIMARY KEY, title text, embedding real[] NOT NULL, meta jsonb NOT NULL, tags text[] NOT NULL)")
    db.execute("""INSERT INTO docs SELECT 1, 'first', (SELECT array_agg(random()::real) FROM generate_series(1, 3000)),
                  (SELECT jsonb_object_agg(g::text, md5(g::text)) FROM generate_series(1, 400) g),
                  (SELECT array_agg(md5(g::text)) FROM generate_series(1, 400) g)""")
    with WalSource(db, registry.url, tmp_path, ["docs"]) as source:
        source.start().wait_ready()
        db.execute("UPDATE docs SET title = 'second' WHERE id = 1")
        db.execute("UPDATE docs SET title = 'third' WHERE id = 1")
        events = wait_for_events(source.sink("docs"), registry.url, 2, source)
        source.stop()
    placeholder = "__debezium_unavailable_value"
    for event in events:
        assert event["op"] == "u" and event["after"]["embedding"] is None, event
        assert event["after"]["meta"] == placeholder and event["after"]["tags"] == [placeholder], event
    assert [event["after"]["title"] for event in events] == ["second", "third"]


def test_arrays_of_a_type_with_another_delimiter_stay_text(pg_database, registry, tmp_path):
    db = pg_database
    db.execute("CREATE TABLE shapes (id int PRIMARY KEY, boxes box[])")
    db.execute("INSERT INTO shapes VALUES (1, ARRAY['((1,1),(0,0))'::box, '((3,3),(2,2))'::box])")
    with WalSource(db, registry.url, tmp_path, ["shapes"], snapshot=True) as source:
        source.start()
        events = wait_for_events(source.sink("shapes"), registry.url, 1, source)
        source.stop()
    assert events[0]["after"]["boxes"] == "{(1,1),(0,0);(3,3),(2,2)}", events[0]
    assert value_field_types(registry.url, "cdc.public.shapes-value")["boxes"] == "string"


def test_a_stopped_source_takes_a_requested_snapshot_when_it_starts(pg_database, registry, tmp_path):
    db = pg_database
    create_numbers(db, "items", 1200)
    with WalSource(db, registry.url, tmp_path, ["items"], extra_arguments=["--snapshot-chunk-rows", "500"]) as source:
        source.start().wait_ready()
        source.stop()
        code, output = request_snapshot(db, "public.items")
        assert code == 0, output
        db.execute("DELETE FROM items WHERE id <= 100")
        source.start()
        wait_for_log(source, "incremental snapshot of public.items: done")
        events = wait_for_sentinel(source, db, "items", registry.url)
        source.stop()
    assert sum(1 for event in events if event["op"] == "r") == 1100
    assert_replays_to(db, "items", events, ["id"], ["id", "v"])
