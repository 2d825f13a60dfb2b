"""Build the submission from the best configuration, validate it, and compare it
with the stored previous submission."""
from __future__ import annotations

import pytest

from competition.gates import assert_submission_ready
from competition.submission import diff_submissions, read_submission, write_submission
from competition.tta import apply_tta

pytestmark = pytest.mark.experiment

# Agreement with the previous submission. The same code and seed give 1.0; two comparably
# good configurations (the holdout small CNN and its 5-fold vote) agreed on 0.940 of eval rows
# at smoke, so 0.85 flags a submission that moved well beyond what another good model would.
MIN_AGREEMENT = 0.85


def test_submission_from_best_configuration(small_cnn_cv, fashion, competition_session, baselines):
    state = competition_session
    best = apply_tta(small_cnn_cv, ("identity", "hflip"), "mean", state.store, state.data_root, state.device,
                     name="submission:small_cnn-cv5+tta")
    path = state.reports / "submission.csv"
    submission = write_submission(best, fashion, path)
    assert_submission_ready(submission, fashion)
    previous = baselines.folder / f"submission.{state.budget.name}.csv"
    if baselines.update and (not previous.exists()):
        previous.parent.mkdir(parents=True, exist_ok=True)
        previous.write_text(path.read_text())
    if not previous.exists():
        pytest.fail(f"no previous submission at {previous}; run with --update-baselines to store this one")
    diff = diff_submissions(submission, read_submission(previous, fashion), fashion)
    assert diff["agreement"] >= MIN_AGREEMENT, (f"submission agrees with the previous one on "
                                                f"{diff['agreement']:.3f} of rows; expected >= {MIN_AGREEMENT}; "
                                                f"class changes {diff['per_class_change']}")
