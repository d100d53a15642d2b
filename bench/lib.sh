# Shared by the registry benchmarks: sourced, not run.

# Builds the release schema-registry into $BIN if it is missing.
ensure_registry_binary() {
    command -v python3 >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3 >/dev/null; }
    if [ ! -x "$BIN" ]; then
        echo "building $BIN ..." >&2
        swift build -c release --product schema-registry >&2
    fi
}

# Starts the registry on a free loopback port with the database $DB (default: a SQLite file in $WORK); sets
# SERVER_PID and PORT (the log goes to $SERVER_LOG, default $WORK/server.log).
start_registry() {  # [extra flags…]
    local log=${SERVER_LOG:-$WORK/server.log}
    "$BIN" --listen 127.0.0.1:0 --db "${DB:-$WORK/registry.db}" --threads "$THREADS" "$@" >"$log" 2>&1 &
    SERVER_PID=$!
    PORT=""
    for _ in $(seq 1 200); do
        PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
        [ -n "$PORT" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; echo "server died" >&2; exit 1; }
        sleep 0.05
    done
    [ -n "$PORT" ] || { cat "$log" >&2; echo "server did not start" >&2; exit 1; }
}

# Installs wrk and nginx when missing; sets NGINX.
ensure_wrk_and_nginx() {
    local need_apt=()
    command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
    NGINX=$(command -v nginx || true)
    [ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
    [ -z "$NGINX" ] && need_apt+=(nginx-light)
    if [ ${#need_apt[@]} -gt 0 ]; then
        echo "installing: ${need_apt[*]}" >&2
        local SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        # Keep the package's own nginx service from starting (it would listen on port 80): a policy-rc.d that
        # refuses service starts, only for this install, and only if there was none.
        local added_policy=0
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
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Starts nginx (2 workers) answering every path with the bytes of file $1 and Content-Type $2, from memory
# (`return 200 '...'`); sets NGINX_PORT and NGINX_PID. Needs $WORK and $NGINX.
start_nginx_with() {
    NGINX_PORT=$(free_port)
    mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
    python3 - "$1" "$2" "$NGINX_PORT" "$WORK/nginx" >"$WORK/nginx/nginx.conf" <<'EOF'
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
}

# Waits for nginx at URL $1 and checks it answers exactly $WORK/body.bin with Content-Type $CTYPE.
check_nginx_serves_the_same() {
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "$1" && break
        kill -0 "$NGINX_PID" 2>/dev/null || { cat "$WORK/nginx/logs/error.log" "$WORK/nginx/stdout.log" >&2; exit 1; }
        sleep 0.05
    done
    curl -sS -D "$WORK/nginx.headers" -o "$WORK/nginx.body" "$1"
    if ! cmp -s "$WORK/body.bin" "$WORK/nginx.body"; then
        echo "nginx's body differs from ours" >&2; exit 1
    fi
    local nginx_ctype
    nginx_ctype=$(sed -n 's/^[Cc]ontent-[Tt]ype: *\(.*\)\r$/\1/p' "$WORK/nginx.headers" | head -1)
    [ "$nginx_ctype" = "$CTYPE" ] || { echo "content types differ: '$CTYPE' vs '$nginx_ctype'" >&2; exit 1; }
}

# Writes $WORK/parse_wrk.py: `wrk ... --latency | python3 $WORK/parse_wrk.py NAME RESULTS` prints one line
# and appends "req/s p99_ms" to RESULTS.
write_wrk_parser() {
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
}
