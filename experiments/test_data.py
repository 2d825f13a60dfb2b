"""Gates on the data itself: what every later experiment stands on. They train nothing.

The leakage checks run on a competition with real groups: a mask-format
competition (7 images per person, AI Stages layout) built from built-in images.
"""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from competition.cv import make_folds
from competition.data import Preprocess, cached_images, data_dir, load_competition, make_splits
from competition.data.formats import MASK_STEMS
from competition.errors import ConfigError
from competition.experiment import Experiment
from competition.gates import assert_no_duplicates_across, assert_no_group_leakage

pytestmark = [pytest.mark.data, pytest.mark.guard]


@pytest.fixture(scope="module")
def mask_competition(tmp_path_factory, fashion):
    """40 people x 7 images, made from fashion's images, with genders and ages covering several classes."""
    root = tmp_path_factory.mktemp("maskcomp")
    people = []
    paths = iter(fashion.train["path"])
    for person in range(40):
        gender, age = ("male", "female")[person % 2], (25, 45, 65)[person % 3]
        folder = f"{person:06d}_{gender}_Asian_{age}"
        for stem in MASK_STEMS:
            target = root / "train" / "images" / folder / f"{stem}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target), cv2.imread(next(paths)))
        people.append({"id": f"{person:06d}", "gender": gender, "race": "Asian", "age": age, "path": folder})
    pd.DataFrame(people).to_csv(root / "train" / "train.csv", index=False)
    (root / "eval" / "images").mkdir(parents=True)
    cv2.imwrite(str(root / "eval" / "images" / "e.png"), cv2.imread(next(paths)))
    pd.DataFrame({"ImageID": ["e.png"], "ans": [0]}).to_csv(root / "eval" / "info.csv", index=False)
    return load_competition(root)


@pytest.mark.parametrize("cv", ["holdout", "stratified_group:5", "group:5", "bootstrap:3"])
def test_splits_keep_each_person_on_one_side(mask_competition, cv):
    table = mask_competition.train
    assert table["group"].value_counts().eq(7).all()
    assert_no_group_leakage(table, make_folds(Experiment("mask", data="digits", cv=cv), table),
                            name=f"{mask_competition.name} {cv}")


@pytest.mark.parametrize("cv", ["stratified:5", "kfold:5"])
def test_a_scheme_that_would_split_people_is_refused(mask_competition, cv):
    with pytest.raises(ConfigError, match="ignores groups, but 40 groups have several rows"):
        make_folds(Experiment("mask", data="digits", cv=cv), mask_competition.train)


def test_split_has_no_group_leakage(builtin_competition):
    table = builtin_competition.train
    assert_no_group_leakage(table, make_splits(table, "stratified_group", n_splits=5, seed=0),
                            name=builtin_competition.name)


def test_no_exact_duplicate_images_across_train_and_eval(builtin_competition, competition_session):
    spec, cache = Preprocess(channels=1), data_dir(competition_session.data_root) / ".cache"
    assert_no_duplicates_across(cached_images(builtin_competition.train["path"], spec, cache),
                                cached_images(builtin_competition.eval["path"], spec, cache),
                                name=builtin_competition.name)


def test_eval_image_ids_are_unique(builtin_competition):
    ids = builtin_competition.eval["image_id"]
    assert len(ids) == 10_000 and ids.is_unique


def test_class_distribution_is_the_documented_one(builtin_competition, documented_class_counts):
    counts = np.bincount(builtin_competition.train["label"], minlength=10).tolist()
    assert counts == documented_class_counts[builtin_competition.name]
