"""The HTTP edge under stalled uploads (issue 12): many connections announce large bodies, send part of them
and stop. The bodies held in memory together stay within --max-inflight-body-bytes (default 4 × the body
limit): the server's resident memory stays bounded, uploads past the budget get a 503, and normal requests
are served meanwhile."""
import json
import socket
import time

import requests

from conftest import RunningServer


def resident_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_stalled_uploads_do_not_exhaust_memory(tmp_path):
    server = RunningServer(str(tmp_path / "registry.db")).start()
    cleanup = []
    try:
        port = int(server.url.rsplit(":", 1)[1])
        ct = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
        assert requests.post(server.url + "/subjects/warm/versions", data=json.dumps({"schema": '"string"'}), headers=ct).status_code == 200
        before = resident_bytes(server.process.pid)
        announced = 16 * 1024 * 1024  # the default body limit
        sent_each = 2 * 1024 * 1024
        stalled = []
        refused_at_once = 0
        cleanup.extend([stalled])
        for _ in range(120):
            connection = socket.create_connection(("127.0.0.1", port))
            connection.sendall(b"POST /subjects/big/versions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                               b"Content-Length: %d\r\n\r\n" % announced)
            try:
                connection.sendall(b"x" * sent_each)
            except OSError:
                refused_at_once += 1  # answered 503 and closed before the upload went through
            stalled.append(connection)
        time.sleep(1.0)
        grown = resident_bytes(server.process.pid) - before
        # 120 × 2 MiB = 240 MiB would be held without a budget; the default budget is 64 MiB.
        assert grown < 120 * 1024 * 1024, f"resident memory grew by {grown / 2**20:.0f} MiB"
        # Normal requests are served meanwhile.
        assert requests.get(server.url + "/subjects", timeout=5).status_code == 200
        assert requests.post(server.url + "/subjects/small/versions", data=json.dumps({"schema": '"int"'}), headers=ct, timeout=5).status_code == 200
        # One more large upload, while the budget is held, is answered 503 with the Confluent body at once.
        probe = socket.create_connection(("127.0.0.1", port))
        probe.sendall(b"POST /subjects/big/versions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % announced + b"x" * (64 * 1024 + 100))
        probe.settimeout(5)
        answer = b""
        try:
            while chunk := probe.recv(4096):
                answer += chunk
        except OSError:
            pass
        probe.close()
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error_code"] == 50301
        for connection in stalled:
            connection.close()
        # Once they are gone, the budget is free again: a large body is accepted.
        time.sleep(0.5)
        big = json.dumps({"schema": json.dumps({"type": "record", "name": "Big", "doc": "d" * (4 * 2**20), "fields": []})})
        assert requests.post(server.url + "/subjects/big/versions", data=big, headers=ct, timeout=30).status_code == 200
        assert server.process.poll() is None
    finally:
        for connections in cleanup:
            for connection in connections:
                connection.close()
        server.stop()


def test_one_address_cannot_take_every_connection(tmp_path):
    """--max-connections-per-address: idle connections from 127.0.0.1 past the limit are closed at once, while a
    client from another loopback address (127.0.0.2) is served."""
    import subprocess
    import re
    from conftest import server_binary

    process = subprocess.Popen(
        [server_binary(), "--listen", "0.0.0.0:0", "--db", str(tmp_path / "registry.db"), "--max-connections-per-address", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = int(re.search(r":(\d+) ", process.stdout.readline()).group(1))
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
        time.sleep(0.5)
        closed = 0
        for connection in held:
            connection.settimeout(0.2)
            try:
                if connection.recv(1) == b"":
                    closed += 1
            except socket.timeout:
                pass
            except OSError:
                closed += 1
        assert closed >= 20, f"only {closed} of 40 idle connections from one address were closed"
        other = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0))
        other.sendall(b"GET /subjects HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        other.settimeout(5)
        assert other.recv(4096).startswith(b"HTTP/1.1 200")
        other.close()
        for connection in held:
            connection.close()
    finally:
        process.terminate()
        process.wait(timeout=20)


def raise_open_file_limit():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def start_server(tmp_path, *flags):
    import re
    import subprocess
    from conftest import server_binary

    from conftest import drain

    process = subprocess.Popen([server_binary(), "--listen", "127.0.0.1:0", "--db", str(tmp_path / "registry.db"), *flags],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    port = int(re.search(r":(\d+) ", process.stdout.readline()).group(1))
    # The request log follows on the same pipe: read it, or the server blocks once the pipe is full.
    drain(process.stdout, [])
    return process, port


def peer_closed(connection):
    """Whether the server has closed this connection (end of stream or reset), without waiting."""
    try:
        return connection.recv(1, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_slow_clients_do_not_lock_out_a_normal_one(tmp_path):
    """2,000 slowloris connections from 20 other loopback addresses, each sending its request headers one byte a
    second, with the default limits: a normal client from 127.0.0.1 has every request answered meanwhile."""
    import threading

    assert raise_open_file_limit() > 2_200
    process, port = start_server(tmp_path)
    slow = []
    try:
        for index in range(2_000):
            connection = socket.create_connection(("127.0.0.1", port), source_address=(f"127.0.0.{2 + index % 20}", 0))
            connection.sendall(b"GET /subjects HTTP/1.1\r\nHost: x\r\n")
            slow.append(connection)
        answers = []

        def normal_client():
            for _ in range(6):
                try:
                    answers.append(requests.get(f"http://127.0.0.1:{port}/subjects", timeout=5).status_code)
                except requests.RequestException as error:
                    answers.append(repr(error))
                time.sleep(0.5)

        client = threading.Thread(target=normal_client)
        client.start()
        sent = 0
        while client.is_alive():
            for connection in slow:
                try:
                    connection.send(b"X")  # one byte a second: the headers never end
                    sent += 1
                except OSError:
                    pass
            time.sleep(1.0)
        client.join()
        assert answers == [200] * 6, answers
        assert sent >= 2_000
        assert process.poll() is None
    finally:
        for connection in slow:
            connection.close()
        process.terminate()
        process.wait(timeout=30)


def test_a_request_that_does_not_complete_in_time_is_closed_however_it_trickles(tmp_path):
    """--request-timeout: headers sent a byte at a time, a body sent a byte at a time, and a TLS-less connection
    that sends nothing are closed once the deadline passes, though they are never idle as long as the idle
    timeout; a keep-alive client that pauses between requests longer than the deadline is not."""
    import http.client

    process, port = start_server(tmp_path, "--request-timeout", "3")
    try:
        headers = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        bodies = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        for connection in headers:
            connection.sendall(b"GET /subjects HTTP/1.1\r\nHost: x\r\n")
        for connection in bodies:
            connection.sendall(b"POST /subjects/s/versions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                               b"Content-Length: 1000\r\n\r\n{")
        started = time.monotonic()
        closed_after = {}
        while time.monotonic() - started < 8 and len(closed_after) < 40:
            for index, connection in enumerate(headers + bodies):
                if index in closed_after:
                    continue
                if peer_closed(connection):
                    closed_after[index] = time.monotonic() - started
                    continue
                try:
                    connection.send(b"X" if index < 20 else b" ")
                except OSError:
                    closed_after[index] = time.monotonic() - started
            time.sleep(0.25)
        assert len(closed_after) == 40, f"{40 - len(closed_after)} trickling connections still open after 8 s"
        assert max(closed_after.values()) < 6, sorted(closed_after.values())
        # A client that pauses 4 s between requests on one connection keeps it: idle time between requests is
        # bounded by the idle timeout (30 s), not the request deadline (http.client does not reconnect: a closed
        # connection would fail the next request).
        keep_alive = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for _ in range(3):
            keep_alive.request("GET", "/subjects")
            answer = keep_alive.getresponse()
            assert answer.status == 200 and answer.read() == b"[]"
            time.sleep(4)
        keep_alive.close()
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=30)
