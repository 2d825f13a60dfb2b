"""Layer 4. Content-addressed store of Results and unit artifacts (the cache).

A key covers the experiment spec, the data fingerprint, the budget, library
versions and the source of the training code. Units (one fold of one seed) are
single files written atomically. A Result entry is a folder of versions:

    entries/<key>/CURRENT            the name of the published version (replaced atomically)
    entries/<key>/<version>/         result.json, arrays.npz, MANIFEST.json (written last)

A writer fills a staging folder, renames it onto a fresh version name, then
replaces CURRENT; it removes versions that CURRENT left more than a minute ago,
under the key's lock. A reader follows CURRENT, checks every file against the
manifest and the arrays' shapes, and never deletes anything: a damaged entry is
reported (StoreWarning) and rebuilt by the run. A file lock per unit lets
pytest-xdist workers share the store: the second worker that wants a unit
waits, then reads it. Temporaries of killed processes are cleared on open.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
import warnings
from typing import Any, cast
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np

from .cv import UnitOutput
from .errors import StoreError
from .experiment import result_arrays, result_from_parts, result_to_json
from .files import atomic_write, clear_stale, sha256_file, staging_folder, writable_folder
from .provenance import code_fingerprint, library_versions
from .train import KEPT_WEIGHTS

STORE_FORMAT = 4  # 4: the whole package's code, user code, the task; not the competition's location
OLD_VERSION_GRACE = 60  # seconds a replaced version stays for readers that followed CURRENT to it


class StoreWarning(UserWarning):
    """A store entry was unreadable or failed its integrity check; it will be rebuilt."""


class StoreIntegrityError(StoreError):
    """A file's content does not match its manifest, or arrays do not fit together."""


def check_unit_shapes(output: UnitOutput) -> None:
    rows, classes = len(output.val_index), output.val_probs.shape
    if output.val_probs.ndim != 2 or classes[0] != rows:
        raise StoreIntegrityError(f"{rows} validation rows but val_probs of shape {classes}")
    if output.eval_probs.ndim != 2 or (len(output.eval_probs) and output.eval_probs.shape[1] != classes[1]):
        raise StoreIntegrityError(f"eval_probs of shape {output.eval_probs.shape} against {classes[1]} classes")


def check_result_shapes(result) -> None:
    n, c = len(result.y), len(result.class_names)
    expected = {"oof_index": (n,), "oof_probs": (n, c), "eval_probs": (len(result.eval_ids), c)}
    for name, shape in expected.items():
        if getattr(result, name).shape != shape:
            raise StoreIntegrityError(f"{name} has shape {getattr(result, name).shape}, expected {shape}")
    if result.seed_oof_probs is not None and result.seed_oof_probs.shape[1:] != (n, c):
        raise StoreIntegrityError(f"seed_oof_probs has shape {result.seed_oof_probs.shape}, expected (S, {n}, {c})")


def array_digest(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    return digest.hexdigest()


class Store:
    """read_only=True opens a store for reading alone (listing runs, writing a submission from one): it may
    sit on a read-only file system or belong to someone else, and nothing in it is created or cleared."""

    def __init__(self, root: str | Path = "runs", read_only: bool = False):
        self.read_only = read_only
        if read_only:
            self.root = Path(root).resolve()
            if not self.root.is_dir():
                raise StoreError(f"{self.root}: no result store there; pass the runs dir with --runs-dir")
            return
        self.root = writable_folder(
            Path(root).resolve(), "result store (runs dir)", "choose another with --runs-dir (or Store(root))"
        )
        for folder in (self.root / "entries", self.root / "scratch"):
            clear_stale(folder)
        for folder in (self.root / "folds").glob("*") if (self.root / "folds").is_dir() else []:
            clear_stale(folder)

    def key(
        self, spec: dict, data_fingerprint: str, budget: str, task: dict | None = None, user_code: dict | None = None
    ) -> str:
        """What made a number: the spec (without the competition's name or path: its content is in the data
        fingerprint), the data, the task (metric, classes, label space), the budget, the libraries, the
        package's code and the user code the spec names (qualified name -> source digest)."""
        spec = {k: v for k, v in spec.items() if k != "data"}  # the data's content is in its fingerprint
        blob = json.dumps(
            {
                "format": STORE_FORMAT,
                "spec": spec,
                "data": data_fingerprint,
                "budget": budget,
                "task": task or {},
                "user_code": user_code or {},
                "libraries": library_versions(),
                "code": code_fingerprint(),
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

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

    # --- unit artifacts (one fold of one seed; the folder keeps its first name, "folds") ----------
    def unit_path(self, key: str, unit: str) -> Path:
        return self.root / "folds" / key / f"{unit}.npz"

    def weights_path(self, key: str, unit: str) -> Path:
        return self.root / "folds" / key / f"{unit}.pt"

    def save_unit(self, key: str, unit: str, output: UnitOutput) -> None:
        """Weights first, then the npz whose meta holds the digests of both: the npz is the commit. The
        weights are those training kept (train.KEPT_WEIGHTS in the unit's scratch folder), when it wrote them."""
        path = self.unit_path(key, unit)
        arrays = output.arrays()
        meta = output.record()
        meta["arrays_sha256"] = array_digest(arrays)
        kept = self.scratch_dir(key, unit) / KEPT_WEIGHTS
        if kept.exists():  # keep the unit's weights: TTA and reports can use them later
            path.parent.mkdir(parents=True, exist_ok=True)
            meta["weights_sha256"] = sha256_file(kept)
            os.replace(kept, self.weights_path(key, unit))
        meta_bytes = np.frombuffer(json.dumps(meta, default=float).encode(), np.uint8)
        atomic_write(path, lambda tmp: np.savez(tmp, **cast(dict[str, Any], {**arrays, "meta": meta_bytes})))
        shutil.rmtree(self.scratch_dir(key, unit), ignore_errors=True)
        try:
            self.scratch_dir(key, unit).parent.rmdir()  # the last unit of a key leaves no empty folder
        except OSError:
            pass

    def load_unit(self, key: str, unit: str) -> UnitOutput | None:
        """The unit's output, or None (missing, or damaged: reported, left in place, retrained)."""
        path = self.unit_path(key, unit)
        if not path.exists():
            return None
        try:
            with np.load(path) as data:
                arrays = {k: data[k] for k in UnitOutput.ARRAYS}
                meta = json.loads(data["meta"].tobytes())
            if meta.pop("arrays_sha256", None) != array_digest(arrays):
                raise StoreIntegrityError("the arrays do not match the digest written with them")
            meta.pop("weights_sha256", None)
            output = UnitOutput.from_parts(arrays, meta)
            check_unit_shapes(output)
            return output
        except Exception as exc:  # truncated, foreign or edited file
            self.report_corrupt(path, exc)
            return None

    def verified_weights(self, key: str, unit: str) -> Path:
        """The unit's weights file, checked against the digest its npz recorded."""
        path, weights = self.unit_path(key, unit), self.weights_path(key, unit)
        with np.load(path) as data:
            expected = json.loads(data["meta"].tobytes()).get("weights_sha256")
        if not weights.exists() or expected != sha256_file(weights):
            raise StoreIntegrityError(
                f"{weights}: missing, or not the weights its unit recorded; rerun the experiment with --rerun"
            )
        return weights

    # --- results -----------------------------------------------------------------------
    def entry_root(self, key: str) -> Path:
        return self.root / "entries" / key

    def entry(self, key: str) -> Path | None:
        """The published version folder of a Result entry, or None."""
        try:
            version = (self.entry_root(key) / "CURRENT").read_text().strip()
        except FileNotFoundError:
            return None
        return self.entry_root(key) / version if version else None

    def save_result(self, key: str, result) -> Path:
        root = self.entry_root(key)
        staging = staging_folder(root.parent, key)
        try:
            np.savez(staging / "arrays.npz", **cast(dict[str, Any], result_arrays(result)))
            (staging / "result.json").write_text(json.dumps(result_to_json(result), indent=1))
            manifest = {name: sha256_file(staging / name) for name in ("arrays.npz", "result.json")}
            atomic_write(staging / "MANIFEST.json", lambda tmp: tmp.write_text(json.dumps(manifest, indent=1)))
            root.mkdir(parents=True, exist_ok=True)
            version = f"v{time.time_ns()}-{uuid.uuid4().hex[:8]}"
            os.rename(staging, root / version)  # a fresh name: nothing can be in the way
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        atomic_write(root / "CURRENT", lambda tmp: tmp.write_text(version))
        self.remove_old_versions(key)
        return root / version

    def remove_old_versions(self, key: str) -> None:
        """Versions CURRENT no longer names, once readers that followed it have had time to finish."""
        with self.lock(f"entry-{key}"):
            current = (self.entry_root(key) / "CURRENT").read_text().strip()
            for version in self.entry_root(key).glob("v*"):
                if version.name != current and time.time() - version.stat().st_mtime > OLD_VERSION_GRACE:
                    shutil.rmtree(version, ignore_errors=True)

    def load_result(self, key: str, name: str | None = None):
        """The published Result, checked against its manifest and its shapes; None when missing or
        damaged (reported, never deleted by a reader)."""
        for _ in range(3):  # a writer may replace CURRENT and retire the old version while we read
            entry = self.entry(key)
            if entry is None:
                return None
            try:
                result = self.read_version(entry)
            except FileNotFoundError:
                continue
            except Exception as exc:
                self.report_corrupt(entry, exc)
                return None
            return replace(
                result, name=name or result.name, provenance=replace(result.provenance, cache_hit=True, path=entry)
            )
        return None

    def runs(self) -> list[dict]:
        """Every published Result, newest first: name, key, when, budget, metric and mean score
        (read from result.json alone; load_result checks the whole entry). An entry that cannot be read
        is listed with "damaged" (why) and harms no other."""
        listed = []
        for root in sorted((self.root / "entries").glob("*")) if (self.root / "entries").is_dir() else []:
            if root.name.startswith("."):
                continue
            try:
                listed.append(self.describe(root.name))
            except Exception as exc:  # a foreign, truncated or edited entry: list it as damaged, go on
                mtime = root.stat().st_mtime
                listed.append(
                    {
                        "name": "?",
                        "key": root.name,
                        "budget": "?",
                        "metric": "?",
                        "seeds": 0,
                        "when": time.strftime("%Y-%m-%d %H:%M", time.localtime(mtime)),
                        "mtime": mtime,
                        "score": float("nan"),
                        "damaged": f"{type(exc).__name__}: {exc}",
                    }
                )
        return sorted(listed, key=lambda run: -run["mtime"])

    def describe(self, key: str) -> dict:
        entry = self.entry(key)
        if entry is None:
            raise StoreIntegrityError("no published version (CURRENT is missing)")
        meta = json.loads((entry / "result.json").read_text())
        folds = meta["folds"]
        scores = [f["val_metrics"][meta["metric"]] for f in folds]
        mtime = entry.stat().st_mtime
        return {
            "name": str(meta["name"]),
            "key": key,
            "budget": str(meta["budget"]),
            "metric": str(meta["metric"]),
            "when": time.strftime("%Y-%m-%d %H:%M", time.localtime(mtime)),
            "mtime": mtime,
            "seeds": len({f.get("seed", 0) for f in folds}),
            "data_fingerprint": meta.get("data_fingerprint", ""),
            "score": float(np.mean(scores)) if scores else float("nan"),
        }

    def find(self, name_or_key: str):
        """The newest stored Result named `name_or_key`, or the one with that key (or entry path)."""
        parts = Path(name_or_key).parts
        key = parts[parts.index("entries") + 1] if "entries" in parts[:-1] else name_or_key
        if (self.entry_root(key) / "CURRENT").exists():
            return self.load_result(key)
        for run in self.runs():
            if run["name"] == name_or_key and "damaged" not in run:
                return self.load_result(run["key"])
        return None

    @staticmethod
    def read_version(entry: Path):
        manifest = json.loads((entry / "MANIFEST.json").read_text())
        for file_name, digest in manifest.items():
            if sha256_file(entry / file_name) != digest:
                raise StoreIntegrityError(f"{file_name} does not match its manifest")
        meta = json.loads((entry / "result.json").read_text())
        with np.load(entry / "arrays.npz") as arrays:
            data = {k: arrays[k] for k in arrays.files}
        result = result_from_parts(meta, data)
        check_result_shapes(result)
        return result

    @staticmethod
    def report_corrupt(path: Path, exc: Exception) -> None:
        warnings.warn(
            f"{path}: damaged store entry ({type(exc).__name__}: {exc}); rebuilding it", StoreWarning, stacklevel=3
        )
