#!/usr/bin/env bash
# Compatibility benchmark: FULL_TRANSITIVE check of a 1,000-field record (v101)
# against 100 prior versions (v001..v100), each adding one nullable field, so
# every check passes and all 100 x 2 directions must be evaluated.
#
# Compares:
#   * codec-bench compat DIR --iterations N   (Swift, in-process)
#   * schemactl check ... --level FULL_TRANSITIVE   (Swift CLI, wall time per process; the static build
#     that ships to CI images, .build-static, and the dynamic one, run alternately)
#   * bench/python_avro_check.py   (Apache Avro's Python checker: the baseline)
#
# Usage: bench/compat.sh [--skip-build] [--python-only]
#   --skip-build    use the existing .build/release and .build-static/release binaries
#   --python-only   run only the Python baseline (no Swift build or binaries)
#   --repository    instead: a 50-file folder with references across files (bench/repository.sh)
# Environment:
#   DATA_DIR    where the schemas go (default bench/.data/compat, gitignored)
#   ITERATIONS  codec-bench --iterations (default 30)
#   CLI_RUNS    timed schemactl runs (default 30, after 2 warm-ups; timings on a shared 2-core machine
#               are noisy, so the median and p90 of many whole-process runs are reported)
#   PY_RUNS     python-avro runs (default 3)
#   PYTHON      python interpreter (default python3)
#   BIN_DIR     where schemactl / codec-bench are (default: swift build -c release --show-bin-path)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
BENCH="$ROOT/bench"

SKIP_BUILD=0
PYTHON_ONLY=0
for arg in "$@"; do
    case "$arg" in
        --skip-build) SKIP_BUILD=1 ;;
        --python-only) PYTHON_ONLY=1 ;;
        --repository) exec "$BENCH/repository.sh" ;;
        -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
        *) echo "compat.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

PYTHON=${PYTHON:-python3}
DATA_DIR=${DATA_DIR:-$ROOT/bench/.data/compat}
ITERATIONS=${ITERATIONS:-30}
CLI_RUNS=${CLI_RUNS:-30}
TARGET_MS=60   # whole-process schemactl check, parsing included (the goal set in the issue)
PY_RUNS=${PY_RUNS:-3}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'compat.sh: ERROR: %s\n' "$*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/compat-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
RESULTS="$WORK/results.txt"   # "key value" lines for the final table
: > "$RESULTS"

# ---- (a) python avro -------------------------------------------------------
if ! "$PYTHON" -c 'import avro.compatibility' 2>/dev/null; then
    say "installing the python 'avro' package"
    PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$PYTHON" -m pip install --quiet avro || die "pip install avro failed"
fi
AVRO_VERSION=$("$PYTHON" -c 'import avro; print(avro.__version__)')

# ---- (b) swift release build -------------------------------------------------
CODEC_BENCH=""
SCHEMACTL=""
if [[ $PYTHON_ONLY -eq 0 ]]; then
    command -v swift >/dev/null || die "swift not found on PATH (use --python-only for the baseline alone)"
    build_product() {
        local product=$1
        if [[ $SKIP_BUILD -eq 0 ]]; then
            say "swift build -c release --product $product"
            if ! swift build -c release --product "$product" >&2; then
                die "release build of product '$product' failed (see the swift output above).
    The benchmark needs executable products named 'schemactl' and 'codec-bench' in Package.swift, e.g.
        .executable(name: \"codec-bench\", targets: [\"CodecBench\"])
    Re-run with --python-only to measure only the python-avro baseline."
            fi
        fi
    }
    build_product schemactl
    build_product codec-bench
    # The CLI as shipped for CI images: one file with the Swift runtime linked in (no Swift libraries
    # needed where it runs, and no dynamic loading of them at every start). Its own build directory.
    if [[ $SKIP_BUILD -eq 0 ]]; then
        say "swift build -c release --product schemactl --static-swift-stdlib --scratch-path .build-static"
        swift build -c release --product schemactl --static-swift-stdlib --scratch-path "$ROOT/.build-static" >&2 \
            || die "static release build of schemactl failed (see the swift output above)"
    fi
    SCHEMACTL_STATIC="$ROOT/.build-static/release/schemactl"
    if [[ -z "${BIN_DIR:-}" ]]; then
        BIN_DIR=$(swift build -c release --show-bin-path 2>/dev/null || echo "$ROOT/.build/release")
    fi
    SCHEMACTL="$BIN_DIR/schemactl"
    CODEC_BENCH="$BIN_DIR/codec-bench"
    for b in "$SCHEMACTL" "$CODEC_BENCH" "$SCHEMACTL_STATIC"; do
        [[ -x "$b" ]] || die "missing binary: $b
    $( [[ $SKIP_BUILD -eq 1 ]] && echo 'Drop --skip-build to build it, or' || echo 'The build succeeded but produced no such file; check the product name in Package.swift, or' ) re-run with --python-only."
    done
fi

# ---- (c) schemas ---------------------------------------------------------------
say "generating schemas into $DATA_DIR"
rm -rf "$DATA_DIR"
mkdir -p "$DATA_DIR"
"$PYTHON" "$BENCH/gen_schemas.py" "$DATA_DIR"
# Write the new files back before anything is timed: writeback of 10 MB of fresh pages competes with
# the timed runs for the two cores (first measured as a 10-15 ms slower schemactl median).
sync
mapfile -t FILES < <(ls "$DATA_DIR"/v*.avsc | sort)
[[ ${#FILES[@]} -eq 101 ]] || die "expected 101 schema files in $DATA_DIR, found ${#FILES[@]}"
NEW=${FILES[100]}
PRIORS=("${FILES[@]:0:100}")
BYTES=$(cat "${FILES[@]}" | wc -c)
echo "bytes $BYTES" >> "$RESULTS"

# ---- (d) in-process swift ---------------------------------------------------
if [[ $PYTHON_ONLY -eq 0 ]]; then
    say "codec-bench compat $DATA_DIR --iterations $ITERATIONS"
    if ! "$CODEC_BENCH" compat "$DATA_DIR" --iterations "$ITERATIONS" > "$WORK/codec-bench.out" 2> "$WORK/codec-bench.err"; then
        cat "$WORK/codec-bench.out" "$WORK/codec-bench.err" >&2
        die "codec-bench compat failed (output above)"
    fi
    cat "$WORK/codec-bench.out" >&2
    for key in inprocess_median_ms p90_ms parse_total_ms; do
        val=$(grep -o "${key}=[0-9.eE+-]*" "$WORK/codec-bench.out" | tail -n1 | cut -d= -f2 || true)
        [[ -n "$val" ]] && echo "swift_$key $val" >> "$RESULTS"
    done
    grep -q '^swift_inprocess_median_ms ' "$RESULTS" \
        || die "codec-bench printed no inprocess_median_ms=...; its output is above"

# ---- (e) CLI wall time -------------------------------------------------------
    CLI_ARGS=(check "$NEW")
    for p in "${PRIORS[@]}"; do CLI_ARGS+=(--against "$p"); done
    CLI_ARGS+=(--level FULL_TRANSITIVE)
    say "schemactl check v101 --against v001..v100 --level FULL_TRANSITIVE: static and dynamic builds alternately, ${CLI_RUNS} runs each + 2 warm-ups"
    # Alternating the two builds run by run puts both under the same load on this shared machine.
    "$PYTHON" - "$CLI_RUNS" "$SCHEMACTL_STATIC" "$SCHEMACTL" "${CLI_ARGS[@]}" > "$WORK/cli.out" <<'PY' \
        || die "schemactl check did not exit 0 (expected: all versions compatible)"
import math, statistics, subprocess, sys, time
runs = int(sys.argv[1]); binaries = {"static": sys.argv[2], "dynamic": sys.argv[3]}; arguments = sys.argv[4:]
times = {name: [] for name in binaries}
for round in range(runs + 2):
    for name, binary in binaries.items():
        start = time.perf_counter()
        result = subprocess.run([binary] + arguments, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        elapsed = (time.perf_counter() - start) * 1e3
        if result.returncode != 0:
            sys.stderr.write(result.stderr.decode(errors="replace")[-2000:])
            sys.exit(result.returncode)
        if round >= 2:
            times[name].append(elapsed)
for name, values in times.items():
    values.sort()
    p90 = values[max(1, math.ceil(0.9 * len(values))) - 1]
    print(f"cli_{name}_median_ms {statistics.median(values):.1f}")
    print(f"cli_{name}_p90_ms {p90:.1f}")
PY
    cat "$WORK/cli.out" >&2
    cat "$WORK/cli.out" >> "$RESULTS"
    echo "cli_median_ms $(grep '^cli_static_median_ms ' "$WORK/cli.out" | cut -d' ' -f2)" >> "$RESULTS"
    echo "cli_p90_ms $(grep '^cli_static_p90_ms ' "$WORK/cli.out" | cut -d' ' -f2)" >> "$RESULTS"
    # The floor: process start-up alone (dynamic linking, runtime and argument parsing), no schema work.
    "$PYTHON" "$BENCH/timeit_cmd.py" --name schemactl-help --runs "$CLI_RUNS" --warmup 2 -- "$SCHEMACTL_STATIC" --help \
        | tee "$WORK/startup.out" >&2 || die "schemactl --help failed"
    echo "cli_startup_ms $(grep -o 'median_ms=[0-9.]*' "$WORK/startup.out" | cut -d= -f2)" >> "$RESULTS"
    if command -v hyperfine >/dev/null; then
        say "hyperfine (informational)"
        hyperfine --warmup 1 --runs "$CLI_RUNS" -N "$(printf '%q ' "$SCHEMACTL_STATIC" "${CLI_ARGS[@]}")" >&2 || true
    fi
fi

# ---- (f) python-avro baseline ---------------------------------------------
say "python-avro $AVRO_VERSION baseline: $PY_RUNS runs (about 13 s each on 2 cores)"
"$PYTHON" "$BENCH/timeit_cmd.py" --name python-avro-process --runs "$PY_RUNS" --warmup 0 \
    --stdout-file "$WORK/py.out" -- "$PYTHON" "$BENCH/python_avro_check.py" "$DATA_DIR" \
    | tee "$WORK/py-wall.out" >&2 \
    || die "python_avro_check.py failed"
grep -v '^#' "$WORK/py.out" >&2
"$PYTHON" - "$WORK/py.out" "$WORK/py-wall.out" >> "$RESULTS" <<'EOF'
import re, statistics, sys
runs = {"parse_ms": [], "check_ms": [], "total_ms": []}
json_ms = []
for line in open(sys.argv[1]):
    if line.startswith("python-avro run="):
        for k in runs:
            runs[k].append(float(re.search(rf"\b{k}=([0-9.]+)", line).group(1)))
    elif line.startswith("python-json "):
        json_ms.append(float(re.search(r"parse_ms=([0-9.]+)", line).group(1)))
for k, v in runs.items():
    print(f"py_{k} {statistics.median(v):.1f}")
print(f"py_json_parse_ms {statistics.median(json_ms):.1f}")
wall = re.search(r"median_ms=([0-9.]+)", open(sys.argv[2]).read()).group(1)
print(f"py_process_ms {wall}")
print(f"py_runs {len(runs['total_ms'])}")
EOF

# ---- (g) table ---------------------------------------------------------------
"$PYTHON" - "$RESULTS" "$AVRO_VERSION" "$ITERATIONS" "$CLI_RUNS" "$TARGET_MS" <<'EOF'
import sys
r = {}
for line in open(sys.argv[1]):
    k, v = line.split()
    r[k] = float(v)
avro_version, iterations, cli_runs, target_ms = sys.argv[2:6]
target_ms = float(target_ms)
base = r["py_total_ms"]
n = int(r["py_runs"])

def row(name, ms, note=""):
    if ms is None:
        return
    ratio = ms / base
    speed = base / ms if ms > 0 else float("inf")
    print(f"| {name:<44} | {ms:>10.1f} | {ratio:>8.4f} | {speed:>8.1f}x | {note}")

print()
print(f"FULL_TRANSITIVE: v101 (1,100 fields) vs 100 prior versions, 200 reader/writer checks; "
      f"{int(r['bytes']):,} bytes in 101 files")
print(f"baseline = python-avro {avro_version} in-process parse+check (median of {n})")
print()
print(f"| {'name':<44} | {'median ms':>10} | {'ratio':>8} | {'speedup':>9} | note")
print(f"|{'-'*46}|{'-'*12}|{'-'*10}|{'-'*11}|------")
row("python-avro parse+check (in-process)", base, "baseline")
row("python-avro check only (in-process)", r["py_check_ms"])
row("python-avro whole process (wall)", r["py_process_ms"], "incl. interpreter start + import")
row("swift codec-bench compat (in-process)", r.get("swift_inprocess_median_ms"),
    f"--iterations {iterations}" + (f", p90 {r['swift_p90_ms']:.1f} ms" if "swift_p90_ms" in r else ""))
row("swift schemactl check (CLI wall, static)", r.get("cli_static_median_ms"),
    f"median of {cli_runs}, incl. process start, p90 {r.get('cli_static_p90_ms', float('nan')):.1f} ms")
row("swift schemactl check (CLI wall, dynamic)", r.get("cli_dynamic_median_ms"),
    f"median of {cli_runs}, alternating with the static one, p90 {r.get('cli_dynamic_p90_ms', float('nan')):.1f} ms")
row("swift schemactl --help (start-up floor)", r.get("cli_startup_ms"), f"median of {cli_runs}, static")
if "cli_median_ms" in r:
    cli = r["cli_median_ms"]
    py_wall = r["py_process_ms"]
    print()
    print("Whole process, same run (wall clock, parsing of all 101 files included):")
    print(f"  schemactl check      median {cli:8.1f} ms   p90 {r.get('cli_p90_ms', float('nan')):8.1f} ms   (static build; dynamic: median {r.get('cli_dynamic_median_ms', float('nan')):.1f} ms)")
    print(f"  python-avro process  median {py_wall:8.1f} ms   (interpreter start + import + parse + check)")
    print(f"  ratio schemactl / python-avro = {cli / py_wall:.4f}  ({py_wall / cli:.1f}x faster)")
    verdict = "MET" if cli < target_ms else "NOT MET"
    print(f"  target: schemactl check median under {target_ms:.0f} ms -> {verdict} ({cli:.1f} ms)")
print()
print("JSON / schema parse of all 101 files:")
print(f"| {'name':<44} | {'ms':>10} |")
print(f"|{'-'*46}|{'-'*12}|")
print(f"| {'python json.loads (stdlib)':<44} | {r['py_json_parse_ms']:>10.1f} |")
print(f"| {'python-avro avro.schema.parse':<44} | {r['py_parse_ms']:>10.1f} |")
if "swift_parse_total_ms" in r:
    print(f"| {'swift codec-bench parse_total_ms':<44} | {r['swift_parse_total_ms']:>10.1f} |")
else:
    print(f"| {'swift codec-bench parse_total_ms':<44} | {'n/a':>10} |")
EOF
