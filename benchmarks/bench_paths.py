"""What each execution path buys the fast recipe's training step on this machine, side by side in one run.

    .venv/bin/python benchmarks/bench_paths.py [--batch 128] [--widths 48 96 192] [--rounds 5] [--steps 5]
                                               [--no-compile]

The model: the fast recipe's SpeedNet (competition.recipes.FAST) on 28 px grey images, ten classes;
--widths sets its three groups' widths (a wider SpeedNet does more arithmetic per byte moved).
Every path competition.execution knows on this device (fp32 / bf16 autocast / fp16 on CUDA; NCHW /
channels_last; eager / torch.compile) is timed by the probe the runner uses (interleaved rounds, median
step), with more rounds. Printed per path: images/s, the ratio to fp32 eager NCHW and to the path every
run used before paths were chosen (fp32 channels_last eager), the loss error against fp32 eager, the
achieved GFLOP/s (FLOPs of one training step from torch.utils.flop_counter) and that as a fraction of
this machine's measured matmul rate in the path's precision (2048 x 2048, the issue's goal: 0.25); and
the path the runner would choose for the fast recipe at standard (8 epochs of 12,000 rows, 3 seeds).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from competition.execution import candidate_paths, choose, probe  # noqa: E402
from competition.models import create_model  # noqa: E402
from competition.recipes import FAST  # noqa: E402
from competition.provenance import cpu_model_and_isa  # noqa: E402
from competition.train.loop import AMP_DTYPES  # noqa: E402

SHAPE, CLASSES = (1, 28, 28), 10


def matmul_gflops(dtype: torch.dtype, device: str, n: int = 2048, repeats: int = 5) -> float:
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return 2 * n ** 3 / statistics.median(times[1:]) / 1e9


def model_maker(widths: tuple[int, ...]):
    def make_model():
        kw = {**FAST.model_kw, "widths": widths}
        return create_model(FAST.model, CLASSES, in_chans=SHAPE[0], input_size=SHAPE[1:], **kw)

    return make_model


def step_flops(make_model, batch: int, device: str) -> int:
    model = make_model().to(device)
    x, y = torch.randn(batch, *SHAPE, device=device), torch.randint(0, CLASSES, (batch,), device=device)
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(model(x), y).backward()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=FAST.batch_size)
    parser.add_argument("--widths", type=int, nargs=3, default=FAST.model_kw["widths"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-compile", action="store_true", help="leave the torch.compile paths out")
    args = parser.parse_args()
    cpu, isa = cpu_model_and_isa()
    gpu = f"; {torch.cuda.get_device_name()}" if args.device.startswith("cuda") else ""
    print(f"{platform.node()}: {cpu}; {isa}{gpu}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    paths = candidate_paths("auto", "auto", False if args.no_compile else "auto", args.device)
    rates = {"fp32": matmul_gflops(torch.float32, args.device)}
    for precision in {p.precision for p in paths} - {"fp32"}:
        rates[precision] = matmul_gflops(AMP_DTYPES[precision], args.device)
    print("matmul 2048: " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in rates.items()))
    widths = tuple(args.widths)
    make_model = model_maker(widths)
    flops = step_flops(make_model, args.batch, args.device)
    print(f"SpeedNet {widths}, batch {args.batch}: {flops / args.batch / 1e9:.3f} GFLOP per "
          f"training image; {len(paths)} paths, {args.rounds} rounds of {args.steps} steps each")
    records = probe(make_model, SHAPE, CLASSES, args.batch, args.device, paths, rounds=args.rounds, steps=args.steps)
    by_label = {r["label"]: r for r in records}
    eager, before = by_label["fp32+nchw"]["images_per_s"], by_label["fp32+channels_last"]["images_per_s"]
    print(f"  {'path':<28} {'img/s':>8} {'x nchw':>7} {'x before':>8} {'loss err':>9} {'GFLOP/s':>8} "
          f"{'of matmul':>9} {'compile s':>9}")
    for r in sorted(records, key=lambda r: -r["images_per_s"]):
        achieved = r["images_per_s"] * flops / args.batch / 1e9
        print(f"  {r['label']:<28} {r['images_per_s']:8.0f} {r['images_per_s'] / eager:7.2f} "
              f"{r['images_per_s'] / before:8.2f} {r['loss_error']:9.1e} {achieved:8.1f} "
              f"{achieved / rates[r['precision']]:9.2f} {r['compile_seconds']:9.1f}")
    planned = 8 * (12_000 * 4 // 5 // args.batch) * 3
    chosen = choose(records, planned, args.batch)
    print(f"chosen for the fast recipe at standard ({planned} steps): {chosen['label']}, "
          f"x{chosen['images_per_s'] / before:.2f} the path before")


if __name__ == "__main__":
    main()
