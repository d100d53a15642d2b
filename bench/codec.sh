#!/usr/bin/env bash
# Codec benchmark: binary encode / decode / resolving decode of N records of bench.Row, ours (Swift,
# `codec-bench codec`) beside two baselines: Apache Avro C (libavro generic values, called directly from
# bench/codec_avro_c.c) and fastavro (bench/codec_fastavro.py). Prints each program's figures, then a
# table with the ratios the targets use:
#   ours encode            / Avro C encode               target >= 0.6
#   ours decode            / Avro C decode               target >= 0.4
#   ours resolving decode  / fastavro resolving decode   target >= 5
# and checks that every implementation decoded the same checksum. Prints figures; it is not a test.
#
# Workload (identical in all three; also written down in bench/codec_avro_c.c and bench/codec_fastavro.py):
#   writer schema fixtures/bench/row-v1.avsc: record bench.Row, fields in this order
#     id long, account int, name string, email string, city string, amount double,
#     quantity int, created long, active boolean, note ["null","string"] default null
#   reader schema fixtures/bench/row-v2.avsc: the same but account long (promoted from int) and a
#     new last field country string default "NL"
#   record i (0-based, i < N):
#     id = i * 7919            account = i % 100000        name = "name-" + str(i % 1000)
#     email = "user" + str(i % 5000) + "@example.com"      city = ["Amsterdam","Berlin","Paris","Madrid","Rome"][i % 5]
#     amount = i * 0.25        quantity = i % 100          created = 1700000000000 + i
#     active = (i % 2 == 0)    note = null if i % 3 == 0 else "note " + str(i % 10)
#   checksum = sum(id) + sum of the byte lengths of name, email, city and note (when not null) over all
#              decoded records, modulo 2^64  (1,000,000 records: 3959496078167996)
#
# Usage: bench/codec.sh [--skip-build] [--baselines-only]
#   --skip-build       use the existing .build/release/codec-bench (and bench/.data/codec_avro_c if present)
#   --baselines-only   run only Avro C and fastavro (no Swift build or run)
# Environment:
#   RECORDS   records per phase (default 1000000)
#   PYTHON    python interpreter (default python3)
#   CC        C compiler (default cc)
#   BIN_DIR   where codec-bench is (default: swift build -c release --show-bin-path)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

SKIP_BUILD=0
BASELINES_ONLY=0
for arg in "$@"; do
    case "$arg" in
        --skip-build) SKIP_BUILD=1 ;;
        --baselines-only) BASELINES_ONLY=1 ;;
        -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
        *) echo "codec.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

RECORDS=${RECORDS:-1000000}
PYTHON=${PYTHON:-python3}
CC=${CC:-cc}
V1="fixtures/bench/row-v1.avsc"
V2="fixtures/bench/row-v2.avsc"
DATA_DIR="$ROOT/bench/.data"
C_BIN="$DATA_DIR/codec_avro_c"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'codec.sh: ERROR: %s\n' "$*" >&2; exit 1; }

[[ "$RECORDS" =~ ^[1-9][0-9]*$ ]] || die "RECORDS must be a positive integer (got '$RECORDS')"
[[ -f $V1 && -f $V2 ]] || die "missing $V1 or $V2"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/codec-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ---- what the baselines need -------------------------------------------------------------------------------
pkg-config --exists avro-c 2>/dev/null \
    || die "Avro C not found by pkg-config (apt-get install libavro-dev pkg-config)"
AVRO_C_VERSION=$(pkg-config --modversion avro-c)
if ! "$PYTHON" -c 'import fastavro' 2>/dev/null; then
    say "installing the python 'fastavro' package"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check fastavro || die "pip install fastavro failed"
fi

# ---- builds ----------------------------------------------------------------------------------------------
mkdir -p "$DATA_DIR"
if [[ $SKIP_BUILD -eq 0 || ! -x $C_BIN ]]; then
    say "$CC -O2 bench/codec_avro_c.c -> $C_BIN (Avro C $AVRO_C_VERSION)"
    # shellcheck disable=SC2046  # pkg-config output is meant to be split
    "$CC" -O2 -Wall -o "$C_BIN" bench/codec_avro_c.c $(pkg-config --cflags --libs avro-c) \
        || die "compiling bench/codec_avro_c.c failed"
fi

CODEC_BENCH=""
if [[ $BASELINES_ONLY -eq 0 ]]; then
    command -v swift >/dev/null || die "swift not found on PATH (use --baselines-only for the baselines alone)"
    if [[ $SKIP_BUILD -eq 0 ]]; then
        say "swift build -c release --product codec-bench"
        swift build -c release --product codec-bench >&2 \
            || die "release build of codec-bench failed (output above); --baselines-only runs the baselines alone"
    fi
    BIN_DIR=${BIN_DIR:-$(swift build -c release --show-bin-path 2>/dev/null || echo "$ROOT/.build/release")}
    CODEC_BENCH="$BIN_DIR/codec-bench"
    [[ -x $CODEC_BENCH ]] || die "missing binary: $CODEC_BENCH"
fi

# ---- runs (one after the other, never concurrently: 2 cores, and the timings must not overlap) ------------
say "Avro C direct: $C_BIN $V1 $V2 --records $RECORDS"
"$C_BIN" "$V1" "$V2" --records "$RECORDS" >"$WORK/avro_c.out" 2>"$WORK/avro_c.err" \
    || { cat "$WORK/avro_c.out" "$WORK/avro_c.err" >&2; die "the Avro C baseline failed (output above)"; }
cat "$WORK/avro_c.out" "$WORK/avro_c.err" >&2

say "fastavro: $PYTHON bench/codec_fastavro.py $V1 $V2 --records $RECORDS"
"$PYTHON" bench/codec_fastavro.py "$V1" "$V2" --records "$RECORDS" >"$WORK/fastavro.out" 2>"$WORK/fastavro.err" \
    || { cat "$WORK/fastavro.out" "$WORK/fastavro.err" >&2; die "the fastavro baseline failed (output above)"; }
cat "$WORK/fastavro.out" "$WORK/fastavro.err" >&2

: >"$WORK/swift.out"
SWIFT_NOTE=""
if [[ -n $CODEC_BENCH ]]; then
    say "ours: $CODEC_BENCH codec $V1 $V2 --records $RECORDS"
    rc=0
    "$CODEC_BENCH" codec "$V1" "$V2" --records "$RECORDS" >"$WORK/swift.out" 2>"$WORK/swift.err" || rc=$?
    cat "$WORK/swift.out" "$WORK/swift.err" >&2
    if ! grep -q '^encode_records_per_s=' "$WORK/swift.out"; then
        SWIFT_NOTE="codec-bench does not support 'codec' yet (exit $rc: $(head -c 200 "$WORK/swift.err" | tr '\n' ' ')) - Swift column skipped"
        : >"$WORK/swift.out"
    elif [[ $rc -ne 0 ]]; then
        die "codec-bench codec printed figures but exited $rc (output above)"
    fi
elif [[ $BASELINES_ONLY -eq 1 ]]; then
    SWIFT_NOTE="--baselines-only: Swift column skipped"
fi

# ---- table -----------------------------------------------------------------------------------------------
"$PYTHON" - "$WORK/swift.out" "$WORK/avro_c.out" "$WORK/fastavro.out" "$RECORDS" "$AVRO_C_VERSION" "$SWIFT_NOTE" <<'EOF'
import sys

def load(path):
    d = {}
    for line in open(path):
        line = line.strip()
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            d[k.strip()] = v.strip()
    return d

swift, avro_c, fa = (load(p) for p in sys.argv[1:4])
records, avro_c_version, swift_note = int(sys.argv[4]), sys.argv[5], sys.argv[6]

def num(d, k):
    try:
        return float(d[k])
    except (KeyError, ValueError):
        return None

def cell(v, fmt="{:,.0f}"):
    return "n/a" if v is None else fmt.format(v)

print()
print(f"codec: {records:,} records of bench.Row (fixtures/bench/row-v1.avsc; resolving decode to row-v2.avsc)")
print(f"Avro C {avro_c_version} (generic values, direct)   fastavro {fa.get('fastavro_version', '?')}   "
      f"encoded bytes: Avro C {avro_c.get('encoded_bytes', '?')}, fastavro {fa.get('encoded_bytes', '?')}"
      + (f", ours {swift['encoded_bytes']}" if "encoded_bytes" in swift else ""))
if swift_note:
    print(f"NOTE: {swift_note}")
print()
cols = ["ours (Swift)", "ours via Avro C", "Avro C direct", "fastavro"]
rows = [
    ("encode records/s", [num(swift, "encode_records_per_s"), num(swift, "avro_c_encode_records_per_s"),
                          num(avro_c, "encode_records_per_s"), num(fa, "encode_records_per_s")], "{:,.0f}"),
    ("decode records/s", [num(swift, "decode_records_per_s"), num(swift, "avro_c_decode_records_per_s"),
                          num(avro_c, "decode_records_per_s"), num(fa, "decode_records_per_s")], "{:,.0f}"),
    ("resolving decode records/s", [num(swift, "resolve_records_per_s"), None,
                                    num(avro_c, "resolve_records_per_s"), num(fa, "resolve_records_per_s")], "{:,.0f}"),
    ("peak RSS MB", [num(swift, "peak_rss_mb"), None, num(avro_c, "peak_rss_mb"), num(fa, "peak_rss_mb")], "{:,.1f}"),
    ("RSS MB during decode @10%", [num(swift, "rss_mb_at_10pct"), None, num(avro_c, "rss_mb_at_10pct"), None], "{:,.1f}"),
    ("RSS MB during decode @100%", [num(swift, "rss_mb_at_100pct"), None, num(avro_c, "rss_mb_at_100pct"), None], "{:,.1f}"),
]
w0 = max(len(r[0]) for r in rows)
print(f"| {'':<{w0}} | " + " | ".join(f"{c:>15}" for c in cols) + " |")
print(f"|{'-' * (w0 + 2)}|" + "|".join("-" * 17 for _ in cols) + "|")
for name, vals, fmt in rows:
    print(f"| {name:<{w0}} | " + " | ".join(f"{cell(v, fmt):>15}" for v in vals) + " |")
notes = []
if "resolve_unsupported" in avro_c:
    notes.append(f"Avro C direct has no resolving decode: {avro_c['resolve_unsupported']} "
                 "(avro_resolved_writer_new rejects a reader field absent from the writer, default or not)")
if "arena_mb" in avro_c:
    notes.append(f"Avro C RSS during decode excludes its {avro_c['arena_mb']} MB arena of encoded records "
                 f"(peak RSS includes it); fastavro's peak includes its {records:,} source dicts and encoded bytes objects")
for n in notes:
    print(f"  - {n}")

print()
print("ratios (targets):")
def ratio(label, a, b, target):
    if a is None or b is None or b == 0:
        print(f"  {label:<52} {'n/a':>7}   (target >= {target})")
        return
    r = a / b
    print(f"  {label:<52} {r:>7.2f}   (target >= {target}: {'met' if r >= target else 'NOT met'})")
ratio("ours encode / Avro C encode", num(swift, "encode_records_per_s"), num(avro_c, "encode_records_per_s"), 0.6)
ratio("ours decode / Avro C decode", num(swift, "decode_records_per_s"), num(avro_c, "decode_records_per_s"), 0.4)
ratio("ours resolving decode / fastavro resolving decode", num(swift, "resolve_records_per_s"),
      num(fa, "resolve_records_per_s"), 5)

print()
sums = {}
for who, d in (("ours", swift), ("Avro C", avro_c), ("fastavro", fa)):
    if "checksum" in d:
        sums[f"{who} decode"] = d["checksum"]
    if "resolve_checksum" in d:
        sums[f"{who} resolving decode"] = d["resolve_checksum"]
if len(set(sums.values())) == 1 and len(sums) > 1:
    print(f"checksums agree: {next(iter(sums.values()))} ({', '.join(sums)})")
    sys.exit(0)
print("CHECKSUMS DIFFER:" if len(sums) > 1 else "checksum: only one implementation reported one:")
for k, v in sums.items():
    print(f"  {k:<28} {v}")
sys.exit(1 if len(sums) > 1 else 0)
EOF
