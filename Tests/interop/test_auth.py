"""Authentication and per-subject permissions (issue 12) with real clients over real TLS: an auth file in
Karapace's format made here with Python's hashlib (all four algorithms), confluent-kafka's SchemaRegistryClient
and AvroSerializer (basic.auth.user.info, credentials in the URL), python-schema-registry-client (auth=),
schemactl, wal-source and wal-consume; reloads on change and SIGHUP; hostile Authorization headers."""
import base64
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest
import requests

from conftest import server_binary
from test_tls import make_certificates

PASSWORDS = {"admin": "admin-pw", "ci": "ci pw with spaces", "reader": "reader-pw", "ops": "ops-pw", "other": "other-pw"}
ALGORITHMS = {"admin": "sha512", "ci": "scrypt", "reader": "sha1", "ops": "sha256", "other": "sha256"}
PERMISSIONS = [
    {"username": "admin", "operation": "Write", "resource": ".*"},
    {"username": "ci", "operation": "Write", "resource": "Subject:orders-.*"},
    {"username": "reader", "operation": "Read", "resource": "Subject:orders-.*"},
    {"username": "ops", "operation": "Write", "resource": "Config:"},
    {"username": "other", "operation": "Read", "resource": "Subject:payments-.*"},
]
ORDER = '{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}'


def karapace_hash(algorithm, password, salt):
    """As Karapace computes it: the salt's UTF-8 text is the salt."""
    if algorithm == "scrypt":
        derived = hashlib.scrypt(password.encode(), salt=salt.encode(), n=16384, r=8, p=1)
    else:
        derived = hashlib.pbkdf2_hmac(algorithm, password.encode(), salt.encode(), 5000)
    return base64.b64encode(derived).decode()


def auth_document(permissions=PERMISSIONS, users=PASSWORDS):
    entries = []
    for name, password in users.items():
        salt = secrets.token_urlsafe(16)
        entries.append({"username": name, "algorithm": ALGORITHMS.get(name, "sha256"), "salt": salt,
                        "password_hash": karapace_hash(ALGORITHMS.get(name, "sha256"), password, salt)})
    return {"users": entries, "permissions": permissions}


def write_json(path, document):
    with open(path, "w") as file:
        json.dump(document, file)


class SecureRegistry:
    def __init__(self, tmp_path, extra=()):
        self.directory = tmp_path
        self.ca, self.certificate, self.key = make_certificates(str(tmp_path))
        self.auth_file = str(tmp_path / "auth.json")
        if not os.path.exists(self.auth_file):
            write_json(self.auth_file, auth_document())
        self.log_path = str(tmp_path / "registry.log")
        self.extra = list(extra)
        self.process = None

    def start(self):
        self.log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [server_binary(), "--listen", "127.0.0.1:0", "--db", str(self.directory / "registry.db"), "--tls-cert", self.certificate,
             "--tls-key", self.key, "--auth-file", self.auth_file, *self.extra],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"listening on (https://127\.0\.0\.1:(\d+))", line)
        assert match, line
        self.url, self.port = match.group(1), int(match.group(2))
        # Information lines go to standard output: collected as they come, so a test can wait for one.
        self.output = [line]
        self.reader = threading.Thread(target=lambda: self.output.extend(iter(self.process.stdout.readline, "")), daemon=True)
        self.reader.start()
        return self

    def stop(self):
        self.process.terminate()
        assert self.process.wait(timeout=20) == 0
        self.reader.join(timeout=20)
        self.log.close()
        return "".join(self.output)

    def logs(self):
        with open(self.log_path) as file:
            return file.read() + "".join(self.output)

    def get(self, path, user=None, **kwargs):
        auth = (user, PASSWORDS[user]) if user else None
        return requests.get(self.url + path, verify=self.ca, auth=auth, timeout=30, **kwargs)

    def post(self, path, body, user=None):
        auth = (user, PASSWORDS[user]) if user else None
        return requests.post(self.url + path, json=body, verify=self.ca, auth=auth, timeout=30)


@pytest.fixture
def secure(tmp_path):
    registry = SecureRegistry(tmp_path).start()
    try:
        yield registry
    finally:
        if registry.process.poll() is None:
            registry.stop()


UNAUTHORIZED = {"error_code": 401, "message": "Unauthorized"}


def test_a_karapace_file_with_all_four_algorithms_is_accepted(secure):
    for user in PASSWORDS:
        assert secure.get("/subjects", user).status_code == 200, user
    for auth in [("reader", "wrong"), ("nobody", "reader-pw"), ("reader", ""), None]:
        response = requests.get(secure.url + "/subjects", verify=secure.ca, auth=auth, timeout=30)
        assert response.status_code == 401, auth
        assert response.json() == UNAUTHORIZED
        assert response.headers["WWW-Authenticate"] == 'Basic realm="schema-registry"'
    # Probes and the root need no credentials; /metrics does.
    for path in ("/", "/health", "/health/ready"):
        assert secure.get(path).status_code == 200, path
    assert secure.get("/metrics").status_code == 401
    metrics = secure.get("/metrics", "reader").text
    assert "schema_registry_requests_total" in metrics


def test_confluent_client_and_serializer_with_basic_auth(secure):
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.schema_registry.error import SchemaRegistryError
    from confluent_kafka.serialization import MessageField, SerializationContext

    ci = SchemaRegistryClient({"url": secure.url, "ssl.ca.location": secure.ca, "basic.auth.user.info": "ci:" + PASSWORDS["ci"]})
    schema_id = ci.register_schema("orders-value", Schema(ORDER, "AVRO"))
    serializer = AvroSerializer(ci, ORDER, conf={"auto.register.schemas": False, "use.latest.version": True})
    frame = serializer({"id": 7}, SerializationContext("orders", MessageField.VALUE))
    assert frame[0] == 0 and int.from_bytes(frame[1:5], "big") == schema_id

    # Credentials in the URL work the same.
    in_url = SchemaRegistryClient({"url": f"https://reader:{PASSWORDS['reader']}@127.0.0.1:{secure.port}", "ssl.ca.location": secure.ca})
    assert in_url.get_schema(schema_id).schema_str.startswith('{"type":"record"')

    # ci may not touch payments-*: told it does not exist, and nothing is registered.
    with pytest.raises(SchemaRegistryError) as refused:
        ci.register_schema("payments-value", Schema('"string"', "AVRO"))
    assert refused.value.error_code == 40401
    assert secure.get("/subjects", "admin").json() == ["orders-value"]
    # The reader may read but not write: 403 with the operation named.
    response = secure.post("/subjects/orders-value/versions", {"schema": '"string"'}, "reader")
    assert response.status_code == 403
    assert response.json() == {"error_code": 40301, "message": "User is denied operation Write on Subject: orders-value"}
    # "other" reads payments-* only: the orders id is not found for it, the list is empty.
    assert secure.get(f"/schemas/ids/{schema_id}", "other").json()["error_code"] == 40403
    assert secure.get("/subjects", "other").json() == []
    # ops writes the global level; the CI user may not.
    assert requests.put(secure.url + "/config", json={"compatibility": "FULL"}, verify=secure.ca, auth=("ops", PASSWORDS["ops"]),
                        timeout=30).status_code == 200
    denied = requests.put(secure.url + "/config", json={"compatibility": "NONE"}, verify=secure.ca, auth=("ci", PASSWORDS["ci"]), timeout=30)
    assert denied.status_code == 403 and denied.json()["error_code"] == 40301
    assert secure.get("/config", "ops").json()["compatibilityLevel"] == "FULL"


def test_python_schema_registry_client_with_auth(secure, monkeypatch):
    import httpx
    from schema_registry.client import SchemaRegistryClient, schema

    # This client hands ca_location to its TLS context only together with a client certificate; without one,
    # httpx trusts what SSL_CERT_FILE names.
    monkeypatch.setenv("SSL_CERT_FILE", secure.ca)
    client = SchemaRegistryClient(url=secure.url, ca_location=secure.ca, auth=httpx.BasicAuth("ci", PASSWORDS["ci"]))
    schema_id = client.register("orders-key", schema.AvroSchema('{"type":"long"}'))
    # A second client, so the answer comes from the registry and not the first one's cache.
    fresh = SchemaRegistryClient(url=secure.url, auth=httpx.BasicAuth("reader", PASSWORDS["reader"]))
    assert fresh.get_by_id(schema_id).flat_schema == "long"
    assert SchemaRegistryClient(url=secure.url, auth=httpx.BasicAuth("other", PASSWORDS["other"])).get_by_id(schema_id) is None
    anonymous = SchemaRegistryClient(url=secure.url, ca_location=secure.ca)
    with pytest.raises(Exception):
        anonymous.register("orders-key", schema.AvroSchema('{"type":"long"}'))


def test_passwords_and_authorization_headers_stay_out_of_logs_and_metrics(secure):
    secure.get("/subjects", "admin")
    requests.get(secure.url + "/subjects", verify=secure.ca, auth=("admin", "guessed-password"), timeout=30)
    header = "Basic " + base64.b64encode(("admin:" + PASSWORDS["admin"]).encode()).decode()
    metrics = secure.get("/metrics", "admin").text
    output = secure.stop()
    for text in (secure.logs() + output, metrics):
        for secret in [*PASSWORDS.values(), "guessed-password", header, header.split()[1]]:
            assert secret not in text


def test_metrics_public_flag(tmp_path):
    registry = SecureRegistry(tmp_path, extra=["--metrics-public"]).start()
    try:
        assert registry.get("/metrics").status_code == 200
        assert registry.get("/subjects").status_code == 401
    finally:
        registry.stop()


def wait_for(predicate, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_the_file_is_reloaded_on_change_and_sighup_and_a_broken_one_keeps_the_rules(secure):
    assert secure.post("/subjects/payments-value/versions", {"schema": '"string"'}, "admin").status_code == 200
    assert secure.get("/subjects/payments-value/versions", "reader").status_code == 404
    document = auth_document(PERMISSIONS + [{"username": "reader", "operation": "Read", "resource": "Subject:payments-.*"}])
    write_json(secure.auth_file, document)
    # The new file has new salts: the same passwords still work.
    assert wait_for(lambda: secure.get("/subjects/payments-value/versions", "reader").status_code == 200)
    assert wait_for(lambda: "reloaded: " in secure.logs())

    # A broken file: logged, and the rules in force stay.
    with open(secure.auth_file, "w") as file:
        file.write('{"users": [')
    assert wait_for(lambda: "not reloaded" in secure.logs())
    assert secure.get("/subjects/payments-value/versions", "reader").status_code == 200

    # SIGHUP reloads even when the file looks unchanged (same size and time are possible on quick edits).
    write_json(secure.auth_file, auth_document())
    secure.process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: secure.get("/subjects/payments-value/versions", "reader").status_code == 404)


@pytest.mark.parametrize("content,reason", [
    ('{"users": [', "not JSON"),
    ('{"users": [{"username": "a", "algorithm": "md5", "salt": "s", "password_hash": "AA=="}]}', "md5"),
    ('{"users": [], "permissions": [{"username": "a", "operation": "Read", "resource": ".*"}]}', "'a'"),
])
def test_a_malformed_file_at_start_is_a_clear_error_with_exit_code_2(tmp_path, content, reason):
    path = tmp_path / "auth.json"
    path.write_text(content)
    result = subprocess.run([server_binary(), "--listen", "127.0.0.1:0", "--db", str(tmp_path / "r.db"), "--auth-file", str(path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "auth file" in result.stderr and reason in result.stderr, result.stderr


def test_user_add_writes_entries_karapace_and_the_registry_accept(tmp_path):
    path = str(tmp_path / "auth.json")
    for name, algorithm, password in [("alice", "scrypt", "alice pw"), ("bob", None, "bob-pw")]:
        arguments = [server_binary(), "user", "add", "--auth-file", path, "--name", name, "--password-stdin"]
        if algorithm:
            arguments += ["--algorithm", algorithm]
        result = subprocess.run(arguments, input=password + "\n", capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert password not in result.stdout + result.stderr
    document = json.load(open(path))
    for entry, password in zip(document["users"], ["alice pw", "bob-pw"]):
        assert len(entry["salt"]) == 22
        assert karapace_hash(entry["algorithm"], password, entry["salt"]) == entry["password_hash"]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    again = subprocess.run([server_binary(), "user", "add", "--auth-file", path, "--name", "alice", "--password-stdin"],
                           input="x\n", capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "already" in again.stderr
    # An existing file keeps its mode (a server reading it through its group still can); nothing is left beside it.
    os.chmod(path, 0o640)
    carol = subprocess.run([server_binary(), "user", "add", "--auth-file", path, "--name", "carol", "--password-stdin"],
                           input="carol-pw\n", capture_output=True, text=True, timeout=60)
    assert carol.returncode == 0, carol.stderr
    assert oct(os.stat(path).st_mode & 0o777) == "0o640"
    assert [entry["username"] for entry in json.load(open(path))["users"]] == ["alice", "bob", "carol"]
    assert sorted(os.listdir(os.path.dirname(path))) == sorted(name for name in os.listdir(os.path.dirname(path)) if ".tmp-" not in name)
    document["permissions"] = [{"username": "alice", "operation": "Read", "resource": ".*"}]
    write_json(path, document)
    registry = SecureRegistry(tmp_path).start()
    try:
        assert requests.get(registry.url + "/subjects", verify=registry.ca, auth=("alice", "alice pw"), timeout=60).status_code == 200
        assert requests.get(registry.url + "/subjects", verify=registry.ca, auth=("bob", "alice pw"), timeout=60).status_code == 401
    finally:
        registry.stop()


def schemactl_binary():
    return os.path.join(os.path.dirname(server_binary()), "schemactl")


def test_schemactl_with_user_info(secure, tmp_path):
    schema = tmp_path / "orders-value.avsc"
    schema.write_text(ORDER)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SCHEMA_REGISTRY_")}
    environment["SCHEMA_REGISTRY_CA_CERT"] = secure.ca

    def run(*arguments, url=secure.url, extra_environment=None):
        return subprocess.run([schemactl_binary(), *arguments, "--registry", url, str(schema)], capture_output=True, text=True,
                              env={**environment, **(extra_environment or {})}, timeout=120)

    refused = run("register")
    assert refused.returncode != 0 and "401" in refused.stderr, refused.stderr
    assert run("register", "--user-info", "ci:" + PASSWORDS["ci"]).returncode == 0
    assert run("check", extra_environment={"SCHEMA_REGISTRY_USER_INFO": "ci:" + PASSWORDS["ci"]}).returncode == 0
    in_url = run("check", url=f"https://ci:{PASSWORDS['ci'].replace(' ', '%20')}@127.0.0.1:{secure.port}")
    assert in_url.returncode == 0, in_url.stderr
    assert PASSWORDS["ci"] not in in_url.stdout + in_url.stderr
    # A reader may neither check nor register (both are Write): the refusal is shown.
    for command in ("check", "register"):
        denied = run(command, "--user-info", "reader:" + PASSWORDS["reader"])
        assert denied.returncode != 0 and "40301" in denied.stderr, denied.stderr


@pytest.mark.parametrize("header,status", [
    (b"Basic " + b"A" * 60000, 431),                # larger than a connection's header memory
    (b"Basic " + b"A" * 5000, 401),                 # past the 4,096 bytes read, within the header memory
    (b"Basic %%%%not-base64", 401),
    (b"Basic " + base64.b64encode(b"no-colon-here"), 401),
    (b"Basic " + base64.b64encode(b"\xff\xfe:\x80"), 401),  # not UTF-8
    (b"Basic \xff\xfe\xfd", 401),                   # raw non-UTF-8 bytes in the header
])
def test_hostile_authorization_headers_over_tls(secure, header, status):
    context = ssl.create_default_context(cafile=secure.ca)
    with socket.create_connection(("127.0.0.1", secure.port)) as raw, context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.settimeout(20)
        tls.sendall(b"GET /subjects HTTP/1.1\r\nHost: x\r\nAuthorization: " + header + b"\r\nConnection: close\r\n\r\n")
        answer = b""
        try:
            while chunk := tls.recv(65536):
                answer += chunk
        except (ssl.SSLError, ConnectionResetError, socket.timeout):
            pass
    # One answer, with the status and Confluent's body, never a closed connection without one.
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error_code"] == status
    assert secure.get("/subjects", "admin").status_code == 200


def test_wal_source_and_wal_consume_against_an_https_registry_with_authentication(secure, pg_database, tmp_path):
    from test_wal_source import PREFIX, WalSource, wal_binary

    pg_database.execute("CREATE TABLE orders (id int PRIMARY KEY, note text)")
    credentials = ["--ca-cert", secure.ca, "--user-info", "admin:" + PASSWORDS["admin"]]
    with WalSource(pg_database, secure.url, tmp_path / "source", ["orders"], extra_arguments=credentials) as source:
        source.start().wait_ready()
        pg_database.execute("INSERT INTO orders VALUES (1, 'first')")
        sink = source.sink("orders")
        arguments = [wal_binary("wal-consume"), "--file", sink, "--registry", secure.url, *credentials]
        deadline = time.monotonic() + 30
        events = []
        while time.monotonic() < deadline and not events:
            if os.path.exists(sink):
                result = subprocess.run(arguments, capture_output=True, text=True, timeout=60)
                if result.returncode == 0:
                    events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
            time.sleep(0.2)
        assert events and events[0]["after"] == {"id": 1, "note": "first"}, events
        source.stop()
    # Without credentials wal-consume is refused by the registry.
    refused = subprocess.run([wal_binary("wal-consume"), "--file", sink, "--registry", secure.url, "--ca-cert", secure.ca],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "401" in refused.stderr, refused.stderr
    assert f"{PREFIX}.public.orders-value" in secure.get("/subjects", "admin").json()
