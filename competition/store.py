"""Content-addressed store of Results and fold artifacts (the cache).

A key covers the experiment spec, the data fingerprint, the budget, the seed
(inside the spec), library versions and the source of the training code. Every
write goes to a staging path and is renamed into place, and a file lock per key
lets pytest-xdist workers share the store: the second worker that wants an
entry waits, then reads it. An unreadable entry is reported and rebuilt.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from .experiment import result_arrays, result_from_parts, result_to_json

STORE_FORMAT = 2
LIBRARIES = ("torch", "torchvision", "timm", "albumentations", "numpy", "scikit-learn", "opencv-python-headless")
TRAINING_CODE = ("data", "augment", "models", "train", "experiment.py", "registry.py", "cv.py", "tta.py",
                 "metrics.py")


class StoreWarning(UserWarning):
    """A store entry was unreadable and will be rebuilt."""


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of the source that trains and scores (reports and gates do not count)."""
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for part in TRAINING_CODE:
        for path in sorted((package / part).rglob("*.py")) if (package / part).is_dir() else [package / part]:
            digest.update(str(path.relative_to(package)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class Store:
    def __init__(self, root: str | Path = "runs"):
        self.root = Path(root).resolve()

    def key(self, spec: dict, data_fingerprint: str, budget: str) -> str:
        blob = json.dumps({"format": STORE_FORMAT, "spec": spec, "data": data_fingerprint, "budget": budget,
                           "libraries": library_versions(), "code": code_fingerprint()}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def entry(self, key: str) -> Path:
        return self.root / "entries" / key

    @contextmanager
    def lock(self, name: str):
        path = self.root / "locks" / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def scratch_dir(self, key: str, unit: str) -> Path:
        """Checkpoints of a unit in progress (a killed run resumes from here)."""
        return self.root / "scratch" / key / unit

    # --- unit artifacts (one fold of one seed) --------------------------------------------
    def fold_path(self, key: str, unit: str) -> Path:
        return self.root / "folds" / key / f"{unit}.npz"

    def save_fold(self, key: str, unit: str, output: dict) -> None:
        path = self.fold_path(key, unit)
        arrays = {k: output[k] for k in ("val_index", "val_probs", "eval_probs")}
        meta = {k: v for k, v in output.items() if k not in arrays}
        best = self.scratch_dir(key, unit) / "best.pt"
        if best.exists():  # keep the unit's weights: TTA and reports can use them later
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(best, self.weights_path(key, unit))
        write_npz_atomic(path, {**arrays, "meta": np.frombuffer(json.dumps(meta, default=float).encode(), np.uint8)})
        shutil.rmtree(self.scratch_dir(key, unit), ignore_errors=True)

    def weights_path(self, key: str, unit: str) -> Path:
        return self.root / "folds" / key / f"{unit}.pt"

    def load_fold(self, key: str, unit: str) -> dict | None:
        path = self.fold_path(key, unit)
        if not path.exists():
            return None
        try:
            with np.load(path) as data:
                output = {k: data[k] for k in ("val_index", "val_probs", "eval_probs")}
                output.update(json.loads(data["meta"].tobytes()))
            return output
        except Exception as exc:  # truncated or foreign file
            self.report_corrupt(path, exc)
            path.unlink(missing_ok=True)
            return None

    # --- results -----------------------------------------------------------------------
    def save_result(self, key: str, result) -> Path:
        entry = self.entry(key)
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=entry.parent))
        np.savez(staging / "arrays.npz", **result_arrays(result))
        (staging / "result.json").write_text(json.dumps(result_to_json(result), indent=1))
        old = entry.with_name(f".{key}.old.{os.getpid()}")
        if entry.exists():
            entry.rename(old)
        staging.rename(entry)
        shutil.rmtree(old, ignore_errors=True)
        result.path = entry
        return entry

    def load_result(self, key: str, name: str | None = None):
        entry = self.entry(key)
        if not entry.exists():
            return None
        try:
            meta = json.loads((entry / "result.json").read_text())
            with np.load(entry / "arrays.npz") as arrays:
                data = {k: arrays[k] for k in arrays.files}
            result = result_from_parts(meta, data)
        except Exception as exc:
            self.report_corrupt(entry, exc)
            shutil.rmtree(entry, ignore_errors=True)
            return None
        result.cache_hit, result.path = True, entry
        if name:
            result.name = name
        return result

    @staticmethod
    def report_corrupt(path: Path, exc: Exception) -> None:
        warnings.warn(f"{path}: unreadable store entry ({type(exc).__name__}: {exc}); rebuilding it", StoreWarning,
                      stacklevel=3)


def write_npz_atomic(path: Path, arrays: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
