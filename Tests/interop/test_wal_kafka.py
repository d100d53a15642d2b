"""wal-source into Kafka (issue 15): PostgreSQL → wal-source --kafka-brokers → librdkafka's mock cluster (three
brokers on loopback, Tests/kafka/mock_cluster.c) → confluent-kafka's Python consumer with Confluent's
AvroDeserializer against our registry: the consumer code a Debezium user already has.

The mock cluster commits and aborts transactions but does not isolate them: a read_committed consumer also sees
messages of aborted and open transactions. So exactly once is tested where the mock can show it: through the
WAL_SOURCE_CRASH_AFTER_COMMIT hook (SIGKILL right after a Kafka commit, before the slot hears of it)."""
import collections
import glob
import json
import os
import random
import re
import signal
import struct
import subprocess
import time
import uuid

import pytest
import requests

from pg_cluster import wait_until
from test_wal_source import PREFIX, WAIT_SECONDS, WalSource, save_value_schema, wal_binary
from test_wal_workloads import create_numbers, request_snapshot, wait_for_log


class KafkaWalSource(WalSource):
    """wal-source writing to the mock cluster instead of files."""

    def __init__(self, database, registry_url, work_dir, tables, kafka, extra_arguments=(), environment=None, snapshot=False):
        super().__init__(database, registry_url, work_dir, tables, snapshot=snapshot, extra_arguments=extra_arguments)
        self.kafka = kafka
        self.environment = environment

    def arguments(self):
        arguments = super().arguments()
        index = arguments.index("--out")
        del arguments[index:index + 2]
        return arguments + ["--kafka-brokers", self.kafka.bootstrap, "--state-dir", os.path.join(self.work_dir, "state")]

    def start(self, environment=None):
        assert self.process is None or self.process.poll() is not None, "wal-source is already running"
        self.runs += 1
        self.stderr_path = os.path.join(self.work_dir, f"wal-source-run-{self.runs}.stderr")
        env = dict(os.environ)
        env.update(environment if environment is not None else (self.environment or {}))
        with open(self.stderr_path, "wb") as stderr, open(os.path.join(self.work_dir, f"run-{self.runs}.stdout"), "wb") as stdout:
            self.process = subprocess.Popen(self.arguments(), stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, env=env)
        return self


class FileTwin(WalSource):
    """A file-sink wal-source on the same database with a slot and publication of its own: what the same changes
    look like from a file."""

    def arguments(self):
        arguments = super().arguments()
        arguments[arguments.index("--slot") + 1] += "_files"
        arguments[arguments.index("--publication") + 1] += "_files"
        return arguments


def consume(*arguments):
    """wal-consume's output lines (exit 0 required)."""
    result = subprocess.run([wal_binary("wal-consume"), *arguments], capture_output=True, text=True, timeout=WAIT_SECONDS)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line.strip()]


def comparable(lines):
    """wal-consume's lines as sorted JSON text, without the time each source wrote an event."""
    events = []
    for line in lines:
        event = json.loads(line)
        event["source"].pop("ts_ms", None)
        events.append(json.dumps(event, sort_keys=True))
    return sorted(events)


def topic(table):
    return f"{PREFIX}.public.{table}"


class TopicReader:
    """Reads topics with confluent-kafka's Consumer (read_committed) and Confluent's AvroDeserializer."""

    def __init__(self, bootstrap, registry_url, topics):
        from confluent_kafka import Consumer
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.avro import AvroDeserializer

        self.registry = SchemaRegistryClient({"url": registry_url})
        self.deserializer = AvroDeserializer(self.registry)
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": "test-" + uuid.uuid4().hex, "auto.offset.reset": "earliest",
            "isolation.level": "read_committed", "enable.partition.eof": True, "enable.auto.commit": False,
        })
        self.consumer.subscribe(topics)
        self.topics = topics
        self.messages = []

    def decode(self, message):
        from confluent_kafka.serialization import MessageField, SerializationContext

        key = self.deserializer(message.key(), SerializationContext(message.topic(), MessageField.KEY)) if message.key() else None
        value = None
        schema_id = None
        if message.value() is not None:
            schema_id = struct.unpack(">I", message.value()[1:5])[0]
            value = self.deserializer(message.value(), SerializationContext(message.topic(), MessageField.VALUE))
        return {"topic": message.topic(), "partition": message.partition(), "offset": message.offset(), "key": key,
                "value": value, "schema_id": schema_id, "raw_key": message.key()}

    def read_to_end(self, seconds=WAIT_SECONDS):
        """Reads every partition of the topics up to its high watermark as of now (what the brokers hold, all of
        it on the mock cluster, which does not isolate transactions): every message, whatever a fetch's timing."""
        from confluent_kafka import TopicPartition

        ends = {}
        for name in self.topics:
            for partition in self.consumer.list_topics(name, timeout=10).topics[name].partitions:
                low, high = self.consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=10)
                if high > low:
                    ends[(name, partition)] = high
        reached = collections.defaultdict(lambda: -1)
        for message in self.messages:
            reached[(message["topic"], message["partition"])] = max(reached[(message["topic"], message["partition"])], message["offset"])
        deadline = time.monotonic() + seconds
        while any(reached[place] + 1 < end for place, end in ends.items()):
            assert time.monotonic() < deadline, f"not read to the high watermarks {ends} within {seconds} s"
            message = self.consumer.poll(0.2)
            if message is not None and not message.error():
                decoded = self.decode(message)
                self.messages.append(decoded)
                place = (decoded["topic"], decoded["partition"])
                reached[place] = max(reached[place], decoded["offset"])
        return self.messages

    def partition_count(self, name):
        return len(self.consumer.list_topics(name, timeout=10).topics[name].partitions)

    def read_until(self, condition, seconds=WAIT_SECONDS):
        """Polls until condition(messages) holds (every message so far, decoded)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = self.consumer.poll(0.2)
            if message is not None and not message.error():
                self.messages.append(self.decode(message))
                continue
            if condition(self.messages):
                return self.messages
        raise AssertionError(f"only {len(self.messages)} messages after {seconds} s: {self.messages[-5:]}")

    def close(self):
        self.consumer.close()


def read_with_deserializing_consumer(bootstrap, registry_url, name, count, seconds=WAIT_SECONDS):
    """(key, value) of every message of topic `name`, read by confluent-kafka's DeserializingConsumer with
    AvroDeserializer as key and value deserializer (read_committed), once `count` are there and no more come."""
    from confluent_kafka import DeserializingConsumer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer

    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    consumer = DeserializingConsumer({
        "bootstrap.servers": bootstrap, "group.id": "deserializing-" + uuid.uuid4().hex, "auto.offset.reset": "earliest",
        "isolation.level": "read_committed", "enable.auto.commit": False,
        "key.deserializer": deserializer, "value.deserializer": deserializer,
    })
    consumer.subscribe([name])
    got = []
    deadline = time.monotonic() + seconds
    quiet_until = None
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and not message.error():
                got.append((message.key(), message.value()))
                quiet_until = None
            elif len(got) >= count:
                quiet_until = quiet_until or time.monotonic() + 2
                if time.monotonic() >= quiet_until:
                    return got
    finally:
        consumer.close()
    raise AssertionError(f"DeserializingConsumer read {len(got)} of {count} messages of {name}: {got[-5:]}")


def murmur2(data):
    """Kafka's Java client's hash of a key (Utils.murmur2), as unsigned 32-bit arithmetic."""
    m, r = 0x5bd1e995, 24
    h = (0x9747b28c ^ len(data)) & 0xffffffff
    whole = len(data) // 4
    for index in range(whole):
        k = int.from_bytes(data[index * 4:index * 4 + 4], "little")
        k = (k * m) & 0xffffffff
        k ^= k >> r
        k = (k * m) & 0xffffffff
        h = (h * m) & 0xffffffff
        h ^= k
    rest = data[whole * 4:]
    if len(rest) >= 3:
        h ^= rest[2] << 16
    if len(rest) >= 2:
        h ^= rest[1] << 8
    if len(rest) >= 1:
        h ^= rest[0]
        h = (h * m) & 0xffffffff
    h ^= h >> 13
    h = (h * m) & 0xffffffff
    h ^= h >> 15
    return h


def java_partition(key, partitions):
    return (murmur2(key) & 0x7fffffff) % partitions


def values(messages):
    return [message for message in messages if message["value"] is not None]


def test_changes_reach_kafka_as_debezium_consumers_expect(pg_database, registry, kafka, tmp_path):
    pg_database.execute("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2))")
    source = KafkaWalSource(pg_database, registry.url, tmp_path, ["items"], kafka)
    twin = FileTwin(pg_database, registry.url, tmp_path / "files", ["items"])
    reader = None
    try:
        source.start().wait_ready()
        twin.start()
        wait_for_log(twin, "streaming from slot")
        pg_database.execute("INSERT INTO items VALUES (1, 'one', 1.50), (2, 'two', 2.00), (3, 'three', 3.25)")
        pg_database.execute("UPDATE items SET name = 'uno' WHERE id = 1")
        pg_database.execute("DELETE FROM items WHERE id = 2")
        pg_database.execute("UPDATE items SET id = 30 WHERE id = 3")  # a key change: delete + tombstone + create
        pg_database.execute("ALTER TABLE items ADD COLUMN stock int NOT NULL DEFAULT 7")
        pg_database.execute("INSERT INTO items VALUES (4, 'four', 4.00, 40)")
        pg_database.execute("TRUNCATE items")
        reader = TopicReader(kafka.bootstrap, registry.url, [topic("items")])
        reader.read_until(lambda got: len(got) >= 11)
        messages = reader.read_to_end()
        assert len(messages) == 11, messages
        operations = [(m["value"] or {}).get("op", "tombstone") for m in sorted(messages, key=lambda m: (m["value"] or {}).get("source", {}).get("lsn", 0))]
        # Per key, in order: creates, the update, the delete and its tombstone; truncate has no key.
        by_key = collections.defaultdict(list)
        for message in messages:
            key = message["key"]["id"] if message["key"] else None
            by_key[key].append("tombstone" if message["value"] is None else message["value"]["op"])
        assert by_key[1] == ["c", "u"], by_key
        assert by_key[2] == ["c", "d", "tombstone"], by_key
        assert by_key[3] == ["c", "d", "tombstone"], by_key
        assert by_key[30] == ["c"], by_key
        assert by_key[4] == ["c"], by_key
        assert by_key[None] == ["t"], by_key
        # Partitioned by key as the Java client does (murmur2 of the key bytes): a key's changes, its tombstone
        # too, stay in one partition in order, whoever produces them.
        partitions = reader.partition_count(topic("items"))
        assert partitions > 1
        for message in messages:
            if message["raw_key"]:
                assert message["partition"] == java_partition(message["raw_key"], partitions), message
        # Two value schemas: before and after ADD COLUMN, each event decoded with the one it was written with.
        versions = requests.get(f"{registry.url}/subjects/{topic('items')}-value/versions", timeout=10).json()
        assert versions == [1, 2]
        ids = {requests.get(f"{registry.url}/subjects/{topic('items')}-value/versions/{v}", timeout=10).json()["id"]: v for v in versions}
        four = next(m for m in messages if m["key"] and m["key"]["id"] == 4)
        one = next(m for m in messages if m["key"] and m["key"]["id"] == 1)
        assert ids[four["schema_id"]] == 2 and four["value"]["after"]["stock"] == 40
        assert ids[one["schema_id"]] == 1 and "stock" not in one["value"]["after"]
        # Every event under the version it was written with: before ADD COLUMN 1, after it 2 (the truncate too).
        for message in values(messages):
            row = message["value"]["after"] or message["value"]["before"]
            assert ids[message["schema_id"]] == (2 if row is None or "stock" in row else 1), message
        # The consumer a Debezium user already has: DeserializingConsumer with AvroDeserializer for key and value,
        # each message decoded with the writer schema its id names (old events without stock, new ones with it).
        deserialized = read_with_deserializing_consumer(kafka.bootstrap, registry.url, topic("items"), 11)
        assert sorted(deserialized, key=repr) == sorted(((m["key"], m["value"]) for m in messages), key=repr)
        assert any(value and value["after"] and value["after"].get("stock") == 40 for _, value in deserialized)
        assert any(value and value["after"] and "stock" not in value["after"] for _, value in deserialized)
        # wal-consume reads the topic with the same output as the file sink's log of the same changes (tombstones
        # left out; the partitions interleave, so the order is per key).
        from_kafka = consume("--kafka-brokers", kafka.bootstrap, "--topic", topic("items"), "--from-beginning", "--registry", registry.url)
        log_file = twin.sink("items")
        wait_until(lambda: len(consume("--file", log_file, "--registry", registry.url)) >= 9, WAIT_SECONDS, message="the file sink's 9 events")
        from_file = consume("--file", log_file, "--registry", registry.url)
        assert len(from_kafka) == 9 and sorted(line.count('"op":"d"') for line in from_kafka).count(1) == 2, from_kafka
        assert comparable(from_kafka) == comparable(from_file)
        # With a reader schema (version 1, before ADD COLUMN), as from a file: every event in its shape.
        reader_path = save_value_schema(registry.url, "items", 1, tmp_path / "v1.avsc")
        old_shape = consume("--kafka-brokers", kafka.bootstrap, "--topic", topic("items"), "--from-beginning", "--registry", registry.url, "--reader", reader_path)
        assert comparable(old_shape) == comparable(consume("--file", log_file, "--registry", registry.url, "--reader", reader_path))
        assert len(old_shape) == 9 and not any("stock" in line for line in old_shape)
        # A group reads from the start once, and then only what came since. (The mock cluster rebalances a group
        # only after a member that left times out: a short session.)
        group = ["--kafka-brokers", kafka.bootstrap, "--topic", topic("items"), "--from-beginning", "--group", "g-" + uuid.uuid4().hex,
                 "--kafka-config", "session.timeout.ms=6000", "--registry", registry.url]
        assert comparable(consume(*group)) == comparable(from_kafka)
        assert consume(*group) == []
        pg_database.execute("INSERT INTO items VALUES (5, 'five', 5.00, 50)")
        wait_until(lambda: len(consume("--file", log_file, "--registry", registry.url)) >= 10, WAIT_SECONDS, message="the tenth event")
        since = wait_until(lambda: consume(*group) or None, WAIT_SECONDS, message="the group to see the new event")
        assert len(since) == 1 and json.loads(since[0])["after"]["id"] == 5, since
        source.stop()
        twin.stop()
    finally:
        if reader:
            reader.close()
        source.close()
        twin.close()


def test_no_tombstones(pg_database, registry, kafka, tmp_path):
    pg_database.execute("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)")
    source = KafkaWalSource(pg_database, registry.url, tmp_path, ["items"], kafka, extra_arguments=["--no-tombstones"])
    reader = None
    try:
        source.start().wait_ready()
        pg_database.execute("INSERT INTO items VALUES (1, 'one'), (2, 'two')")
        pg_database.execute("DELETE FROM items WHERE id = 1")
        pg_database.execute("UPDATE items SET id = 20 WHERE id = 2")
        pg_database.execute("INSERT INTO items VALUES (3, 'three')")
        reader = TopicReader(kafka.bootstrap, registry.url, [topic("items")])
        reader.read_until(lambda got: any(m["key"] and m["key"]["id"] == 3 for m in got))
        messages = reader.read_to_end()
        source.stop()
    finally:
        if reader:
            reader.close()
        source.close()
    assert [m for m in messages if m["value"] is None] == [], "no tombstone with --no-tombstones"
    assert sorted((m["key"]["id"], m["value"]["op"]) for m in messages) == [(1, "c"), (1, "d"), (2, "c"), (2, "d"), (3, "c"), (20, "c")]


@pytest.mark.parametrize("setting", [
    "enable.idempotence=false", "acks=1", "request.required.acks=1", "topic.acks=0", "transactional.id=mine", "partitioner=random",
    "topic.partitioner=consistent", "isolation.level=read_uncommitted", "enable.partition.eof=false", "bootstrap.servers=127.0.0.1:1",
])
def test_settings_that_would_undo_a_guarantee_are_refused(setting, tmp_path):
    """--kafka-config passes librdkafka settings through, except those the source sets for its guarantees: a usage
    error (exit 64) naming the setting and why, before anything is touched."""
    result = subprocess.run(
        [wal_binary("wal-source"), "--pg", "host=127.0.0.1 port=1", "--tables", "public.items", "--registry", "http://127.0.0.1:1",
         "--slot", "s", "--publication", "p", "--topic-prefix", "cdc", "--kafka-brokers", "127.0.0.1:1", "--state-dir", str(tmp_path / "state"),
         "--kafka-config", setting],
        capture_output=True, text=True, timeout=30)
    key = setting.split("=")[0]
    assert result.returncode == 64, result.stderr
    assert f"--kafka-config {key}: wal-source sets it itself" in result.stderr, result.stderr
    assert not os.path.exists(tmp_path / "state")


# --- delivery: crashes, kills, outages ------------------------------------------------------------------

INSERTS = 8000
UPDATES = 2000  # ids 1..2000 updated after their inserts: 10,000 single-row transactions in all


def start_workload(database):
    """10,000 single-row transactions (8,000 inserts, then 2,000 updates), spread over about 15 s, in the
    background; returns the thread."""
    import threading

    database.execute("""
        CREATE PROCEDURE workload() LANGUAGE plpgsql AS $$
        BEGIN
            FOR i IN 1..%d LOOP
                INSERT INTO rows VALUES (i, 'inserted');
                COMMIT;
                IF i %% 100 = 0 THEN PERFORM pg_sleep(0.15); END IF;
            END LOOP;
            FOR i IN 1..%d LOOP
                UPDATE rows SET state = 'updated' WHERE id = i;
                COMMIT;
                IF i %% 100 = 0 THEN PERFORM pg_sleep(0.15); END IF;
            END LOOP;
        END $$""" % (INSERTS, UPDATES))
    thread = threading.Thread(target=lambda: database.execute("CALL workload()"), daemon=True)
    thread.start()
    return thread


def events_per_key(messages):
    per_key = collections.defaultdict(list)
    for message in values(messages):
        per_key[message["key"]["id"]].append(message["value"]["op"])
    return per_key


def expected_operations(key):
    return ["c", "u"] if key <= UPDATES else ["c"]


def check_at_least_once_in_order(messages):
    """Every change there, in order per key (a change repeated in a row is a duplicate, not disorder); returns the
    events per key and the number of duplicates."""
    per_key = events_per_key(messages)
    assert set(per_key) == set(range(1, INSERTS + 1)), f"{INSERTS - len(per_key)} keys missing"
    duplicates = 0
    for key, operations in per_key.items():
        deduplicated = [op for index, op in enumerate(operations) if index == 0 or operations[index - 1] != op]
        assert deduplicated == expected_operations(key), (key, operations)
        duplicates += len(operations) - len(deduplicated)
    return per_key, duplicates


def read_all(kafka, registry):
    """Every message of the rows topic once all 10,000 changes are there (read to the high watermarks then)."""
    reader = TopicReader(kafka.bootstrap, registry.url, [topic("rows")])
    try:
        reader.read_until(lambda got: len({(m["key"]["id"], m["value"]["op"]) for m in values(got)}) >= INSERTS + UPDATES, seconds=90)
        return reader.read_to_end()
    finally:
        reader.close()


def crash_after_commits(source, runs):
    """`runs` runs with WAL_SOURCE_CRASH_AFTER_COMMIT: each kills itself after its K-th Kafka commit."""
    for run in range(runs):
        source.start(environment={"WAL_SOURCE_CRASH_AFTER_COMMIT": str(2 + run % 3)})
        code = source.process.wait(timeout=60)
        assert code == -signal.SIGKILL, f"run {run}: exited {code}, not killed by the hook:\n{source.stderr()}"
        assert "WAL_SOURCE_CRASH_AFTER_COMMIT" in source.stderr()
        source.wait_slot_released()


@pytest.mark.parametrize("mode", ["exactly-once", "at-least-once"])
def test_crashes_between_the_kafka_commit_and_the_slot(pg_database, registry, kafka, tmp_path, mode, report):
    """Five SIGKILLs right after a Kafka commit, under 10,000 single-row transactions, then a normal run:
    exactly once gives every change once, in order per key; at least once (the same crashes) sends the crashed
    commits' transactions again: the hook tells the two apart."""
    pg_database.execute("CREATE TABLE rows (id int PRIMARY KEY, state text NOT NULL)")
    extra = ["--at-least-once"] if mode == "at-least-once" else []
    source = KafkaWalSource(pg_database, registry.url, tmp_path, ["rows"], kafka, extra_arguments=extra)
    try:
        source.start().wait_ready()
        source.stop()
        workload = start_workload(pg_database)
        crash_after_commits(source, 5)
        source.start()
        workload.join(timeout=120)
        messages = read_all(kafka, registry)
        source.stop()
    finally:
        source.close()
    per_key, duplicates = check_at_least_once_in_order(messages)
    report(f"{len(values(messages))} events for {INSERTS + UPDATES} changes: {duplicates} duplicates")
    if mode == "exactly-once":
        assert duplicates == 0, {key: ops for key, ops in per_key.items() if len(ops) != len(expected_operations(key))}
    else:
        assert duplicates > 0, "at least once: the crashed commits' transactions should have come again"


def runs_log(work_dir):
    """What every run of a test's source said about snapshots, commits and Kafka (for a failure's message)."""
    lines = []
    for path in sorted(glob.glob(os.path.join(str(work_dir), "wal-source-run-*.stderr")), key=lambda p: int(re.findall(r"\d+", os.path.basename(p))[0])):
        with open(path, errors="replace") as file:
            lines += [f"{os.path.basename(path)}: {line.rstrip()}" for line in file
                      if any(word in line for word in ("snapshot", "kafka", "CRASH", "streaming", "progress", "error"))]
    return "\n".join(lines[-200:])


def snapshot_reads(messages):
    """Per key: how many snapshot reads (op r) of it the topic holds."""
    return collections.Counter(m["key"]["id"] for m in values(messages) if m["value"]["op"] == "r")


def read_through_sentinel(source, database, kafka, registry, sentinel):
    """Inserts row `sentinel` into numbers, reads the topic until it is there and then to the high watermarks, stops
    the source: every message."""
    database.execute(f"INSERT INTO numbers VALUES ({sentinel}, 0)")
    reader = TopicReader(kafka.bootstrap, registry.url, [topic("numbers")])
    try:
        reader.read_until(lambda got: any(m["key"]["id"] == sentinel for m in values(got)))
        messages = reader.read_to_end()
    finally:
        reader.close()
    source.stop()
    return messages


def test_a_snapshot_committed_to_kafka_is_not_taken_again(pg_database, registry, kafka, tmp_path):
    """Killed right after the initial snapshot's Kafka transaction commits, before its state file says done: the
    next start finds the snapshot's position in the offsets topic and does not read the table again."""
    create_numbers(pg_database, "numbers", 3000)
    source = KafkaWalSource(pg_database, registry.url, tmp_path, ["numbers"], kafka, snapshot=True, extra_arguments=["--snapshot-chunk-rows", "500"])
    try:
        source.start(environment={"WAL_SOURCE_CRASH_AFTER_COMMIT": "1"})
        assert source.process.wait(timeout=60) == -signal.SIGKILL, source.stderr()
        source.wait_slot_released()
        source.start()
        wait_for_log(source, "streaming from slot")
        assert "recorded done, not taken again" in source.stderr(), source.stderr()
        messages = read_through_sentinel(source, pg_database, kafka, registry, 3001)
    finally:
        source.close()
    reads = snapshot_reads(messages)
    assert set(reads) == set(range(1, 3001)), f"{3000 - len(reads)} rows never read"
    assert max(reads.values()) == 1, f"{sum(reads.values()) - 3000} rows read twice"


def test_a_snapshot_killed_before_its_kafka_commit_is_taken_again(pg_database, registry, kafka, tmp_path):
    """The initial snapshot's rows are queued while the brokers are away, and the source is killed while it waits
    to commit them (its state file has the snapshot's slot point already): the offsets topic does not hold that
    point, so the next start takes the snapshot again, and every row is there once."""
    create_numbers(pg_database, "numbers", 3000)
    source = KafkaWalSource(pg_database, registry.url, tmp_path, ["numbers"], kafka, snapshot=True, extra_arguments=["--snapshot-chunk-rows", "500"])
    locker = pg_database.connect()
    try:
        # The source is held (creating its publication) once it has talked to the brokers; they go away then, so
        # none of the snapshot's messages reaches them.
        locker.execute("BEGIN")
        locker.execute("LOCK TABLE numbers IN ACCESS EXCLUSIVE MODE")
        source.start()
        wait_until(lambda: source.check_running() or pg_database.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")[0][0] > 0,
            WAIT_SECONDS, message="the source to wait for the table's lock")
        kafka.command("down-all")
        locker.execute("COMMIT")
        wait_for_log(source, "kafka: waiting for the brokers")
        source.kill()
        kafka.command("up-all")
        source.start()
        wait_for_log(source, "streaming from slot")
        assert "did not finish; it is taken again" in source.stderr(), source.stderr()
        messages = read_through_sentinel(source, pg_database, kafka, registry, 3001)
    finally:
        kafka.command("up-all")
        locker.close()
        source.close()
    reads = snapshot_reads(messages)
    assert set(reads) == set(range(1, 3001)), f"{3000 - len(reads)} rows never read"
    assert max(reads.values()) == 1, f"{sum(reads.values()) - 3000} rows read twice"


def test_incremental_snapshot_progress_commits_with_kafka(pg_database, registry, kafka, tmp_path):
    """An incremental snapshot asked for while the source is down, then five runs each killed right after a Kafka
    commit (chunks of rows in it), then a normal run: the request is not lost with the commit that carried it,
    and no chunk is read twice: every row exactly once."""
    rows = 6000
    create_numbers(pg_database, "numbers", rows)
    source = KafkaWalSource(
        pg_database, registry.url, tmp_path, ["numbers"], kafka, extra_arguments=["--snapshot-chunk-rows", "400", "--snapshot-rows-per-second", "4000"])
    try:
        source.start().wait_ready()
        source.stop()
        code, output = request_snapshot(pg_database, "public.numbers")
        assert code == 0, output
        for run in range(5):
            source.start(environment={"WAL_SOURCE_CRASH_AFTER_COMMIT": str(1 + run % 2)})
            assert source.process.wait(timeout=60) == -signal.SIGKILL, f"run {run}:\n{source.stderr()}"
            source.wait_slot_released()
        source.start()
        wait_for_log(source, "incremental snapshot of public.numbers: done", timeout=120)
        messages = read_through_sentinel(source, pg_database, kafka, registry, rows + 1)
    finally:
        source.close()
    reads = snapshot_reads(messages)
    history = runs_log(tmp_path)
    assert set(reads) == set(range(1, rows + 1)), f"{rows - len(reads)} rows never read:\n{history}"
    assert max(reads.values()) == 1, f"{sum(reads.values()) - rows} rows read twice:\n{history}"


def test_kills_at_random_points_lose_nothing(pg_database, registry, kafka, tmp_path, report):
    pg_database.execute("CREATE TABLE rows (id int PRIMARY KEY, state text NOT NULL)")
    source = KafkaWalSource(pg_database, registry.url, tmp_path, ["rows"], kafka)
    random_points = random.Random(15)
    try:
        source.start().wait_ready()
        workload = start_workload(pg_database)
        for _ in range(5):
            time.sleep(random_points.uniform(0.5, 2.5))
            source.kill()
            source.start()
        workload.join(timeout=120)
        messages = read_all(kafka, registry)
        source.stop()
    finally:
        source.close()
    _, duplicates = check_at_least_once_in_order(messages)
    # Only an interrupted transaction's messages come twice: a real broker hides them from read_committed.
    report(f"{len(values(messages))} events for {INSERTS + UPDATES} changes: {duplicates} duplicates from interrupted transactions")


def test_brokers_gone_for_ten_seconds(pg_database, registry, kafka, tmp_path):
    pg_database.execute("CREATE TABLE rows (id int PRIMARY KEY, state text NOT NULL)")
    source = KafkaWalSource(pg_database, registry.url, tmp_path, ["rows"], kafka, extra_arguments=["--metrics-listen", "127.0.0.1:0"])
    try:
        source.start().wait_ready()
        metrics_url = wait_until(lambda: re.search(r"metrics on (http://127\.0\.0\.1:\d+/metrics)", source.stderr()), 10, message="the metrics address").group(1)
        wait_until(lambda: re.search(r"^wal_source_kafka_waiting 0$", requests.get(metrics_url, timeout=5).text, re.M), 10, message="the metrics")
        workload = start_workload(pg_database)
        time.sleep(2)
        kafka.command("down-all")
        before = pg_database.slot_state()[1]
        time.sleep(10)
        # Nothing acknowledged past what Kafka had while it was away.
        assert pg_database.slot_state()[1] - before < 1_000_000
        # The status line says so, while it waits (each second).
        waited = [int(seconds) for seconds in re.findall(r" kafka_queued=\d+ kafka=waiting_for_brokers_(\d+)s", source.stderr())]
        assert len(waited) >= 5 and max(waited) >= 5, source.stderr()[-3000:]
        assert re.search(r"^wal_source_kafka_waiting 1$", requests.get(metrics_url, timeout=5).text, re.M)
        kafka.command("up-all")
        workload.join(timeout=120)
        messages = read_all(kafka, registry)
        source.check_running()  # it resumed by itself
        source.stop()
    finally:
        source.close()
    per_key = events_per_key(messages)
    assert set(per_key) == set(range(1, INSERTS + 1))
    assert all(operations == expected_operations(key) for key, operations in per_key.items()), "no loss, no duplicate"
    assert "kafka" in source.stderr().lower()


@pytest.mark.parametrize("setting", ["message.max.bytes=2000", "queue.buffering.max.kbytes=2"], ids=["message-max", "larger-than-the-queue"])
def test_a_message_too_large_stops_the_source_without_acknowledging(pg_database, registry, kafka, tmp_path, setting):
    """Too large for the client's limit, or for its whole queue (where waiting for room never ends)."""
    pg_database.execute("CREATE TABLE rows (id int PRIMARY KEY, state text NOT NULL)")
    source = KafkaWalSource(pg_database, registry.url, tmp_path, ["rows"], kafka, extra_arguments=["--kafka-config", setting])
    try:
        source.start().wait_ready()
        pg_database.execute("INSERT INTO rows VALUES (1, 'small')")
        wait_until(lambda: pg_database.slot_state()[1] > 0, WAIT_SECONDS)
        acknowledged = pg_database.slot_state()[1]
        lsn_before = pg_database.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")[0][0]
        pg_database.execute("INSERT INTO rows VALUES (2, repeat('x', 5000))")
        code = source.wait_exit()
        assert code == 1, source.stderr()
        assert "Kafka refused an event for good" in source.stderr() and "too large" in source.stderr().lower(), source.stderr()
        assert pg_database.slot_state()[1] <= int(lsn_before), "the too-large change must not be acknowledged"
        assert acknowledged <= pg_database.slot_state()[1]
    finally:
        source.close()


@pytest.mark.parametrize("extra", [[], ["--at-least-once"]], ids=["exactly-once", "at-least-once"])
def test_a_message_the_brokers_refuse_as_too_large_stops_the_source(pg_database, registry, kafka, tmp_path, extra):
    """The brokers (not the client's own limit) answer a produce with MESSAGE_TOO_LARGE: the source stops with
    that reason, and the change is not acknowledged."""
    pg_database.execute("CREATE TABLE rows (id int PRIMARY KEY, state text NOT NULL)")
    source = KafkaWalSource(pg_database, registry.url, tmp_path, ["rows"], kafka, extra_arguments=extra)
    try:
        source.start().wait_ready()
        pg_database.execute("INSERT INTO rows VALUES (1, 'taken')")
        first = int(pg_database.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")[0][0])
        wait_until(lambda: pg_database.slot_state()[1] >= first, WAIT_SECONDS, message="the first change to be acknowledged")
        kafka.command("request-errors 0 10 100")  # Produce → MESSAGE_TOO_LARGE
        before = int(pg_database.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")[0][0])
        pg_database.execute("INSERT INTO rows VALUES (2, 'refused')")
        code = source.wait_exit()
        assert code == 1, source.stderr()
        assert "Kafka refused an event for good" in source.stderr() and "too large" in source.stderr().lower(), source.stderr()
        assert pg_database.slot_state()[1] <= before, "the refused change must not be acknowledged"
    finally:
        source.close()


@pytest.mark.parametrize("extra", [[], ["--at-least-once"]], ids=["exactly-once", "at-least-once"])
def test_a_topic_not_authorised_stops_the_source_without_acknowledging(pg_database, registry, kafka, tmp_path, extra):
    pg_database.execute("CREATE TABLE rows (id int PRIMARY KEY, state text NOT NULL)")
    kafka.command(f"topic-error {topic('rows')} 29")  # TOPIC_AUTHORIZATION_FAILED
    source = KafkaWalSource(pg_database, registry.url, tmp_path, ["rows"], kafka, extra_arguments=extra)
    try:
        source.start().wait_ready()
        acknowledged = pg_database.slot_state()[1]
        pg_database.execute("INSERT INTO rows VALUES (1, 'refused')")
        code = source.wait_exit()
        assert code == 1, source.stderr()
        assert "Kafka refused an event for good" in source.stderr() and "authoriz" in source.stderr().lower(), source.stderr()
        assert pg_database.slot_state()[1] == acknowledged, "the refused change must not be acknowledged"
    finally:
        source.close()


def test_a_position_written_from_another_cluster_is_not_used(pg_database, registry, kafka, tmp_path):
    """The offsets topic holds a position for this slot name from another PostgreSQL cluster (another system
    identifier), far ahead: used, it would skip every change and acknowledge a future LSN."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    producer.produce(f"{PREFIX}.wal-source.offsets", key=pg_database.slot.encode(), value=b"123456789/1/999999999999")
    assert producer.flush(10) == 0
    pg_database.execute("CREATE TABLE rows (id int PRIMARY KEY, state text NOT NULL)")
    source = KafkaWalSource(pg_database, registry.url, tmp_path, ["rows"], kafka)
    reader = None
    try:
        source.start().wait_ready()
        pg_database.execute("INSERT INTO rows SELECT i, 'x' FROM generate_series(1, 50) i")
        reader = TopicReader(kafka.bootstrap, registry.url, [topic("rows")])
        messages = reader.read_until(lambda got: len(values(got)) >= 50)
        assert {m["key"]["id"] for m in values(messages)} == set(range(1, 51))
        assert pg_database.slot_state()[1] < 999999999999
        assert "written from another PostgreSQL cluster or timeline" in source.stderr(), source.stderr()
        source.stop()
    finally:
        if reader:
            reader.close()
        source.close()


def test_sigterm_while_the_brokers_are_away(pg_database, registry, kafka, tmp_path):
    pg_database.execute("CREATE TABLE rows (id int PRIMARY KEY, state text NOT NULL)")
    source = KafkaWalSource(pg_database, registry.url, tmp_path, ["rows"], kafka)
    try:
        source.start().wait_ready()
        # A first change while the brokers are there: the topic is known, so the next changes are queued at once
        # and the source waits for their delivery (librdkafka would keep them for message.timeout.ms, 300 s).
        pg_database.execute("INSERT INTO rows VALUES (0, 'first')")
        first = int(pg_database.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")[0][0])
        wait_until(lambda: pg_database.slot_state()[1] >= first, WAIT_SECONDS, message="the first change to be acknowledged")
        kafka.command("down-all")
        before_insert = int(pg_database.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")[0][0])
        pg_database.execute("INSERT INTO rows SELECT i, 'x' FROM generate_series(1, 1000) i")
        wait_until(lambda: "waiting for the brokers" in source.stderr(), WAIT_SECONDS, message="the source to wait for the brokers")
        started = time.monotonic()
        source.stop()  # exit 0 within the wait bound, not after librdkafka's message timeout
        assert time.monotonic() - started < 25
        assert pg_database.slot_state()[1] <= before_insert, "nothing Kafka did not take is acknowledged"
    finally:
        kafka.command("up-all")
        source.close()
