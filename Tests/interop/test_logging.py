"""The request log of the real server: one parseable line per request on standard error (text or JSON) with
method, path, status, duration, bytes, client address, user and request id; the id echoed in X-Request-Id on
every response (errors and the server's own refusals too); hostile ids replaced; passwords, Authorization
headers, query values and schema bodies never written."""
import base64
import json
import re
import socket
import subprocess
import time

import pytest
import requests

from conftest import drain, server_binary
from test_auth import PASSWORDS, auth_document, write_json

CT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
SCHEMA_MARKER = "SchemaBodyMarker7f3e"
QUERY_SECRET = "QuerySecretValue91c2"
ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
FIELDS = {"request_id", "method", "path", "route", "status", "duration_ms", "bytes", "client"}


class LoggedServer:
    def __init__(self, tmp_path, log_format, *extra):
        self.auth_file = str(tmp_path / "auth.json")
        write_json(self.auth_file, auth_document())
        self.log_path = tmp_path / f"stderr-{log_format}.log"
        self.stderr = open(self.log_path, "w")
        # A free port chosen here: with a --log-level above info the server does not print where it listens.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [server_binary(), "--listen", f"127.0.0.1:{self.port}", "--db", str(tmp_path / f"{log_format}.db"), "--auth-file", self.auth_file,
             "--log-format", log_format, *extra],
            stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        drain(self.process.stdout, [])
        deadline = time.monotonic() + 20
        while True:
            assert self.process.poll() is None, "schema-registry exited"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "schema-registry did not listen in time"
                time.sleep(0.05)

    def stop(self):
        self.process.terminate()
        assert self.process.wait(timeout=20) == 0
        self.stderr.close()
        return self.log_path.read_text()


def raw_request(port, head):
    """Sends `head` (bytes, the request line and headers without the final blank line) and returns (status, headers)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head + b"\r\nConnection: close\r\n\r\n")
        answer = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    head_text = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head_text.split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers


TEXT_PAIR = re.compile(r' ([A-Za-z0-9_]+)=("(?:[^"\\]|\\.)*"|[^ "]*)')


def parse_text(line):
    """`<time> <level> <message> key=value …` with quoted values unescaped; fails on anything else."""
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) ([a-z]+) (\S+)((?: [A-Za-z0-9_]+=(?:\"(?:[^\"\\]|\\.)*\"|[^ \"]*))*)$", line)
    assert match, f"unparseable text line: {line!r}"
    fields = {"time": match.group(1), "level": match.group(2), "message": match.group(3)}
    for key, value in TEXT_PAIR.findall(match.group(4)):
        if value.startswith('"'):
            value = json.loads(value)  # the escapes used are JSON's
        fields[key] = value
    return fields


def parse(log_format, text):
    lines = [line for line in text.split("\n") if line]
    entries = [json.loads(line) if log_format == "json" else parse_text(line) for line in lines]
    for entry in entries:
        if log_format == "json":
            assert isinstance(entry["status"], int) and isinstance(entry["bytes"], int) and isinstance(entry["duration_ms"], (int, float))
        else:
            entry["status"], entry["bytes"], entry["duration_ms"] = int(entry["status"]), int(entry["bytes"]), float(entry["duration_ms"])
    return entries


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_one_line_per_request_with_its_fields_and_no_secrets(tmp_path, log_format):
    server = LoggedServer(tmp_path, log_format)
    admin = ("admin", PASSWORDS["admin"])
    schema = json.dumps({"type": "record", "name": "Order", "doc": SCHEMA_MARKER, "fields": [{"name": "id", "type": "long"}]})
    made = []  # (method, path, status, user, response X-Request-Id, sent id or None)
    try:
        def call(method, path, user=None, sent_id=None, expect=200, **kwargs):
            headers = dict(CT)
            if sent_id is not None:
                headers["X-Request-Id"] = sent_id
            auth = (user, PASSWORDS[user]) if user in PASSWORDS else user
            response = requests.request(method, server.url + path, headers=headers, auth=auth, timeout=10, **kwargs)
            assert response.status_code == expect, response.text
            # The user is named whenever the credentials were checked and right, refusals (403) included; an unknown
            # route (404) is answered before any credential is looked at.
            made.append((method, path.split("?")[0], expect, user if isinstance(user, str) and expect not in (401, 404) else None,
                         response.headers.get("X-Request-Id"), sent_id))
            return response

        call("GET", "/health")  # open, no credentials
        call("GET", "/subjects", user="admin", sent_id="client-id.1:a_b-c")
        call("POST", "/subjects/orders-value/versions", user="admin", data=json.dumps({"schema": schema}))
        call("GET", "/schemas/ids/1", user="reader", sent_id="x" * 128)
        call("GET", "/subjects?subjectPrefix=" + QUERY_SECRET, user="admin")
        call("GET", "/subjects", user=("admin", "wrong-password-0000"), expect=401)
        call("GET", "/no/such/route", user="admin", expect=404)
        call("GET", "/schemas/ids/1", user="reader", sent_id="y" * 129)  # one too long: replaced
        call("PUT", "/config", user="reader", expect=403, data=json.dumps({"compatibility": "NONE"}))
        # An absolute-form target: its authority (with credentials) is not logged, only the path.
        status, headers = raw_request(server.port, b"GET http://alice:AbsoluteSecret77@example.com/subjects HTTP/1.1\r\nHost: x")
        made.append(("GET", "/subjects", status, None, headers["x-request-id"], None))

        # Hostile ids, sent raw: a quote and braces, a folded line (CRLF + space), bytes that are not ASCII, an id
        # with '=' and a space, a tab. Each answer carries a fresh, clean id instead.
        authorization = "Basic " + base64.b64encode(f"admin:{PASSWORDS['admin']}".encode()).decode()
        hostile = [b'evil"id{}', b"evil\r\n injected", "évil".encode(), b"evil=b c", b"\t"]
        for value in hostile:
            status, headers = raw_request(server.port, b"GET /subjects HTTP/1.1\r\nHost: x\r\nAuthorization: " + authorization.encode()
                                          + b"\r\nX-Request-Id: " + value)
            assert status in (200, 400), status
            echoed = headers.get("x-request-id")
            assert echoed and ID_PATTERN.match(echoed) and b"evil" not in echoed.encode(), (value, echoed)
            made.append(("GET", "/subjects", status, "admin" if status == 200 else None, echoed, value))
        # A bare LF ends the header line for the HTTP parser: the id is what came before it, the rest another header.
        status, headers = raw_request(server.port, b"GET /subjects HTTP/1.1\r\nHost: x\r\nAuthorization: " + authorization.encode()
                                      + b"\r\nX-Request-Id: lf-split\nX-Injected: 1")
        assert headers.get("x-request-id") == "lf-split"
        made.append(("GET", "/subjects", status, "admin" if status == 200 else None, "lf-split", "lf-split"))
        # The server's own refusal (a target past its limit): the id is there too, and the line.
        status, headers = raw_request(server.port, b"GET /subjects?" + b"&".join(b"q=%d" % n for n in range(300)) + b" HTTP/1.1\r\nHost: x")
        assert status == 414 and ID_PATTERN.match(headers.get("x-request-id", ""))
        made.append(("GET", "/subjects", 414, None, headers["x-request-id"], None))
    finally:
        log = server.stop()

    entries = parse(log_format, log)
    assert all(entry["message"] == "request" and entry["level"] == "info" for entry in entries)
    by_id = {}
    for entry in entries:
        assert FIELDS <= set(entry), entry
        by_id.setdefault(entry["request_id"], []).append(entry)
    assert len(entries) == len(made), f"{len(entries)} lines for {len(made)} requests"
    for method, path, status, user, echoed, sent in made:
        assert echoed and ID_PATTERN.match(echoed)
        if isinstance(sent, str) and ID_PATTERN.match(sent):
            assert echoed == sent
        else:
            assert echoed != (sent.decode("latin-1") if isinstance(sent, bytes) else sent)
        assert len(by_id.get(echoed, [])) == 1, f"request {echoed} has {len(by_id.get(echoed, []))} lines"
        entry = by_id[echoed][0]
        assert (entry["method"], entry["path"], entry["status"]) == (method, path, status), entry
        assert entry["client"] == "127.0.0.1"
        assert entry["duration_ms"] >= 0 and entry["bytes"] > 0
        if user:
            assert entry["user"] == user
        else:
            assert "user" not in entry
    registration = next(entry for entry in entries if entry["method"] == "POST")
    assert registration["route"] == "/subjects/{subject}/versions" and registration["bytes"] > 0
    # Never written: passwords (right or wrong), the Authorization header, query values, schema text, hostile ids.
    for secret in [*PASSWORDS.values(), "wrong-password-0000", "AbsoluteSecret77", "alice", authorization, authorization.split()[1], QUERY_SECRET, SCHEMA_MARKER,
                   "evil", "injected", "X-Injected", "y" * 129]:
        assert secret not in log, secret


def test_the_log_level_silences_request_lines_but_not_the_request_id(tmp_path):
    server = LoggedServer(tmp_path, "text", "--log-level", "warning")
    try:
        response = requests.get(server.url + "/health", headers={"X-Request-Id": "kept-id"}, timeout=10)
        assert response.headers["X-Request-Id"] == "kept-id"
        assert ID_PATTERN.match(requests.get(server.url + "/subjects", timeout=10).headers["X-Request-Id"])  # a 401
    finally:
        log = server.stop()
    assert "request" not in log


def test_bad_log_options_are_refused(tmp_path):
    for flags in (["--log-format", "xml"], ["--log-level", "verbose"]):
        result = subprocess.run([server_binary(), "--db", str(tmp_path / "r.db"), *flags], capture_output=True, text=True, timeout=20)
        assert result.returncode == 64 and flags[0] in result.stderr


def test_a_closed_or_unread_standard_error_never_stops_the_server(tmp_path):
    """The log must cost lines, not the service: stderr closed by its reader (SIGPIPE), and stderr a pipe nobody
    reads (full after 64 KiB), with thousands of requests."""
    database = str(tmp_path / "pipes.db")
    for case in ("closed", "unread"):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        process = subprocess.Popen([server_binary(), "--listen", f"127.0.0.1:{port}", "--db", database],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    assert time.monotonic() < deadline and process.poll() is None
                    time.sleep(0.05)
            if case == "closed":
                process.stderr.close()
            session = requests.Session()
            for number in range(6000):
                response = session.get(f"http://127.0.0.1:{port}/subjects?n={number}", timeout=5)
                assert response.status_code == 200, (case, number)
            assert requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
            assert process.poll() is None, (case, process.returncode)
        finally:
            process.terminate()
            if case == "unread":
                remaining = process.stderr.read()
                assert b"log lines dropped" in remaining or remaining.count(b"\n") >= 6000
            assert process.wait(timeout=20) == 0, case
