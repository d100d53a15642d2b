#!/usr/bin/env bash
# Two registry nodes on one PostgreSQL database (issue 11), on this machine:
#   1. registrations/s and latency with 16 clients spread over both nodes (two wrk, -c8 each, every request a
#      new schema under a new subject), beside PostgreSQL's own commit rate in the same run (pgbench -N, 16
#      clients: the ceiling), and beside one SQLite node under the same load;
#   2. propagation: from an answered registration on node A to its visibility on node B's
#      GET /subjects/{s}/versions/latest (p50, p99 over SAMPLES registrations);
#   3. GET /schemas/ids/{id} on each node beside nginx answering the identical bytes (interleaved runs).
# Prints figures; it is not a test. Loopback only; PostgreSQL is a throwaway cluster (fsync off, as in the tests).
#
# Usage: bench/registry_nodes.sh
# Environment: THREADS (registry --threads, default 4, the server's own default), DURATION (wrk -d, default 10s), RUNS (fetch runs, default 3),
#              SAMPLES (propagation samples, default 300), BIN (default .build/release/schema-registry)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

THREADS=${THREADS:-4}
DURATION=${DURATION:-10s}
RUNS=${RUNS:-3}
SAMPLES=${SAMPLES:-300}
BIN=${BIN:-.build/release/schema-registry}

. bench/lib.sh
ensure_wrk_and_nginx
ensure_registry_binary
python3 -c 'import psycopg, requests' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check "psycopg[binary]" requests

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-nodes.XXXXXX")
chmod 755 "$WORK"
PIDS=""; NGINX_PID=""; PG_DATA=""
pg_run() {  # a PostgreSQL program from the cluster's bin directory, as the cluster's owner
    if [ "$PG_AS_POSTGRES" = 1 ]; then (cd /tmp && runuser -u postgres -- "$PG_BIN/$1" "${@:2}"); else "$PG_BIN/$1" "${@:2}"; fi
}
cleanup() {
    for pid in $PIDS $NGINX_PID; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in $PIDS $NGINX_PID; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$PG_DATA" ]; then pg_run pg_ctl -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true; rm -rf "$PG_ROOT"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

eval "$(python3 bench/pg_start.py)"
pg_run createdb -h 127.0.0.1 -p "$PG_PORT" -U postgres registry
pg_run createdb -h 127.0.0.1 -p "$PG_PORT" -U postgres pgbench
URI="postgresql://postgres@127.0.0.1:$PG_PORT/registry"
echo "PostgreSQL $(pg_run postgres --version | sed 's/.* //') on :$PG_PORT; $(nproc) cores; registry --threads $THREADS"

# --- 1. PostgreSQL's own commit rate: the ceiling ---------------------------------------------------------------
pg_run pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -q pgbench >/dev/null 2>&1
PGBENCH_TPS=$(pg_run pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -c 16 -j 2 -T "${DURATION%s}" -N pgbench 2>/dev/null \
    | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
echo "pgbench -N -c16 -j2 -T${DURATION%s}: $PGBENCH_TPS transactions/s"

# --- nodes ------------------------------------------------------------------------------------------------------
DB="$URI" SERVER_LOG="$WORK/a.log" start_registry; A_PORT=$PORT; PIDS="$PIDS $SERVER_PID"
DB="$URI" SERVER_LOG="$WORK/b.log" start_registry; B_PORT=$PORT; PIDS="$PIDS $SERVER_PID"
CT='Content-Type: application/vnd.schemaregistry.v1+json'
curl -sS -o /dev/null -X PUT -H "$CT" --data '{"compatibility":"NONE"}' "http://127.0.0.1:$A_PORT/config"

cat >"$WORK/register.lua" <<'EOF'
-- Every request registers a new schema under a new subject; `prefix` keeps threads and processes apart.
local counter = 0
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("prefix", (os.getenv("WRK_PREFIX") or "p") .. threads)
end
function request()
    counter = counter + 1
    local tag = prefix .. "_" .. counter
    local body = '{"schema":"{\\"type\\":\\"record\\",\\"name\\":\\"R' .. tag ..
        '\\",\\"fields\\":[{\\"name\\":\\"id\\",\\"type\\":\\"long\\"},{\\"name\\":\\"f' .. tag .. '\\",\\"type\\":\\"string\\"}]}"}'
    return wrk.format("POST", "/subjects/bench-" .. tag .. "-value/versions",
        {["Content-Type"] = "application/vnd.schemaregistry.v1+json"}, body)
end
EOF
write_wrk_parser
register_load() {  # name port [port2]: 16 connections split over the ports given
    local name=$1; shift
    local per=$((16 / $#)) i=0 loads=()
    : >"$WORK/$name.results"
    for port in "$@"; do
        i=$((i + 1))
        WRK_PREFIX="$name$i" wrk -t1 -c"$per" -d"$DURATION" --latency -s "$WORK/register.lua" "http://127.0.0.1:$port" \
            >"$WORK/$name.$i.out" &
        loads+=($!)
    done
    wait "${loads[@]}"
    for j in $(seq 1 $i); do python3 "$WORK/parse_wrk.py" "$name.$j" "$WORK/$name.results" <"$WORK/$name.$j.out"; done
}
echo
echo "registrations, 16 clients, each request a new schema under a new subject (wrk -d$DURATION):"
register_load nodes "$A_PORT" "$B_PORT"

# The same load on one SQLite node, for comparison.
DB="$WORK/sqlite.db" SERVER_LOG="$WORK/sqlite.log" start_registry; SQLITE_PORT=$PORT; SQLITE_PID=$SERVER_PID; PIDS="$PIDS $SERVER_PID"
curl -sS -o /dev/null -X PUT -H "$CT" --data '{"compatibility":"NONE"}' "http://127.0.0.1:$SQLITE_PORT/config"
register_load sqlite "$SQLITE_PORT"
kill -TERM "$SQLITE_PID"; wait "$SQLITE_PID" 2>/dev/null || true

python3 - "$WORK/nodes.results" "$WORK/sqlite.results" "$PGBENCH_TPS" <<'EOF'
import sys
def load(path):
    rows = [tuple(map(float, line.split())) for line in open(path) if line.strip()]
    return sum(r[0] for r in rows), max(r[1] for r in rows)
nodes, sqlite, pgbench = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
print(f"two PostgreSQL nodes: {nodes[0]:>8.0f} registrations/s   p99 {nodes[1]:.1f} ms (worse of the two)"
      f"   target >= 2000/s, p99 < 50 ms: {'met' if nodes[0] >= 2000 and nodes[1] < 50 else 'NOT met'}")
print(f"pgbench -N ceiling:   {pgbench:>8.0f} transactions/s   ratio nodes/pgbench {nodes[0] / pgbench:.2f}")
print(f"one SQLite node:      {sqlite[0]:>8.0f} registrations/s   p99 {sqlite[1]:.1f} ms   ratio nodes/sqlite {nodes[0] / sqlite[0]:.2f}")
EOF

# --- 2. propagation A -> B --------------------------------------------------------------------------------------
echo
python3 - "$A_PORT" "$B_PORT" "$SAMPLES" <<'EOF'
import json, statistics, sys, time
import requests
a, b, samples = f"http://127.0.0.1:{sys.argv[1]}", f"http://127.0.0.1:{sys.argv[2]}", int(sys.argv[3])
sa, sb = requests.Session(), requests.Session()
ct = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
delays = []
for i in range(samples):
    subject = f"propagation-{i}"
    schema = json.dumps({"type": "record", "name": f"P{i}", "fields": [{"name": "a", "type": "int"}]})
    assert sa.post(f"{a}/subjects/{subject}/versions", data=json.dumps({"schema": schema}), headers=ct).status_code == 200
    answered = time.perf_counter()
    while sb.get(f"{b}/subjects/{subject}/versions/latest").status_code != 200:
        if time.perf_counter() - answered > 5:
            sys.exit(f"{subject} not visible on node B after 5 s")
    delays.append((time.perf_counter() - answered) * 1000)
delays.sort()
p50, p99 = statistics.median(delays), delays[int(len(delays) * 0.99) - 1]
# The floor: one GET on node B of a subject it already has (what every poll costs).
floor = []
for _ in range(200):
    started = time.perf_counter()
    sb.get(f"{b}/subjects/propagation-0/versions/latest")
    floor.append((time.perf_counter() - started) * 1000)
print(f"propagation A -> B over {samples}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {delays[-1]:.2f} ms"
      f"   (one GET on B alone: p50 {statistics.median(floor):.2f} ms)   target p99 < 100 ms: {'met' if p99 < 100 else 'NOT met'}")
EOF

# --- 3. fetch by id on each node beside nginx ---------------------------------------------------------------------
reg=$(python3 -c 'import json; print(json.dumps({"schema": json.dumps({"type":"record","name":"Order","namespace":"com.example.shop.cdc","doc":"A row of the orders table.","fields":[{"name":"id","type":"long"},{"name":"customer_id","type":"long"},{"name":"currency","type":"string","default":"EUR"},{"name":"note","type":["null","string"],"default":None}]})}))' \
    | curl -sS -X POST -H "$CT" --data-binary @- "http://127.0.0.1:$A_PORT/subjects/orders-value/versions")
SCHEMA_ID=$(printf '%s' "$reg" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -sS -D "$WORK/ours.headers" -o "$WORK/body.bin" "http://127.0.0.1:$B_PORT/schemas/ids/$SCHEMA_ID"
CTYPE=$(sed -n 's/^[Cc]ontent-[Tt]ype: *\(.*\)\r$/\1/p' "$WORK/ours.headers" | head -1)
curl -sS -o "$WORK/body.a" "http://127.0.0.1:$A_PORT/schemas/ids/$SCHEMA_ID"
cmp -s "$WORK/body.a" "$WORK/body.bin" || { echo "the nodes answer different bodies" >&2; exit 1; }
start_nginx_with "$WORK/body.bin" "$CTYPE"
URL_NGINX="http://127.0.0.1:$NGINX_PORT/schemas/ids/$SCHEMA_ID"
check_nginx_serves_the_same "$URL_NGINX"
echo
echo "GET /schemas/ids/$SCHEMA_ID ($(wc -c <"$WORK/body.bin") bytes), wrk -t2 -c64 -d$DURATION, interleaved:"
for name in nodeA nodeB nginx; do : >"$WORK/$name.results"; done
wrk -t2 -c64 -d2s "http://127.0.0.1:$A_PORT/schemas/ids/$SCHEMA_ID" >/dev/null
wrk -t2 -c64 -d2s "$URL_NGINX" >/dev/null
for _ in $(seq 1 "$RUNS"); do
    wrk -t2 -c64 -d"$DURATION" --latency "http://127.0.0.1:$A_PORT/schemas/ids/$SCHEMA_ID" | python3 "$WORK/parse_wrk.py" nodeA "$WORK/nodeA.results"
    wrk -t2 -c64 -d"$DURATION" --latency "http://127.0.0.1:$B_PORT/schemas/ids/$SCHEMA_ID" | python3 "$WORK/parse_wrk.py" nodeB "$WORK/nodeB.results"
    wrk -t2 -c64 -d"$DURATION" --latency "$URL_NGINX" | python3 "$WORK/parse_wrk.py" nginx "$WORK/nginx.results"
done
python3 - "$WORK/nodeA.results" "$WORK/nodeB.results" "$WORK/nginx.results" <<'EOF'
import statistics, sys
def median(path):
    return statistics.median(float(line.split()[0]) for line in open(path) if line.strip())
a, b, nginx = (median(p) for p in sys.argv[1:4])
for name, value in (("node A", a), ("node B", b)):
    print(f"median {name}: {value:>10.0f} req/s   ratio to nginx {value / nginx:.2f}  (target >= 0.7: {'met' if value / nginx >= 0.7 else 'NOT met'})")
print(f"median nginx : {nginx:>10.0f} req/s")
EOF
for log in "$WORK/a.log" "$WORK/b.log"; do grep -iE 'error|warn' "$log" | head -3 || true; done
