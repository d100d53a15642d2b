"""Fixtures: the real schema-registry binary on a free loopback port with a temporary SQLite file, and a
throwaway PostgreSQL cluster (pg_cluster.py) with a fresh database per test for the WAL source tests."""
import itertools
import json
import os
import re
import subprocess
import tempfile
import threading
import time

import pytest
import requests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def evolution_schema(name):
    """A schema text from fixtures/evolution/, e.g. evolution_schema("user-v1")."""
    with open(os.path.join(REPO, "fixtures", "evolution", name + ".avsc")) as file:
        return file.read()


def server_binary():
    path = os.environ.get("SCHEMA_REGISTRY_BIN")
    if path:
        return path
    bin_dir = subprocess.run(["swift", "build", "--show-bin-path"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(bin_dir, "schema-registry")


def drain(stream, lines):
    """Reads `stream` to its end in a daemon thread, appending each line to `lines`: a server's output pipe must
    be read, or once its buffer is full (one request log line per request) the server blocks writing its log."""
    thread = threading.Thread(target=lambda: lines.extend(iter(stream.readline, "")), daemon=True)
    thread.start()
    return thread


class RunningServer:
    def __init__(self, database, extra=()):
        self.database = database
        self.extra = list(extra)
        self.process = None
        self.url = None
        self.output = []

    def start(self, listen="127.0.0.1:0"):
        self.process = subprocess.Popen(
            [server_binary(), "--listen", listen, "--db", self.database, "--threads", "4", *self.extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("schema-registry exited before listening")
            self.output.append(line)
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            if match:
                self.url = match.group(1)
                # Everything after (the request log, one line per request) is read as it comes.
                self.reader = drain(self.process.stdout, self.output)
                return self
        raise RuntimeError("schema-registry did not report its port in time")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            assert self.process.wait(timeout=20) == 0, "schema-registry did not stop cleanly on SIGTERM"


_registry_database_numbers = itertools.count(1)


def postgres_registry_uri(cluster, create=True):
    """A new, empty database in `cluster` for a PostgreSQL-backed registry, as the URI `--db` takes."""
    name = f"registry_{os.getpid()}_{next(_registry_database_numbers)}"
    if create:
        _admin_execute(cluster, f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:{cluster.port}/{name}"


@pytest.fixture
def registry(request):
    """A running registry on a new, empty store: a SQLite file, or with REGISTRY_STORE=postgresql a new
    database in the session's PostgreSQL cluster (the whole API suite runs once against each)."""
    if os.environ.get("REGISTRY_STORE") == "postgresql":
        server = RunningServer(postgres_registry_uri(request.getfixturevalue("postgres"))).start()
        try:
            yield server
        finally:
            server.stop()
        return
    with tempfile.TemporaryDirectory() as directory:
        server = RunningServer(os.path.join(directory, "registry.db")).start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def session():
    s = requests.Session()
    s.headers["Content-Type"] = "application/vnd.schemaregistry.v1+json"
    return s


# --- PostgreSQL, for the WAL source tests -------------------------------------------------------------

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres():
    """One throwaway cluster (wal_level=logical) for the whole run; see pg_cluster.py."""
    from pg_cluster import PostgresCluster

    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


class ScratchDatabase:
    """A fresh database in the session's cluster, with slot and publication names no other test uses
    (replication slots belong to the cluster, not to a database)."""

    def __init__(self, cluster, number):
        self.cluster = cluster
        self.name = f"test_{number}"
        self.slot = f"slot_test_{number}"
        self.publication = f"pub_test_{number}"
        self.conninfo = cluster.conninfo_for(self.name)

    def connect(self, **kwargs):
        import psycopg

        return psycopg.connect(self.conninfo, autocommit=True, **kwargs)

    def execute(self, sql, params=None):
        """Runs one statement in its own transaction; returns the rows if it produced any."""
        with self.connect() as connection:
            cursor = connection.execute(sql, params)
            return cursor.fetchall() if cursor.description else None

    def slot_state(self):
        """(active, confirmed_flush_lsn as int) of this test's slot, or None when it does not exist."""
        rows = self.execute(
            "SELECT active, confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = %s", (self.slot,))
        if not rows:
            return None
        active, confirmed = rows[0]
        return bool(active), int(confirmed) if confirmed is not None else 0


def _admin_execute(cluster, sql, params=None):
    import psycopg

    with psycopg.connect(cluster.conninfo, autocommit=True) as connection:
        cursor = connection.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


@pytest.fixture
def pg_database(postgres):
    """A new database per test (CREATE DATABASE test_N); dropped afterwards with its slots."""
    database = ScratchDatabase(postgres, next(_database_numbers))
    _admin_execute(postgres, f'CREATE DATABASE "{database.name}"')
    try:
        yield database
    finally:
        # A logical slot pins its database: end whoever holds one, drop them, then the database.
        for _ in range(50):
            _admin_execute(
                postgres,
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = %s AND active_pid IS NOT NULL",
                (database.name,))
            try:
                _admin_execute(
                    postgres,
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = %s",
                    (database.name,))
                break
            except Exception:  # still active for a moment after its backend was told to end
                time.sleep(0.1)
        _admin_execute(postgres, f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')


# --- git repositories built by schemactl's tests -----------------------------------------------------

def git(*arguments, cwd):
    """Runs git in `cwd`; fails the test if git does."""
    result = subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def edit_json(path, change):
    """Rewrites the JSON document at `path` (a pathlib.Path) after `change` altered it in place."""
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2) + "\n")


# --- Kafka: librdkafka's own mock cluster (Tests/kafka/mock_cluster.c) ------------------------------------

@pytest.fixture(scope="session")
def mock_cluster_binary(tmp_path_factory):
    """The mock cluster helper: $KAFKA_MOCK_CLUSTER (scripts/test.sh builds it), else built here with cc."""
    given = os.environ.get("KAFKA_MOCK_CLUSTER")
    if given:
        return given
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "rdkafka"], capture_output=True, text=True, check=True).stdout.split()
    binary = tmp_path_factory.mktemp("kafka") / "mock_cluster"
    subprocess.run(["cc", "-O2", "-o", str(binary), os.path.join(REPO, "Tests", "kafka", "mock_cluster.c"), *flags], check=True)
    return str(binary)


class KafkaCluster:
    """A running mock cluster of `brokers` brokers on loopback; `command` drives it (down/up a broker)."""

    def __init__(self, binary, brokers=3):
        self.process = subprocess.Popen([binary, str(brokers)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        line = self.process.stdout.readline().split()
        assert len(line) == 2 and line[0] == "BOOTSTRAP", f"mock cluster said {line}"
        self.bootstrap = line[1]
        self.brokers = brokers

    def command(self, line):
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline().strip()
        assert answer == "OK", f"{line}: {answer}"

    def stop(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.flush()
                self.process.wait(timeout=10)
            except Exception:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def kafka(mock_cluster_binary):
    cluster = KafkaCluster(mock_cluster_binary)
    try:
        yield cluster
    finally:
        cluster.stop()


# --- figures tests measure, printed after the run (pytest -q captures a passing test's output) ----------------

_reported = []


@pytest.fixture
def report(request):
    """report(text): a line printed in the run's summary, prefixed with the test's name."""
    return lambda text: _reported.append(f"{request.node.name}: {text}")


def pytest_terminal_summary(terminalreporter):
    if _reported:
        terminalreporter.write_sep("-", "figures measured by the tests")
        for line in _reported:
            terminalreporter.write_line(line)
