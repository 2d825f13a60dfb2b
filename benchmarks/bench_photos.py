"""Large images: the fashion-photos competition (384x512 RGB JPEGs) at the seed's 128x96.

    .venv/bin/python benchmarks/bench_photos.py [--rows 700] [--batch-size 64]

In one process, side by side, so the ratios hold on a noisy shared machine:
1. the cache build: 1 decoding thread against every core, and full decoding
   against PIL's draft mode (Preprocess(draft=True));
2. one training epoch of ImageNet EfficientNet-Lite0 (fine-tuned, 3 channels)
   fed from the cache against a per-item PIL + torchvision Resize Dataset (the
   seed's way), with 0 and 2 DataLoader workers; and the same epochs' data
   alone (no model), which is what the cache removes;
3. the peak resident memory of the training process against the size of the
   cache on disk.
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from competition.data import CachedDataset, Preprocess, cached_images, load_builtin, make_loader
from competition.models import create_model

SIZE = (128, 96)  # height, width


class PILResizeDataset(Dataset):
    """The seed's way: open, decode and resize each JPEG when the item is asked for."""

    def __init__(self, paths, labels):
        self.paths, self.labels = list(paths), torch.tensor(labels)
        self.resize = v2.Resize(SIZE, antialias=True)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with Image.open(self.paths[i]) as image:
            tensor = torch.from_numpy(np.asarray(image.convert("RGB"))).permute(2, 0, 1)
        return self.resize(tensor), self.labels[i]


def timed_build(paths, spec: Preprocess, workers: int) -> float:
    with tempfile.TemporaryDirectory() as cache_dir:
        start = time.perf_counter()
        cached_images(paths, spec, cache_dir, workers=workers, progress=False)
        return time.perf_counter() - start


def data_epoch(loader) -> float:
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def train_epoch(loader, model, optimizer) -> float:
    model.train()
    start = time.perf_counter()
    for images, labels in loader:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=700, help="train images per epoch")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    torch.manual_seed(0)
    comp = load_builtin("fashion-photos")
    table = comp.train.iloc[: args.rows]
    paths, labels = list(table["path"]), table["label"].to_numpy()
    cores = os.cpu_count() or 1

    print(f"cache build, {len(paths)} JPEGs 384x512 -> {SIZE[0]}x{SIZE[1]}x3:")
    builds = {(w, d): timed_build(paths, Preprocess(size=SIZE, draft=d), w) for w in (1, cores) for d in (False, True)}
    for (workers, draft), seconds in builds.items():
        print(f"  {workers} thread(s){', draft' if draft else ''}: {seconds:.2f}s ({len(paths) / seconds:,.0f} img/s)")
    print(f"  {cores} cores against 1: {builds[(1, False)] / builds[(cores, False)]:.2f}x; "
          f"draft against full decoding (1 thread): {builds[(1, False)] / builds[(1, True)]:.2f}x")

    with tempfile.TemporaryDirectory() as cache_dir:
        images = cached_images(paths, Preprocess(size=SIZE), cache_dir, progress=False)
        cache_mib = sum(f.stat().st_size for f in Path(cache_dir).rglob("*") if f.is_file()) / 2**20
        model = create_model("efficientnet_lite0", num_classes=len(comp.task.class_names), in_chans=3,
                             pretrained="imagenet")
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        rss_before = peak_rss_mib()
        for workers in (0, 2):
            cached = make_loader(CachedDataset(images, labels), args.batch_size, shuffle=True, num_workers=workers)
            per_item = DataLoader(PILResizeDataset(paths, labels), args.batch_size, shuffle=True,
                                  num_workers=workers)
            cached_data, per_item_data = data_epoch(cached), data_epoch(per_item)
            cached_train = train_epoch(cached, model, optimizer)
            per_item_train = train_epoch(per_item, model, optimizer)
            print(f"one epoch, {len(paths)} images, batch {args.batch_size}, {workers} DataLoader worker(s):")
            print(f"  data only:       cache {cached_data:6.2f}s   per-item PIL+Resize {per_item_data:6.2f}s   "
                  f"cache {per_item_data / cached_data:5.1f}x faster")
            print(f"  training epoch:  cache {cached_train:6.2f}s   per-item PIL+Resize {per_item_train:6.2f}s   "
                  f"cache {per_item_train / cached_train:5.2f}x faster")
    print(f"memory: cache on disk {cache_mib:.1f} MiB; peak resident memory {rss_before:.0f} MiB before training, "
          f"{peak_rss_mib():.0f} MiB after (model, optimizer, autograd and the mapped cache pages)")


if __name__ == "__main__":
    main()
