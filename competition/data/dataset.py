"""Dataset and DataLoader over the uint8 cache.

Items are uint8 C x H x W tensors (a transform may return float instead);
scaling and normalisation happen once per batch in the training loop, which
is cheaper than per item.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import DataError
from .splits import LeakageError


def to_chw_tensor(image: np.ndarray) -> torch.Tensor:
    if isinstance(image, torch.Tensor):
        return image
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


class CachedDataset(Dataset):
    """Images from a cache array (N x H x W x C uint8) with integer labels.

    transform: optional callable on one H x W x C uint8 array; returns an
    array (H x W x C) or a C x H x W tensor. A transform with `takes_index`
    set is called with the image's row index as well. rows: the table rows
    the images are, when they come from a split.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray | None = None,
        transform: Callable | None = None,
        rows: np.ndarray | None = None,
    ):
        if len(images) == 0:
            raise DataError("CachedDataset: the split is empty; check the split indices")
        if labels is not None and len(labels) != len(images):
            raise DataError(f"CachedDataset: {len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = None if labels is None else torch.tensor(np.asarray(labels), dtype=torch.long)
        self.transform = transform
        # the table rows the images are (a training unit's fold indices): fit checks training and validation
        # rows are disjoint where training happens
        self.rows = None if rows is None else np.asarray(rows)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]):
        # One fancy-indexed read per batch is much cheaper than N memmap reads.
        order = np.asarray(indices)
        batch = np.asarray(self.images[np.sort(order)])[np.argsort(np.argsort(order))]
        if self.transform is None:
            images = list(torch.from_numpy(batch).permute(0, 3, 1, 2))
        elif getattr(self.transform, "takes_index", False):  # e.g. alternating flip: per image, per epoch
            images = [to_chw_tensor(self.transform(image, int(i))) for image, i in zip(batch, order)]
        else:
            images = [to_chw_tensor(self.transform(image)) for image in batch]
        labels = self.labels[order] if self.labels is not None else torch.full((len(order),), -1)
        return list(zip(images, labels))


def seed_worker(worker_id: int) -> None:
    """Seed python, numpy and the dataset's augmentation in each loader worker."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    info = torch.utils.data.get_worker_info()
    transform: Any = getattr(info.dataset, "transform", None) if info else None
    if hasattr(transform, "set_random_seed"):
        transform.set_random_seed(seed)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader whose order and worker seeds follow `seed`."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=num_workers,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=False,
        pin_memory=False,
    )


def image_digests(images: np.ndarray, chunk: int = 4096) -> list[bytes]:
    """A content digest per image (row of an N x H x W x C array), read in chunks from a memmap."""
    digests = []
    for start in range(0, len(images), chunk):
        block = np.ascontiguousarray(images[start : start + chunk])
        digests += [hashlib.blake2b(image.tobytes(), digest_size=12).digest() for image in block]
    return digests


def check_training_rows(train_ds, val_ds) -> None:
    """Validation rows must not be in the set the loop trains on. Datasets made from a split carry their
    rows and are compared by row; a training set rebuilt downstream of the split (it carries none) is
    compared by content, so a concatenation after the fold check is caught too."""
    val_rows = getattr(val_ds, "rows", None)
    if val_rows is None or not isinstance(train_ds, CachedDataset):
        return
    if train_ds.rows is not None:
        shared = np.intersect1d(train_ds.rows, val_rows)
        if len(shared):
            raise LeakageError(
                f"{len(shared)} validation row(s) are in the training set the loop trains on "
                f"(first: {shared[:5].tolist()}); the folds overlap"
            )
        return
    seen = set(image_digests(train_ds.images))
    leaked = [i for i, digest in enumerate(image_digests(val_ds.images)) if digest in seen]
    if leaked:
        raise LeakageError(
            f"{len(leaked)} of {len(val_rows)} validation images are in the training set the loop "
            f"trains on (validation rows {val_rows[leaked[:5]].tolist()}); it was rebuilt after the "
            "split with validation rows in it"
        )
