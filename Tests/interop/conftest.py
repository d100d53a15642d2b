"""Starts the real schema-registry binary on a free loopback port with a temporary SQLite file."""
import os
import re
import subprocess
import tempfile
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


class RunningServer:
    def __init__(self, database):
        self.database = database
        self.process = None
        self.url = None

    def start(self):
        self.process = subprocess.Popen(
            [server_binary(), "--listen", "127.0.0.1:0", "--db", self.database, "--threads", "4"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("schema-registry exited before listening")
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            if match:
                self.url = match.group(1)
                return self
        raise RuntimeError("schema-registry did not report its port in time")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            assert self.process.wait(timeout=20) == 0, "schema-registry did not stop cleanly on SIGTERM"


@pytest.fixture
def registry():
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
