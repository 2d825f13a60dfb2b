"""Gates on the built-in data itself: what every later experiment stands on."""
from __future__ import annotations

import numpy as np
import pytest

from competition.data import check_no_leakage, make_splits

pytestmark = pytest.mark.experiment


def test_split_has_no_group_leakage(builtin_competition):
    for train, val in make_splits(builtin_competition.train, "stratified_group", n_splits=5, seed=0):
        check_no_leakage(builtin_competition.train.iloc[train], builtin_competition.train.iloc[val])


def test_eval_image_ids_are_unique(builtin_competition):
    ids = builtin_competition.eval["image_id"]
    assert len(ids) == 10_000 and ids.is_unique


def test_class_distribution_is_the_documented_one(builtin_competition, documented_class_counts):
    counts = np.bincount(builtin_competition.train["label"], minlength=10).tolist()
    assert counts == documented_class_counts[builtin_competition.name]
