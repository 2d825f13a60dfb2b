"""Test-time augmentation against plain prediction, on the stored 5-fold models.

Measured at smoke (one seed): flip TTA vs none on the 5-fold vote, eval accuracy
+0.0000 [-0.0016, 0.0017]; at 10 minutes on all data it added +0.0012 and +0.0019
(benchmarks/bench_train.py quality). Claimed at standard: equivalent within half a point.
"""
from __future__ import annotations

import pytest

from competition.gates import assert_claim
from competition.posthoc import apply_tta
from competition.scoring import eval_view

pytestmark = [pytest.mark.experiment, pytest.mark.claim, pytest.mark.slow, pytest.mark.budgets("standard", "full")]


def test_flip_tta_against_plain_prediction(small_cnn_cv, competition_session, fashion, eval_answers_of):
    state = competition_session
    tta = apply_tta(small_cnn_cv, ("identity", "hflip"), "mean", state.context())
    state.keep(tta)
    answers = eval_answers_of(fashion)
    assert_claim(eval_view(tta, answers), eval_view(small_cnn_cv, answers), "equivalent:0.005", metric="accuracy")
