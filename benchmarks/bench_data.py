"""Data pipeline: build the fashion cache, then read one epoch from it through
the DataLoader, against the usual per-item PIL Dataset over the same PNGs.

    .venv/bin/python benchmarks/bench_data.py [--workers 0]

Both readers run in this one process, side by side, so the ratio holds on a
noisy shared machine even when the absolute seconds drift.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from competition.data import CachedDataset, Preprocess, cached_images, load_builtin, make_loader


class PILDataset(Dataset):
    """The seed's way: open and decode each PNG per item."""

    def __init__(self, paths, labels):
        self.paths, self.labels = list(paths), torch.as_tensor(labels)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with Image.open(self.paths[i]) as im:
            return torch.from_numpy(np.array(im)[None]), self.labels[i]


def timed_epoch(loader) -> tuple[float, int]:
    start, seen = time.perf_counter(), 0
    for x, _ in loader:
        seen += len(x)
    return time.perf_counter() - start, seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    comp = load_builtin("fashion")
    paths = list(comp.train["path"]) + list(comp.eval["path"])
    with tempfile.TemporaryDirectory() as cache_dir:
        start = time.perf_counter()
        images = cached_images(paths, Preprocess(channels=1), cache_dir)
        build = time.perf_counter() - start
        start = time.perf_counter()
        cached_images(paths, Preprocess(channels=1), cache_dir)
        hit = time.perf_counter() - start
        train = images[: len(comp.train)]
        cached = make_loader(CachedDataset(train, comp.train["label"].to_numpy()), args.batch_size,
                             shuffle=True, num_workers=args.workers)
        pil = DataLoader(PILDataset(comp.train["path"], comp.train["label"].to_numpy()), args.batch_size,
                         shuffle=True, num_workers=args.workers)
        cached_s, n = timed_epoch(cached)
        pil_s, _ = timed_epoch(pil)
    print(f"cache build ({len(paths)} images, 28x28x1): {build:.1f}s ({len(paths) / build:,.0f} img/s); "
          f"cache hit (re-hash of all files): {hit:.1f}s")
    print(f"one epoch, {n} images, batch {args.batch_size}, workers {args.workers}:")
    print(f"  cached memmap DataLoader: {cached_s:.2f}s ({n / cached_s:,.0f} img/s)")
    print(f"  per-item PIL Dataset:     {pil_s:.2f}s ({n / pil_s:,.0f} img/s)")
    print(f"  speed-up of the cache: {pil_s / cached_s:.1f}x")


if __name__ == "__main__":
    main()
