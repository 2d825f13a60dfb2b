"""What keeping freed heap memory (competition.memory.keep_freed_memory) buys a training step, side by side.

    .venv/bin/python benchmarks/bench_memory.py [--rounds 3] [--steps 60]

The fast recipe's SpeedNet step (batch 128, 28 px, channels_last; fp32, and bf16 autocast where the CPU
has bf16) runs in fresh processes, alternately with glibc's default thresholds and with the kept heap,
--rounds times each, so a load that drifts falls on both alike. A fresh process is the case that
matters: one that has already freed a large block (a big dataset loaded) has raised glibc's thresholds
itself. Printed per precision: the median step time over the last two thirds of the steps, minor page
faults per step, and the ratio of the default's step time to the kept heap's.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child(heap: str, precision: str, steps: int) -> None:
    import torch

    from competition import memory
    from competition.models import create_model
    from competition.recipes import FAST

    if heap == "kept":
        memory.keep_freed_memory()
    torch.manual_seed(0)
    model = create_model(FAST.model, 10, in_chans=1, input_size=(28, 28), **FAST.model_kw)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x = torch.randn(FAST.batch_size, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (FAST.batch_size,))
    times, faults = [], []
    for _ in range(steps):
        started, faulted = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faulted)
    settled = slice(steps // 3, None)
    print(json.dumps({"step_ms": 1e3 * statistics.median(times[settled]),
                      "faults": statistics.median(faults[settled]), "heap": memory.heap_setting()}))


def measure(heap: str, precision: str, steps: int) -> dict:
    command = [sys.executable, __file__, "--child", heap, precision, "--steps", str(steps)]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        heap, precision = args.child
        return child(heap, precision, args.steps)

    import torch

    from competition.execution import supported_precisions
    from competition.provenance import cpu_model_and_isa

    cpu, isa = cpu_model_and_isa()
    print(f"{platform.node()}: {cpu}; {isa}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"fast recipe SpeedNet step, batch 128, channels_last; {args.rounds} fresh processes per cell, "
          f"{args.steps} steps each")
    print(f"  {'precision':<10} {'default ms':>10} {'faults':>7} {'kept ms':>8} {'faults':>7} {'default/kept':>12}")
    for precision in [p for p in ("fp32", "bf16") if p in supported_precisions("cpu")]:
        runs: dict[str, list[dict]] = {"default": [], "kept": []}
        for _ in range(args.rounds):
            for heap in runs:
                runs[heap].append(measure(heap, precision, args.steps))
        ms = {heap: statistics.median(r["step_ms"] for r in rs) for heap, rs in runs.items()}
        faults = {heap: statistics.median(r["faults"] for r in rs) for heap, rs in runs.items()}
        print(f"  {precision:<10} {ms['default']:10.1f} {faults['default']:7.0f} {ms['kept']:8.1f} "
              f"{faults['kept']:7.0f} {ms['default'] / ms['kept']:12.2f}")
    print(f"kept heap: {runs['kept'][0]['heap']}")


if __name__ == "__main__":
    main()
