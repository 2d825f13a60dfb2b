"""EDA on large JPEGs: peak memory and bytes written, against the size of the JPEGs and of the
full-resolution cache EDA wrote before it decoded at a bounded size (issue 21); and the share of its time
the near-duplicate search takes (--name fashion for 70,000 small images).

    .venv/bin/python benchmarks/bench_eda.py [--data-dir DIR] [--name fashion-photos]

EDA runs in a child process with a fresh cache folder, so its peak RSS (ru_maxrss) and the bytes it
leaves there are its own.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
from pathlib import Path
from competition.data import open_competition
from competition.data import eda
searching = [0.0]
search = eda.near_duplicates
def timed_search(*args, **kwargs):
    started = time.perf_counter()
    try:
        return search(*args, **kwargs)
    finally:
        searching[0] += time.perf_counter() - started
eda.near_duplicates = timed_search
competition = open_competition(sys.argv[1], sys.argv[2])
started = time.perf_counter()
summary = eda.run_eda(competition, Path(sys.argv[3]) / "report", Path(sys.argv[3]) / "cache")
print(json.dumps({"peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "decoded_at": summary["decoded_at"], "images": len(competition.train) + len(competition.eval),
                  "sizes": summary["sizes"], "seconds": time.perf_counter() - started, "search": searching[0],
                  "near": [len(summary["near_duplicates_within_train"]), len(summary["near_duplicates_train_eval"])]}))
"""


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="fashion-photos")
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args()
    root = Path(subprocess.run([sys.executable, "-m", "competition", "data", args.name, "--data-dir", args.data_dir],
                               capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    jpegs = sum(p.stat().st_size for part in ("train", "eval") for p in (root / part).rglob("*.jpg"))
    with tempfile.TemporaryDirectory(prefix="bench-eda-") as work:
        out = subprocess.run([sys.executable, "-c", CHILD, args.name, args.data_dir, work], capture_output=True,
                             text=True, check=True).stdout.strip().splitlines()[-1]
        figures = json.loads(out)
        written = folder_bytes(Path(work) / "cache")
    w = next(iter(figures["sizes"]))  # the most common size
    width, height = map(int, w.split("x"))
    full = figures["images"] * width * height * 3
    print(f"{args.name}: {figures['images']} images, {jpegs / 2**20:.1f} MiB of JPEGs, most at {w} (w x h)")
    against_jpegs = f"{written / jpegs:.2f}x the JPEGs; " if jpegs else ""
    print(f"  EDA decoded at {figures['decoded_at']}: cache written {written / 2**20:.1f} MiB "
          f"({against_jpegs}a full-resolution cache would be {full / 2**20:.0f} MiB, "
          f"{full / max(written, 1):.0f}x more)")
    within, across = figures["near"]
    print(f"  near duplicates: {within} pairs within train, {across} eval images with a train twin; their search "
          f"took {figures['search']:.1f} s of the EDA's {figures['seconds']:.1f} s "
          f"({figures['search'] / figures['seconds']:.0%}; the cache was built in this run)")
    print(f"  peak RSS of the EDA process: {figures['peak_rss'] / 2**20:.0f} MiB "
          f"(this process, for scale: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
