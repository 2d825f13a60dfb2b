"""``fashion-photos``: a large-image, RGB, mask-format competition made from real data.

Each "person" is one Fashion-MNIST item (its class follows the person's gender
and age band) with a colour of their own. Their 7 images (mask1-5,
incorrect_mask, normal) are 384 wide x 512 high RGB JPEGs: the item, scaled
and placed at random, over a random window of one of scikit-learn's two real
photos (china.jpg, flower.jpg). A "mask" is a band across the lower part of
the item; "incorrect" wears it slipped down to the bottom edge; "normal" has
none. So the label needs the item (gender, age) and the band (mask state), and
the 7 images of one person share an item: a split that separates people is
the only honest one.

Everything is drawn from one seed, so the same versions of numpy and OpenCV
write the same bytes; the sha256 of the written files is recorded in
competition.json. scikit-image's photos are not used even when it is
installed: an optional package must not change the data.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .formats import AGE_NAMES, GENDERS, MASK_STEMS, mask_class

WIDTH, HEIGHT = 384, 512
PHOTOS_SEED = 20261128
TRAIN_PEOPLE, EVAL_PEOPLE = 180, 60
JPEG_QUALITY = 90
# the Fashion-MNIST class worn by each (gender, age band); pullover and coat are
# hard to tell apart, as age is in the real mask competition
ITEM_CLASS = {
    ("male", 0): 0,
    ("male", 1): 2,
    ("male", 2): 4,  # T-shirt, Pullover, Coat
    ("female", 0): 3,
    ("female", 1): 5,
    ("female", 2): 9,
}  # Dress, Sandal, Ankle boot
AGES = {0: (18, 29), 1: (30, 59), 2: (60, 80)}
MASK_COLOURS = ((235, 235, 235), (120, 170, 230), (30, 30, 30), (230, 150, 180), (90, 140, 90))
RACES = ("Asian", "European", "African", "Latino")


def background_photos() -> list[np.ndarray]:
    from sklearn.datasets import load_sample_image

    return [load_sample_image(name) for name in ("china.jpg", "flower.jpg")]


def background(photos: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """A random portrait window of a random photo, scaled to the canvas, maybe mirrored."""
    photo = photos[rng.integers(len(photos))]
    h = int(rng.integers(photo.shape[0] * 2 // 3, photo.shape[0] + 1))
    w = h * WIDTH // HEIGHT
    y, x = int(rng.integers(0, photo.shape[0] - h + 1)), int(rng.integers(0, photo.shape[1] - w + 1))
    window = cv2.resize(photo[y : y + h, x : x + w], (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
    return window[:, ::-1].copy() if rng.random() < 0.5 else window


def compose(
    item: np.ndarray, colour: np.ndarray, mask: int, photos: list[np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """One RGB image: `item` (28x28 gray) in `colour` over a photo; mask 0 wear, 1 incorrect, 2 none."""
    canvas = background(photos, rng).astype(np.float32)
    side = int(rng.integers(180, 321))
    x, y = int(rng.integers(0, WIDTH - side + 1)), int(rng.integers(0, HEIGHT - side + 1))
    shade = cv2.resize(item, (side, side), interpolation=cv2.INTER_LINEAR).astype(np.float32)[..., None] / 255
    alpha = np.clip(shade * 2, 0, 1)  # the item's texture stays as shading, its body opaque
    region = canvas[y : y + side, x : x + side]
    region[:] = region * (1 - alpha) + alpha * (colour * (0.4 + 0.6 * shade))
    if mask != 2:
        top = 0.55 if mask == 0 else 0.82  # worn across the lower half, or slipped to the bottom
        band = slice(y + int(top * side), y + int((top + 0.16) * side))
        band_colour = np.array(MASK_COLOURS[rng.integers(len(MASK_COLOURS))], np.float32)
        covered = np.clip(alpha[band.start - y : band.stop - y] * 3, 0, 1)
        canvas[band, x : x + side] = canvas[band, x : x + side] * (1 - covered) + band_colour * covered
    return np.clip(canvas, 0, 255).astype(np.uint8)


def draw_people(
    count: int, items: np.ndarray, labels: np.ndarray, rng: np.random.Generator, first_id: int
) -> list[dict]:
    """People with a gender, an age and one item of the class their gender and age band wear."""
    unused = {c: list(rng.permutation(np.flatnonzero(labels == c))) for c in sorted(set(ITEM_CLASS.values()))}
    people = []
    for i in range(count):
        gender = ("male", "female")[i % 2]
        band = int(rng.integers(3))
        age = int(rng.integers(AGES[band][0], AGES[band][1] + 1))
        item = unused[ITEM_CLASS[(gender, band)]].pop()
        people.append(
            {
                "id": f"{first_id + i:06d}",
                "gender": gender,
                "race": RACES[rng.integers(len(RACES))],
                "age": age,
                "item": items[item],
                "colour": rng.uniform(60, 255, 3).astype(np.float32),
            }
        )
    return people


def write_jpeg(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
        raise OSError(f"{path}: could not write the image")


def write_photos(
    staging: Path,
    train_items,
    train_labels,
    eval_items,
    eval_labels,
    train_people: int = TRAIN_PEOPLE,
    eval_people: int = EVAL_PEOPLE,
    seed: int = PHOTOS_SEED,
) -> dict:
    """Write train/ (mask format), eval/ (flat, with info.csv) and answers/ into `staging`; the config to record."""
    rng, photos = np.random.default_rng(seed), background_photos()
    people = draw_people(train_people, train_items, train_labels, rng, first_id=0)
    for person in people:
        folder = f"{person['id']}_{person['gender']}_{person['race']}_{person['age']}"
        person["path"] = folder
        for stem, mask in MASK_STEMS.items():
            write_jpeg(
                staging / "train" / "images" / folder / f"{stem}.jpg",
                compose(person["item"], person["colour"], mask, photos, rng),
            )
    pd.DataFrame([{k: p[k] for k in ("id", "gender", "race", "age", "path")} for p in people]).to_csv(
        staging / "train" / "train.csv", index=False
    )
    ids: list[str] = []
    answers: list[int] = []
    for person in draw_people(eval_people, eval_items, eval_labels, rng, first_id=train_people):
        for mask in MASK_STEMS.values():
            image_id = f"{hashlib.sha1(f'{seed}-{len(ids)}'.encode()).hexdigest()[:20]}.jpg"
            write_jpeg(
                staging / "eval" / "images" / image_id, compose(person["item"], person["colour"], mask, photos, rng)
            )
            ids.append(image_id)
            answers.append(mask_class(mask, GENDERS[person["gender"]], person["age"]))
    pd.DataFrame({"ImageID": ids, "ans": ""}).to_csv(staging / "eval" / "info.csv", index=False)
    (staging / "answers").mkdir()
    pd.DataFrame({"ImageID": ids, "ans": answers}).to_csv(staging / "answers" / "eval_answers.csv", index=False)
    return {
        "format": "mask",
        "metric": "macro_f1",
        "answers": "answers/eval_answers.csv",
        "seed": seed,
        "size": [HEIGHT, WIDTH],
        "people": {"train": train_people, "eval": eval_people},
        "item_class": {f"{g}/{AGE_NAMES[b]}": c for (g, b), c in ITEM_CLASS.items()},
        "source": "Fashion-MNIST items (train items for train/, test items for eval/) composed onto "
        "scikit-learn's china.jpg and flower.jpg",
        "sha256": tree_digest(staging),
    }


def tree_digest(root: Path) -> str:
    """sha256 over the relative paths and bytes of every file under train/, eval/ and answers/."""
    digest = hashlib.sha256()
    for path in sorted(p for part in ("train", "eval", "answers") for p in (root / part).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()
