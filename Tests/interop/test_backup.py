"""`schema-registry backup` against a live server: the real binary serving a SQLite file, concurrent registrations
from threads while the backup runs; the copy passes its integrity check, holds every registration answered before
the backup started, and a second server started on it serves them. Failures leave no file behind."""
import json
import os
import sqlite3
import subprocess
import threading
import time

import requests

from conftest import RunningServer, server_binary

CT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


def schema_text(writer, number):
    # A long doc makes the database span many pages, so the backup takes many steps while writes land between them.
    return json.dumps({"type": "record", "name": f"W{writer}N{number}", "doc": "x" * 2000,
                       "fields": [{"name": "a", "type": "int"}, {"name": f"f{writer}_{number}", "type": "string"}]})


def backup(*arguments):
    return subprocess.run([server_binary(), "backup", *arguments], capture_output=True, text=True, timeout=120)


def test_backup_under_concurrent_registrations_holds_everything_answered_before_it(tmp_path):
    server = RunningServer(str(tmp_path / "live.db")).start()
    answered = []  # (monotonic time the answer arrived, subject, id, schema text)
    lock = threading.Lock()
    stop = threading.Event()
    failures = []

    def writer(number):
        http = requests.Session()
        count = 0
        while not stop.is_set():
            subject = f"backup-{number}-{count}"
            text = schema_text(number, count)
            try:
                response = http.post(f"{server.url}/subjects/{subject}/versions", data=json.dumps({"schema": text}), headers=CT, timeout=20)
            except requests.RequestException as error:  # the test fails below: every request must be answered
                failures.append(repr(error))
                return
            if response.status_code != 200:
                failures.append(response.text)
                return
            with lock:
                answered.append((time.monotonic(), subject, response.json()["id"], text))
            count += 1

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(4)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        copy = tmp_path / "copy.db"
        started = time.monotonic()
        # Two pages per step: the copy takes many steps, with registrations committed between them.
        result = backup("--db", server.database, "--to", str(copy), "--verify", "--pages-per-step", "2")
        finished = time.monotonic()
        time.sleep(0.3)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        stop.set()
        server.stop()
    assert not failures, failures[:3]
    assert result.returncode == 0, result.stderr
    assert "integrity ok" in result.stdout, result.stdout
    before = [entry for entry in answered if entry[0] < started]
    during_or_after = [entry for entry in answered if entry[0] > finished]
    assert len(before) >= 20, f"only {len(before)} registrations answered before the backup"
    assert during_or_after, "the writers must keep registering while the backup runs and after it"
    # Nothing else beside the copy (no temporary file left, no -wal: the copy is one file).
    assert sorted(name for name in os.listdir(tmp_path) if name.startswith("copy")) == ["copy.db"]

    database = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    assert database.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    stored = dict(database.execute("SELECT id, schema FROM schemas").fetchall())
    versions = set(database.execute("SELECT subject, schema_id FROM versions").fetchall())
    database.close()
    for _, subject, schema_id, text in before:
        assert schema_id in stored, f"id {schema_id} answered before the backup is missing from the copy"
        assert (subject, schema_id) in versions
    # The printed counts are the copy's.
    assert f"{len(stored)} schemas" in result.stdout

    # The copy is a registry database: a second server started on it serves every id answered before the backup.
    restored = RunningServer(str(copy)).start()
    try:
        http = requests.Session()
        for _, subject, schema_id, text in before:
            response = http.get(f"{restored.url}/schemas/ids/{schema_id}", timeout=10)
            assert response.status_code == 200, response.text
            assert json.loads(response.json()["schema"]) == json.loads(text)
            latest = http.get(f"{restored.url}/subjects/{subject}/versions/latest", timeout=10).json()
            assert latest["id"] == schema_id
        # And it takes new registrations after the highest id it holds.
        response = http.post(f"{restored.url}/subjects/after-restore/versions", data=json.dumps({"schema": schema_text(9, 9)}), headers=CT)
        assert response.status_code == 200 and response.json()["id"] > max(stored)
    finally:
        restored.stop()


def leftovers(directory, prefix):
    return [name for name in os.listdir(directory) if name.startswith(prefix)]


def test_backup_of_a_missing_database_fails_cleanly(tmp_path):
    result = backup("--db", str(tmp_path / "missing.db"), "--to", str(tmp_path / "copy.db"), "--verify")
    assert result.returncode == 1
    assert "cannot read the database" in result.stderr and "missing.db" in result.stderr
    assert leftovers(tmp_path, "copy") == []
    assert not os.path.exists(tmp_path / "missing.db"), "the backup must not create the database it reads"


def test_backup_of_a_file_that_is_not_a_registry_fails_cleanly(tmp_path):
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t(x)").connection.commit()
    result = backup("--db", str(other), "--to", str(tmp_path / "copy.db"))
    assert result.returncode == 1
    assert "not a registry database" in result.stderr
    assert leftovers(tmp_path, "copy") == []


def test_backup_to_an_unwritable_path_fails_cleanly_and_keeps_an_older_copy(tmp_path):
    server = RunningServer(str(tmp_path / "live.db")).start()
    try:
        requests.post(f"{server.url}/subjects/s/versions", data=json.dumps({"schema": schema_text(0, 0)}), headers=CT).raise_for_status()
        blocker = tmp_path / "a-file"
        blocker.write_text("not a directory")
        for target in (blocker / "copy.db", tmp_path / "no-such-directory" / "copy.db"):
            result = backup("--db", server.database, "--to", str(target), "--verify")
            assert result.returncode == 1, result.stdout
            assert "cannot write beside" in result.stderr and str(target) in result.stderr
            assert not os.path.exists(target)
        # A copy that fails verification never takes the destination's name: an older backup there stays.
        older = tmp_path / "older.db"
        assert backup("--db", server.database, "--to", str(older)).returncode == 0
        content = older.read_bytes()
        result = backup("--db", str(tmp_path / "gone.db"), "--to", str(older), "--verify")
        assert result.returncode == 1
        assert older.read_bytes() == content
        assert leftovers(tmp_path, "older") == ["older.db"]
    finally:
        server.stop()


def test_backup_refuses_a_postgresql_uri_and_the_database_itself(tmp_path):
    result = backup("--db", "postgresql://x@127.0.0.1:1/db", "--to", str(tmp_path / "c.db"))
    assert result.returncode == 64 and "pg_dump" in result.stderr
    server = RunningServer(str(tmp_path / "live.db")).start()
    try:
        result = backup("--db", server.database, "--to", server.database)
        assert result.returncode == 1 and "is the database itself" in result.stderr
        assert requests.get(f"{server.url}/subjects").json() == []
        # Nor over the live database's own WAL (which would destroy committed registrations).
        requests.post(f"{server.url}/subjects/s/versions", data=json.dumps({"schema": schema_text(0, 0)}), headers=CT).raise_for_status()
        assert os.path.exists(server.database + "-wal")
        result = backup("--db", server.database, "--to", server.database + "-wal")
        assert result.returncode == 1 and "is the database's own -wal file" in result.stderr
        assert requests.get(f"{server.url}/subjects").json() == ["s"]
    finally:
        server.stop()


def test_a_damaged_database_fails_verification_and_leaves_no_file(tmp_path):
    """A source whose pages are damaged (bytes overwritten in the middle of the file) is copied as it is, fails
    `PRAGMA integrity_check` under --verify (exit 3), and neither the copy nor its temporary file is left."""
    server = RunningServer(str(tmp_path / "live.db")).start()
    try:
        for number in range(40):
            requests.post(f"{server.url}/subjects/s{number}/versions", data=json.dumps({"schema": schema_text(1, number)}),
                          headers=CT).raise_for_status()
    finally:
        server.stop()
    damaged = tmp_path / "live.db"
    database = sqlite3.connect(damaged)
    database.execute("PRAGMA journal_mode=DELETE")  # everything in the one file
    page_size, pages = database.execute("PRAGMA page_size").fetchone()[0], database.execute("PRAGMA page_count").fetchone()[0]
    database.close()
    assert pages > 10
    with open(damaged, "r+b") as file:
        file.seek(page_size * (pages // 2) + 8)
        file.write(b"\xff" * 64)
    result = backup("--db", str(damaged), "--to", str(tmp_path / "copy.db"), "--verify")
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "fails its integrity check" in result.stderr
    assert leftovers(tmp_path, "copy") == []


def test_an_interrupted_backup_leaves_nothing_behind(tmp_path):
    server = RunningServer(str(tmp_path / "live.db")).start()
    try:
        for number in range(300):
            requests.post(f"{server.url}/subjects/s{number}/versions", data=json.dumps({"schema": schema_text(2, number)}),
                          headers=CT).raise_for_status()
        target = tmp_path / "copies" / "copy.db"
        target.parent.mkdir()
        for signal_number in (2, 15):
            # One page per step with --verify: long enough to be interrupted in the middle.
            process = subprocess.Popen([server_binary(), "backup", "--db", server.database, "--to", str(target), "--verify",
                                        "--pages-per-step", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 20
            while not any(name.startswith("copy.db.tmp-") for name in os.listdir(target.parent)):
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.001)
            process.send_signal(signal_number)
            assert process.wait(timeout=20) == 128 + signal_number
            assert os.listdir(target.parent) == [], os.listdir(target.parent)
    finally:
        server.stop()
