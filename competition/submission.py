"""Write, validate and diff submission files (eval/info.csv with `ans` filled)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import CompetitionError


class SubmissionError(CompetitionError, ValueError):
    """A submission that the competition would reject."""


def class_distribution(labels, num_classes: int) -> np.ndarray:
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=num_classes).astype(float)
    return counts / max(counts.sum(), 1)


def template(competition) -> pd.DataFrame:
    info = competition.root / "eval" / "info.csv"
    return pd.read_csv(info, dtype={competition.task.id_column: str}, keep_default_na=False)


def write_submission(result, competition, path: str | Path) -> pd.DataFrame:
    """eval/info.csv with the answer column filled from result.eval_probs, written atomically."""
    task = competition.task
    submission = template(competition)
    by_id = pd.Series(result.eval_probs.argmax(1), index=pd.Index(result.eval_ids.astype(str)))
    missing = set(submission[task.id_column]) - set(by_id.index)
    if missing:
        raise SubmissionError(f"result {result.name!r} has no prediction for {len(missing)} eval id(s), e.g. "
                              f"{sorted(missing)[:3]}; rerun it on the full eval split")
    submission[task.answer_column] = by_id.loc[submission[task.id_column]].to_numpy()
    validate_submission(submission, competition)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    submission.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return submission


def read_submission(path: str | Path, competition) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype={competition.task.id_column: str}, keep_default_na=False)
    except FileNotFoundError:
        raise SubmissionError(f"{path}: submission file not found") from None


def validate_submission(submission: pd.DataFrame | str | Path, competition) -> pd.DataFrame:
    """Raise SubmissionError naming missing, extra or duplicate ids and out-of-range labels."""
    if not isinstance(submission, pd.DataFrame):
        submission = read_submission(submission, competition)
    task = competition.task
    id_col, ans_col = task.id_column, task.answer_column
    for column in (id_col, ans_col):
        if column not in submission.columns:
            raise SubmissionError(f"submission lacks column {column!r}; found {list(submission.columns)}")
    ids = submission[id_col].astype(str)
    expected = set(competition.eval["image_id"])
    duplicated = ids[ids.duplicated()].unique().tolist()
    missing, extra = sorted(expected - set(ids)), sorted(set(ids) - expected)
    problems = []
    if duplicated:
        problems.append(f"{len(duplicated)} duplicate id(s), e.g. {duplicated[:3]}")
    if missing:
        problems.append(f"{len(missing)} missing id(s), e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} extra id(s) not in eval/info.csv, e.g. {extra[:3]}")
    answers = pd.to_numeric(submission[ans_col], errors="coerce")
    bad = submission.index[answers.isna() | (answers < 0) | (answers >= task.num_classes) | (answers % 1 != 0)]
    if len(bad):
        row = int(bad[0])
        problems.append(f"{len(bad)} label(s) outside 0..{task.num_classes - 1}, first at row {row + 2} "
                        f"(id {ids.iat[row]!r}, value {submission[ans_col].iat[row]!r})")
    if problems:
        raise SubmissionError("invalid submission: " + "; ".join(problems) + f"; expected {len(expected)} rows, "
                              f"one per id of eval/info.csv, {ans_col} in 0..{task.num_classes - 1}")
    return submission


def diff_submissions(new: pd.DataFrame, old: pd.DataFrame, competition) -> dict:
    """Agreement rate and class-distribution shift between two valid submissions."""
    task = competition.task
    merged = new.merge(old, on=task.id_column, suffixes=("_new", "_old"))
    a, b = merged[f"{task.answer_column}_new"].astype(int), merged[f"{task.answer_column}_old"].astype(int)
    dist_new, dist_old = class_distribution(a, task.num_classes), class_distribution(b, task.num_classes)
    return {"rows": len(merged), "agreement": float((a == b).mean()),
            "distribution_shift": 0.5 * float(np.abs(dist_new - dist_old).sum()),
            "per_class_change": {task.class_names[c]: int(((a == c).sum()) - int((b == c).sum()))
                                 for c in range(task.num_classes)}}
