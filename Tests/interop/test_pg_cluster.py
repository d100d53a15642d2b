"""The throwaway PostgreSQL cluster the WAL source tests run against: logical replication is on, each test
gets its own database, and a replication connection over TCP streams changes (what wal-source needs)."""
import os
import subprocess

from pg_cluster import postgres_bin_dir


def test_cluster_has_logical_replication(pg_database):
    settings = dict(pg_database.execute(
        "SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'max_wal_senders', 'max_replication_slots', 'listen_addresses')"))
    assert settings == {"wal_level": "logical", "max_wal_senders": "10", "max_replication_slots": "10", "listen_addresses": "127.0.0.1"}
    assert pg_database.execute("SHOW wal_level") == [("logical",)]
    assert pg_database.execute("SELECT current_database()") == [(pg_database.name,)]


def test_each_test_gets_a_fresh_database(pg_database):
    assert pg_database.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')") == [(0,)]
    assert pg_database.slot_state() is None
    pg_database.execute("CREATE TABLE leftover (id int PRIMARY KEY)")


def test_replication_connection_streams_changes(pg_database, tmp_path):
    db = pg_database
    db.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
    recvlogical = os.path.join(postgres_bin_dir(), "pg_recvlogical")
    common = [recvlogical, "-d", db.conninfo, "--slot", db.slot]
    created = subprocess.run([*common, "--create-slot", "--plugin", "test_decoding"], capture_output=True, text=True, timeout=30)
    assert created.returncode == 0, created.stderr
    assert db.slot_state() == (False, db.slot_state()[1])

    db.execute("INSERT INTO items VALUES (1, 'one')")
    end = db.execute("SELECT pg_current_wal_lsn()::text")[0][0]
    output = tmp_path / "changes.txt"
    streamed = subprocess.run(
        [*common, "--start", "--endpos", end, "--no-loop", "-f", str(output)], capture_output=True, text=True, timeout=30)
    assert streamed.returncode == 0, streamed.stderr
    assert "table public.items: INSERT: id[integer]:1 name[text]:'one'" in output.read_text()
