#!/usr/bin/env bash
# HTTP write benchmark: new-schema registrations/s and latency with CLIENTS concurrent clients (python3 threads,
# one http.client keep-alive connection each), every registration a distinct, compatible, durable new schema
# (the registry commits each one to SQLite, WAL, synchronous=FULL, before answering).
#
# Client i registers PER_CLIENT schemas: subjects cdc.c{i}.t{n}-value, 10 versions each, every version the
# previous record plus one nullable field (BACKWARD compatible, the default level), all texts distinct
# (record name and namespace per client and table), so every answer is a new id. Bodies are built before the
# clock starts. Bounded by count (CLIENTS x PER_CLIENT) and by MAX_SECONDS.
#
# Baseline in the same run, on the same file system: bare durable SQLite commits/s with python's sqlite3
# (WAL, synchronous=FULL, one small INSERT per transaction), with 1 thread and with 16 threads (one connection
# each); the ratio registrations/s / commits/s is printed against both.
# Targets: >= 2,000 registrations/s, p99 < 20 ms. Prints figures; it is not a test. Loopback only.
#
# Usage: bench/http_register.sh
# Environment:
#   CLIENTS (16)  PER_CLIENT (500)  MAX_SECONDS (120)  THREADS (registry --threads, default 4)
#   SQLITE_COMMITS (8000 per baseline run)  SQLITE_SECONDS (20, bound per baseline run)
#   BIN (default .build/release/schema-registry, built if missing)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CLIENTS=${CLIENTS:-16}
PER_CLIENT=${PER_CLIENT:-500}
MAX_SECONDS=${MAX_SECONDS:-120}
THREADS=${THREADS:-4}
SQLITE_COMMITS=${SQLITE_COMMITS:-8000}
SQLITE_SECONDS=${SQLITE_SECONDS:-20}
BIN=${BIN:-.build/release/schema-registry}

. bench/lib.sh
ensure_registry_binary

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-register.XXXXXX")
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_registry

echo "registry --threads $THREADS on :$PORT; database in $WORK ($(stat -f -c %T "$WORK") file system); $(nproc) cores"

cat >"$WORK/bench.py" <<'EOF'
import http.client, json, math, os, sqlite3, statistics, sys, threading, time

port, server_pid, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
CLIENTS, PER_CLIENT, MAX_SECONDS = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
SQLITE_COMMITS, SQLITE_SECONDS = int(sys.argv[7]), float(sys.argv[8])
HEADERS = {"Content-Type": "application/vnd.schemaregistry.v1+json", "Accept": "application/vnd.schemaregistry.v1+json"}
TICKS = os.sysconf("SC_CLK_TCK")

def pct(xs, q):  # nearest rank
    xs = sorted(xs)
    return xs[max(1, math.ceil(q / 100 * len(xs))) - 1]

def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS

BASE = [
    {"name": "id", "type": "long"},
    {"name": "tenant_id", "type": "int"},
    {"name": "name", "type": "string"},
    {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
    {"name": "status", "type": "string", "default": "new"},
    {"name": "created_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "updated_at", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}], "default": None},
    {"name": "note", "type": ["null", "string"], "default": None},
]

def body(client, table, version):
    fields = BASE + [{"name": f"extra_{k}", "type": ["null", "string"], "default": None} for k in range(version)]
    schema = {"type": "record", "name": f"Table{table}", "namespace": f"com.example.cdc.c{client}", "fields": fields}
    return json.dumps({"schema": json.dumps(schema, separators=(",", ":"))}).encode()

work_items = [[(f"/subjects/cdc.c{c}.t{j // 10}-value/versions", body(c, j // 10, j % 10)) for j in range(PER_CLIENT)]
              for c in range(CLIENTS)]
sizes = [len(b) for items in work_items for _, b in items]

latencies = [[] for _ in range(CLIENTS)]
errors = [dict() for _ in range(CLIENTS)]
ids = [set() for _ in range(CLIENTS)]
barrier = threading.Barrier(CLIENTS + 1)
deadline = [0.0]

def client(c):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.connect()
    barrier.wait()
    for path, payload in work_items[c]:
        if time.perf_counter() > deadline[0]:
            break
        t0 = time.perf_counter()
        try:
            conn.request("POST", path, payload, HEADERS)
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException) as e:
            status, data = type(e).__name__, b""
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies[c].append(time.perf_counter() - t0)
        if status == 200:
            ids[c].add(json.loads(data)["id"])
        else:
            key = f"{status} {data[:120].decode(errors='replace')}"
            errors[c][key] = errors[c].get(key, 0) + 1
    conn.close()

threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
for t in threads:
    t.start()
server_cpu0, client_cpu0 = cpu_seconds(server_pid), os.times()
start = time.perf_counter()
deadline[0] = start + MAX_SECONDS
barrier.wait()
for t in threads:
    t.join()
elapsed = time.perf_counter() - start
server_cpu = cpu_seconds(server_pid) - server_cpu0
client_times = os.times()
client_cpu = (client_times.user - client_cpu0.user) + (client_times.system - client_cpu0.system)

lat = [x for xs in latencies for x in xs]
all_ids = set().union(*ids)
ok = sum(len(x) for x in ids)
err = {}
for e in errors:
    for k, v in e.items():
        err[k] = err.get(k, 0) + v
attempted = len(lat)
rate = ok / elapsed
print(f"\nregistrations: {CLIENTS} clients x {PER_CLIENT} (bound {MAX_SECONDS:.0f} s), bodies {min(sizes)}..{max(sizes)} bytes")
print(f"  done {attempted} in {elapsed:.2f} s{'  (TIME BOUND HIT)' if attempted < CLIENTS * PER_CLIENT else ''}: "
      f"{ok} answered 200 with {len(all_ids)} distinct ids; errors {sum(err.values())}")
for k, v in sorted(err.items(), key=lambda kv: -kv[1])[:5]:
    print(f"    {v} x {k}")
print(f"  registrations/s: {rate:,.0f}   (target >= 2,000: {'met' if rate >= 2000 else 'NOT met'})")
p99 = pct(lat, 99) * 1000
print(f"  latency ms: p50 {pct(lat, 50) * 1000:.2f}  p90 {pct(lat, 90) * 1000:.2f}  p99 {p99:.2f}  max {max(lat) * 1000:.2f}"
      f"   (p99 target < 20 ms: {'met' if p99 < 20 else 'NOT met'})")
print(f"  CPU during the run: server {server_cpu:.1f} s ({server_cpu / elapsed * 100:.0f}% of a core), "
      f"python clients {client_cpu:.1f} s ({client_cpu / elapsed * 100:.0f}%)")

# Sanity: the subjects are there.
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
conn.request("GET", "/subjects")
resp = conn.getresponse()
subjects = json.loads(resp.read()) if resp.status == 200 else []
print(f"  GET /subjects afterwards: {resp.status}, {len(subjects)} subjects")
conn.close()

# --- baseline: bare durable SQLite commits ---------------------------------------------------------------------
def sqlite_run(n_threads):
    path = os.path.join(work, f"baseline-{n_threads}.db")
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT NOT NULL)")
    setup.close()
    per_thread = SQLITE_COMMITS // n_threads
    done = [0] * n_threads
    bar = threading.Barrier(n_threads + 1)
    stop_at = [0.0]
    def worker(i):
        db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=30000")
        payload = "x" * 100
        bar.wait()
        for j in range(per_thread):
            if time.perf_counter() > stop_at[0]:
                break
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t(k, v) VALUES (?, ?)", (f"{i}-{j}", payload))
            db.execute("COMMIT")
            done[i] += 1
        db.close()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in ts:
        t.start()
    t0 = time.perf_counter()
    stop_at[0] = t0 + SQLITE_SECONDS
    bar.wait()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    return sum(done), dt

print(f"\nbaseline: python sqlite3 {sqlite3.sqlite_version}, WAL, synchronous=FULL, one 100-byte INSERT per transaction")
rates = {}
for n in (1, 16):
    count, dt = sqlite_run(n)
    rates[n] = count / dt
    print(f"  {n:>2} thread{'s' if n > 1 else ' '}: {count} commits in {dt:.2f} s = {rates[n]:,.0f} commits/s")
print(f"\nratio registrations/s / SQLite commits/s: {rate / rates[1]:.2f} (vs 1 thread), {rate / rates[16]:.2f} (vs 16 threads)")
EOF

python3 "$WORK/bench.py" "$PORT" "$SERVER_PID" "$WORK" "$CLIENTS" "$PER_CLIENT" "$MAX_SECONDS" "$SQLITE_COMMITS" "$SQLITE_SECONDS"
kill -0 "$SERVER_PID" 2>/dev/null || { echo "the registry died during the run" >&2; cat "$WORK/server.log" >&2; exit 1; }
if grep -qiE 'error|warn' "$WORK/server.log"; then
    echo "server log:"; grep -iE 'error|warn' "$WORK/server.log" | head -5
fi
