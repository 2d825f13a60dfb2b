"""Gates on the built-in data itself: what every later experiment stands on."""
from __future__ import annotations

import numpy as np
import pytest

from competition.data import Preprocess, cached_images, make_splits
from competition.gates import assert_no_duplicates_across, assert_no_group_leakage

pytestmark = pytest.mark.experiment


def test_split_has_no_group_leakage(builtin_competition):
    table = builtin_competition.train
    assert_no_group_leakage(table, make_splits(table, "stratified_group", n_splits=5, seed=0),
                            name=builtin_competition.name)


def test_no_exact_duplicate_images_across_train_and_eval(builtin_competition):
    spec, cache = Preprocess(channels=1), builtin_competition.root / ".cache"
    assert_no_duplicates_across(cached_images(builtin_competition.train["path"], spec, cache),
                                cached_images(builtin_competition.eval["path"], spec, cache),
                                name=builtin_competition.name)


def test_eval_image_ids_are_unique(builtin_competition):
    ids = builtin_competition.eval["image_id"]
    assert len(ids) == 10_000 and ids.is_unique


def test_class_distribution_is_the_documented_one(builtin_competition, documented_class_counts):
    counts = np.bincount(builtin_competition.train["label"], minlength=10).tolist()
    assert counts == documented_class_counts[builtin_competition.name]
