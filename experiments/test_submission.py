"""The submission from the best configuration (5-fold CV + flip TTA) validates.

At smoke the submission guard (experiments/test_guards.py) covers validity and
agreement with the previous submission; this builds the one a competitor would
upload, at the budgets where the 5-fold models are trained anyway.
"""
from __future__ import annotations

import pytest

from competition.gates import assert_submission_ready
from competition.posthoc import apply_tta
from competition.submission import write_submission

pytestmark = [pytest.mark.experiment, pytest.mark.slow, pytest.mark.budgets("standard", "full")]


def test_submission_from_best_configuration(small_cnn_cv, fashion, competition_session):
    state = competition_session
    best = apply_tta(small_cnn_cv, ("identity", "hflip"), "mean", state.context(),
                     name="submission:small_cnn-cv5+tta")
    submission = write_submission(best, fashion, state.reports / "submission-best.csv")
    assert_submission_ready(submission, fashion)
