"""Tiny competitions built on the fly, so unit tests need no downloads."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import cv2

from competition.data import prepare
from competition.data.formats import MASK_STEMS


def write_image(path, rng, size=(12, 10), channels=3, ext=".png"):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = rng.integers(0, 256, size=(*size, channels) if channels > 1 else size, dtype=np.uint8)
    assert cv2.imwrite(str(path.with_suffix(ext)), image)
    return path.with_suffix(ext)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def csv_comp(tmp_path, rng):
    """A csv-format competition: 3 classes, 8 images each, 5 eval images."""
    root = tmp_path / "csvcomp"
    rows = []
    for i in range(24):
        name = f"img{i:02d}.png"
        write_image(root / "train" / "images" / name, rng)
        rows.append({"path": f"images/{name}", "label": i % 3, "group": f"g{i // 2}"})
    pd.DataFrame(rows).to_csv(root / "train" / "train.csv", index=False)
    ids = [f"e{i}.png" for i in range(5)]
    for name in ids:
        write_image(root / "eval" / "images" / name, rng)
    pd.DataFrame({"ImageID": ids, "ans": ""}).to_csv(root / "eval" / "info.csv", index=False)
    return root


@pytest.fixture
def mask_comp(tmp_path, rng):
    """An AI Stages mask-format competition: 6 people cover all 18 classes."""
    root = tmp_path / "maskcomp"
    people = []
    for pid, (gender, age) in enumerate([(g, a) for g in ("male", "female") for a in (25, 45, 60)]):
        folder = f"{pid:06d}_{gender}_Asian_{age}"
        people.append({"id": f"{pid:06d}", "gender": gender, "race": "Asian", "age": age, "path": folder})
        for j, stem in enumerate(MASK_STEMS):
            write_image(root / "train" / "images" / folder / stem, rng, ext=(".jpg", ".png", ".jpeg")[j % 3])
    pd.DataFrame(people).to_csv(root / "train" / "train.csv", index=False)
    write_image(root / "eval" / "images" / "a.jpg", rng, ext=".jpg")
    pd.DataFrame({"ImageID": ["a.jpg"], "ans": [0]}).to_csv(root / "eval" / "info.csv", index=False)
    return root


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """A data directory with the digits built-in prepared (modules that change what is in it keep their own)."""
    root = tmp_path_factory.mktemp("data")
    prepare("digits", root)
    return root
