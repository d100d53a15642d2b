#!/usr/bin/env bash
# WAL source benchmark (driver: bench/wal_bench.py). In one run, on a throwaway PostgreSQL cluster
# (Tests/interop/pg_cluster.py: wal_level=logical, loopback only) and a schema-registry on a temporary database:
#
#   Each of 1 and 2 runs twice: into files (--out) and into librdkafka's mock Kafka cluster (exactly once), where
#   "acknowledged" means committed in a Kafka transaction with the source's position, then confirmed to the slot.
#   1. throughput: a 10-column table, wal-source streaming it, one INSERT ... SELECT FROM generate_series(1, ROWS);
#      events/s = ROWS / (time from the INSERT's COMMIT until the slot's confirmed_flush_lsn passes the commit,
#      i.e. every event is fsynced in the sink file and acknowledged); the count is checked from the source's
#      summary line and with wal-consume.
#      Baseline, same insert (table truncated, no slot in between), run afterwards, never concurrently:
#      pg_recvlogical (the cluster's own) writing raw pgoutput (proto_version=1) to a file, no decoding, no Avro:
#      rows/s until its file holds the transaction's COMMIT message, and until its slot confirms the commit
#      (it fsyncs and reports every second: --fsync-interval=1 -s 1). Ratio ours / pg_recvlogical.
#   2. latency: a fresh wal-source (new slot, table truncated), one row per transaction at LATENCY_RATE rows/s
#      for LATENCY_SECONDS from a separate process, paced with a monotonic clock; SIGTERM, then the source's own
#      commit_to_sink_ms_p50 / p99 (PostgreSQL commit timestamp -> events fsynced in the sink file).
#   3. peak RSS of wal-source (VmHWM from /proc/PID/status just before SIGTERM) in both runs, and RSS over time.
#
# Before each run: TRUNCATE (no slot exists then), CHECKPOINT and sync(1), so no run pays for the previous one's
# writeback (PostgreSQL with fsync=off leaves ~1 GB of dirty pages per 1M-row run to the kernel, which makes the
# next run's fdatasync calls much slower).
# Caveat printed with the figures: pg_cluster.py starts PostgreSQL with fsync=off and offers no way to override
# its options, so PostgreSQL's own commits are not durable here, while our sink does fdatasync each COMMIT.
# Prints figures; it is not a test. Every wait is bounded; processes and temp dirs are removed on exit.
#
# Usage: bench/wal.sh [--skip-build]
# Environment:
#   ROWS (1000000)  LATENCY_SECONDS (20)  LATENCY_RATE (1000)  MAX_WAIT_SECONDS (600, bound per throughput wait)
#   PYTHON (python3)  TMPDIR (where the sink files and the registry database go)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SKIP_BUILD=0
for arg in "$@"; do
    case "$arg" in
        --skip-build) SKIP_BUILD=1 ;;
        -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
        *) echo "wal.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

PYTHON=${PYTHON:-python3}
say() { printf '==> %s\n' "$*" >&2; }

if [ -f scripts/setup.sh ]; then
    say "bash scripts/setup.sh"
    bash scripts/setup.sh
fi
command -v "$PYTHON" >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 python3-pip >/dev/null; }
if ! "$PYTHON" -c 'import psycopg' 2>/dev/null; then
    say "installing psycopg[binary]"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check "psycopg[binary]"
fi

if [ "$SKIP_BUILD" -eq 0 ]; then
    say "swift build -c release"
    swift build -c release >&2
fi
BIN_DIR=$(swift build -c release --show-bin-path)
for binary in wal-source wal-consume schema-registry; do
    [ -x "$BIN_DIR/$binary" ] || { echo "wal.sh: missing $BIN_DIR/$binary" >&2; exit 1; }
done

# Kafka: librdkafka's mock cluster (three brokers on loopback) for the Kafka runs; confluent-kafka counts the topic.
cc -O2 -o "$BIN_DIR/mock_cluster" Tests/kafka/mock_cluster.c $(pkg-config --cflags --libs rdkafka)
export KAFKA_MOCK_CLUSTER="$BIN_DIR/mock_cluster"
"$PYTHON" -c 'import confluent_kafka' 2>/dev/null || "$PYTHON" -m pip install --quiet --disable-pip-version-check confluent-kafka

# exec: the driver gets SIGINT/SIGTERM itself and stops everything it started.
exec "$PYTHON" bench/wal_bench.py --bin-dir "$BIN_DIR"
