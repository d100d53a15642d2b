#!/usr/bin/env bash
# HTTP read benchmark: GET /schemas/ids/1 requests/s (wrk -t2 -c64 -d10s --latency) against the registry,
# beside nginx answering the IDENTICAL body bytes (same Content-Type) from memory with `return 200 '...'`.
#
# A second registry with authentication on (--auth-file; wrk sends a user's Basic credentials, the user may read
# Subject:orders-.*) serves the same bytes: the "auth" runs (target >= 0.6 of nginx).
#
# Runs interleaved: ours, auth, nginx, ours, auth, nginx, … (RUNS each, after one short untimed warm-up of
# each); prints every run, the medians, the ratios to nginx and wrk's p99 latency.
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
. bench/lib.sh
ensure_wrk_and_nginx
ensure_registry_binary

# --- temp dir, processes, cleanup ------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-fetch.XXXXXX")
SERVER_PID=""; NGINX_PID=""; AUTH_PID=""
cleanup() {
    for pid in $SERVER_PID $NGINX_PID $AUTH_PID; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $SERVER_PID $NGINX_PID $AUTH_PID; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


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
SCHEMA_ID=$(printf '%s' "$reg" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
URL_OURS="http://127.0.0.1:$PORT/schemas/ids/$SCHEMA_ID"
curl -sS -D "$WORK/ours.headers" -o "$WORK/body.bin" -w '%{http_code}' "$URL_OURS" >"$WORK/code"
[ "$(cat "$WORK/code")" = 200 ] || { echo "GET /schemas/ids/$SCHEMA_ID answered $(cat "$WORK/code")" >&2; exit 1; }
CTYPE=$(sed -n 's/^[Cc]ontent-[Tt]ype: *\(.*\)\r$/\1/p' "$WORK/ours.headers" | head -1)
BODY_BYTES=$(wc -c <"$WORK/body.bin")

# --- the same registry with authentication on -------------------------------------------------------------------
# An auth file as `schema-registry user add` writes it (PBKDF2-SHA512); the user may write orders-* subjects.
printf '%s\n' 'bench-password' | "$BIN" user add --auth-file "$WORK/auth.json" --name bench --password-stdin >/dev/null
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); d["permissions"] = [{"username": "bench", "operation": "Write", "resource": "Subject:orders-.*"}]; json.dump(d, open(sys.argv[1], "w"))' "$WORK/auth.json"
OURS_PID=$SERVER_PID; OURS_PORT=$PORT
SERVER_LOG=$WORK/auth-server.log DB=$WORK/auth-registry.db start_registry --auth-file "$WORK/auth.json"
AUTH_PID=$SERVER_PID; AUTH_PORT=$PORT; SERVER_PID=$OURS_PID; PORT=$OURS_PORT
AUTH_HEADER="Authorization: Basic $(printf 'bench:bench-password' | base64)"
areg=$(curl -sS -X POST -H "$AUTH_HEADER" -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data-binary @"$WORK/register.json" "http://127.0.0.1:$AUTH_PORT/subjects/orders-value/versions")
URL_AUTH="http://127.0.0.1:$AUTH_PORT/schemas/ids/$(printf '%s' "$areg" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
cmp -s <(curl -sS -H "$AUTH_HEADER" "$URL_AUTH") "$WORK/body.bin" || { echo "the authenticated registry serves other bytes" >&2; exit 1; }
[ "$(curl -sS -o /dev/null -w '%{http_code}' "$URL_AUTH")" = 401 ] || { echo "the authenticated registry answers without credentials" >&2; exit 1; }

# --- nginx with the same bytes ---------------------------------------------------------------------------------
start_nginx_with "$WORK/body.bin" "$CTYPE"
URL_NGINX="http://127.0.0.1:$NGINX_PORT/schemas/ids/$SCHEMA_ID"
check_nginx_serves_the_same "$URL_NGINX"

echo "body: $BODY_BYTES bytes, Content-Type: $CTYPE (identical bytes from both servers)"
echo "registry: --threads $THREADS on :$PORT   nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'): worker_processes 2 on :$NGINX_PORT"
echo "wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency; $(nproc) cores; runs interleaved"
echo

# --- runs ------------------------------------------------------------------------------------------------------
write_wrk_parser
run_wrk() {  # name url [wrk flags…]: one line per run; appends "rps p99_ms" to $WORK/name.results
    local name=$1 url=$2; shift 2
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" | python3 "$WORK/parse_wrk.py" "$name" "$WORK/$name.results"
}

# Untimed warm-up of each (2 s), then the interleaved timed runs.
wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d2s "$URL_OURS" >/dev/null
wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d2s -H "$AUTH_HEADER" "$URL_AUTH" >/dev/null
wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d2s "$URL_NGINX" >/dev/null
: >"$WORK/ours.results"; : >"$WORK/auth.results"; : >"$WORK/nginx.results"
for i in $(seq 1 "$RUNS"); do
    run_wrk ours "$URL_OURS"
    run_wrk auth "$URL_AUTH" -H "$AUTH_HEADER"
    run_wrk nginx "$URL_NGINX"
done
kill -0 "$SERVER_PID" 2>/dev/null || { echo "the registry died during the runs" >&2; cat "$WORK/server.log" >&2; exit 1; }
kill -0 "$AUTH_PID" 2>/dev/null || { echo "the authenticated registry died during the runs" >&2; cat "$WORK/auth-server.log" >&2; exit 1; }

echo
python3 - "$WORK/ours.results" "$WORK/nginx.results" "$WORK/auth.results" <<'EOF'
import statistics, sys
def load(p):
    rows = [tuple(map(float, l.split())) for l in open(p) if l.strip()]
    return statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
ours, nginx, auth = load(sys.argv[1]), load(sys.argv[2]), load(sys.argv[3])
print(f"median ours : {ours[0]:>10.0f} req/s   p99 {ours[1]:.2f} ms")
print(f"median auth : {auth[0]:>10.0f} req/s   p99 {auth[1]:.2f} ms   (authentication on, Basic credentials)")
print(f"median nginx: {nginx[0]:>10.0f} req/s   p99 {nginx[1]:.2f} ms")
ratio = ours[0] / nginx[0]
print(f"ratio ours/nginx: {ratio:.2f}  (target >= 0.7: {'met' if ratio >= 0.7 else 'NOT met'})")
ratio = auth[0] / nginx[0]
print(f"ratio auth/nginx: {ratio:.2f}  (target >= 0.6: {'met' if ratio >= 0.6 else 'NOT met'})")
EOF
grep -iE 'error|warn' "$WORK/server.log" | head -5 || true
