#!/usr/bin/env python3
"""Wall-clock timing loop for a command (stdlib only; no hyperfine needed).

Usage: timeit_cmd.py [--runs N] [--warmup W] [--name NAME] [--stdout-file F] -- CMD [ARGS...]

Runs CMD W times untimed, then N times timed with time.perf_counter() around
subprocess.run().  Every run must exit 0: on a non-zero exit the command's
stderr/stdout tail is shown and this script exits with that status.
stdout of the timed runs is appended to F if given (discarded otherwise).

Prints: NAME runs=N median_ms=... p90_ms=... min_ms=... max_ms=...
"""

import argparse
import math
import shlex
import statistics
import subprocess
import sys
import time


def percentile(xs, q):
    xs = sorted(xs)
    # nearest-rank
    k = max(1, math.ceil(q / 100 * len(xs)))
    return xs[k - 1]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--name", default="cmd")
    ap.add_argument("--stdout-file", default=None)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command given")

    out = open(args.stdout_file, "a", encoding="utf-8") if args.stdout_file else None
    times = []
    try:
        for i in range(args.warmup + args.runs):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            dt = (time.perf_counter() - t0) * 1e3
            if proc.returncode != 0:
                short = " ".join(shlex.quote(c) for c in cmd)
                if len(short) > 300:
                    short = short[:300] + " ..."
                sys.stderr.write(f"{args.name}: command exited {proc.returncode}: {short}\n")
                for label, data in (("stderr", proc.stderr), ("stdout", proc.stdout)):
                    text = data.decode("utf-8", "replace").strip()
                    if text:
                        sys.stderr.write(f"--- {label} (last 2000 chars) ---\n{text[-2000:]}\n")
                return proc.returncode if proc.returncode > 0 else 1
            if i >= args.warmup:
                times.append(dt)
                if out:
                    out.write(proc.stdout.decode("utf-8", "replace"))
    finally:
        if out:
            out.close()

    print(
        f"{args.name} runs={len(times)} median_ms={statistics.median(times):.1f} "
        f"p90_ms={percentile(times, 90):.1f} min_ms={min(times):.1f} max_ms={max(times):.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
