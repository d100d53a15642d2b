"""Several registry nodes on one PostgreSQL database (issue 11): real server processes on loopback ports,
a real PostgreSQL cluster, concurrent clients. Every guarantee is checked by reading every node."""
import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import RunningServer, postgres_registry_uri
from pg_cluster import PostgresCluster, wait_until

CT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


def record(name, fields):
    return json.dumps({"type": "record", "name": name, "fields": [{"name": f, "type": t} for f, t in fields]})


def distinct_schema(tag):
    return record("R" + tag.replace("-", "_"), [("a", "int"), ("tag_" + tag.replace("-", "_"), "string")])


class Node(RunningServer):
    def __init__(self, uri):
        super().__init__(uri)
        self.http = requests.Session()

    def register(self, subject, schema, timeout=20):
        return self.http.post(f"{self.url}/subjects/{subject}/versions", data=json.dumps({"schema": schema}), headers=CT, timeout=timeout)

    def get(self, path, timeout=10):
        return self.http.get(self.url + path, timeout=timeout)


@pytest.fixture
def nodes(postgres):
    """A factory of nodes on one new database; every node started is stopped afterwards."""
    uri = postgres_registry_uri(postgres)
    started = []

    def start(count=1):
        made = [Node(uri).start() for _ in range(count)]
        started.extend(made)
        return made

    start.uri = uri
    yield start
    for node in started:
        if node.process and node.process.poll() is None:
            node.process.kill()
            node.process.wait(timeout=10)


def everything(node):
    """{subject: [(version, id, schema text)]} and {id: schema text} as this node answers them."""
    subjects = {}
    texts = {}
    for subject in node.get("/subjects?deleted=true").json():
        rows = []
        for version in node.get(f"/subjects/{subject}/versions?deleted=true").json():
            body = node.get(f"/subjects/{subject}/versions/{version}?deleted=true").json()
            rows.append((body["version"], body["id"], body["schema"]))
            texts[body["id"]] = body["schema"]
        subjects[subject] = rows
    return subjects, texts


def check_invariants(all_nodes, answered):
    """Ids never shared by two texts, one id per text, consecutive versions, every answered registration
    present with its id, and every node answering the same."""
    views = [everything(node) for node in all_nodes]
    first_subjects, first_texts = views[0]
    for subjects, texts in views[1:]:
        assert subjects == first_subjects
        assert texts == first_texts
    by_text = {}
    for schema_id, text in first_texts.items():
        assert by_text.setdefault(text, schema_id) == schema_id, f"one schema text has two ids: {by_text[text]} and {schema_id}"
    for subject, rows in first_subjects.items():
        versions = [row[0] for row in rows]
        assert versions == list(range(1, len(versions) + 1)), f"{subject}: versions {versions} are not 1..n"
        assert len({row[1] for row in rows}) == len(rows), f"{subject}: one id under two versions"
    for subject, version, schema_id in answered:
        rows = {row[0]: row[1] for row in first_subjects[subject]}
        assert rows.get(version) == schema_id, f"answered {subject} v{version} id {schema_id}, stored {rows.get(version)}"


def test_first_start_of_several_nodes_at_once_creates_the_tables_once(nodes):
    with ThreadPoolExecutor(3) as pool:
        started = list(pool.map(lambda _: nodes(1)[0], range(3)))
    for node in started:
        assert node.get("/health/ready").json() == {"status": "UP", "store": "postgresql", "storeReachable": True}
    cluster_ids = {node.get("/v1/metadata/id").json()["scope"]["clusters"]["kafka-cluster"] for node in started}
    assert len(cluster_ids) == 1


@pytest.mark.parametrize("count", [2, 3])
def test_concurrent_registrations_on_every_node_keep_every_invariant(nodes, count):
    all_nodes = nodes(count)
    assert all_nodes[0].http.put(f"{all_nodes[0].url}/config", data=json.dumps({"compatibility": "NONE"}), headers=CT).status_code == 200
    wait_until(lambda: all(n.get("/config").json()["compatibilityLevel"] == "NONE" for n in all_nodes), 2, message="config propagated")
    answered = []
    lock = threading.Lock()
    stale_reads = []

    def work(index):
        node = all_nodes[index % count]
        other = all_nodes[(index + 1) % count]
        jobs = []
        for i in range(12):
            jobs.append((f"distinct-{index % 4}", distinct_schema(f"{index}-{i}")))  # distinct schemas
            jobs.append((f"same-{i % 5}", record("Shared", [("x", "long")])))       # one schema, several subjects
            jobs.append(("hot", distinct_schema(f"hot-{index}-{i}")))                 # one subject from every node
        for subject, schema in jobs:
            response = node.register(subject, schema)
            assert response.status_code == 200, response.text
            schema_id = response.json()["id"]
            # Read-your-writes for ids on another node, at once, before any notification may have arrived.
            fetched = other.get(f"/schemas/ids/{schema_id}")
            if fetched.status_code != 200 or json.loads(fetched.json()["schema"]) != json.loads(schema):
                stale_reads.append((schema_id, fetched.status_code))
            version = node.http.post(f"{node.url}/subjects/{subject}", data=json.dumps({"schema": schema}), headers=CT).json()["version"]
            with lock:
                answered.append((subject, version, schema_id))

    with ThreadPoolExecutor(3 * count) as pool:
        list(pool.map(work, range(3 * count)))
    assert stale_reads == []
    shared_ids = {schema_id for subject, _, schema_id in answered if subject.startswith("same-")}
    assert len(shared_ids) == 1, f"one schema registered on every node under five subjects got ids {shared_ids}"
    hot = sorted(version for subject, version, _ in answered if subject == "hot")
    assert hot == list(range(1, 3 * count * 12 + 1))
    # Other reads converge within 1 s.
    deadline = time.monotonic() + 1.0
    while True:
        try:
            check_invariants(all_nodes, answered)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def deafen_nodes(cluster):
    """Ends every node's notification connection: until each reconnects (a quarter second), it hears of
    nothing and its memory is stale, for sure rather than by chance."""
    from conftest import _admin_execute

    _admin_execute(cluster, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'schema-registry-feed'")


def test_a_stale_node_checks_against_the_committed_state_and_finds_new_ids(nodes, postgres):
    a, b = nodes(2)
    for i in range(10):
        subject = f"race-{i}"
        deafen_nodes(postgres)
        first = a.register(subject, record("Row", [("a", "int"), (f"v{i}", "string")]))
        assert first.status_code == 200
        # Adding a field without a default is BACKWARD-incompatible with version 1, which node b has not heard of.
        response = b.register(subject, record("Row", [("a", "int"), (f"v{i}", "string"), ("b", "int")]))
        assert response.status_code == 409, f"{subject}: {response.status_code} {response.text}"
        assert response.json()["error_code"] == 40901
        # Read-your-writes for ids on the node that has not heard of it.
        other = a.register(f"other-{i}", record("Other", [(f"o{i}", "int")]))
        fetched = b.get(f"/schemas/ids/{other.json()['id']}")
        assert fetched.status_code == 200, fetched.text
        # A compatible one gets version 2 (not a second version 1).
        compatible = json.loads(record("Row", [("a", "int"), (f"v{i}", "string")]))
        compatible["fields"].append({"name": "b", "type": ["null", "int"], "default": None})
        response = b.register(subject, json.dumps(compatible))
        assert response.status_code == 200, response.text
        assert b.get(f"/subjects/{subject}/versions").json() == [1, 2]


def test_a_change_on_one_node_is_visible_on_the_others_within_a_second(nodes):
    a, b = nodes(2)
    delays = []
    for i in range(20):
        subject = f"visible-{i}"
        assert a.register(subject, record("V", [("a", "int")])).status_code == 200
        started = time.monotonic()
        while b.get(f"/subjects/{subject}/versions/latest").status_code != 200:
            assert time.monotonic() - started < 1.0, "not visible on the other node within 1 s"
            time.sleep(0.002)
        delays.append(time.monotonic() - started)
    # Deletes, levels and modes travel the same way.
    assert a.http.put(f"{a.url}/config/visible-0", data=json.dumps({"compatibility": "FULL"}), headers=CT).status_code == 200
    assert a.http.put(f"{a.url}/mode/visible-1", data=json.dumps({"mode": "READONLY"}), headers=CT).status_code == 200
    assert a.http.delete(f"{a.url}/subjects/visible-2").status_code == 200
    wait_until(lambda: b.get("/config/visible-0").status_code == 200 and b.get("/mode/visible-1").status_code == 200
               and b.get("/subjects/visible-2/versions").status_code == 404, 1.0, interval=0.01, message="settings and delete propagated")
    assert b.get("/config/visible-0").json()["compatibilityLevel"] == "FULL"
    assert b.get("/mode/visible-1").json()["mode"] == "READONLY"
    assert b.register("visible-1", record("V", [("a", "int"), ("c", ["null", "int"])])).status_code == 422
    print(f"propagation: max {max(delays) * 1000:.1f} ms over {len(delays)}")


def test_kill_9_of_a_node_under_write_load_loses_no_answered_write(nodes):
    a, b = nodes(2)
    assert b.http.put(f"{b.url}/config", data=json.dumps({"compatibility": "NONE"}), headers=CT).status_code == 200
    answered = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(node, tag):
        i = 0
        while not stop.is_set():
            i += 1
            subject = f"load-{tag}-{i % 7}"
            try:
                response = node.register(subject, distinct_schema(f"{tag}-{i}"), timeout=5)
                assert response.status_code == 200, response.text
                # The version it got, through the lookup (asked of the node that answered).
                version = node.http.post(f"{node.url}/subjects/{subject}", data=json.dumps({"schema": distinct_schema(f"{tag}-{i}")}), headers=CT)
            except requests.RequestException:
                if node is a:
                    return  # the node was killed: what it did not answer is not owed
                raise
            with lock:
                answered.append((subject, version.json()["version"], response.json()["id"]))

    threads = [threading.Thread(target=writer, args=(node, f"{tag}{k}")) for node, tag in ((a, "a"), (b, "b")) for k in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    a.process.send_signal(signal.SIGKILL)
    a.process.wait(timeout=10)
    time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answered) > 20
    check_invariants([b], answered)
    # The killed node restarts on the same database and serves the same state.
    a.start()
    check_invariants([a, b], answered)


def test_postgres_restart_under_load_fails_writes_fast_keeps_reads_and_recovers_without_restarting_nodes():
    cluster = PostgresCluster().start()
    try:
        uri = postgres_registry_uri(cluster)
        a, b = Node(uri).start(), Node(uri).start()
        try:
            ids = [a.register(f"pre-{i}", record("P", [("a", "int")] + [(f"f{i}", "string")])).json()["id"] for i in range(5)]
            wait_until(lambda: b.get(f"/schemas/ids/{ids[-1]}").status_code == 200, 2, message="node b has the ids")
            read_failures = []
            write_results = []
            stop = threading.Event()

            def reader(node):
                while not stop.is_set():
                    for schema_id in ids:
                        response = node.get(f"/schemas/ids/{schema_id}")
                        if response.status_code != 200:
                            read_failures.append((node.url, schema_id, response.status_code))
                    if node.get("/subjects/pre-0/versions/latest").status_code != 200:
                        read_failures.append((node.url, "latest", None))
                    if node.get("/health").status_code != 200:
                        read_failures.append((node.url, "health", None))

            def writer(node, tag):
                i = 0
                while not stop.is_set():
                    i += 1
                    started = time.monotonic()
                    response = node.register(f"w-{tag}-{i}", record("W", [("a", "int")]), timeout=30)
                    write_results.append((started, time.monotonic() - started, response.status_code, response.json()))
                    time.sleep(0.01)

            threads = [threading.Thread(target=reader, args=(n,)) for n in (a, b)]
            threads += [threading.Thread(target=writer, args=(n, t)) for n, t in ((a, "a"), (b, "b"))]
            for thread in threads:
                thread.start()
            time.sleep(0.5)
            outage_started = time.monotonic()
            cluster._run("pg_ctl", "-D", cluster.data_dir, "-m", "fast", "-w", "-t", "60", "stop")
            wait_until(lambda: a.get("/health/ready").status_code == 503 and b.get("/health/ready").status_code == 503, 10,
                       message="/health/ready 503 while the database is down")
            # A schema both nodes hold is answered from memory (a producer starting up re-registers its own).
            for node in (a, b):
                again = node.register("pre-0", record("P", [("a", "int"), ("f0", "string")]), timeout=10)
                assert again.status_code == 200 and again.json()["id"] == ids[0], again.text
            time.sleep(2.0)
            cluster._run("pg_ctl", "-D", cluster.data_dir, "-l", cluster.log_path, "-w", "-t", "60", "-o", cluster.options, "start")
            outage_ended = time.monotonic()
            wait_until(lambda: a.get("/health/ready").status_code == 200 and b.get("/health/ready").status_code == 200, 10,
                       message="/health/ready 200 again")
            ready_again = time.monotonic()
            time.sleep(2.0)
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            assert read_failures == []
            during = [r for r in write_results if outage_started + 0.5 < r[0] < outage_ended]
            after = [r for r in write_results if r[0] > ready_again + 0.5]
            assert during, "no write was tried during the outage"
            for _, seconds, status, body in during:
                assert seconds < 10, f"a write took {seconds:.1f} s during the outage"
                if status != 200:
                    assert status >= 500 and body["error_code"] == 50001, (status, body)
            assert [r for r in during if r[2] != 200], "no write failed during the outage"
            assert after and all(r[2] == 200 for r in after), [r for r in after if r[2] != 200][:3]
            assert a.process.poll() is None and b.process.poll() is None
            # What either node answered after the outage is on both.
            last = after[-1][3]["id"]
            assert a.get(f"/schemas/ids/{last}").status_code == 200 and b.get(f"/schemas/ids/{last}").status_code == 200
        finally:
            for node in (a, b):
                node.stop()
    finally:
        cluster.stop()


def test_references_and_their_deletes_across_nodes(nodes, postgres):
    a, b = nodes(2)
    address = record("Address", [("street", "string")])
    deafen_nodes(postgres)
    assert a.register("address-value", address).status_code == 200
    # Node b has not heard of address-value version 1, and references it at once.
    customer = json.dumps({"type": "record", "name": "Customer", "fields": [{"name": "home", "type": "Address"}]})
    body = {"schema": customer, "references": [{"name": "Address", "subject": "address-value", "version": 1}]}
    response = b.http.post(f"{b.url}/subjects/customer-value/versions", data=json.dumps(body), headers=CT)
    assert response.status_code == 200, response.text
    # Node a has not heard of the referrer: deleting what it references is still refused (42206).
    deafen_nodes(postgres)
    response = a.http.delete(f"{a.url}/subjects/address-value/versions/1")
    assert response.status_code == 422 and response.json()["error_code"] == 42206, response.text
    # "version": -1 is the latest as committed, not as a stale node believes.
    widened = json.loads(address)
    widened["fields"].append({"name": "city", "type": "string", "default": ""})
    deafen_nodes(postgres)
    assert a.register("address-value", json.dumps(widened)).status_code == 200
    body = {"schema": customer, "references": [{"name": "Address", "subject": "address-value", "version": -1}]}
    response = b.http.post(f"{b.url}/subjects/customer2-value/versions", data=json.dumps(body), headers=CT)
    assert response.status_code == 200, response.text
    assert b.get("/subjects/customer2-value/versions/1").json()["references"] == [{"name": "Address", "subject": "address-value", "version": 2}]
    # Once the referrers are gone for good, the referenced version can go, from either node.
    for subject in ("customer-value", "customer2-value"):
        assert b.http.delete(f"{b.url}/subjects/{subject}").status_code == 200
        assert b.http.delete(f"{b.url}/subjects/{subject}?permanent=true").status_code == 200
    deafen_nodes(postgres)
    assert a.http.delete(f"{a.url}/subjects/address-value/versions/1").status_code == 200


def test_import_with_explicit_ids_across_nodes(nodes, postgres):
    a, b = nodes(2)
    deafen_nodes(postgres)
    assert a.http.put(f"{a.url}/mode", data=json.dumps({"mode": "IMPORT"}), headers=CT).status_code == 200
    # Node b has not heard of the mode: it still registers under IMPORT's rules, with the id given.
    one = record("Imported", [("a", "int")])
    body = {"schema": one, "id": 100, "version": 1}
    response = b.http.post(f"{b.url}/subjects/imported-value/versions", data=json.dumps(body), headers=CT)
    assert response.status_code == 200 and response.json()["id"] == 100, response.text
    deafen_nodes(postgres)
    other = record("Other", [("b", "int")])
    response = a.http.post(f"{a.url}/subjects/other-value/versions", data=json.dumps({"schema": other, "id": 100, "version": 1}), headers=CT)
    assert response.status_code == 422 and response.json()["error_code"] == 42205, response.text
    response = a.http.post(f"{a.url}/subjects/again-value/versions", data=json.dumps({"schema": one, "id": 100, "version": 1}), headers=CT)
    assert response.status_code == 200 and response.json()["id"] == 100, response.text
    assert a.http.put(f"{a.url}/mode", data=json.dumps({"mode": "READWRITE"}), headers=CT).status_code == 200
    # New ids come after the imported one, on every node.
    assert b.register("fresh-value", record("Fresh", [("c", "int")])).json()["id"] > 100
    assert a.register("fresh2-value", record("Fresh2", [("d", "int")])).json()["id"] > 100


def test_a_subject_name_longer_than_the_store_can_index_is_refused_cleanly(nodes):
    (a,) = nodes(1)
    response = a.register("s" * 2049, record("Long", [("a", "int")]))
    assert response.status_code == 422 and response.json()["error_code"] == 42208
    assert a.register("s" * 2048, record("Long", [("a", "int")])).status_code == 200


HOSTILE_SUBJECTS = [
    "x\u0600'); COMMIT; DROP TABLE registry_versions CASCADE; --",  # U+0600 joins the quote into one grapheme
    "\u0600\"}, {\"NULL", "NULL", "a\\'b", "{braces}", "quote'\u0301", "comma,sep", " spaced ",
]


def test_hostile_subject_names_are_stored_as_themselves_and_run_nothing(nodes, postgres):
    from urllib.parse import quote

    a, b = nodes(2)
    for subject in HOSTILE_SUBJECTS:
        path = quote(subject, safe="")
        assert a.http.put(f"{a.url}/config/{path}", data=json.dumps({"compatibility": "NONE"}), headers=CT).status_code == 200, subject
        assert a.http.put(f"{a.url}/mode/{path}", data=json.dumps({"mode": "READWRITE"}), headers=CT).status_code == 200, subject
        response = a.register(path, record("H", [("a", "int")]))
        assert response.status_code == 200, (subject, response.text)
        # A reference to it, resolved on the other node (the subject goes through the store's reads).
        body = {"schema": json.dumps({"type": "record", "name": "Holder", "fields": [{"name": "h", "type": "H"}]}),
                "references": [{"name": "H", "subject": subject, "version": -1}]}
        response = b.http.post(f"{b.url}/subjects/holder-{path}/versions", data=json.dumps(body), headers=CT)
        assert response.status_code == 200, (subject, response.text)
    wait_until(lambda: sorted(b.get("/subjects").json()) == sorted(HOSTILE_SUBJECTS + [f"holder-{s}" for s in HOSTILE_SUBJECTS]), 2,
               message="every name on node b")
    from conftest import _admin_execute
    database = a.database.rsplit("/", 1)[1]
    import psycopg
    with psycopg.connect(postgres.conninfo_for(database), autocommit=True) as connection:
        names = {row[0] for row in connection.execute("SELECT DISTINCT subject FROM registry_versions").fetchall()}
    assert names == set(HOSTILE_SUBJECTS) | {f"holder-{s}" for s in HOSTILE_SUBJECTS}


def test_global_import_is_refused_while_another_node_just_made_a_live_subject(nodes, postgres):
    a, b = nodes(2)
    deafen_nodes(postgres)
    assert a.register("live-value", record("Live", [("a", "int")])).status_code == 200
    # Node b has not heard of live-value: IMPORT (without force) still sees it as committed.
    response = b.http.put(f"{b.url}/mode", data=json.dumps({"mode": "IMPORT"}), headers=CT)
    assert response.status_code == 422 and response.json()["error_code"] == 42205, response.text
    # Once it is gone (soft-deleted on a, which b has not heard of either), IMPORT is allowed.
    deafen_nodes(postgres)
    assert a.http.delete(f"{a.url}/subjects/live-value").status_code == 200
    response = b.http.put(f"{b.url}/mode", data=json.dumps({"mode": "IMPORT"}), headers=CT)
    assert response.status_code == 200, response.text


def pg_metrics(node):
    from prometheus_client.parser import text_string_to_metric_families

    samples = {}
    for family in text_string_to_metric_families(node.get("/metrics").text):
        assert family.documentation and family.type != "unknown", family.name
        for sample in family.samples:
            samples[sample.name] = sample.value
    return samples


def test_metrics_show_the_database_round_trip_and_each_nodes_lag(nodes):
    """In PostgreSQL mode /metrics has the round trip of the feed's probe and how far this node's memory is behind the
    database. A change committed without its notification (as one lost with the feed's connection) shows as lag on
    every node until a later change of that scope is announced and read."""
    import psycopg

    a, b = nodes(2)
    assert a.register("lagging", record("L", [("a", "int")])).status_code == 200
    for node in (a, b):
        metrics = wait_until(lambda: (m := pg_metrics(node)).get("schema_registry_replication_lag_changes") == 0 and m, 5,
                             message="a probe in step with the database")
        assert 0 < metrics["schema_registry_database_round_trip_seconds"] < 1
        assert metrics["schema_registry_replication_lag_seconds"] == 0
        assert "schema_registry_group_commit_batch_size_count" not in metrics  # SQLite's
    with psycopg.connect(nodes.uri, autocommit=True) as connection:
        connection.execute("UPDATE registry_scopes SET generation = generation + 3 WHERE scope = 'lagging'")
    for node in (a, b):
        wait_until(lambda: pg_metrics(node).get("schema_registry_replication_lag_changes") == 3, 5, message="the lag seen")
    wait_until(lambda: pg_metrics(b)["schema_registry_replication_lag_seconds"] >= 1, 5, message="the lag's age growing")
    # The next change of the scope is announced: every node reads the scope and is in step again.
    assert a.http.put(f"{a.url}/config/lagging", data=json.dumps({"compatibility": "NONE"}), headers=CT).status_code == 200
    for node in (a, b):
        wait_until(lambda: pg_metrics(node).get("schema_registry_replication_lag_changes") == 0, 5, message="back in step")
    assert pg_metrics(b)["schema_registry_replication_lag_seconds"] == 0
