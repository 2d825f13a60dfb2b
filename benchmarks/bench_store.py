"""Serving unchanged experiments from the store: a second pytest session over
the same experiments, timed per experiment, against the first.

    .venv/bin/python benchmarks/bench_store.py [-k EXPR] [--budget smoke]

It runs `pytest experiments` twice in fresh processes against the same runs
directory (a temporary one unless --runs-dir is given).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time


def session(args, runs_dir: str) -> tuple[float, int, int]:
    command = [sys.executable, "-m", "pytest", "experiments", f"--budget={args.budget}", f"--runs-dir={runs_dir}",
               "-q", "-p", "no:cacheprovider", "-k", args.k]
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True).stdout
    seconds = time.perf_counter() - start
    rows = [line for line in out.splitlines() if re.match(r"^\S+\s+(macro_f1|accuracy)\s", line)]
    return seconds, len(rows), sum(line.rstrip().endswith("hit") for line in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", default="smoke")
    parser.add_argument("-k", default="baselines or augmentation or losses")
    parser.add_argument("--runs-dir")
    args = parser.parse_args()
    runs_dir = args.runs_dir or tempfile.mkdtemp(prefix="bench-store-")
    first, n, _ = session(args, runs_dir)
    second, n2, hits = session(args, runs_dir)
    print(f"pytest experiments -k '{args.k}' --budget={args.budget}: {n} experiments on the leaderboard")
    print(f"  first session:  {first:7.1f}s ({first / max(n, 1):.2f}s per experiment)")
    print(f"  second session: {second:7.1f}s ({second / max(n2, 1):.2f}s per experiment, {hits}/{n2} store hits, "
          "including pytest and data start-up)")
    print(f"  speed-up: {first / second:.1f}x")


if __name__ == "__main__":
    main()
