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


def answer_columns(competition) -> list[str]:
    """The template's columns a submission fills: the answer column, or one per class (submission_form)."""
    if competition.submission_form == "class_columns":
        return list(competition.task.class_names)
    return [competition.task.answer_column]


def submitted_classes(submission: pd.DataFrame, competition) -> pd.Series:
    """The class index each row of a submission answers: its label, the second class where its probability is
    over 0.5, or the column of its highest probability (the first of a tie, as the model's argmax takes it); NaN
    where the row has none."""
    task, form = competition.task, competition.submission_form
    if form == "labels":
        return submission_indices(submission[task.answer_column], task)
    values = submission[answer_columns(competition)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    classes = (values[:, 0] > 0.5).astype(float) if form == "probability" else values.argmax(1).astype(float)
    classes[np.isnan(values).any(1)] = np.nan
    return pd.Series(classes, index=submission.index, dtype="Float64")


def class_distribution(labels, num_classes: int) -> np.ndarray:
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=num_classes).astype(float)
    return counts / max(counts.sum(), 1)


def distribution_shift(submission: pd.DataFrame, competition) -> tuple[float, np.ndarray, np.ndarray]:
    """Total variation between the submission's predicted class mix and train's (a soft check: a weak
    but legitimate model may predict another mix), with both distributions."""
    task = competition.task
    predicted = class_distribution(submitted_classes(submission, competition).astype(int), task.num_classes)
    prior = class_distribution(competition.train["label"], task.num_classes)
    return 0.5 * float(np.abs(predicted - prior).sum()), predicted, prior


def make_submission(result, competition) -> pd.DataFrame:
    """The submission template with the answer column filled from result.eval_probs, validated; nothing written."""
    task = competition.task
    submission = competition.eval_template()
    by_id = pd.DataFrame(np.asarray(result.eval_probs, dtype=np.float64), index=pd.Index(result.eval_ids.astype(str)))
    missing = set(submission[task.id_column]) - set(by_id.index)
    if missing:
        raise SubmissionError(
            f"result {result.name!r} has no prediction for {len(missing)} eval id(s), e.g. "
            f"{sorted(missing)[:3]}; rerun it on the full eval split"
        )
    probs = by_id.loc[submission[task.id_column]].to_numpy()
    form = competition.submission_form
    if form == "labels":  # in the competition's label space: the labels as train.csv wrote them, or indices
        submission[task.answer_column] = [task.decode(i) for i in probs.argmax(1)]
    elif form == "probability":  # of the second class, as a grader's ROC-AUC or log loss reads it
        submission[task.answer_column] = probs[:, 1]
    else:
        for i, name in enumerate(task.class_names):
            submission[name] = probs[:, i]
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
    id_col, answers = task.id_column, answer_columns(competition)
    for column in (id_col, *answers):
        if column not in submission.columns:
            raise SubmissionError(f"submission lacks column {column!r}; found {list(submission.columns)}")
    template_columns = list(competition.eval_template().columns)
    if list(submission.columns) != template_columns:
        raise SubmissionError(
            f"submission columns are {list(submission.columns)}; the template ({competition.ids_source}) has "
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
        problems.append(f"{len(extra)} extra id(s) not in {competition.ids_source}, e.g. {extra[:3]}")
    problem, allowed = answer_problem(submission, competition, ids)
    if problem:
        problems.append(problem)
    if problems:
        raise SubmissionError(
            "invalid submission: " + "; ".join(problems) + f"; expected {len(expected)} rows, "
            f"one per id of {competition.ids_source}, {', '.join(answers)} {allowed}"
        )
    return submission


def answer_problem(submission: pd.DataFrame, competition, ids: pd.Series) -> tuple[str, str]:
    """What is wrong with the answers ('' if nothing), and what an answer must be."""
    task = competition.task
    if competition.submission_form == "labels":
        column = task.answer_column
        valid = submission_indices(submission[column], task).notna()  # '3' in index space, never '3.0' or '1e0'
        allowed = (
            f"a class name of {list(task.class_names)[:10]}"
            if task.label_space == "name"
            else f"a whole number in 0..{task.num_classes - 1}"
        )
        what = "label(s)"
    else:
        allowed, what = "a probability in [0, 1]", "value(s)"
        for column in answer_columns(competition):
            valid = pd.to_numeric(submission[column], errors="coerce").between(0, 1)
            if not valid.all():
                break
    bad = submission.index[~valid.to_numpy(dtype=bool)]
    if not len(bad):
        return "", allowed
    row = int(bad[0])
    return (
        f"{len(bad)} {what} of {column} not {allowed}, first at row {row + 2} "
        f"(id {ids.iat[row]!r}, value {submission[column].iat[row]!r})",
        allowed,
    )


def diff_submissions(new: pd.DataFrame, old: pd.DataFrame, competition) -> dict:
    """Agreement rate and class-distribution shift between two valid submissions (both are
    validated first, so a short, NaN or non-numeric previous file is an error, not a diff)."""
    task = competition.task
    validate_submission(new, competition)
    try:
        validate_submission(old, competition)
    except SubmissionError as exc:
        raise SubmissionError(f"the previous submission is not comparable: {exc}") from None
    ids = new[task.id_column].astype(str).to_numpy()
    a = submitted_classes(new, competition).astype(int).to_numpy()
    b = pd.Series(submitted_classes(old, competition).astype(int).to_numpy(), index=old[task.id_column].astype(str))
    b = b.loc[ids].to_numpy()
    dist_new, dist_old = class_distribution(a, task.num_classes), class_distribution(b, task.num_classes)
    return {
        "rows": len(ids),
        "agreement": float((a == b).mean()),
        "distribution_shift": 0.5 * float(np.abs(dist_new - dist_old).sum()),
        "per_class_change": {
            task.class_names[c]: int(((a == c).sum()) - int((b == c).sum())) for c in range(task.num_classes)
        },
    }
