# Shared by the registry benchmarks: sourced, not run.

# Builds the release schema-registry into $BIN if it is missing.
ensure_registry_binary() {
    command -v python3 >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3 >/dev/null; }
    if [ ! -x "$BIN" ]; then
        echo "building $BIN ..." >&2
        swift build -c release --product schema-registry >&2
    fi
}

# Starts the registry on a free loopback port with a database in $WORK; sets SERVER_PID and PORT.
start_registry() {
    "$BIN" --listen 127.0.0.1:0 --db "$WORK/registry.db" --threads "$THREADS" >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    PORT=""
    for _ in $(seq 1 200); do
        PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/server.log" | head -1)
        [ -n "$PORT" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "server died" >&2; exit 1; }
        sleep 0.05
    done
    [ -n "$PORT" ] || { cat "$WORK/server.log" >&2; echo "server did not start" >&2; exit 1; }
}
