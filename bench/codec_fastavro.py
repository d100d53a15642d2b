#!/usr/bin/env python3
"""Codec benchmark baseline: fastavro schemaless_writer / schemaless_reader (its Cython build).

Usage: bench/codec_fastavro.py WRITER.avsc READER.avsc [--records N]
  N defaults to $RECORDS, else 1,000,000.  Prints key=value lines. Run by bench/codec.sh.

Workload (identical in bench/codec_avro_c.c, bench/codec_fastavro.py and `codec-bench codec`):
  writer schema fixtures/bench/row-v1.avsc: record bench.Row, fields in this order
    id long, account int, name string, email string, city string, amount double,
    quantity int, created long, active boolean, note ["null","string"] default null
  reader schema fixtures/bench/row-v2.avsc: the same but account long (promoted from int) and a
    new last field country string default "NL"
  record i (0-based, i < N):
    id = i * 7919            account = i % 100000        name = "name-" + str(i % 1000)
    email = "user" + str(i % 5000) + "@example.com"      city = ["Amsterdam","Berlin","Paris","Madrid","Rome"][i % 5]
    amount = i * 0.25        quantity = i % 100          created = 1700000000000 + i
    active = (i % 2 == 0)    note = None if i % 3 == 0 else "note " + str(i % 10)
  checksum     = sum(id) + sum of the UTF-8 byte lengths of name, email, city and note (when not null),
                 over all decoded records, modulo 2^64
  checksum_all = checksum + sum(account) + sum(quantity) + sum(created) + count(active)
                 + sum(int(amount * 4)) + count(note is null), modulo 2^64 (every field)

Phases (each timed alone):
  encode:  the N dicts are built before timing (strings from lookup tables, as in the C baseline); then
           schemaless_writer per record into one reused BytesIO, the bytes of each record collected.
  decode:  schemaless_reader(BytesIO(bytes), v1) per record; every field read.
  resolve: schemaless_reader(BytesIO(bytes), v1, v2) per record; every field read, country checked.
"""
import io
import json
import os
import resource
import sys
import time

try:
    import fastavro
except ImportError:  # bench/codec.sh installs it; say how when run alone
    sys.exit("codec_fastavro.py: fastavro is not installed (python3 -m pip install fastavro)")
from fastavro import parse_schema, schemaless_reader, schemaless_writer

MASK = (1 << 64) - 1
CITIES = ["Amsterdam", "Berlin", "Paris", "Madrid", "Rome"]


def usage():
    sys.exit("usage: codec_fastavro.py WRITER.avsc READER.avsc [--records N]")


def main():
    args = sys.argv[1:]
    records = int(os.environ.get("RECORDS") or 1_000_000)
    paths = []
    while args:
        a = args.pop(0)
        if a == "--records" and args:
            records = int(args.pop(0))
        elif a.startswith("-"):
            usage()
        else:
            paths.append(a)
    if len(paths) != 2 or records <= 0:
        usage()
    n = records
    with open(paths[0]) as f:
        writer = parse_schema(json.load(f))
    with open(paths[1]) as f:
        reader = parse_schema(json.load(f))

    # ---- the records (not timed) ----
    names = ["name-" + str(k) for k in range(1000)]
    emails = ["user" + str(k) + "@example.com" for k in range(5000)]
    notes = ["note " + str(k) for k in range(10)]
    rows = [
        {
            "id": i * 7919,
            "account": i % 100000,
            "name": names[i % 1000],
            "email": emails[i % 5000],
            "city": CITIES[i % 5],
            "amount": i * 0.25,
            "quantity": i % 100,
            "created": 1700000000000 + i,
            "active": i % 2 == 0,
            "note": None if i % 3 == 0 else notes[i % 10],
        }
        for i in range(n)
    ]

    # ---- encode ----
    out = io.BytesIO()
    encoded = []
    append = encoded.append
    t0 = time.perf_counter()
    for row in rows:
        out.seek(0)
        out.truncate()
        schemaless_writer(out, writer, row)
        append(out.getvalue())
    t_encode = time.perf_counter() - t0
    encoded_bytes = sum(len(b) for b in encoded)

    # Expected sums, from the source records (not timed).
    def sums(recs):
        c = 0
        c_all = 0
        for r in recs:
            strlen = len(r["name"].encode()) + len(r["email"].encode()) + len(r["city"].encode())
            note = r["note"]
            if note is None:
                c_all += 1
            else:
                strlen += len(note.encode())
            c += r["id"] + strlen
            c_all += r["account"] + r["quantity"] + r["created"] + (1 if r["active"] else 0) + int(r["amount"] * 4)
        return c & MASK, (c + c_all) & MASK

    expected, expected_all = sums(rows)
    del rows

    # ---- decode (writer schema) ----
    t0 = time.perf_counter()
    c = c_all = 0
    for b in encoded:
        r = schemaless_reader(io.BytesIO(b), writer)
        strlen = len(r["name"].encode()) + len(r["email"].encode()) + len(r["city"].encode())
        note = r["note"]
        if note is None:
            c_all += 1
        else:
            strlen += len(note.encode())
        c += r["id"] + strlen
        c_all += r["account"] + r["quantity"] + r["created"] + (1 if r["active"] else 0) + int(r["amount"] * 4)
    t_decode = time.perf_counter() - t0
    checksum, checksum_all = c & MASK, (c + c_all) & MASK

    # ---- resolving decode (writer v1, reader v2) ----
    t0 = time.perf_counter()
    c = c_all = 0
    bad_country = 0
    for b in encoded:
        r = schemaless_reader(io.BytesIO(b), writer, reader)
        strlen = len(r["name"].encode()) + len(r["email"].encode()) + len(r["city"].encode())
        note = r["note"]
        if note is None:
            c_all += 1
        else:
            strlen += len(note.encode())
        c += r["id"] + strlen
        c_all += r["account"] + r["quantity"] + r["created"] + (1 if r["active"] else 0) + int(r["amount"] * 4)
        if r["country"] != "NL":
            bad_country += 1
    t_resolve = time.perf_counter() - t0
    resolve_checksum, resolve_checksum_all = c & MASK, (c + c_all) & MASK

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB
    print("implementation=fastavro")
    print(f"fastavro_version={fastavro.__version__}")
    print(f"records={n}")
    print(f"encode_records_per_s={n / t_encode:.0f}")
    print(f"decode_records_per_s={n / t_decode:.0f}")
    print(f"resolve_records_per_s={n / t_resolve:.0f}")
    print(f"encode_s={t_encode:.3f}")
    print(f"decode_s={t_decode:.3f}")
    print(f"resolve_s={t_resolve:.3f}")
    print(f"encoded_bytes={encoded_bytes}")
    print(f"peak_rss_mb={peak:.1f}")
    print(f"checksum={checksum}")
    print(f"checksum_all={checksum_all}")
    print(f"resolve_checksum={resolve_checksum}")
    sys.stdout.flush()

    errors = []
    if (checksum, checksum_all) != (expected, expected_all):
        errors.append(f"decode checksums {checksum}/{checksum_all} != expected {expected}/{expected_all}")
    if (resolve_checksum, resolve_checksum_all) != (expected, expected_all):
        errors.append(f"resolving decode checksums {resolve_checksum}/{resolve_checksum_all} "
                      f"!= expected {expected}/{expected_all}")
    if bad_country:
        errors.append(f"{bad_country} records decoded with v2 lack country='NL'")
    for e in errors:
        print(f"codec_fastavro.py: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
