#!/usr/bin/env bash
# Scale benchmark: register SUBJECTS x VERSIONS schemas (default 10,000 x 10 = 100,000) with CLIENTS concurrent
# clients (python3 threads, keep-alive http.client), every version the previous record plus one nullable field
# (BACKWARD compatible), all texts distinct. Then:
#   * resident memory of the server (VmRSS / VmHWM from /proc/PID/status; target < 400 MB);
#   * GET /subjects latency (median of 20, keep-alive) and body size;
#   * SIGTERM, restart on the same database and port, time from process start to the first 200 answer of
#     GET /subjects (target < 2 s), memory after the restart, GET /subjects latency again.
# Bounded by MAX_SECONDS for the load: if that is hit it says so and reports how far it got and the rate.
# Prints figures and a summary table; it is not a test. Loopback only.
#
# Usage: bench/scale.sh
# Environment:
#   SUBJECTS (10000)  VERSIONS (10)  CLIENTS (16)  MAX_SECONDS (600, load bound)  THREADS (registry, default 4)
#   BIN (default .build/release/schema-registry, built if missing)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SUBJECTS=${SUBJECTS:-10000}
VERSIONS=${VERSIONS:-10}
CLIENTS=${CLIENTS:-16}
MAX_SECONDS=${MAX_SECONDS:-600}
THREADS=${THREADS:-4}
BIN=${BIN:-.build/release/schema-registry}

. bench/lib.sh
ensure_registry_binary

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-scale.XXXXXX")
# The python driver starts and stops the server itself; it writes the running server's pid here so that the
# trap can stop it if the driver is interrupted.
cleanup() {
    if [ -s "$WORK/server.pid" ]; then
        pid=$(cat "$WORK/server.pid")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$WORK/scale.py" <<'EOF'
import http.client, json, os, re, signal, socket, statistics, subprocess, sys, threading, time

BIN, WORK = sys.argv[1], sys.argv[2]
SUBJECTS, VERSIONS, CLIENTS, MAX_SECONDS, THREADS = (int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
                                                     float(sys.argv[6]), int(sys.argv[7]))
DB = os.path.join(WORK, "registry.db")
HEADERS = {"Content-Type": "application/vnd.schemaregistry.v1+json", "Accept": "application/vnd.schemaregistry.v1+json"}

def status_kb(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0

def start_server(port, log_name):
    log = open(os.path.join(WORK, log_name), "w")
    t0 = time.perf_counter()
    proc = subprocess.Popen([BIN, "--listen", f"127.0.0.1:{port}", "--db", DB, "--threads", str(THREADS)],
                            stdout=log, stderr=subprocess.STDOUT)
    open(os.path.join(WORK, "server.pid"), "w").write(str(proc.pid))
    return proc, t0

def stop_server(proc):
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
        print("  server did not stop within 30 s of SIGTERM: killed")
    open(os.path.join(WORK, "server.pid"), "w").write("")
    return code, time.perf_counter() - t0

def wait_port(log_name, proc):
    path = os.path.join(WORK, log_name)
    for _ in range(400):
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", open(path).read())
        if m:
            return int(m.group(1))
        if proc.poll() is not None:
            sys.exit(f"server exited ({proc.returncode}):\n" + open(path).read())
        time.sleep(0.025)
    sys.exit("server did not start:\n" + open(path).read())

def subjects_latency(port, n=20):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times, size, count = [], 0, 0
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", "/subjects", headers={"Accept": HEADERS["Accept"]})
        resp = conn.getresponse()
        data = resp.read()
        times.append(time.perf_counter() - t0)
        if resp.status != 200:
            print(f"  GET /subjects answered {resp.status}: {data[:200]!r}")
        size, count = len(data), len(json.loads(data)) if resp.status == 200 else 0
    conn.close()
    return statistics.median(times) * 1000, max(times) * 1000, size, count

BASE = [
    {"name": "id", "type": "long"},
    {"name": "account_id", "type": "long"},
    {"name": "title", "type": "string"},
    {"name": "description", "type": ["null", "string"], "default": None},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
    {"name": "quantity", "type": "int", "default": 0},
    {"name": "state", "type": {"type": "enum", "name": "State", "symbols": ["DRAFT", "ACTIVE", "ARCHIVED"], "default": "DRAFT"}},
    {"name": "created_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "updated_at", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}], "default": None},
    {"name": "deleted", "type": "boolean", "default": False},
]

def body(subject, version):
    fields = BASE + [{"name": f"col_{k}", "type": ["null", "string"], "default": None} for k in range(1, version)]
    schema = {"type": "record", "name": f"Table{subject}", "namespace": f"com.example.cdc.db{subject // 100}",
              "doc": f"CDC row of table {subject}", "fields": fields}
    return json.dumps({"schema": json.dumps(schema, separators=(",", ":"))}).encode()

rows = []  # summary table: (what, value, target, verdict)

# --- 1. start, load --------------------------------------------------------------------------------------------
proc, _ = start_server(0, "server1.log")
port = wait_port("server1.log", proc)
rss0 = status_kb(proc.pid, "VmRSS")
print(f"registry --threads {THREADS} on :{port}, pid {proc.pid}, VmRSS at start {rss0 / 1024:.1f} MB; {os.cpu_count()} cores")
print(f"loading {SUBJECTS} subjects x {VERSIONS} versions = {SUBJECTS * VERSIONS} schemas with {CLIENTS} clients "
      f"(bound {MAX_SECONDS:.0f} s); body {len(body(0, 1))}..{len(body(SUBJECTS - 1, VERSIONS))} bytes")

done = [0] * CLIENTS
ok = [0] * CLIENTS
errors = {}
errors_lock = threading.Lock()
stop = threading.Event()
deadline = time.perf_counter() + MAX_SECONDS

def client(c):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for s in range(c, SUBJECTS, CLIENTS):
        path = f"/subjects/cdc.db{s // 100}.table{s}-value/versions"
        for v in range(1, VERSIONS + 1):
            if stop.is_set() or time.perf_counter() > deadline:
                conn.close()
                return
            try:
                conn.request("POST", path, body(s, v), HEADERS)
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException) as e:
                status, data = type(e).__name__, b""
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            done[c] += 1
            if status == 200:
                ok[c] += 1
            else:
                key = f"{status} {data[:160].decode(errors='replace')}"
                with errors_lock:
                    errors[key] = errors.get(key, 0) + 1
    conn.close()

threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(CLIENTS)]
t_load = time.perf_counter()
for t in threads:
    t.start()
last = t_load
try:
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        now = time.perf_counter()
        if now - last >= 15:
            last = now
            n = sum(done)
            print(f"  {now - t_load:6.1f} s: {n} registered ({n / (now - t_load):,.0f}/s), "
                  f"VmRSS {status_kb(proc.pid, 'VmRSS') / 1024:.0f} MB", flush=True)
        if proc.poll() is not None:
            stop.set()
            print(f"  SERVER EXITED during the load with code {proc.returncode}")
            break
except KeyboardInterrupt:
    stop.set()
    raise
for t in threads:
    t.join(timeout=70)
load_s = time.perf_counter() - t_load
n_done, n_ok = sum(done), sum(ok)
complete = n_ok == SUBJECTS * VERSIONS
rate = n_done / load_s
print(f"load: {n_done} requests in {load_s:.1f} s = {rate:,.0f} registrations/s; {n_ok} answered 200, "
      f"{n_done - n_ok} errors{'' if n_done == SUBJECTS * VERSIONS else '  (STOPPED EARLY: time bound or server exit)'}")
for k, v in sorted(errors.items(), key=lambda kv: -kv[1])[:5]:
    print(f"    {v} x {k}")
if proc.poll() is not None:
    sys.exit("the server is gone; nothing more to measure:\n" + open(os.path.join(WORK, "server1.log")).read()[-2000:])
rows.append(("schemas registered", f"{n_ok:,} of {SUBJECTS * VERSIONS:,}", f"{SUBJECTS * VERSIONS:,}", "met" if complete else "NOT met"))
rows.append(("load time / rate", f"{load_s:.1f} s / {rate:,.0f}/s", "a few minutes", "met" if load_s < 300 else "NOT met"))

# --- 2. memory and GET /subjects while loaded ------------------------------------------------------------------
time.sleep(1)
rss1, hwm1 = status_kb(proc.pid, "VmRSS"), status_kb(proc.pid, "VmHWM")
db_bytes = sum(os.path.getsize(os.path.join(WORK, f)) for f in os.listdir(WORK) if f.startswith("registry.db"))
print(f"server after the load: VmRSS {rss1 / 1024:.1f} MB (VmHWM {hwm1 / 1024:.1f} MB); database files {db_bytes / 1e6:.1f} MB")
rows.append(("VmRSS after load", f"{rss1 / 1024:.1f} MB (peak {hwm1 / 1024:.1f})", "< 400 MB", "met" if rss1 < 400 * 1024 else "NOT met"))
med, worst, size, count = subjects_latency(port)
print(f"GET /subjects (loaded server): median {med:.2f} ms, max {worst:.2f} ms of 20; body {size:,} bytes, {count} subjects")

# --- 3. stop, restart, time to first answer --------------------------------------------------------------------
code, stop_s = stop_server(proc)
print(f"SIGTERM: exited with code {code} after {stop_s * 1000:.0f} ms")
proc, t0 = start_server(port, "server2.log")
first = None
attempts = 0
while time.perf_counter() - t0 < 60:
    attempts += 1
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/subjects")
        resp = conn.getresponse()
        resp.read()
        conn.close()
        if resp.status == 200:
            first = time.perf_counter() - t0
            break
    except (OSError, http.client.HTTPException):
        pass
    if proc.poll() is not None:
        sys.exit(f"restarted server exited ({proc.returncode}):\n" + open(os.path.join(WORK, "server2.log")).read())
    time.sleep(0.002)
if first is None:
    print("restart: no 200 from GET /subjects within 60 s")
    rows.append(("restart to first GET /subjects", "> 60 s", "< 2 s", "NOT met"))
else:
    print(f"restart: first 200 from GET /subjects {first * 1000:.0f} ms after process start ({attempts} tries)")
    rows.append(("restart to first GET /subjects", f"{first * 1000:.0f} ms", "< 2 s", "met" if first < 2 else "NOT met"))
time.sleep(1)
rss2, hwm2 = status_kb(proc.pid, "VmRSS"), status_kb(proc.pid, "VmHWM")
print(f"server after restart: VmRSS {rss2 / 1024:.1f} MB (VmHWM {hwm2 / 1024:.1f} MB)")
rows.append(("VmRSS after restart", f"{rss2 / 1024:.1f} MB (peak {hwm2 / 1024:.1f})", "< 400 MB", "met" if rss2 < 400 * 1024 else "NOT met"))
med2, worst2, size2, count2 = subjects_latency(port)
print(f"GET /subjects (restarted server): median {med2:.2f} ms, max {worst2:.2f} ms of 20; body {size2:,} bytes, {count2} subjects")
rows.append(("GET /subjects median (of 20)", f"{med2:.2f} ms ({med:.2f} before restart)", "-", "-"))
rows.append(("GET /subjects body", f"{size2:,} bytes, {count2:,} subjects", "-",
             "ok" if count2 == count and count2 == (SUBJECTS if complete else count2) else "MISMATCH"))

# Spot check after the restart: the last version of a subject is there.
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
conn.request("GET", f"/subjects/cdc.db{(SUBJECTS - 1) // 100}.table{SUBJECTS - 1}-value/versions/latest")
resp = conn.getresponse()
data = resp.read()
conn.close()
latest = json.loads(data).get("version") if resp.status == 200 else None
print(f"spot check after restart: latest version of the last subject: {resp.status} version={latest}")
code, stop_s = stop_server(proc)
print(f"SIGTERM: exited with code {code} after {stop_s * 1000:.0f} ms")

print("\nsummary")
w = max(len(r[0]) for r in rows)
w1 = max(len(r[1]) for r in rows)
print(f"  {'measure':<{w}}  {'value':<{w1}}  {'target':<13}  verdict")
for what, value, target, verdict in rows:
    print(f"  {what:<{w}}  {value:<{w1}}  {target:<13}  {verdict}")
EOF

python3 "$WORK/scale.py" "$BIN" "$WORK" "$SUBJECTS" "$VERSIONS" "$CLIENTS" "$MAX_SECONDS" "$THREADS"
