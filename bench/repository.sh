#!/usr/bin/env bash
# Repository benchmark (issue 14): schemactl on a folder of 50 schema files with references across them,
# whole process, release build: `validate schemas/` and `check schemas/ --against-git HEAD` (one file changed),
# beside Apache Avro's Python parser reading the same 50 files with shared names in one process (the baseline),
# in the same run. Target: under 100 ms for the offline check. Then a long history: 30 files (29 using a type of
# the 30th), 1,000 commits each changing one file, checked with BACKWARD_TRANSITIVE (every version of every file).
#
# Usage: bench/repository.sh [--skip-build]     RUNS (default 20) timed runs of each, medians printed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
RUNS=${RUNS:-20}
if [[ "${1:-}" != "--skip-build" ]]; then swift build -c release --product schemactl >&2; fi
SCHEMACTL="$(swift build -c release --show-bin-path)/schemactl"
python3 -c 'import avro.schema' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check avro
WORK=$(mktemp -d "${TMPDIR:-/tmp}/repository-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
python3 - <<'PY'
import json, os
os.makedirs("common"); os.makedirs("schemas")
for n in range(10):
    if n % 2:
        doc = {"type": "enum", "name": f"Kind{n}", "namespace": "com.acme.common", "symbols": [f"S{k}" for k in range(20)], "default": "S0"}
    else:
        doc = {"type": "record", "name": f"Part{n}", "namespace": "com.acme.common",
               "fields": [{"name": f"p{k}", "type": ["null", "string"], "default": None} for k in range(15)]}
    json.dump(doc, open(f"common/t{n}.avsc", "w"), indent=2)
for n in range(40):
    shared = [f"com.acme.common.{'Kind' if k % 2 else 'Part'}{k}" for k in ((n + i) % 10 for i in range(4))]
    fields = [{"name": "id", "type": "long"}] + [{"name": f"f{k}", "type": ["null", t], "default": None} for k, t in enumerate(shared)]
    fields += [{"name": f"x{k}", "type": "string", "default": ""} for k in range(20)]
    json.dump({"type": "record", "name": f"Event{n}", "namespace": "com.acme", "fields": fields}, open(f"schemas/e{n}.avsc", "w"), indent=2)
open("schemactl.toml", "w").write('[paths]\nschemas = ["schemas", "common"]\n')
PY
git init -q -b main . && git -c user.email=b@x -c user.name=b add -A && git -c user.email=b@x -c user.name=b commit -q -m base
python3 - <<'PY'
import json
d = json.load(open("schemas/e7.avsc")); d["fields"].append({"name": "added", "type": "int", "default": 0})
json.dump(d, open("schemas/e7.avsc", "w"), indent=2)
PY
cat > baseline.py <<'PY'
import glob, json, avro.schema
names = avro.schema.Names()
for path in sorted(glob.glob("common/*.avsc")) + sorted(glob.glob("schemas/*.avsc")):
    avro.schema.make_avsc_object(json.load(open(path)), names)
PY
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_ms() {  # command… → one wall time in ms
    local start end
    start=$(date +%s%N); "$@" > /dev/null 2>&1 || true; end=$(date +%s%N)
    echo $(( (end - start) / 1000000 ))
}
for _ in 1 2; do time_ms "$SCHEMACTL" validate schemas >/dev/null; time_ms python3 baseline.py >/dev/null; done
validate=$(for _ in $(seq "$RUNS"); do time_ms "$SCHEMACTL" validate schemas; done | median)
check=$(for _ in $(seq "$RUNS"); do time_ms "$SCHEMACTL" check schemas --against-git HEAD; done | median)
python=$(for _ in $(seq "$RUNS"); do time_ms python3 baseline.py; done | median)
"$SCHEMACTL" validate schemas | tail -1
"$SCHEMACTL" check schemas --against-git HEAD | tail -1
printf '\n%-58s %8s\n' "50 files: 40 checked, each using 4 of 10 shared-type files" "median"
printf '%-58s %6s ms\n' "schemactl validate schemas/" "$validate"
printf '%-58s %6s ms  (target < 100 ms)\n' "schemactl check schemas/ --against-git HEAD" "$check"
printf '%-58s %6s ms  (baseline)\n' "python avro $(python3 -c 'import avro; print(avro.__version__)'): parse the 50 files, shared names" "$python"

# A long history (git fast-import: 1,000 commits, one file changed in each; every file uses r0's type).
mkdir "$WORK/history" && cd "$WORK/history" && git init -q -b main .
python3 - <<'PY' | git fast-import --quiet
import json, sys
files = {f"schemas/r{i}.avsc": {"type": "record", "name": f"R{i}", "namespace": "h", "fields": [
    {"name": "id", "type": "long"},
    {"name": "c", "type": "h.Common" if i else {"type": "record", "name": "Common", "fields": [{"name": "x", "type": "int"}]}}]}
    for i in range(30)}
out = []
for n in range(1000):
    changed = files if n == 0 else {f"schemas/r{n % 30}.avsc": files[f"schemas/r{n % 30}.avsc"]}
    for doc in changed.values():
        doc["doc"] = f"revision {n}"
    body = "commit refs/heads/main\ncommitter CI <ci@example.com> %d +0000\ndata %d\nc%d\n" % (1700000000 + n, len(f"c{n}"), n)
    for path, doc in changed.items():
        text = json.dumps(doc)
        body += "M 100644 inline %s\ndata %d\n%s\n" % (path, len(text.encode()), text)
    out.append(body)
sys.stdout.write("".join(out))
PY
git reset -q --hard main
history=$(for _ in $(seq 5); do time_ms "$SCHEMACTL" check schemas --against-git HEAD --level BACKWARD_TRANSITIVE; done | median)
"$SCHEMACTL" check schemas --against-git HEAD --level BACKWARD_TRANSITIVE | tail -1
printf '%-58s %6s ms\n' "check --against-git, BACKWARD_TRANSITIVE, 1,000 commits x 30" "$history"
