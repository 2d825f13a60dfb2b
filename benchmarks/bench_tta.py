"""Batched TTA (all views in one forward pass) against the per-view loop
(one forward per view, as ttach does), side by side in one process.

    .venv/bin/python benchmarks/bench_tta.py [--images 5000] [--model rescnn]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from competition.data import CachedDataset, Preprocess, cached_images, data_dir, load_builtin
from competition.models import create_model
from competition.tta import tta_predict

VIEWS = ("identity", "hflip", "shift:2", "five_crop:0.875")  # 1 + 1 + 4 + 5 = 11 views


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--model", default="rescnn")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    comp = load_builtin("fashion")
    images = cached_images(comp.eval["path"], Preprocess(channels=1), data_dir() / ".cache")[: args.images]
    dataset = CachedDataset(np.asarray(images))
    torch.manual_seed(0)
    model = create_model(args.model, 10, in_chans=1).eval()
    batched = tta_predict(model, dataset, VIEWS, batch_size=args.batch_size)
    looped = tta_predict(model, dataset, VIEWS, batch_size=args.batch_size, batched=False)
    assert np.allclose(batched, looped, atol=1e-5)
    t_batched = best_of(lambda: tta_predict(model, dataset, VIEWS, batch_size=args.batch_size))
    t_loop = best_of(lambda: tta_predict(model, dataset, VIEWS, batch_size=args.batch_size, batched=False))
    n_views = 11
    print(f"{args.model}, {len(dataset)} images x {n_views} views, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads (best of 3):")
    print(f"  batched (one forward per batch): {t_batched:.2f}s ({len(dataset) * n_views / t_batched:,.0f} view-img/s)")
    print(f"  per-view loop (ttach-style):     {t_loop:.2f}s ({len(dataset) * n_views / t_loop:,.0f} view-img/s)")
    print(f"  batched / loop speed ratio: {t_loop / t_batched:.2f}x (same probabilities, max abs diff "
          f"{np.abs(batched - looped).max():.1e})")


if __name__ == "__main__":
    main()
