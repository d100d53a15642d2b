#!/usr/bin/env python3
"""Driver of bench/wal.sh (see there for what is measured): wal-source throughput beside pg_recvlogical,
commit-to-sink latency at a steady insert rate, and wal-source's memory. Prints figures; it is not a test.

    python3 bench/wal_bench.py --bin-dir "$(swift build -c release --show-bin-path)"

Environment: ROWS (1000000), LATENCY_SECONDS (20), LATENCY_RATE (1000), MAX_WAIT_SECONDS (600), TMPDIR.

Also `wal_bench.py --pace-writer CONNINFO RATE SECONDS FIRST_ID`: the latency run's writer (a separate process):
one INSERT per transaction at RATE rows/s, paced on a monotonic clock; prints one JSON line of results.

Everything listens on and connects to 127.0.0.1. Every wait is bounded. Every process started here is stopped
(SIGTERM, then SIGKILL after a bound) and every temporary directory removed, also on failure or SIGINT/SIGTERM.
"""
import argparse
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "Tests", "interop"))

TABLE = "public.t"
PUBLICATION = "bench_pub"
PREFIX = "cdc"
STOP_SECONDS = 30
READY_SECONDS = 60

CREATE_TABLE = """
CREATE TABLE t (
    id bigint PRIMARY KEY,
    c_int integer NOT NULL,
    c_bigint bigint NOT NULL,
    c_name text NOT NULL,
    c_email text NOT NULL,
    c_amount numeric(12, 2) NOT NULL,
    c_score double precision NOT NULL,
    c_active boolean NOT NULL,
    c_created timestamptz NOT NULL,
    c_note text
)"""

# Row g (the same expressions in the bulk insert and in the paced writer; '%%' is psycopg's literal '%').
ROW_EXPRESSIONS = """g, (g %% 100000)::int, g * 7919, 'name-' || (g %% 1000), 'user' || (g %% 5000) || '@example.com',
    (g * 0.25)::numeric(12, 2), g * 0.5::float8, g %% 2 = 0, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second',
    CASE WHEN g %% 3 = 0 THEN NULL ELSE 'note ' || (g %% 10) END"""
BULK_INSERT = f"INSERT INTO t SELECT {ROW_EXPRESSIONS} FROM generate_series(1, %s::bigint) AS g"
ONE_INSERT = f"INSERT INTO t SELECT {ROW_EXPRESSIONS} FROM (SELECT %s::bigint AS g) AS s"


class Stop(BaseException):
    """SIGTERM: unwind through the finally blocks."""


def on_sigterm(signum, frame):
    raise Stop(f"signal {signum}")


def lsn_int(text):
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def lsn_text(value):
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def pct(xs, q):  # nearest rank
    xs = sorted(xs)
    return xs[max(1, math.ceil(q / 100 * len(xs))) - 1] if xs else float("nan")


def dirty_mb():
    with open("/proc/meminfo") as file:
        fields = dict(line.split(":", 1) for line in file if ":" in line)
    return (int(fields["Dirty"].split()[0]) + int(fields["Writeback"].split()[0])) // 1024


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def proc_status(pid):
    """VmRSS and VmHWM of a process in kB (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as file:
            fields = dict(line.split(":", 1) for line in file if ":" in line)
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        return None


class RSSSampler:
    """Samples VmRSS (and the last VmHWM) of a pid every `interval` seconds on a thread, until stopped."""

    def __init__(self, pid, interval):
        self.pid, self.interval = pid, interval
        self.samples = []  # (seconds since start, VmRSS kB)
        self.hwm = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            status = proc_status(self.pid)
            if status:
                self.samples.append((time.monotonic() - self._t0, status[0]))
                self.hwm = status[1]
            self._stop.wait(self.interval)

    def stop(self):
        """Takes a last sample (VmHWM before the caller stops the process) and ends the thread."""
        status = proc_status(self.pid)
        if status:
            self.samples.append((time.monotonic() - self._t0, status[0]))
            self.hwm = status[1]
        self._stop.set()
        self._thread.join(timeout=5)
        return self.hwm


class Processes:
    """Everything started here, to be stopped in the end whatever happens."""

    def __init__(self):
        self.items = []

    def start(self, arguments, stdout_path, stderr_path=None, **kwargs):
        with open(stdout_path, "wb") as out:
            err = open(stderr_path, "wb") if stderr_path else subprocess.STDOUT
            try:
                process = subprocess.Popen(arguments, stdout=out, stderr=err, stdin=subprocess.DEVNULL, **kwargs)
            finally:
                if stderr_path:
                    err.close()
        self.items.append(process)
        return process

    @staticmethod
    def stop(process, sig=signal.SIGTERM, timeout=STOP_SECONDS):
        """Signal, wait up to `timeout`, then SIGKILL. Returns (exit code, whether it had to be killed)."""
        if process.poll() is not None:
            return process.returncode, False
        process.send_signal(sig)
        try:
            return process.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
            return process.returncode, True

    def stop_all(self):
        for process in reversed(self.items):
            try:
                self.stop(process)
            except Exception as error:  # keep stopping the others
                print(f"warning: stopping pid {process.pid}: {error}", file=sys.stderr)


def read_text(path):
    try:
        with open(path, errors="replace") as file:
            return file.read()
    except OSError:
        return ""


def wait_for(predicate, timeout, interval, message):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(interval)


# --- the paced writer (a separate process) ----------------------------------------------------------------

def pace_writer(conninfo, rate, seconds, first_id):
    import psycopg

    total = int(round(rate * seconds))
    round_trips = []
    max_late = 0.0
    with psycopg.connect(conninfo, autocommit=True) as connection:
        period = 1.0 / rate
        last_lsn = None
        t0 = time.monotonic()
        for i in range(total):
            target = t0 + i * period
            now = time.monotonic()
            if now < target:
                time.sleep(target - now)
            else:
                max_late = max(max_late, now - target)
            if i == total - 1:
                # The position before the last transaction: the slot's confirmed_flush_lsn passes it only once
                # the last commit is acknowledged.
                last_lsn = connection.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
            start = time.monotonic()
            connection.execute(ONE_INSERT, (first_id + i,), prepare=True)
            round_trips.append(time.monotonic() - start)
        elapsed = time.monotonic() - t0
    print(json.dumps({
        "rows": total, "seconds": elapsed, "rate": total / elapsed, "max_late_ms": max_late * 1000,
        "rtt_ms_p50": pct(round_trips, 50) * 1000, "rtt_ms_p99": pct(round_trips, 99) * 1000,
        "last_lsn": last_lsn,
    }))


# --- the benchmark --------------------------------------------------------------------------------------

class Bench:
    def __init__(self, bin_dir, rows, latency_seconds, latency_rate, max_wait):
        self.bin_dir = bin_dir
        self.rows, self.latency_seconds, self.latency_rate, self.max_wait = rows, latency_seconds, latency_rate, max_wait
        self.processes = Processes()
        self.work = None
        self.cluster = None
        self.registry_url = None
        self.monitor = None
        self.problems = []  # what went wrong in wal-source (reported, not worked around)
        self.commands = []
        self.results = {}
        self.kafka = None  # the mock cluster (KAFKA_MOCK_CLUSTER), when the Kafka runs are on
        self.kafka_bootstrap = None

    # -- setup --

    def binary(self, name):
        return os.path.join(self.bin_dir, name)

    def log(self, message):
        print(message, flush=True)

    def setup(self):
        import psycopg
        from pg_cluster import PostgresCluster

        self.work = tempfile.mkdtemp(prefix="bench-wal.")
        self.cluster = PostgresCluster()
        self.cluster.start()
        admin = psycopg.connect(self.cluster.conninfo, autocommit=True)
        admin.execute("CREATE DATABASE bench")
        admin.close()
        self.conninfo = self.cluster.conninfo_for("bench")
        self.monitor = psycopg.connect(self.conninfo, autocommit=True)
        self.sql(CREATE_TABLE)
        self.sql(f"CREATE PUBLICATION {PUBLICATION} FOR TABLE {TABLE}")
        settings = {name: self.sql(f"SHOW {name}")[0][0] for name in (
            "server_version", "fsync", "synchronous_commit", "wal_level", "logical_decoding_work_mem", "wal_sender_timeout")}
        self.settings = settings

        registry_log = os.path.join(self.work, "registry.log")
        registry = self.processes.start(
            [self.binary("schema-registry"), "--listen", "127.0.0.1:0", "--db", os.path.join(self.work, "registry.db")], registry_log)

        def listening():
            if registry.poll() is not None:
                raise RuntimeError(f"schema-registry exited {registry.returncode}:\n{read_text(registry_log)}")
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", read_text(registry_log))
            return match and match.group(1)
        self.registry_url = wait_for(listening, 20, 0.05, "schema-registry to listen")

        mock = os.environ.get("KAFKA_MOCK_CLUSTER")
        if mock:
            self.kafka = subprocess.Popen([mock, "3"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
            self.processes.items.append(self.kafka)
            line = self.kafka.stdout.readline().split()
            if len(line) != 2 or line[0] != "BOOTSTRAP":
                raise RuntimeError(f"mock cluster said {line}")
            self.kafka_bootstrap = line[1]
            self.log(f"Kafka: librdkafka's mock cluster, 3 brokers at {self.kafka_bootstrap}")

        fs = subprocess.run(["stat", "-f", "-c", "%T", self.work], capture_output=True, text=True).stdout.strip()
        self.log(f"PostgreSQL {settings['server_version']} on 127.0.0.1:{self.cluster.port} (fsync={settings['fsync']}, "
                 f"synchronous_commit={settings['synchronous_commit']}, logical_decoding_work_mem={settings['logical_decoding_work_mem']}, "
                 f"wal_sender_timeout={settings['wal_sender_timeout']}); registry {self.registry_url}; "
                 f"sink files in {self.work} ({fs}); {os.cpu_count()} cores")

    def sql(self, statement, params=None):
        cursor = self.monitor.execute(statement, params)
        return cursor.fetchall() if cursor.description else None

    def slot_state(self, slot):
        rows = self.sql("SELECT active, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        if not rows:
            return None
        active, confirmed = rows[0]
        return bool(active), lsn_int(confirmed) if confirmed else 0

    def drop_slot(self, slot):
        wait_for(lambda: not (self.slot_state(slot) or (False, 0))[0], STOP_SECONDS, 0.1, f"slot {slot} to become inactive")
        if self.slot_state(slot):
            self.sql("SELECT pg_drop_replication_slot(%s)", (slot,))

    def reset_table(self):
        """Between runs, with no slot left: TRUNCATE is decoded by no one. Then a CHECKPOINT and a sync(1), so that no
        run pays for another's writeback: with fsync=off PostgreSQL leaves its WAL and heap (about 1 GB after a
        1M-row run) to the kernel, and that writeback slows every fdatasync of the next run by a lot."""
        assert not self.sql("SELECT 1 FROM pg_replication_slots"), "a slot is left over"
        self.sql("TRUNCATE t")
        self.sql("CHECKPOINT")
        dirty = dirty_mb()
        t0 = time.monotonic()
        try:
            subprocess.run(["sync"], timeout=180, check=False)
            self.log(f"  (CHECKPOINT, then sync: {dirty:,} MB dirty in the page cache written back in {time.monotonic() - t0:.1f} s)")
        except subprocess.TimeoutExpired:
            self.log(f"  (sync of {dirty:,} MB dirty pages did not finish within 180 s; going on)")

    # -- wal-source --

    def start_source(self, slot, name, kafka=False):
        out_dir = os.path.join(self.work, f"out-{name}")
        os.makedirs(out_dir)
        arguments = [self.binary("wal-source"), "--pg", self.conninfo, "--tables", TABLE, "--registry", self.registry_url,
                     "--slot", slot, "--publication", PUBLICATION, "--topic-prefix", PREFIX]
        arguments += ["--kafka-brokers", self.kafka_bootstrap, "--state-dir", out_dir] if kafka else ["--out", out_dir]
        self.commands.append(shlex.join(arguments))
        stderr_path = os.path.join(self.work, f"wal-source-{name}.stderr")
        process = self.processes.start(arguments, os.path.join(self.work, f"wal-source-{name}.stdout"), stderr_path)
        process.stderr_path = stderr_path
        process.sink = os.path.join(out_dir, f"{PREFIX}.{TABLE}.log")
        process.name = name

        def ready():
            self.check_alive(process)
            state = self.slot_state(slot)
            return state is not None and state[0] and state[1] != 0
        wait_for(ready, READY_SECONDS, 0.05, f"wal-source ({name}) to create and use slot {slot}")
        return process

    def check_alive(self, process):
        if process.poll() is not None:
            stderr = read_text(process.stderr_path)
            self.problems.append(f"wal-source ({process.name}) exited {process.returncode} unexpectedly; last stderr lines:\n"
                                 + "\n".join("    " + line for line in stderr.splitlines()[-15:]))
            raise RuntimeError(f"wal-source ({process.name}) exited {process.returncode}:\n{stderr[-4000:]}")

    def status_lines(self, process):
        return [line for line in read_text(process.stderr_path).splitlines() if "events=" in line and "summary" not in line]

    def stop_source(self, process):
        """SIGTERM; the exit code and the summary line's fields (and a problem noted if either is off)."""
        code, killed = Processes.stop(process)
        stderr = read_text(process.stderr_path)
        if killed:
            self.problems.append(f"wal-source ({process.name}) did not exit within {STOP_SECONDS} s of SIGTERM (killed)")
        elif code != 0:
            self.problems.append(f"wal-source ({process.name}) exited {code} on SIGTERM; last stderr lines:\n"
                                 + "\n".join("    " + line for line in stderr.splitlines()[-10:]))
        summary = {}
        for line in stderr.splitlines():
            if "summary" in line:
                summary = dict(re.findall(r"(\w+)=(\S+)", line))
        if not summary:
            self.problems.append(f"wal-source ({process.name}) printed no summary line")
        for line in stderr.splitlines():
            if re.search(r"warn|error|fail", line, re.IGNORECASE):
                self.problems.append(f"wal-source ({process.name}) stderr: {line.strip()}")
        return code, summary

    def consume_count(self, sink):
        """Events in a sink file as wal-consume decodes them (bounded), with the first and last key."""
        arguments = [self.binary("wal-consume"), "--file", sink, "--registry", self.registry_url]
        process = subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.processes.items.append(process)
        count, first, last, ops = 0, None, None, set()
        timer = threading.Timer(self.max_wait, process.kill)
        timer.start()
        t0 = time.monotonic()
        try:
            for line in process.stdout:
                count += 1
                if count == 1:
                    first = json.loads(line)
                last = line
                if count % 100000 == 1:
                    ops.add(json.loads(line)["op"])
            process.wait(timeout=30)
        finally:
            timer.cancel()
        err = process.stderr.read().decode(errors="replace")
        last = json.loads(last) if last else None
        return {"count": count, "code": process.returncode, "stderr": err.strip(), "seconds": time.monotonic() - t0,
                "first_id": first and first["key"]["id"], "last_id": last and last["key"]["id"], "ops": sorted(ops)}

    # -- 1. throughput, ours --

    def bulk_insert(self):
        """The one INSERT ... SELECT; returns (start, commit returned, insert position before the commit record)."""
        import psycopg

        with psycopg.connect(self.conninfo) as connection:
            t0 = time.monotonic()
            connection.execute(BULK_INSERT, (self.rows,))
            before_commit = lsn_int(connection.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0])
            connection.commit()
            t_commit = time.monotonic()
        return t0, t_commit, before_commit

    def kafka_count(self):
        """Messages written to the table's topic: the sum of its partitions' high watermarks (the mock cluster keeps
        only the newest of a partition's messages in memory, so they cannot all be read back)."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.kafka_bootstrap, "group.id": "bench-count", "isolation.level": "read_committed"})
        t0 = time.monotonic()
        topic = f"{PREFIX}.{TABLE}"
        partitions = list(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        count = sum(consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1] for partition in partitions)
        consumer.close()
        return {"count": count, "code": 0, "seconds": time.monotonic() - t0, "first_id": None, "last_id": None, "ops": [], "stderr": ""}

    def throughput_kafka(self):
        if not self.kafka_bootstrap:
            self.log("\n[kafka] no KAFKA_MOCK_CLUSTER: the Kafka runs are skipped")
            return
        self.throughput_ours(kafka=True)

    def throughput_ours(self, kafka=False):
        sink = "the mock Kafka cluster, exactly once" if kafka else "files"
        self.log(f"\n[throughput] wal-source into {sink}: INSERT ... SELECT FROM generate_series(1, {self.rows:,}) in one transaction")
        self.reset_table()
        slot = "bench_tput_kafka" if kafka else "bench_tput"
        source = self.start_source(slot, "throughput-kafka" if kafka else "throughput", kafka=kafka)
        rss = RSSSampler(source.pid, 0.2)
        t0, t_commit, before_commit = self.bulk_insert()
        cpu0 = cpu_seconds(source.pid)
        self.log(f"  insert: {t_commit - t0:.2f} s ({self.rows / (t_commit - t0):,.0f} rows/s into PostgreSQL), commit after {lsn_text(before_commit)}")

        def acknowledged():
            self.check_alive(source)
            return self.slot_state(slot)[1] > before_commit
        done = None
        try:
            wait_for(acknowledged, self.max_wait, 0.01, "wal-source to acknowledge the insert's commit")
            done = time.monotonic()
            cpu = cpu_seconds(source.pid)
            if cpu is not None and cpu0 is not None:
                self.log(f"  wal-source CPU from the commit to the acknowledgement: {cpu - cpu0:.2f} s "
                         f"({(cpu - cpu0) / (done - t_commit) * 100:.0f}% of one core)")
        except TimeoutError:
            lines = self.status_lines(source)
            self.problems.append(f"throughput: wal-source had not acknowledged the {self.rows:,}-row commit {self.max_wait:.0f} s after it; "
                                 f"last status: {lines[-1] if lines else '(none)'}")
        hwm = rss.stop()
        lines = self.status_lines(source)
        code, summary = self.stop_source(source)
        r = {"insert_s": t_commit - t0, "hwm_kb": hwm, "rss": rss.samples, "last_status": lines[-1] if lines else None,
             "summary": summary, "status_lines": lines}
        if done:
            r["seconds"] = done - t_commit
            r["rate"] = self.rows / r["seconds"]
            r["rate_from_start"] = self.rows / (done - t0)
            self.log(f"  all {self.rows:,} events fsynced and acknowledged {r['seconds']:.2f} s after the commit: "
                     f"{r['rate']:,.0f} events/s ({r['rate_from_start']:,.0f} rows/s from the INSERT's start)")
        self.log(f"  last status line: {r['last_status']}")
        self.log(f"  summary: {' '.join(f'{k}={v}' for k, v in summary.items())}")
        events = int(summary.get("events", -1))
        if events != self.rows:
            self.problems.append(f"throughput: wal-source's summary says events={events}, expected {self.rows}")
        self.drop_slot(slot)
        consumed = self.kafka_count() if kafka else self.consume_count(source.sink)
        if kafka:
            consumed.update(first_id=1, last_id=self.rows)  # counted, not decoded
        r["consumed"] = consumed
        ok = consumed["count"] == self.rows and consumed["code"] == 0 and consumed["first_id"] == 1 and consumed["last_id"] == self.rows
        self.log(f"  wal-consume: {consumed['count']:,} events (ids {consumed['first_id']}..{consumed['last_id']}, ops {consumed['ops']}) "
                 f"in {consumed['seconds']:.1f} s, exit {consumed['code']}: {'count verified' if ok else 'MISMATCH'}"
                 + ("" if kafka else f"; sink file {os.path.getsize(source.sink) / 1e6:,.1f} MB"))
        if not ok:
            self.problems.append(f"throughput: wal-consume read {consumed['count']} events (exit {consumed['code']}, ids "
                                 f"{consumed['first_id']}..{consumed['last_id']}), expected {self.rows}: {consumed['stderr'][:300]}")
        self.log(f"  wal-source RSS: peak (VmHWM) {hwm / 1024:,.1f} MB" if hwm else "  wal-source RSS: n/a")
        if not kafka:
            os.remove(source.sink)  # room on disk; the count is checked
        self.results["kafka" if kafka else "ours"] = r

    # -- 1b. throughput, pg_recvlogical --

    def throughput_pg_recvlogical(self):
        self.log(f"\n[throughput baseline] pg_recvlogical (raw pgoutput to a file): the same insert")
        self.reset_table()
        slot = "bench_recv"
        recv = os.path.join(self.cluster.bin_dir, "pg_recvlogical")
        subprocess.run([recv, "-d", self.conninfo, "--slot", slot, "--create-slot", "--plugin", "pgoutput"],
                       check=True, capture_output=True, timeout=READY_SECONDS)
        output = os.path.join(self.work, "pg_recvlogical.out")
        arguments = [recv, "-d", self.conninfo, "--slot", slot, "--start", "--no-loop", "-f", output, "--fsync-interval=1", "-s", "1",
                     "-o", "proto_version=1", "-o", f"publication_names={PUBLICATION}"]
        self.commands.append(shlex.join(arguments))
        stderr_path = os.path.join(self.work, "pg_recvlogical.stderr")
        process = self.processes.start(arguments, os.path.join(self.work, "pg_recvlogical.stdout"), stderr_path)

        def alive():
            if process.poll() is not None:
                raise RuntimeError(f"pg_recvlogical exited {process.returncode}: {read_text(stderr_path)}")
            return True

        wait_for(lambda: alive() and (self.slot_state(slot) or (False, 0))[0], READY_SECONDS, 0.05, "pg_recvlogical to use its slot")
        rss = RSSSampler(process.pid, 0.2)
        t0, t_commit, before_commit = self.bulk_insert()
        cpu0 = cpu_seconds(process.pid)
        self.log(f"  insert: {t_commit - t0:.2f} s ({self.rows / (t_commit - t0):,.0f} rows/s into PostgreSQL), commit after {lsn_text(before_commit)}")

        # Done when the file ends with our transaction's COMMIT message ('C', flags, commit LSN, end LSN, time; then
        # the '\n' pg_recvlogical adds); fallback: the file stopped growing for 3 s.
        state = {"size": -1, "grew": time.monotonic()}

        def in_file():
            alive()
            try:
                size = os.path.getsize(output)
            except OSError:
                return None
            now = time.monotonic()
            if size != state["size"]:
                state["size"], state["grew"] = size, now
                with open(output, "rb") as file:
                    file.seek(max(0, size - 27))
                    tail = file.read()
                for message in (tail[-27:-1] if tail.endswith(b"\n") else None, tail[-26:]):
                    if message and len(message) == 26 and message[0:1] == b"C" and int.from_bytes(message[10:18], "big") > before_commit:
                        return ("commit", now)
                return None
            if size > 0 and now - state["grew"] >= 3:
                return ("stopped growing", state["grew"])
            return None

        r = {"insert_s": t_commit - t0}
        try:
            how, t_file = wait_for(in_file, self.max_wait, 0.01, "pg_recvlogical's file to hold the commit")
            r["seconds"] = t_file - t_commit
            r["rate"] = self.rows / r["seconds"]
            r["how"] = how
            cpu = cpu_seconds(process.pid)
            self.log(f"  file complete ({how}) {r['seconds']:.2f} s after the commit: {r['rate']:,.0f} rows/s "
                     f"({self.rows / (t_file - t0):,.0f} rows/s from the INSERT's start); pg_recvlogical CPU "
                     f"{cpu - cpu0:.2f} s ({(cpu - cpu0) / r['seconds'] * 100:.0f}% of one core)")
            wait_for(lambda: alive() and self.slot_state(slot)[1] > before_commit, self.max_wait, 0.01,
                     "pg_recvlogical's slot to confirm the commit")
            t_ack = time.monotonic()
            r["ack_seconds"] = t_ack - t_commit
            r["ack_rate"] = self.rows / r["ack_seconds"]
            self.log(f"  fsynced and confirmed (1 s fsync and status intervals) {r['ack_seconds']:.2f} s after the commit: {r['ack_rate']:,.0f} rows/s")
        except TimeoutError as error:
            self.log(f"  baseline incomplete: {error}")
        r["hwm_kb"] = rss.stop()
        code, killed = Processes.stop(process, signal.SIGINT)
        if killed or code not in (0, 1):
            self.log(f"  note: pg_recvlogical exited {code}{' (killed)' if killed else ''}: {read_text(stderr_path)[-300:]}")
        self.drop_slot(slot)
        inserts, size = self.count_pgoutput_inserts(output)
        r["inserts"] = inserts
        self.log(f"  file: {size / 1e6:,.1f} MB of pgoutput, {inserts:,} INSERT messages "
                 f"({'count verified' if inserts == self.rows else f'MISMATCH: expected {self.rows:,}'}); "
                 f"pg_recvlogical peak RSS {r['hwm_kb'] / 1024:,.1f} MB")
        os.remove(output)
        self.results["recv"] = r

    @staticmethod
    def count_pgoutput_inserts(path):
        """Walks pg_recvlogical's output (each pgoutput v1 message then '\\n') and counts the INSERT messages."""
        with open(path, "rb") as file:
            data = file.read()
        n, pos, inserts = len(data), 0, 0

        def cstring(at):
            return data.index(b"\0", at) + 1

        def tuple_end(at):
            columns = int.from_bytes(data[at:at + 2], "big")
            at += 2
            for _ in range(columns):
                kind = data[at]
                at += 1
                if kind in (0x74, 0x62):  # 't', 'b'
                    at += 4 + int.from_bytes(data[at:at + 4], "big")
            return at

        while pos < n:
            kind = data[pos:pos + 1]
            at = pos + 1
            if kind == b"B":
                at += 20
            elif kind == b"C":
                at += 25
            elif kind == b"I":
                inserts += 1
                at = tuple_end(at + 5)
            elif kind == b"R":
                at = cstring(cstring(at + 4)) + 1
                columns = int.from_bytes(data[at:at + 2], "big")
                at += 2
                for _ in range(columns):
                    at = cstring(at + 1) + 8
            elif kind == b"Y":
                at = cstring(cstring(at + 4))
            elif kind == b"O":
                at = cstring(at + 8)
            else:
                raise RuntimeError(f"pg_recvlogical output: unexpected message {kind!r} at byte {pos}")
            if data[at:at + 1] != b"\n":
                raise RuntimeError(f"pg_recvlogical output: no newline after message {kind!r} at byte {pos}")
            pos = at + 1
        return inserts, n

    # -- 2. latency --

    def latency_kafka(self):
        if self.kafka_bootstrap:
            self.latency(kafka=True)

    def latency(self, kafka=False):
        self.log(f"\n[latency] wal-source into {'Kafka' if kafka else 'files'}: one row per transaction at {self.latency_rate:,} rows/s "
                 f"for {self.latency_seconds:g} s (writer in a separate process)")
        self.reset_table()
        slot = "bench_latency_kafka" if kafka else "bench_latency"
        source = self.start_source(slot, "latency-kafka" if kafka else "latency", kafka=kafka)
        rss = RSSSampler(source.pid, 1.0)
        writer_out = os.path.join(self.work, "writer.out")
        writer = self.processes.start(
            [sys.executable, os.path.abspath(__file__), "--pace-writer", self.conninfo, str(self.latency_rate), str(self.latency_seconds), "1"],
            writer_out, os.path.join(self.work, "writer.err"))
        try:
            writer.wait(timeout=self.latency_seconds * 3 + 60)
        except subprocess.TimeoutExpired:
            Processes.stop(writer)
            raise RuntimeError("the paced writer did not finish in time")
        t_last = time.monotonic()
        self.check_alive(source)
        if writer.returncode != 0:
            raise RuntimeError(f"the paced writer exited {writer.returncode}: {read_text(os.path.join(self.work, 'writer.err'))[-2000:]}")
        w = json.loads(read_text(writer_out).strip().splitlines()[-1])
        self.log(f"  writer: {w['rows']:,} rows in {w['seconds']:.2f} s = {w['rate']:,.1f} rows/s achieved "
                 f"(INSERT+COMMIT round trip p50 {w['rtt_ms_p50']:.2f} ms, p99 {w['rtt_ms_p99']:.2f} ms; most behind schedule {w['max_late_ms']:.1f} ms)")
        last_lsn = lsn_int(w["last_lsn"])
        catch_up = None
        try:
            wait_for(lambda: self.check_alive(source) or self.slot_state(slot)[1] > last_lsn, 60, 0.01, "the last commit to be acknowledged")
            catch_up = time.monotonic() - t_last
            self.log(f"  last commit acknowledged {catch_up * 1000:.0f} ms after the writer finished")
        except TimeoutError:
            lines = self.status_lines(source)
            self.problems.append(f"latency: the last commit was not acknowledged 60 s after the writer finished; last status: "
                                 f"{lines[-1] if lines else '(none)'}")
        hwm = rss.stop()
        lines = self.status_lines(source)
        code, summary = self.stop_source(source)
        self.log(f"  summary: {' '.join(f'{k}={v}' for k, v in summary.items())}")
        if summary.get("transactions") and int(summary["transactions"]) != w["rows"]:
            self.problems.append(f"latency: summary transactions={summary['transactions']}, writer committed {w['rows']}")
        if summary.get("events") and int(summary["events"]) != w["rows"]:
            self.problems.append(f"latency: summary events={summary['events']}, writer inserted {w['rows']}")
        rates = [int(m.group(1)) for line in lines for m in [re.search(r"events_per_s=(\d+)", line)] if m]
        lags = [int(m.group(1)) for line in lines for m in [re.search(r"lag_bytes=(\d+)", line)] if m]
        if rates:
            self.log(f"  status lines: {len(lines)}, events_per_s min/median/max {min(rates)}/{sorted(rates)[len(rates) // 2]}/{max(rates)}, "
                     f"lag_bytes max {max(lags):,}")
        samples = rss.samples
        if samples:
            early = [kb for t, kb in samples if t >= 2][:1] or [samples[0][1]]
            self.log(f"  wal-source RSS: {early[0] / 1024:,.1f} MB at 2 s, {samples[-1][1] / 1024:,.1f} MB at the end "
                     f"({samples[-1][0]:.0f} s); peak (VmHWM) {hwm / 1024:,.1f} MB")
        self.drop_slot(slot)
        self.results["latency_kafka" if kafka else "latency"] = {"writer": w, "summary": summary, "hwm_kb": hwm, "catch_up_s": catch_up, "rss": samples}

    # -- report --

    def report(self):
        ours, recv, lat = self.results.get("ours", {}), self.results.get("recv", {}), self.results.get("latency", {})

        def fmt(v, f="{:,.0f}"):
            return "n/a" if v is None else f.format(v)

        rows = []
        ratio = ours.get("rate") / recv["rate"] if ours.get("rate") and recv.get("rate") else None
        ratio_ack = ours.get("rate") / recv["ack_rate"] if ours.get("rate") and recv.get("ack_rate") else None
        rows.append(("events/s, one 10-column x {:,}-row INSERT (from COMMIT)".format(self.rows),
                     fmt(ours.get("rate")), fmt(recv.get("rate")) + " in file", fmt(ratio, "{:.2f}")))
        rows.append(("  pg_recvlogical until fsynced + confirmed (1 s intervals)", "", fmt(recv.get("ack_rate")), fmt(ratio_ack, "{:.2f}")))
        kafka = self.results.get("kafka", {})
        if kafka:
            ratio_file = kafka.get("rate") / ours["rate"] if kafka.get("rate") and ours.get("rate") else None
            rows.append(("  into Kafka, exactly once (ratio: of the file sink)", fmt(kafka.get("rate")), "", fmt(ratio_file, "{:.2f}")))
        s = lat.get("summary", {})
        w = lat.get("writer", {})
        rows.append((f"commit-to-sink ms p50 / p99 at {fmt(w.get('rate'), '{:,.0f}')} rows/s achieved "
                     f"(target {self.latency_rate:,}, {s.get('transactions', '?')} txns)",
                     f"{s.get('commit_to_sink_ms_p50', 'n/a')} / {s.get('commit_to_sink_ms_p99', 'n/a')}", "", ""))
        lk = self.results.get("latency_kafka", {})
        if lk:
            sk = lk.get("summary", {})
            rows.append((f"  into Kafka, commit-to-acknowledged ms p50 / p99 ({sk.get('transactions', '?')} txns)",
                         f"{sk.get('commit_to_sink_ms_p50', 'n/a')} / {sk.get('commit_to_sink_ms_p99', 'n/a')}", "", ""))
        rows.append(("peak RSS MB (VmHWM): throughput run / latency run",
                     f"{fmt(ours.get('hwm_kb') and ours['hwm_kb'] / 1024, '{:,.1f}')} / {fmt(lat.get('hwm_kb') and lat['hwm_kb'] / 1024, '{:,.1f}')}",
                     fmt(recv.get("hwm_kb") and recv["hwm_kb"] / 1024, "{:,.1f}"), ""))
        w0 = max(len(r[0]) for r in rows)
        w1 = max(12, max(len(r[1]) for r in rows))
        w2 = max(16, max(len(r[2]) for r in rows))
        print()
        print(f"| {'':<{w0}} | {'wal-source':>{w1}} | {'pg_recvlogical':>{w2}} | ratio |")
        print(f"|{'-' * (w0 + 2)}|{'-' * (w1 + 2)}|{'-' * (w2 + 2)}|-------|")
        for r in rows:
            print(f"| {r[0]:<{w0}} | {r[1]:>{w1}} | {r[2]:>{w2}} | {r[3]:>5} |")
        print()
        print("notes:")
        print(f"  - PostgreSQL runs with fsync={self.settings['fsync']} (Tests/interop/pg_cluster.py sets it and offers no override), "
              f"so its commits are not durable; wal-source fdatasyncs its sink at every COMMIT before acknowledging; "
              f"pg_recvlogical fsyncs every second (--fsync-interval=1).")
        print(f"  - The {self.rows:,}-row transaction exceeds logical_decoding_work_mem={self.settings['logical_decoding_work_mem']}: "
              "the walsender spills it to disk and sends it only after the COMMIT (proto_version=1, no streaming), in both runs.")
        print("  - Runs one at a time: wal-source throughput, then pg_recvlogical, then latency; the table is truncated with no slot "
              "in between, and a CHECKPOINT and a sync(1) precede each run.")
        print("\ncommand:")
        print(f"  ROWS={self.rows} LATENCY_SECONDS={self.latency_seconds:g} LATENCY_RATE={self.latency_rate} bench/wal.sh")
        for command in self.commands:
            print(f"  {command}")
        print("\nwal-source problems seen: " + ("none" if not self.problems else ""))
        for problem in self.problems:
            print(f"  - {problem}")

    def run(self):
        try:
            self.setup()
            for step in (self.throughput_ours, self.throughput_kafka, self.throughput_pg_recvlogical, self.latency, self.latency_kafka):
                try:
                    step()
                except Exception as error:  # noted; the next step still runs (Stop/KeyboardInterrupt are not Exceptions here)
                    self.log(f"  FAILED: {error}")
                    self.problems.append(f"{step.__name__}: {str(error).splitlines()[0]}")
                    self.processes.stop_all()
                    self.drop_all_slots()
            self.report()
        finally:
            self.processes.stop_all()
            if self.monitor is not None:
                self.monitor.close()
            if self.cluster is not None:
                self.cluster.stop()
            if self.work:
                shutil.rmtree(self.work, ignore_errors=True)
        return 1 if self.problems else 0

    def drop_all_slots(self):
        try:
            for (slot,) in self.sql("SELECT slot_name FROM pg_replication_slots"):
                self.drop_slot(slot)
        except Exception as error:
            self.log(f"  (could not drop the slots: {error})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir")
    parser.add_argument("--pace-writer", nargs=4, metavar=("CONNINFO", "RATE", "SECONDS", "FIRST_ID"))
    args = parser.parse_args()
    if args.pace_writer:
        conninfo, rate, seconds, first_id = args.pace_writer
        pace_writer(conninfo, float(rate), float(seconds), int(first_id))
        return 0
    if not args.bin_dir:
        parser.error("--bin-dir is required")
    signal.signal(signal.SIGTERM, on_sigterm)
    bench = Bench(args.bin_dir, int(os.environ.get("ROWS", "1000000")), float(os.environ.get("LATENCY_SECONDS", "20")),
                  int(os.environ.get("LATENCY_RATE", "1000")), float(os.environ.get("MAX_WAIT_SECONDS", "600")))
    return bench.run()


if __name__ == "__main__":
    sys.exit(main())
