"""Built-in competitions, written into the competition layout under a data dir.

- ``fashion``: Fashion-MNIST. Official train -> train/, official test -> eval/
  (answers kept apart in answers/eval_answers.csv, read only for leaderboard
  scoring).
- ``fashion-lt``: the same eval; a long-tailed train split where class c keeps
  ``floor(6000 * 0.01 ** (c / 9))`` images (an exponential profile from 6000
  down to 60: imbalance ratio 100), drawn with seed ``LT_SEED``.
- ``fashion-photos``: large RGB JPEGs in the AI Stages mask layout, composed
  from Fashion-MNIST items and real photos (see ``photos.py``).
- ``digits``: scikit-learn's bundled 8x8 digits, always available offline;
  a stratified 80/20 train/eval split with seed 0.

Every directory is built in a staging folder and renamed into place, so a
killed preparation never leaves a half-written competition behind.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..errors import ChecksumError, DataError
from ..files import atomic_write, clear_stale, staging_folder, writable_folder
from .formats import load_competition
from .photos import write_photos
from .task import Competition

DATA_DIR_ENV = "COMPETITION_DATA_DIR"
FASHION_SOURCE_ENV = "FASHION_MNIST_DIR"
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# sha256 of the *decompressed* IDX files. They equal the upstream files whose
# published md5s are f4a8712d..., 9018921c..., 8181f547..., 15d48437...; the
# check on decompressed bytes accepts any (re)compression of the same data.
FASHION_FILES = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
UPSTREAM_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
LT_SEED = 20260101
LT_RATIO = 100


def data_dir(explicit: str | Path | None = None) -> Path:
    """The data directory: explicit argument > $COMPETITION_DATA_DIR > ./data."""
    return Path(explicit or os.environ.get(DATA_DIR_ENV) or "data").resolve()


def default_cache_dir(data_root: str | Path | None = None) -> Path:
    """The decoded-image cache when none is given: beside the data, never inside a competition."""
    return data_dir(data_root) / ".cache"


def lt_class_counts(head: int = 6000, num_classes: int = 10, ratio: int = LT_RATIO) -> list[int]:
    return [int(head * (1 / ratio) ** (c / (num_classes - 1))) for c in range(num_classes)]


# --- fetching and verifying the raw Fashion-MNIST files ---------------------
def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_raw(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def verified(name: str, data: bytes, origin: Path | str) -> bytes:
    got = sha256_of(data)
    if got != FASHION_FILES[name]:
        raise ChecksumError(
            f"{origin}: checksum mismatch for {name} (sha256 of the decompressed file is {got}, "
            f"expected {FASHION_FILES[name]}). The file is damaged or not Fashion-MNIST: delete it "
            f"or point ${FASHION_SOURCE_ENV} at a good copy"
        )
    return data


def find_in_dir(directory: Path) -> dict[str, bytes] | None:
    """The four verified raw files from a directory, or None if any is absent."""
    found = {}
    for name in FASHION_FILES:
        candidates = [directory / name, directory / f"{name}.gz"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            return None
        found[name] = verified(name, read_raw(path), path)
    return found


def fetch_debian(workdir: Path) -> dict[str, bytes] | None:
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        return None
    result = subprocess.run(["apt-get", "download", DEBIAN_PACKAGE], cwd=workdir, capture_output=True, text=True)
    debs = list(workdir.glob(f"{DEBIAN_PACKAGE}_*.deb"))
    if result.returncode != 0 or not debs:
        return None
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(workdir / "x")], check=True)
    return find_in_dir(workdir / "x" / DEBIAN_DIR.relative_to("/"))


def fetch_upstream(workdir: Path) -> dict[str, bytes] | None:
    try:
        for name in FASHION_FILES:
            urllib.request.urlretrieve(f"{UPSTREAM_URL}{name}.gz", workdir / f"{name}.gz")
    except OSError:
        return None
    return find_in_dir(workdir)


def fetch_fashion_raw() -> dict[str, bytes]:
    """Sources in order: $FASHION_MNIST_DIR, the installed Debian package,
    `apt-get download` of it, the upstream files. Always checksum-verified."""
    explicit = os.environ.get(FASHION_SOURCE_ENV)
    for directory in ([Path(explicit)] if explicit else []) + [DEBIAN_DIR]:
        if directory.is_dir() and (found := find_in_dir(directory)) is not None:
            return found
    with tempfile.TemporaryDirectory() as tmp:
        for fetch in (fetch_debian, fetch_upstream):
            if (found := fetch(Path(tmp))) is not None:
                return found
    raise DataError(
        "Fashion-MNIST not found: set $FASHION_MNIST_DIR to a folder with the four IDX files, "
        f"or allow `apt-get download {DEBIAN_PACKAGE}` (run `apt-get update` first), "
        f"or network access to {UPSTREAM_URL}"
    )


def parse_idx(data: bytes) -> np.ndarray:
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


# --- writing the competition layout -----------------------------------------
def write_split(directory: Path, images: np.ndarray, labels: np.ndarray | None, names: list[str]) -> None:
    (directory / "images").mkdir(parents=True)
    for name, image in zip(names, images):
        cv2.imwrite(str(directory / "images" / name), image)


def build_atomically(target: Path, fill) -> None:
    """Write a whole competition with `fill(staging) -> config` in a staging folder, then rename it into place."""
    clear_stale(target.parent)  # the staging folders of a killed preparation
    staging = staging_folder(target.parent, target.name)
    try:
        config = {"name": target.name, **fill(staging)}
        (staging / "competition.json").write_text(json.dumps(config, indent=2))
        try:
            staging.rename(target)
        except OSError:
            if not (target / "competition.json").exists():  # not a concurrent writer finishing first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_competition(target: Path, train_images, train_labels, eval_images, eval_labels, classes, info: dict) -> None:
    """A csv-format competition: PNGs, train.csv, eval/info.csv and the eval answers apart."""

    def fill(staging: Path) -> dict:
        train_names = [f"{i:05d}.png" for i in range(len(train_images))]
        eval_names = [f"{i:05d}.png" for i in range(len(eval_images))]
        write_split(staging / "train", train_images, train_labels, train_names)
        pd.DataFrame({"image_id": train_names, "path": train_names, "label": train_labels}).to_csv(
            staging / "train" / "train.csv", index=False
        )
        write_split(staging / "eval", eval_images, None, eval_names)
        pd.DataFrame({"ImageID": eval_names, "ans": ""}).to_csv(staging / "eval" / "info.csv", index=False)
        (staging / "answers").mkdir()
        pd.DataFrame({"ImageID": eval_names, "ans": eval_labels}).to_csv(
            staging / "answers" / "eval_answers.csv", index=False
        )
        return {"format": "csv", "classes": list(classes), "metric": "macro_f1", "image_root": "images", **info}

    build_atomically(target, fill)


def prepare_fashion(target: Path) -> None:
    raw = fetch_fashion_raw()
    write_competition(
        target,
        parse_idx(raw["train-images-idx3-ubyte"]),
        parse_idx(raw["train-labels-idx1-ubyte"]),
        parse_idx(raw["t10k-images-idx3-ubyte"]),
        parse_idx(raw["t10k-labels-idx1-ubyte"]),
        FASHION_CLASSES,
        {"source": "Fashion-MNIST (official train/test)"},
    )


def long_tail_indices(labels: np.ndarray, seed: int = LT_SEED) -> np.ndarray:
    rng = np.random.default_rng(seed)
    keep = [
        rng.choice(np.flatnonzero(labels == c), size=n, replace=False)
        for c, n in enumerate(lt_class_counts(num_classes=int(labels.max()) + 1))
    ]
    return np.sort(np.concatenate(keep))


def prepare_fashion_lt(target: Path) -> None:
    raw = fetch_fashion_raw()
    images, labels = parse_idx(raw["train-images-idx3-ubyte"]), parse_idx(raw["train-labels-idx1-ubyte"])
    keep = long_tail_indices(labels)
    write_competition(
        target,
        images[keep],
        labels[keep],
        parse_idx(raw["t10k-images-idx3-ubyte"]),
        parse_idx(raw["t10k-labels-idx1-ubyte"]),
        FASHION_CLASSES,
        {
            "source": "Fashion-MNIST, long-tailed train split",
            "class_counts": lt_class_counts(),
            "imbalance_ratio": LT_RATIO,
            "seed": LT_SEED,
            "original_train_index": keep.tolist(),
        },
    )


def prepare_digits(target: Path) -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)
    train_idx, eval_idx = train_test_split(
        np.arange(len(images)), test_size=0.2, random_state=0, stratify=digits.target
    )
    write_competition(
        target,
        images[train_idx],
        digits.target[train_idx],
        images[eval_idx],
        digits.target[eval_idx],
        tuple(str(i) for i in range(10)),
        {"source": "scikit-learn load_digits, stratified 80/20 split, seed 0"},
    )


def prepare_fashion_photos(target: Path) -> None:
    raw = fetch_fashion_raw()
    build_atomically(
        target,
        lambda staging: write_photos(
            staging,
            parse_idx(raw["train-images-idx3-ubyte"]),
            parse_idx(raw["train-labels-idx1-ubyte"]),
            parse_idx(raw["t10k-images-idx3-ubyte"]),
            parse_idx(raw["t10k-labels-idx1-ubyte"]),
        ),
    )


BUILTINS = {
    "fashion": prepare_fashion,
    "fashion-lt": prepare_fashion_lt,
    "digits": prepare_digits,
    "fashion-photos": prepare_fashion_photos,
}


def prepare(name: str, root: str | Path | None = None) -> Path:
    """Prepare built-in competition `name` under the data dir; instant when present."""
    if name not in BUILTINS:
        raise DataError(f"unknown built-in competition {name!r}; known: {sorted(BUILTINS)}")
    target = data_dir(root) / name
    if not (target / "competition.json").exists():
        writable_folder(target.parent, "data dir", "choose another with --data-dir or $COMPETITION_DATA_DIR")
        BUILTINS[name](target)
    config = json.loads((target / "competition.json").read_text())
    # prepared before paths were relative to the CSV's folder
    if config.get("format") == "csv" and "image_root" not in config:
        config["image_root"] = "images"
        atomic_write(target / "competition.json", lambda tmp: tmp.write_text(json.dumps(config, indent=2)))
    return target


def load_builtin(name: str, root: str | Path | None = None) -> Competition:
    return load_competition(prepare(name, root), name=name)
