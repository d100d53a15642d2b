#!/usr/bin/env bash
# Installs what is missing, builds, and runs the registry service on the SQLite default
# (./data/registry.db, created on first start) at http://127.0.0.1:8081. Stop it with Ctrl-C.
# Arguments are passed to schema-registry, e.g. scripts/run.sh --listen 127.0.0.1:9091 --db /tmp/r.db
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
swift build -c release
exec .build/release/schema-registry "$@"
