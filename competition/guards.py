"""Layer 6. The guards CI runs on a trained result, in the package so that any project can gate its own
model on its own competition (`competition init` writes a test file that uses them), and so that the guard
tests, the fault-injection (power) checks and the A/A checks apply exactly the same checks.

    >>> from competition.guards import RESULT_GUARDS, guard_failures
    >>> guard_failures(result, baselines, answers)   # {guard: first line of its failure}, empty when all pass
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from . import gates
from .submission import diff_submissions, publish_submission, read_submission

# Each: (result, baselines, eval answers or None) -> raises AssertionError on a failure.
RESULT_GUARDS: dict[str, Callable] = {
    "no_regression[score]": lambda r, b, answers: gates.assert_no_regression(r, b, "score"),
    "no_regression[eval]": lambda r, b, answers: gates.assert_no_regression(r, b, "eval", answers),
    "no_regression[gap]": lambda r, b, answers: gates.assert_no_regression(r, b, "gap"),
    "beats_dummy": lambda r, b, answers: gates.assert_beats_dummy(r),
    "no_optimism[oof-eval]": lambda r, b, answers: gates.assert_no_optimism(r, b, answers),
    "no_regression[class recall]": lambda r, b, answers: gates.assert_no_class_regression(r, b, answers),
}
NEEDS_ANSWERS = {"no_regression[eval]", "no_optimism[oof-eval]", "no_regression[class recall]"}


def result_guards(has_answers: bool) -> dict[str, Callable]:
    """The guards that apply: those on eval (regression, optimism, per-class recall) need the eval answers."""
    return {name: guard for name, guard in RESULT_GUARDS.items() if has_answers or name not in NEEDS_ANSWERS}


def guard_failures(result, baselines, answers) -> dict[str, str]:
    """{guard name: its failure message} for every result guard that fails."""
    failures = {}
    for name, guard in result_guards(answers is not None).items():
        try:
            guard(result, baselines, answers)
        except AssertionError as exc:
            failures[name] = str(exc).splitlines()[0]
    return failures


def seed_agreement(result) -> float:
    """The lowest agreement of eval predictions between two single seeds: what an unchanged model may move
    (1.0 with one seed)."""
    preds = result.seed_eval().argmax(2)
    pairs = [float(np.mean(preds[i] == preds[j])) for i in range(len(preds)) for j in range(i + 1, len(preds))]
    return min(pairs) if pairs else 1.0


def assert_agrees_with_previous(submission, previous: Path, result, competition, update: bool = False) -> dict:
    """The submission agrees with the previous one (kept at `previous`; written there with update=True) at
    least as well as two single seeds of the unchanged model agree with each other (the A/A spread,
    measured on this result's own seeds)."""
    __tracebackhide__ = True
    if update:
        publish_submission(submission, previous)
    if not previous.exists():
        raise AssertionError(f"no previous submission at {previous}; run with --update-baselines to store this one")
    diff = diff_submissions(submission, read_submission(previous, competition), competition)
    floor = seed_agreement(result)
    assert diff["agreement"] >= floor, (
        f"the submission agrees with the previous one on {diff['agreement']:.4f} of rows; two seeds of the "
        f"unchanged model agree on {floor:.4f}; class changes {diff['per_class_change']}"
    )
    return diff
