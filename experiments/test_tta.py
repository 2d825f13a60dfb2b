"""Test-time augmentation against plain prediction, on the stored 5-fold models.

Measured at smoke (fashion, 3,000 train images, 5 epochs, CPU, seed 0):
  flip TTA vs none on the 5-fold vote, eval accuracy: +0.0000 [-0.0016, 0.0017]
Standard states a hypothesis: flip TTA added +0.0012 and +0.0019 eval accuracy in two
benchmarks/bench_train.py quality runs (no interval computed there).
"""
from __future__ import annotations

import pytest

from competition import ensemble
from competition.gates import assert_expected
from competition.tta import apply_tta

pytestmark = pytest.mark.experiment

TTA_EXPECTED = {"smoke": "no_difference", "standard": "not_worse:0.002"}


def test_tta_against_plain_prediction(small_cnn_cv, competition_session, fashion, eval_answers_of, budget):
    state = competition_session
    tta = apply_tta(small_cnn_cv, ("identity", "hflip"), "mean", state.store, state.data_root, state.device)
    state.results[tta.name] = tta
    answers = eval_answers_of(fashion)
    assert_expected(ensemble.on_eval(tta, answers), ensemble.on_eval(small_cnn_cv, answers),
                    TTA_EXPECTED.get(budget.name, "not_worse:0.002"), metric="accuracy")
