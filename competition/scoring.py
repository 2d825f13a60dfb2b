"""Layer 6. The only code that reads eval answers (and the confirmation split's labels, a search's eval set).

Training never sees them: the runner hands training a PreparedData without the
competition, its paths or its answers. Scoring reads them after the fact, for
the local leaderboard's eval column and for gates judged on the eval split.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .data import Competition
from .data.formats import read_table
from .data.splits import confirmation_split
from .errors import ConfigError, DataError
from .experiment import Result, scored_metrics
from .metrics import compute_metrics
from .submission import submission_indices


def read_answers(competition: Competition) -> pd.Series:
    """Eval answers as class indices, in the order of competition.eval. The file (competition.json's
    "answers", or answers/eval_answers.csv) holds id and answer columns in the train labels' space; an
    ImageFolder layout's eval/<class>/ folders are answers too (Competition.folder_answers)."""
    path, task = competition.answers_path, competition.task
    from_folders = competition.folder_answers()
    if from_folders is not None and not path.exists():
        return pd.Series(from_folders)
    if not competition.has_answers():
        raise DataError(
            f"{path}: no eval answers for {competition.name!r}; for a finished competition or "
            'your own split, name a file of ids and answers with "answers" in competition.json'
        )
    answers = read_table(path, [task.id_column, task.answer_column], competition.meta, "id_column/answer_column")
    by_id = answers.set_index(task.id_column)[task.answer_column]
    missing = sorted(set(competition.eval["image_id"]) - set(by_id.index))
    if missing:
        raise DataError(f"{path}: no answer for {len(missing)} eval id(s), e.g. {missing[:3]}")
    encoded = submission_indices(by_id.loc[competition.eval["image_id"]].reset_index(drop=True), task)
    if encoded.isna().any():
        row = int(encoded.isna().to_numpy().argmax())
        raise DataError(
            f"{path}: the answer for {competition.eval['image_id'].iat[row]!r} is not a label of this "
            f"competition ({task.label_space} space, classes {list(task.class_names)[:10]})"
        )
    return encoded.astype(int)


def eval_answers(competition: Competition, rows: str = "all") -> np.ndarray | None:
    """The answers to what an experiment with Experiment.rows=`rows` predicts as its eval set: the eval
    answers ("all"), or the labels of the confirmation split ("search")."""
    if rows == "search":
        _, confirm = confirmation_split(competition.train)
        return competition.train["label"].to_numpy()[confirm]
    return read_answers(competition).to_numpy() if competition.has_answers() else None


def score_eval(result: Result, competition: Competition) -> Result:
    """`result` with its eval_metrics (the seed-mean model on the eval split) where answers exist."""
    answers = eval_answers(competition, result.spec.get("rows", "all"))
    if answers is None or len(result.eval_probs) != len(answers):
        return result
    return replace(result, eval_metrics=compute_metrics(answers, result.eval_probs, scored_metrics(result.metric)))


def eval_view(result: Result, answers: np.ndarray) -> Result:
    """A view of `result` whose samples are the eval split (for gates judged on eval answers)."""
    if len(answers) != len(result.eval_probs):
        raise ConfigError(f"{result.name}: {len(result.eval_probs)} eval predictions but {len(answers)} answers")
    return replace(
        result,
        y=np.asarray(answers),
        oof_index=np.arange(len(answers)),
        oof_probs=result.eval_probs,
        seed_oof_probs=result.seed_eval(),
        groups=None,
    )
