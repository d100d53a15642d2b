#!/usr/bin/env bash
# Installs what is missing and runs the product.
#
# Until the registry service lands (issue "Step 2 of 4"), this is a placeholder run of `schemactl`:
# it builds it in release mode and checks the example schemas in fixtures/, so a fresh machine shows
# the whole chain working. Pass arguments to run schemactl with them instead, e.g.
#   scripts/run.sh check new.avsc --against old.avsc
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
swift build -c release --product schemactl
schemactl=.build/release/schemactl

if [ $# -gt 0 ]; then
  exec "$schemactl" "$@"
fi

echo "== schemactl validate fixtures/examples/user-v1.avsc"
"$schemactl" validate fixtures/examples/user-v1.avsc
echo "== schemactl check fixtures/examples/user-v2-compatible.avsc --against fixtures/examples/user-v1.avsc"
"$schemactl" check fixtures/examples/user-v2-compatible.avsc --against fixtures/examples/user-v1.avsc
echo "== schemactl check fixtures/examples/user-v2-breaking.avsc --against fixtures/examples/user-v1.avsc (expected: exit 1)"
set +e
"$schemactl" check fixtures/examples/user-v2-breaking.avsc --against fixtures/examples/user-v1.avsc
status=$?
set -e
echo "(exit $status)"
[ "$status" -eq 1 ]
