"""Layer 6. Write, validate and diff submission files (eval/info.csv with `ans` filled)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import CompetitionError
from .files import atomic_write


class SubmissionError(CompetitionError, ValueError):
    """A submission that the competition would reject."""


def submission_indices(answers: pd.Series, task) -> pd.Series:
    """Submitted labels (names or indices, as the task's label space says) -> class indices; NaN where invalid."""
    return pd.Series([task.encode(value) for value in answers], index=answers.index, dtype="Float64")


def class_distribution(labels, num_classes: int) -> np.ndarray:
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=num_classes).astype(float)
    return counts / max(counts.sum(), 1)


def distribution_shift(submission: pd.DataFrame, competition) -> tuple[float, np.ndarray, np.ndarray]:
    """Total variation between the submission's predicted class mix and train's (a soft check: a weak
    but legitimate model may predict another mix), with both distributions."""
    task = competition.task
    predicted = class_distribution(
        submission_indices(submission[task.answer_column], task).astype(int), task.num_classes
    )
    prior = class_distribution(competition.train["label"], task.num_classes)
    return 0.5 * float(np.abs(predicted - prior).sum()), predicted, prior


def make_submission(result, competition) -> pd.DataFrame:
    """The submission template with the answer column filled from result.eval_probs, validated; nothing written."""
    task = competition.task
    submission = competition.eval_template()
    by_id = pd.Series(result.eval_probs.argmax(1), index=pd.Index(result.eval_ids.astype(str)))
    missing = set(submission[task.id_column]) - set(by_id.index)
    if missing:
        raise SubmissionError(
            f"result {result.name!r} has no prediction for {len(missing)} eval id(s), e.g. "
            f"{sorted(missing)[:3]}; rerun it on the full eval split"
        )
    # in the competition's label space: the labels as train.csv wrote them, or indices
    submission[task.answer_column] = [task.decode(i) for i in by_id.loc[submission[task.id_column]].to_numpy()]
    return validate_submission(submission, competition)


def publish_submission(submission: pd.DataFrame, path: str | Path) -> Path:
    """Write a validated submission atomically: a failure leaves an existing file byte-identical."""
    atomic_write(path, lambda tmp: submission.to_csv(tmp, index=False))
    return Path(path)


def write_submission(result, competition, path: str | Path) -> pd.DataFrame:
    """make_submission, then publish it at `path` (only once it has validated)."""
    submission = make_submission(result, competition)
    publish_submission(submission, path)
    return submission


def read_submission(path: str | Path, competition) -> pd.DataFrame:
    """A submission file as strings, exactly as written (no number parsing, no NaN guessing)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise SubmissionError(f"{path}: submission file not found") from None
    except pd.errors.EmptyDataError:
        raise SubmissionError(
            f"{path}: the file is empty; expected a header {competition.task.id_column},"
            f"{competition.task.answer_column} and one row per eval id"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise SubmissionError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None


def validate_submission(submission: pd.DataFrame | str | Path, competition) -> pd.DataFrame:
    """Raise SubmissionError naming missing, extra or duplicate ids and out-of-range labels."""
    if not isinstance(submission, pd.DataFrame):
        submission = read_submission(submission, competition)
    task = competition.task
    id_col, ans_col = task.id_column, task.answer_column
    for column in (id_col, ans_col):
        if column not in submission.columns:
            raise SubmissionError(f"submission lacks column {column!r}; found {list(submission.columns)}")
    template_columns = list(competition.eval_template().columns)
    if list(submission.columns) != template_columns:
        raise SubmissionError(
            f"submission columns are {list(submission.columns)}; eval/info.csv has "
            f"{template_columns}: write exactly those, in that order"
        )
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
    encoded = submission_indices(submission[ans_col], task)  # '3' in index space, never '3.0' or '1e0'
    bad = submission.index[encoded.isna()]
    allowed = (
        f"a class name of {list(task.class_names)[:10]}"
        if task.label_space == "name"
        else f"a whole number in 0..{task.num_classes - 1}"
    )
    if len(bad):
        row = int(bad[0])
        problems.append(
            f"{len(bad)} label(s) not {allowed}, first at row {row + 2} "
            f"(id {ids.iat[row]!r}, value {submission[ans_col].iat[row]!r})"
        )
    if problems:
        raise SubmissionError(
            "invalid submission: " + "; ".join(problems) + f"; expected {len(expected)} rows, "
            f"one per id of eval/info.csv, {ans_col} {allowed}"
        )
    return submission


def diff_submissions(new: pd.DataFrame, old: pd.DataFrame, competition) -> dict:
    """Agreement rate and class-distribution shift between two valid submissions (both are
    validated first, so a short, NaN or non-numeric previous file is an error, not a diff)."""
    task = competition.task
    validate_submission(new, competition)
    try:
        validate_submission(old, competition)
    except SubmissionError as exc:
        raise SubmissionError(f"the previous submission is not comparable: {exc}") from None
    merged = new.merge(old, on=task.id_column, suffixes=("_new", "_old"))
    a = submission_indices(merged[f"{task.answer_column}_new"], task).astype(int)
    b = submission_indices(merged[f"{task.answer_column}_old"], task).astype(int)
    dist_new, dist_old = class_distribution(a, task.num_classes), class_distribution(b, task.num_classes)
    return {
        "rows": len(merged),
        "agreement": float((a == b).mean()),
        "distribution_shift": 0.5 * float(np.abs(dist_new - dist_old).sum()),
        "per_class_change": {
            task.class_names[c]: int(((a == c).sum()) - int((b == c).sum())) for c in range(task.num_classes)
        },
    }
