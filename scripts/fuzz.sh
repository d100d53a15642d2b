#!/usr/bin/env bash
# Coverage-guided fuzzing of everything the registry parses from the network (libFuzzer with AddressSanitizer,
# targets in Fuzz/), and the concurrency tests under ThreadSanitizer.
#
#   scripts/fuzz.sh                 every target for FUZZ_SECONDS (default 60) each, then the TSan tests
#   FUZZ_RUNS=10000000 scripts/fuzz.sh   every target until it has run that many inputs
#   scripts/fuzz.sh --smoke         every target for 30 s, no TSan (what scripts/test.sh runs: the targets keep building)
#   scripts/fuzz.sh --tsan          only the ThreadSanitizer tests
#   FUZZ_TARGETS="FuzzJSON FuzzRouter" scripts/fuzz.sh   only those targets
#
# Prints, per target, the inputs executed, executions per second, coverage (libFuzzer's cov/ft), the slowest
# input, and crashes. Exits non-zero on any crash, sanitizer report, input slower than 1 s or TSan failure.
# Corpora live under .build-fuzz/corpus (never committed); crash inputs kept as regressions are replayed first.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MODE=all
case "${1:-}" in
    --smoke) MODE=smoke; FUZZ_SECONDS=${FUZZ_SECONDS:-30} ;;
    --tsan) MODE=tsan ;;
    "") ;;
    *) echo "usage: scripts/fuzz.sh [--smoke|--tsan]" >&2; exit 2 ;;
esac
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_RUNS=${FUZZ_RUNS:-}
TARGETS=${FUZZ_TARGETS:-"FuzzJSON FuzzSchema FuzzCompatibility FuzzBinary FuzzFrame FuzzRouter"}
BUILD=${FUZZ_BUILD:-$ROOT/.build-fuzz}
failed=0

run_fuzzers() {
    echo "== building the fuzz targets (release, libFuzzer coverage and AddressSanitizer)"
    # Every module is compiled with -sanitize=fuzzer,address (passed to the frontend only); the link takes
    # AddressSanitizer and libFuzzer without its main, since SwiftPM gives each executable its own main, which
    # hands the target's function to LLVMFuzzerRunDriver.
    local runtime library
    library=$(find "$(dirname "$(dirname "$(readlink -f "$(command -v swiftc)")")")/lib/clang" -name "libclang_rt.fuzzer_no_main-$(uname -m).a" | sort | tail -1 || true)
    [ -f "$library" ] || { echo "libFuzzer (libclang_rt.fuzzer_no_main-$(uname -m).a) not found beside swiftc" >&2; exit 1; }
    runtime=$(dirname "$library")
    local flags=(-c release --build-path "$BUILD" -Xswiftc -sanitize=address -Xswiftc -Xfrontend -Xswiftc -sanitize=fuzzer,address
                 -Xlinker "$runtime/libclang_rt.fuzzer_no_main-$(uname -m).a" -Xlinker -lstdc++)
    (cd Fuzz && swift build "${flags[@]}" 2>&1 | grep -vE "ld.gold: warning: Cannot export local symbol" | tail -3)
    local bin
    bin=$(cd Fuzz && swift build "${flags[@]}" --show-bin-path)
    python3 "$ROOT/scripts/fuzz_seeds.py" "$BUILD/corpus"
    export SWIFT_BACKTRACE=enable=no
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}
    printf '%-18s %14s %10s %14s %10s %8s\n' target executions exec/s "cov / ft" slowest crashes
    for target in $TARGETS; do
        local corpus=$BUILD/corpus/$target artifacts=$BUILD/artifacts/$target log=$BUILD/$target.log
        mkdir -p "$corpus" "$artifacts"
        # Crash inputs found before (kept in Fuzz/regressions) must pass first.
        if compgen -G "Fuzz/regressions/$target/*" >/dev/null; then
            if ! "$bin/$target" -timeout=1 Fuzz/regressions/$target/* >"$log.regressions" 2>&1; then
                echo "$target: a kept regression input fails again:"; tail -30 "$log.regressions"; failed=1; continue
            fi
        fi
        local limits=(-max_total_time="$FUZZ_SECONDS")
        [ -n "$FUZZ_RUNS" ] && limits=(-runs="$FUZZ_RUNS" -max_total_time=86400)
        local status=0
        "$bin/$target" "${limits[@]}" -timeout=1 -rss_limit_mb=3072 -max_len=8192 -print_final_stats=1 -artifact_prefix="$artifacts/" \
            "$corpus" >"$log" 2>&1 || status=$?
        python3 - "$target" "$log" "$status" <<'PY' || failed=1
import re, sys
target, log, status = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(log, errors="replace").read()
def stat(name):
    match = re.search(r"stat::%s:\s+(\S+)" % name, text)
    return match.group(1) if match else "?"
coverage = re.findall(r"cov: (\d+) ft: (\d+)", text)
cov = "%s / %s" % coverage[-1] if coverage else "?"
# One failing input ends the run (libFuzzer stops at the first): count the inputs it saved, not the report lines.
crashes = len(re.findall(r"Test unit written to", text))
print("%-18s %14s %10s %14s %9ss %8d" % (target, stat("number_of_executed_units"), stat("average_exec_per_sec"), cov, stat("slowest_unit_time_sec"), crashes))
if status != 0 or crashes:
    print("---- %s failed (exit %d); the end of its log (%s):" % (target, status, log))
    print("\n".join(text.splitlines()[-40:]))
    sys.exit(1)
PY
    done
    rm -f /dev/shm/fuzz-router-* 2>/dev/null || true
}

run_tsan() {
    echo "== concurrency tests under ThreadSanitizer (group commit, the HTTP server, the caching client)"
    # Swift's own runtime and Foundation are not built with TSan; their internal races are not ours.
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:report_signal_unsafe=0}
    mkdir -p "$ROOT/.build-tsan"
    if swift test --build-path "$ROOT/.build-tsan" --sanitize=thread \
        --filter "concurrentRegistrations|StoreFailureTests|HTTPServerTests|CachingRegistryClientTests|ConnectionReuseTests" >"$ROOT/.build-tsan/tsan.log" 2>&1; then
        { grep -E "Test run with|Executed [0-9]+ tests" "$ROOT/.build-tsan/tsan.log" || true; } | tail -2
        if grep -q "ThreadSanitizer" "$ROOT/.build-tsan/tsan.log"; then
            echo "ThreadSanitizer reported:"; { grep -A20 "WARNING: ThreadSanitizer" "$ROOT/.build-tsan/tsan.log" || true; } | head -60; failed=1
        fi
    else
        echo "ThreadSanitizer run failed:"; { grep -B2 -A30 "ThreadSanitizer\|✘\|error:" "$ROOT/.build-tsan/tsan.log" || true; } | head -80; failed=1
    fi
}

case $MODE in
    smoke) run_fuzzers ;;
    tsan) run_tsan ;;
    all) run_fuzzers; run_tsan ;;
esac
exit $failed
