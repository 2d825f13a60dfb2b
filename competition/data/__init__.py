"""Layer 2. Competition formats, built-in datasets, image cache, Dataset/DataLoader, splits, EDA."""

from pathlib import Path

from ..errors import DataError, closest
from .builtin import BUILTINS, data_dir, default_cache_dir, load_builtin, prepare
from .cache import Preprocess, cached_images, decode_image
from .dataset import CachedDataset, make_loader
from .formats import load_competition, mask_class
from .splits import LeakageError, check_no_leakage, make_splits
from .task import Competition, Task

__all__ = [
    "BUILTINS",
    "CachedDataset",
    "Competition",
    "LeakageError",
    "Preprocess",
    "Task",
    "cached_images",
    "check_no_leakage",
    "data_dir",
    "default_cache_dir",
    "decode_image",
    "load_builtin",
    "load_competition",
    "make_loader",
    "make_splits",
    "mask_class",
    "prepare",
]


def open_competition(name_or_path, root=None) -> Competition:
    """A built-in competition by name, or one's own competition directory by path."""
    if name_or_path in BUILTINS:
        return load_builtin(name_or_path, root)
    meant = None if Path(name_or_path).exists() else closest(str(name_or_path), BUILTINS)
    if meant is not None:
        raise DataError(
            f"{str(name_or_path)!r} is neither a built-in competition nor a directory; did you mean the "
            f"built-in {meant!r}? (built-ins: {', '.join(sorted(BUILTINS))})"
        )
    return load_competition(name_or_path)
