"""Layer 6. The only code that reads eval answers.

Training never sees them: the runner hands training a PreparedData without the
competition, its paths or its answers. Scoring reads them after the fact, for
the local leaderboard's eval column and for gates judged on the eval split.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .data import Competition
from .errors import ConfigError, DataError
from .experiment import EVAL_METRICS, Result
from .metrics import compute_metrics


def read_answers(competition: Competition) -> pd.Series:
    """Eval answers as ints indexed like competition.eval."""
    if not competition.has_answers():
        raise DataError(f"{competition.answers_path}: no eval answers for {competition.name!r}; "
                        "only built-in competitions have them")
    answers = pd.read_csv(competition.answers_path, dtype={"ImageID": str})
    by_id = answers.set_index("ImageID")["ans"]
    return by_id.loc[competition.eval["image_id"]].astype(int).reset_index(drop=True)


def eval_answers(competition: Competition) -> np.ndarray | None:
    return read_answers(competition).to_numpy() if competition.has_answers() else None


def score_eval(result: Result, competition: Competition) -> Result:
    """Fill result.eval_metrics (the seed-mean model on the eval split) where answers exist."""
    answers = eval_answers(competition)
    if answers is not None and len(result.eval_probs) == len(answers):
        result.eval_metrics = compute_metrics(answers, result.eval_probs, EVAL_METRICS)
    return result


def eval_view(result: Result, answers: np.ndarray) -> Result:
    """A view of `result` whose samples are the eval split (for gates judged on eval answers)."""
    if len(answers) != len(result.eval_probs):
        raise ConfigError(f"{result.name}: {len(result.eval_probs)} eval predictions but {len(answers)} answers")
    return replace(result, y=np.asarray(answers), oof_index=np.arange(len(answers)), oof_probs=result.eval_probs,
                   seed_oof_probs=result.seed_eval(), groups=None)
