"""The registry over HTTPS (issue 12, TLS part): certificates made here with openssl (never committed), real
clients (requests, confluent-kafka's SchemaRegistryClient with ssl.ca.location), and hostile bytes on the TLS
port: plain HTTP, garbage and a cut handshake close that connection and nothing else."""
import os
import re
import socket
import ssl
import subprocess
import time

import pytest
import requests

from conftest import server_binary


def make_certificates(directory):
    """A CA and a server certificate for 127.0.0.1 signed by it; returns (ca, cert, key) paths."""
    def run(*arguments):
        subprocess.run(["openssl", *arguments], cwd=directory, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(directory, "san.ext"), "w") as extensions:
        extensions.write("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2",
        "-extfile", "san.ext")
    return tuple(os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server.key"))


@pytest.fixture
def https_registry(tmp_path):
    ca, certificate, key = make_certificates(str(tmp_path))
    process = subprocess.Popen(
        [server_binary(), "--listen", "127.0.0.1:0", "--db", str(tmp_path / "registry.db"), "--tls-cert", certificate, "--tls-key", key],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = process.stdout.readline()
    match = re.search(r"listening on (https://127\.0\.0\.1:(\d+))", line)
    assert match, line
    try:
        yield match.group(1), int(match.group(2)), ca
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0


def test_clients_talk_to_the_registry_over_tls(https_registry):
    url, port, ca = https_registry
    assert requests.get(url + "/subjects", verify=ca).json() == []
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

    client = SchemaRegistryClient({"url": url, "ssl.ca.location": ca})
    schema_id = client.register_schema("tls-value", Schema('{"type":"record","name":"T","fields":[{"name":"a","type":"int"}]}', "AVRO"))
    assert client.get_schema(schema_id).schema_str.startswith('{"type":"record"')
    # Only TLS 1.2 or 1.3 is spoken.
    context = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port)) as raw, context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    # An unverified client would be told: the certificate is the one made here, not a default.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url + "/subjects", timeout=5)


@pytest.mark.parametrize("hostile", [
    b"GET /subjects HTTP/1.1\r\nHost: x\r\n\r\n",      # plain HTTP to the TLS port
    bytes(range(256)) * 8,                              # garbage
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",   # a ClientHello cut short
])
def test_hostile_bytes_on_the_tls_port_close_that_connection_only(https_registry, hostile):
    url, port, ca = https_registry
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.settimeout(10)
        connection.sendall(hostile)
        if hostile.startswith(b"\x16"):
            connection.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while chunk := connection.recv(4096):
                answer += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    assert b"HTTP/1.1 200" not in answer
    assert requests.get(url + "/subjects", verify=ca, timeout=5).status_code == 200


def test_a_certificate_without_its_key_is_refused_at_start(tmp_path):
    ca, certificate, key = make_certificates(str(tmp_path))
    for arguments in (["--tls-cert", certificate], ["--tls-cert", certificate, "--tls-key", str(tmp_path / "missing.key")],
                      ["--tls-cert", certificate, "--tls-key", ca]):
        result = subprocess.run([server_binary(), "--listen", "127.0.0.1:0", "--db", str(tmp_path / "r.db"), *arguments],
                                capture_output=True, text=True, timeout=20)
        assert result.returncode != 0, arguments
        assert "tls" in (result.stdout + result.stderr).lower(), result.stdout + result.stderr


def test_schemactl_talks_to_an_https_registry_with_its_ca(https_registry, tmp_path):
    url, port, ca = https_registry
    schemactl = os.path.join(os.path.dirname(server_binary()), "schemactl")
    schema = tmp_path / "orders-value.avsc"
    schema.write_text('{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}')
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SCHEMA_REGISTRY_")}
    registered = subprocess.run([schemactl, "register", "--registry", url, "--ca-cert", ca, str(schema)],
                                capture_output=True, text=True, env=environment, timeout=60)
    assert registered.returncode == 0, registered.stderr
    # The CA from the environment works the same.
    checked = subprocess.run([schemactl, "check", "--registry", url, str(schema)], capture_output=True, text=True,
                             env={**environment, "SCHEMA_REGISTRY_CA_CERT": ca}, timeout=60)
    assert checked.returncode == 0, checked.stderr + checked.stdout
    # Without it, the registry's certificate is not trusted: a clear failure, not a silent pass.
    untrusted = subprocess.run([schemactl, "check", "--registry", url, str(schema)], capture_output=True, text=True,
                               env=environment, timeout=120)
    assert untrusted.returncode != 0
    assert "certificate" in untrusted.stderr.lower() or "tls" in untrusted.stderr.lower(), untrusted.stderr


def make_client_certificate(directory, name, ca="ca"):
    """A client certificate signed by the CA `ca` (its ca.pem/ca.key in `directory`); returns (cert, key)."""
    def run(*arguments):
        subprocess.run(["openssl", *arguments], cwd=directory, check=True, capture_output=True)

    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
    run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial", "-out", f"{name}.pem",
        "-days", "2")
    return os.path.join(directory, f"{name}.pem"), os.path.join(directory, f"{name}.key")


def start_mutual_tls_registry(tmp_path, policy):
    ca, certificate, key = make_certificates(str(tmp_path))
    process = subprocess.Popen(
        [server_binary(), "--listen", "127.0.0.1:0", "--db", str(tmp_path / "registry.db"), "--tls-cert", certificate, "--tls-key", key,
         "--tls-client-ca", ca, "--tls-client-auth", policy],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = process.stdout.readline()
    match = re.search(r"listening on (https://127\.0\.0\.1:(\d+))", line)
    assert match, line
    return process, match.group(1), int(match.group(2)), ca


def stop(process):
    process.terminate()
    assert process.wait(timeout=20) == 0


@pytest.mark.parametrize("policy", ["required", "optional"])
def test_mutual_tls(tmp_path, policy):
    process, url, port, ca = start_mutual_tls_registry(tmp_path, policy)
    try:
        directory = str(tmp_path)
        good = make_client_certificate(directory, "client")
        # A certificate from another authority, with the same subject name.
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rogue.key", "-out", "rogue.pem",
                        "-days", "2", "-subj", "/CN=rogue CA"], cwd=directory, check=True, capture_output=True)
        rogue = make_client_certificate(directory, "client-of-rogue", ca="rogue")

        assert requests.get(url + "/subjects", verify=ca, cert=good, timeout=10).json() == []
        from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
        client = SchemaRegistryClient({"url": url, "ssl.ca.location": ca, "ssl.certificate.location": good[0],
                                       "ssl.key.location": good[1]})
        assert client.register_schema("mtls-value", Schema('{"type":"string"}', "AVRO")) >= 1

        # A certificate that does not chain to the trusted authority is refused in the handshake, either policy.
        with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
            requests.get(url + "/subjects", verify=ca, cert=rogue, timeout=10)
        # Without a certificate: refused in the handshake when required, served when optional.
        if policy == "required":
            context = ssl.create_default_context(cafile=ca)
            with socket.create_connection(("127.0.0.1", port)) as raw:
                raw.settimeout(10)
                answer = b""
                try:
                    with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                        # TLS 1.3: the client finishes its side before the server's verdict arrives.
                        tls.sendall(b"GET /subjects HTTP/1.1\r\nHost: x\r\n\r\n")
                        answer = tls.recv(4096)
                except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
                    pass
                assert answer == b"", "a client without a certificate was answered"
            with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
                requests.get(url + "/subjects", verify=ca, timeout=10)
        else:
            assert requests.get(url + "/subjects", verify=ca, timeout=10).json() == ["mtls-value"]
        # The refused handshakes left the server serving.
        assert requests.get(url + "/subjects", verify=ca, cert=good, timeout=10).json() == ["mtls-value"]
    finally:
        stop(process)


def test_schemactl_presents_a_client_certificate(tmp_path):
    process, url, port, ca = start_mutual_tls_registry(tmp_path, "required")
    try:
        certificate, key = make_client_certificate(str(tmp_path), "ci")
        schemactl = os.path.join(os.path.dirname(server_binary()), "schemactl")
        schema = tmp_path / "orders-value.avsc"
        schema.write_text('{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}')
        environment = {key: value for key, value in os.environ.items() if not key.startswith("SCHEMA_REGISTRY_")}
        arguments = [schemactl, "register", "--registry", url, "--ca-cert", ca, str(schema)]
        refused = subprocess.run(arguments, capture_output=True, text=True, env=environment, timeout=60)
        assert refused.returncode != 0
        accepted = subprocess.run(arguments + ["--client-cert", certificate, "--client-key", key], capture_output=True, text=True,
                                  env=environment, timeout=60)
        assert accepted.returncode == 0, accepted.stderr
        assert requests.get(url + "/subjects", verify=ca, cert=(certificate, key), timeout=10).json() == ["orders-value"]
    finally:
        stop(process)


def test_malformed_framing_and_huge_targets_get_one_answer_over_tls(https_registry):
    """The same one well-formed 4xx over TLS as over plain HTTP (an unreadable Content-Length used to close the
    TLS connection with no answer)."""
    import json
    from test_fidelity import FRAMING_AND_TARGET_CASES, query_of

    url, port, ca = https_registry
    context = ssl.create_default_context(cafile=ca)
    allowed = [(b"GET /subjects?" + query_of(256, 1) + b" HTTP/1.1\r\nHost: x\r\n\r\n", 200)]
    for raw, status in FRAMING_AND_TARGET_CASES + allowed:
        with socket.create_connection(("127.0.0.1", port)) as plain, context.wrap_socket(plain, server_hostname="127.0.0.1") as tls:
            tls.settimeout(10)
            tls.sendall(raw.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
            answer = b""
            try:
                while chunk := tls.recv(65536):
                    answer += chunk
            except (ssl.SSLError, ConnectionResetError):
                pass
        assert answer.count(b"HTTP/1.1 ") == 1, (raw[:80], answer[:300])
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 %d" % status), (raw[:80], head)
        if status != 200:
            assert json.loads(body)["error_code"] == status, body
    assert requests.get(url + "/subjects", verify=ca).json() == []
