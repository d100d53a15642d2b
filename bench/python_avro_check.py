#!/usr/bin/env python3
"""Baseline for the compatibility benchmark: Apache Avro's own Python checker.

Usage: python_avro_check.py DIR [--runs N] [--new v101.avsc]

DIR holds the files written by gen_schemas.py (v001.avsc ... v101.avsc).
The highest-numbered file is the new schema, the others are the prior
versions.  One run is:

  1. parse: avro.schema.parse() of every file's text (the texts are read
     into memory before the clock starts, so this is parse time only);
  2. check: for each prior version, a FULL check = both directions with
     avro.compatibility.ReaderWriterCompatibilityChecker:
       reader=new / writer=old   (BACKWARD)
       reader=old / writer=new   (FORWARD)
     A fresh checker is used per (reader, writer) pair, as Java's
     SchemaCompatibility.checkReaderWriterCompatibility does; every result
     must be "compatible" (the script exits 1 otherwise).

Prints one line per run:
  python-avro run=K parse_ms=... check_ms=... total_ms=... checks=200
and, with --runs N > 1, a final median line:
  python-avro median_of=N parse_ms=... check_ms=... total_ms=...
Also prints the cost of plain json.loads of the same texts (median over the
runs) as:
  python-json parse_ms=...
"""

import argparse
import glob
import json
import os
import statistics
import sys
import time

try:
    import avro
    import avro.schema
    from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
except ImportError:  # pragma: no cover
    sys.exit("python_avro_check.py: the 'avro' package is missing: pip install avro")


def load_texts(directory, new_name=None):
    paths = sorted(glob.glob(os.path.join(directory, "v*.avsc")))
    if len(paths) < 2:
        sys.exit(f"python_avro_check.py: need at least 2 v*.avsc files in {directory}, found {len(paths)}")
    if new_name:
        new_path = os.path.join(directory, new_name)
        if new_path not in paths:
            sys.exit(f"python_avro_check.py: {new_path} not found")
        paths.remove(new_path)
        paths.append(new_path)
    texts = []
    for p in paths:
        with open(p, "r", encoding="utf-8") as fh:
            texts.append(fh.read())
    return paths, texts


def one_run(texts):
    t0 = time.perf_counter()
    schemas = [avro.schema.parse(t) for t in texts]
    t1 = time.perf_counter()
    new, priors = schemas[-1], schemas[:-1]
    failures = []
    checks = 0
    for i, old in enumerate(priors):
        for direction, reader, writer in (("backward", new, old), ("forward", old, new)):
            res = ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)
            checks += 1
            if res.compatibility is not SchemaCompatibilityType.compatible:
                failures.append((i, direction, sorted(res.messages), sorted(res.locations)))
    t2 = time.perf_counter()
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3, checks, failures


def json_run(texts):
    t0 = time.perf_counter()
    for t in texts:
        json.loads(t)
    return (time.perf_counter() - t0) * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description="python-avro FULL_TRANSITIVE baseline")
    ap.add_argument("dir")
    ap.add_argument("--runs", type=int, default=1, help="repeat the whole parse+check N times, report the median")
    ap.add_argument("--new", default=None, help="file name of the new schema (default: highest-numbered)")
    args = ap.parse_args(argv)

    paths, texts = load_texts(args.dir, args.new)
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    print(
        f"# python-avro {avro.__version__}, python {sys.version.split()[0]}: "
        f"new={os.path.basename(paths[-1])} priors={len(paths) - 1} files={len(paths)} bytes={nbytes}",
        flush=True,
    )

    parse, check, total, jsons = [], [], [], []
    for k in range(1, args.runs + 1):
        p, c, checks, failures = one_run(texts)
        if failures:
            for i, direction, msgs, locs in failures[:10]:
                print(f"INCOMPATIBLE: {os.path.basename(paths[i])} {direction}: {msgs} at {locs}", file=sys.stderr)
            print(f"python_avro_check.py: {len(failures)} of {checks} checks incompatible", file=sys.stderr)
            return 1
        parse.append(p)
        check.append(c)
        total.append(p + c)
        jsons.append(json_run(texts))
        print(f"python-avro run={k} parse_ms={p:.1f} check_ms={c:.1f} total_ms={p + c:.1f} checks={checks}", flush=True)

    if args.runs > 1:
        print(
            f"python-avro median_of={args.runs} parse_ms={statistics.median(parse):.1f} "
            f"check_ms={statistics.median(check):.1f} total_ms={statistics.median(total):.1f}"
        )
    print(f"python-json parse_ms={statistics.median(jsons):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
