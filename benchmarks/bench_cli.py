"""Start-up of the command line: `competition --help` and a usage error beside `python -c pass` and
beside importing torch, interleaved over several rounds in one run (medians; this machine is shared,
so only the side-by-side figures count).

    .venv/bin/python benchmarks/bench_cli.py [--rounds 7]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "competition --help": [sys.executable, "-m", "competition", "--help"],
    "competition (usage error)": [sys.executable, "-m", "competition", "submit"],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
}


def cpu() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return platform.processor()
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
    wanted = [f for f in flags if f.startswith(("avx512", "amx")) or f in ("avx2", "fma")]
    return f"{model} ({' '.join(wanted) or 'no avx2'})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.rounds):
        for name, command in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(command, capture_output=True)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["python -c pass"])
    print(f"CPU: {cpu()}; {args.rounds} interleaved rounds, medians")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<28} {median:6.3f} s  ({median / base:5.1f}x python -c pass)")


if __name__ == "__main__":
    main()
