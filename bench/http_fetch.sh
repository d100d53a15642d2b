#!/usr/bin/env bash
# HTTP read benchmark: GET /schemas/ids/1 requests/s (wrk -t2 -c64 -d10s --latency) against the registry,
# beside nginx answering the IDENTICAL body bytes (same Content-Type) from memory with `return 200 '...'`.
#
# Runs interleaved: ours, nginx, ours, nginx, ours, nginx (RUNS each, after one short untimed warm-up of
# each); prints every run, the medians, the ratio ours/nginx (target >= 0.7) and wrk's p99 latency.
# Prints figures; it is not a test. Loopback only (127.0.0.1); every load run is bounded by wrk's -d.
#
# Usage: bench/http_fetch.sh
# Environment:
#   THREADS     registry --threads (default 2, one per core, as nginx's worker_processes 2)
#   DURATION    wrk -d (default 10s)    CONNECTIONS  wrk -c (default 64)    WRK_THREADS  wrk -t (default 2)
#   RUNS        timed runs of each server (default 3)
#   BIN         registry binary (default .build/release/schema-registry, built if missing)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

THREADS=${THREADS:-2}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
RUNS=${RUNS:-3}
BIN=${BIN:-.build/release/schema-registry}

# --- what the benchmark needs ---------------------------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
NGINX=$(command -v nginx || true)
[ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
[ -z "$NGINX" ] && need_apt+=(nginx-light)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing: ${need_apt[*]}" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    # Keep the package's own nginx service from starting (it would listen on port 80): a policy-rc.d that
    # refuses service starts, only for this install, and only if there was none.
    added_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod +x /usr/sbin/policy-rc.d
        added_policy=1
    fi
    $SUDO apt-get update -qq
    if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null; then
        # nginx-light is gone from newer Debian releases: fall back to nginx.
        need_apt=("${need_apt[@]/nginx-light/nginx}")
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
    fi
    [ "$added_policy" = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi
command -v curl >/dev/null 2>&1 || { echo "curl is needed" >&2; exit 2; }
. bench/lib.sh
ensure_registry_binary

# --- temp dir, processes, cleanup ------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-fetch.XXXXXX")
SERVER_PID=""; NGINX_PID=""
cleanup() {
    for pid in $SERVER_PID $NGINX_PID; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $SERVER_PID $NGINX_PID; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# --- the registry ----------------------------------------------------------------------------------------------
start_registry

# One realistic ~1 KB schema: a CDC row of an orders table.
python3 - "$WORK/register.json" <<'EOF'
import json, sys
schema = {
    "type": "record", "name": "Order", "namespace": "com.example.shop.cdc",
    "doc": "A row of the orders table, as captured from the PostgreSQL WAL.",
    "fields": [
        {"name": "id", "type": "long", "doc": "Primary key."},
        {"name": "customer_id", "type": "long"},
        {"name": "status", "type": {"type": "enum", "name": "OrderStatus",
                                    "symbols": ["PENDING", "PAID", "SHIPPED", "DELIVERED", "CANCELLED"],
                                    "default": "PENDING"}},
        {"name": "total", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
        {"name": "currency", "type": "string", "default": "EUR"},
        {"name": "created_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "updated_at", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}], "default": None},
        {"name": "shipping_address", "type": ["null", {"type": "record", "name": "Address", "fields": [
            {"name": "street", "type": "string"}, {"name": "city", "type": "string"},
            {"name": "postal_code", "type": "string"}, {"name": "country", "type": "string"}]}], "default": None},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "is_gift", "type": "boolean", "default": False},
    ],
}
text = json.dumps(schema, separators=(",", ":"))
assert "$" not in text
open(sys.argv[1], "w").write(json.dumps({"schema": text}))
EOF
reg=$(curl -sS -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data-binary @"$WORK/register.json" "http://127.0.0.1:$PORT/subjects/orders-value/versions")
echo "registered: ${reg:0:60}..."
URL_OURS="http://127.0.0.1:$PORT/schemas/ids/1"
curl -sS -D "$WORK/ours.headers" -o "$WORK/body.bin" -w '%{http_code}' "$URL_OURS" >"$WORK/code"
[ "$(cat "$WORK/code")" = 200 ] || { echo "GET /schemas/ids/1 answered $(cat "$WORK/code")" >&2; exit 1; }
CTYPE=$(sed -n 's/^[Cc]ontent-[Tt]ype: *\(.*\)\r$/\1/p' "$WORK/ours.headers" | head -1)
BODY_BYTES=$(wc -c <"$WORK/body.bin")

# --- nginx with the same bytes ---------------------------------------------------------------------------------
NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
python3 - "$WORK/body.bin" "$CTYPE" "$NGINX_PORT" "$WORK/nginx" >"$WORK/nginx/nginx.conf" <<'EOF'
import sys
body = open(sys.argv[1], "rb").read().decode("utf-8")
ctype, port, prefix = sys.argv[2], sys.argv[3], sys.argv[4]
if "$" in body:
    sys.exit("the body has a '$', which nginx's return would take for a variable")
def quote(s):  # nginx single-quoted string: \\ -> \, \' -> '
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
print(f"""worker_processes 2;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    types {{ }}
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            default_type {quote(ctype)};
            return 200 {quote(body)};
        }}
    }}
}}""")
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log" >"$WORK/nginx/stdout.log" 2>&1 &
NGINX_PID=$!
URL_NGINX="http://127.0.0.1:$NGINX_PORT/schemas/ids/1"
for _ in $(seq 1 100); do
    curl -s -o /dev/null "$URL_NGINX" && break
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$WORK/nginx/logs/error.log" "$WORK/nginx/stdout.log" >&2; exit 1; }
    sleep 0.05
done
curl -sS -D "$WORK/nginx.headers" -o "$WORK/nginx.body" "$URL_NGINX"
if ! cmp -s "$WORK/body.bin" "$WORK/nginx.body"; then
    echo "nginx's body differs from ours" >&2; exit 1
fi
NGINX_CTYPE=$(sed -n 's/^[Cc]ontent-[Tt]ype: *\(.*\)\r$/\1/p' "$WORK/nginx.headers" | head -1)
[ "$NGINX_CTYPE" = "$CTYPE" ] || { echo "content types differ: '$CTYPE' vs '$NGINX_CTYPE'" >&2; exit 1; }

echo "body: $BODY_BYTES bytes, Content-Type: $CTYPE (identical bytes from both servers)"
echo "registry: --threads $THREADS on :$PORT   nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'): worker_processes 2 on :$NGINX_PORT"
echo "wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency; $(nproc) cores; runs interleaved"
echo

# --- runs ------------------------------------------------------------------------------------------------------
cat >"$WORK/parse_wrk.py" <<'EOF'
import re, sys
out = sys.stdin.read()
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
p50 = ms(*re.search(r"^\s*50%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups())
p99 = ms(*re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups())
reqs = re.search(r"(\d+) requests in", out).group(1)
extra = []
m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
if m: extra.append(f"NON-2XX={m.group(1)}")
m = re.search(r"Socket errors:(.*)", out)
if m: extra.append("socket errors:" + m.group(1))
print(f"  {sys.argv[1]:<6} {rps:>10.0f} req/s   p50 {p50:.2f} ms   p99 {p99:.2f} ms   ({reqs} requests) {' '.join(extra)}")
open(sys.argv[2], "a").write(f"{rps} {p99}\n")
EOF
run_wrk() {  # name url: one line per run; appends "rps p99_ms" to $WORK/name.results
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$2" | python3 "$WORK/parse_wrk.py" "$1" "$WORK/$1.results"
}

# Untimed warm-up of each (2 s), then the interleaved timed runs.
wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d2s "$URL_OURS" >/dev/null
wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d2s "$URL_NGINX" >/dev/null
: >"$WORK/ours.results"; : >"$WORK/nginx.results"
for i in $(seq 1 "$RUNS"); do
    run_wrk ours "$URL_OURS"
    run_wrk nginx "$URL_NGINX"
done
kill -0 "$SERVER_PID" 2>/dev/null || { echo "the registry died during the runs" >&2; cat "$WORK/server.log" >&2; exit 1; }

echo
python3 - "$WORK/ours.results" "$WORK/nginx.results" <<'EOF'
import statistics, sys
def load(p):
    rows = [tuple(map(float, l.split())) for l in open(p) if l.strip()]
    return statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
ours, nginx = load(sys.argv[1]), load(sys.argv[2])
print(f"median ours : {ours[0]:>10.0f} req/s   p99 {ours[1]:.2f} ms")
print(f"median nginx: {nginx[0]:>10.0f} req/s   p99 {nginx[1]:.2f} ms")
ratio = ours[0] / nginx[0]
print(f"ratio ours/nginx: {ratio:.2f}  (target >= 0.7: {'met' if ratio >= 0.7 else 'NOT met'})")
EOF
grep -iE 'error|warn' "$WORK/server.log" | head -5 || true
