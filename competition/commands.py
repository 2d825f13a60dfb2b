"""Layer 6. What each `python -m competition` command does (cli.py parses the arguments and imports
this module only once a command is to run, so --help and usage errors answer at once)."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

from .data import BUILTINS, default_cache_dir, open_competition, prepare
from .data.cache import check_images, shown_size, training_size
from .data.eda import format_summary, run_eda
from .errors import CompetitionError, DataError
from .experiment import Result
from .files import writable_folder
from .metrics import reads_probabilities
from .html_report import write_html_report
from .report import leaderboard_rows, read_history, run_folder, write_leaderboard, write_run_report
from .scaffold import slug, write_test_file
from .scoring import read_answers
from .search import STUDIES_FILE, list_studies, storage_url
from .store import Store
from .submission import (
    SubmissionError,
    diff_submissions,
    distribution_shift,
    make_submission,
    publish_submission,
    read_submission,
    validate_submission,
)


def submission_answers(competition) -> str:
    task, form = competition.task, competition.submission_form
    if form == "probability":
        return (
            f"the probability of class {task.class_names[1]!r} in column {task.answer_column!r} (the metric "
            f'{task.metric} reads probabilities; "submission": "labels" in competition.json answers with labels)'
        )
    if form == "class_columns":
        return "a probability per class, in the template's columns named after the classes"
    if "submission" not in competition.meta and reads_probabilities(task.metric):
        return (
            f"labels in column {task.answer_column!r}, though the metric {task.metric} reads probabilities: a grader "
            f"scoring this file sees none (put a column per class in {competition.template_name} to answer with them)"
        )
    return f"labels in column {task.answer_column!r}"


# column names that say the rows are of subjects, each of which may have several images
SUBJECT_COLUMN = re.compile(
    r"patient|subject|person|people|individual|user|owner|donor|animal|specimen|slide|study|case|session|series|"
    r"video|group",
    re.IGNORECASE,
)


def group_hint(competition) -> str | None:
    """Where no groups are used and a column of the labels table names subjects whose values repeat (SIIM-ISIC's
    patient_id): a split then puts one patient's images on both sides, and the score holds for seen patients
    only. Said, not guessed: the column may mean something else."""
    train = competition.train
    if train["group"].nunique() < len(train):
        return None
    for column in [c for c in train.columns if c not in ("image_id", "path", "label", "group")]:
        values = train[column].astype(str)
        if SUBJECT_COLUMN.search(str(column)) and values.nunique() < len(values):
            return (
                f"column {column!r} repeats its values ({len(values) / values.nunique():.1f} rows per value) and no "
                f'groups are set: if each value is one subject, set "group_column": "{column}" in competition.json, '
                "or a split puts one subject's images on both sides and the score holds for seen subjects only"
            )
    return None


def describe_competition(competition) -> list[str]:
    """What `data` says of one's own competition: counts, classes (empty ones named), skipped rows, sizes."""
    counts = competition.class_counts()
    task = competition.task
    lines = [
        f"{competition.root}: {competition.format} format, {len(competition.train)} train rows, "
        f"{competition.train['group'].nunique()} groups, {task.num_classes} classes (smallest {counts.min()} "
        f"rows, largest {counts.max()}), {len(competition.eval)} eval rows, metric {task.metric}, "
        f"submissions in {task.label_space} space ({', '.join(map(str, task.class_names[:6]))}"
        f"{' ...' if task.num_classes > 6 else ''})"
    ]
    if competition.inferred:
        keys = ", ".join(f'"{key}": {json.dumps(value)}' for key, value in competition.inferred.items())
        lines.append(f"read as a Kaggle download: {keys} (competition.json sets any of them otherwise)")
    hint = group_hint(competition)
    if hint:
        lines.append(hint)
    if competition.empty_classes:
        lines.append(f"empty classes (declared, no train rows): {competition.empty_classes}")
    if len(competition.eval):
        lines.append(f"eval answers: {eval_answers_source(competition)}")
        lines.append(f"submissions answer with {submission_answers(competition)}")
    copies = competition.eval_copies_of_train()
    if copies:
        shown = ", ".join(f"eval {e} = train {t}" for e, t in copies[:3]) + (" ..." if len(copies) > 3 else "")
        lines.append(
            f"{len(copies)} eval image(s) have the same bytes as a train image ({shown}): a model trains on them, "
            "so its eval score is not held out there"
        )
    if competition.skipped:
        shown = ", ".join(f"row {s['row']} ({s['image_id']})" for s in competition.skipped[:5])
        lines.append(
            f"skipped {len(competition.skipped)} train row(s) whose images are missing "
            f'("on_missing": "skip"): {shown}{" ..." if len(competition.skipped) > 5 else ""}'
        )
    return lines


def eval_answers_source(competition) -> str:
    if competition.answers_path.exists():
        return f"{competition.answers_path} (eval scores are computed)"
    if competition.folder_answers() is not None:
        return "the class folders of eval/ (eval scores are computed)"
    return (
        'none: eval rows are predicted, never scored (name a file of ids and answers with "answers" in '
        "competition.json, or put eval images in eval/<class>/ folders in the folder format)"
    )


def check_answers(competition) -> str | None:
    """What keeps the eval answers from scoring the eval split (an id without an answer, an answer that is no
    label, a missing column), or None; read as scoring reads them, so `data` says it before any training."""
    if not competition.has_answers():
        return None
    try:
        read_answers(competition)
    except DataError as exc:
        return str(exc)
    return None


def describe_images(competition) -> tuple[list[str], list[str]]:
    """Decode every train and eval image: (lines on their sizes, one problem per file that does not decode)."""
    sizes, problems = check_images(list(competition.train["path"]) + list(competition.eval["path"]))
    if not sizes:
        return [], problems
    common, _ = sizes.most_common(1)[0]
    if len(sizes) == 1:
        line = f"every image is {common[0]}x{common[1]} (width x height)"
    else:
        shown = ", ".join(f"{w}x{h} ({n})" for (w, h), n in sizes.most_common(4))
        line = f"mixed image sizes ({len(sizes)} distinct: {shown}); " + trained_size_line(competition)
    return [line], problems


def trained_size_line(competition) -> str:
    """What size mixed images train at when the spec sets none (the median of train's: training_size)."""
    paths = list(competition.train["path"])
    try:
        height, width = training_size(paths) or shown_size(str(paths[0]), "none")
    except DataError:  # a file that does not decode: listed on its own
        return "set Experiment(image_size=...) to choose the size they train at"
    return (
        f"without Experiment(image_size=...) they train at {height}x{width} (height x width), the median of "
        "train's (eval is scored at that size too); set image_size to choose"
    )


def cmd_data(args) -> None:
    """A built-in name: prepare it and print its path. A directory: validate it (every image decoded) and
    summarise it; every problem is listed at once."""
    start = time.perf_counter()
    if args.name not in BUILTINS and Path(args.name).exists():
        competition = open_competition(args.name, args.data_dir)
        lines = describe_competition(competition)
        size_lines, problems = describe_images(competition)
        for line in lines + size_lines:
            print(line)
        answers_problem = check_answers(competition)
        for problem in problems[:20] + ([answers_problem] if answers_problem else []):
            print(f"error: {problem}", file=sys.stderr)
        found = []
        if problems:
            shown = " (first 20 shown)" if len(problems) > 20 else ""
            found.append(
                f"{len(problems)} image(s) do not decode{shown}; re-export or remove them, or set "
                '"on_missing": "skip" after removing'
            )
        if answers_problem:
            found.append(f"the eval answers cannot score the eval split ({answers_problem})")
        if found:
            raise CompetitionError("; ".join(found))
        print("valid")
        return
    path = prepare(args.name, args.data_dir)
    print(path)
    print(f"ready in {time.perf_counter() - start:.1f}s", file=sys.stderr)


def cmd_eda(args) -> None:
    competition = open_competition(args.name, args.data_dir)
    out = Path(args.out or f"reports/eda/{competition.name}")
    summary = run_eda(competition, out, default_cache_dir(args.data_dir))
    print(format_summary(summary))
    print(f"plots and summary.md written to {out}")


def cmd_runs(args) -> None:
    runs = Store(args.runs_dir, read_only=True).runs()
    if not runs:
        print(f"no stored runs in {args.runs_dir}")
        return
    print(f"{'experiment':<36} {'budget':<9} {'seeds':>5} {'mean fold score':>15}  {'when':<16} key")
    for run in runs:
        if "damaged" in run:
            print(
                f"{'(damaged entry)':<36} {'?':<9} {'?':>5} {'?':>15}  {run['when']:<16} {run['key']}: {run['damaged']}"
            )
            continue
        print(
            f"{run['name'][:36]:<36} {run['budget']:<9} {run['seeds']:>5} {run['score']:>15.4f}  {run['when']:<16} "
            f"{run['key']}"
        )


def cmd_search(args) -> None:
    if not args.storage and not (Path(args.runs_dir) / STUDIES_FILE).exists():
        print(f"no searches in {args.runs_dir} (no {STUDIES_FILE})")
        return
    studies = list_studies(args.storage or storage_url(args.runs_dir))
    if not studies:
        print("no searches in that storage")
    for study in studies:
        best = study["best"]
        print(
            f"{study['study']}: {study['trials']} trial(s) finished, {study['pruned']} pruned"
            + (f"; best trial {best['number']} {best['value']:.4f} {best['params']}" if best else "; none complete")
        )
        confirmation = study["confirmation"]
        if confirmation and "delta" in confirmation:
            print(
                f"    confirmed: best {confirmation['best']:.4f} vs base {confirmation['base']:.4f}, delta "
                f"{confirmation['delta']:+.4f} [{confirmation['low']:+.4f}, {confirmation['high']:+.4f}], "
                f"{confirmation['seeds']} seed(s) per side: beats:{confirmation['effect']} "
                f"{confirmation['outcome']}"
            )
        elif confirmation:
            print(f"    confirmation: {confirmation['outcome']}")
        else:
            print("    not confirmed yet")


def same_file(a: str | Path, b: str | Path) -> bool:
    a, b = Path(a), Path(b)
    return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))


def result_for(competition, name_or_key: str, runs_dir: str):
    """The newest stored result of that name (or that key) trained on this competition's current content."""
    store = Store(runs_dir, read_only=True)
    result = store.find(name_or_key)
    if result is None:
        raise CompetitionError(
            f"{name_or_key}: no readable result of that name or key in the store "
            f"{runs_dir}; `python -m competition runs` lists them"
        )
    current = competition.content_digest
    if result.provenance.competition_digest == current:
        return result
    for run in store.runs():  # an older run of that name may match the data as it is now
        if run["name"] == result.name and "damaged" not in run and run["key"] != result.key:
            older = store.load_result(run["key"])
            if older is not None and older.provenance.competition_digest == current:
                return older
    trained_on = result.provenance.competition_digest or "(not recorded: trained before results recorded it)"
    raise CompetitionError(
        f"{result.name} (key {result.key}) was trained on competition content {trained_on}, but "
        f"{competition.root} is now {current} (its images, labels, eval ids or task changed, or "
        "it is another competition); rerun the experiment on this data before submitting"
    )


def cmd_submit(args) -> None:
    """Everything is checked before anything is written: a failure leaves --out as it was."""
    competition = open_competition(args.data, args.data_dir)
    if args.previous and same_file(args.previous, args.out):
        raise CompetitionError(
            f"--previous {args.previous} is the --out file; the new submission would be compared "
            "with itself. Copy the previous file elsewhere, or write --out to a new name"
        )
    if args.result and Path(args.out).is_dir():
        raise CompetitionError(
            f"--out {args.out} is a folder; give the file to write, e.g. {Path(args.out) / 'submission.csv'}"
        )
    if args.result and Path(os.path.realpath(args.out)) in competition.input_files():
        raise CompetitionError(
            f"--out {args.out} is a file the competition {competition.name!r} is read from (its labels, eval "
            "ids, settings, answers or an image); the submission would replace it. Nothing was written: give "
            "--out a new file (a submissions/ folder, say)"
        )
    previous = read_submission(args.previous, competition) if args.previous else None
    if previous is not None:
        try:
            validate_submission(previous, competition)
        except SubmissionError as exc:
            raise SubmissionError(f"--previous {args.previous} is not comparable: {exc}") from None
    if args.result:
        result = result_for(competition, args.result, args.runs_dir)
        submission = make_submission(result, competition)
    else:
        submission = validate_submission(args.out, competition)
    shift, predicted, prior = distribution_shift(submission, competition)
    if shift > args.max_shift:
        message = (
            f"the predicted class mix is {shift:.3f} (total variation) from train's, over {args.max_shift}; "
            "a weak model, or a submission in the wrong label space"
        )
        if args.strict and not args.force:
            raise CompetitionError(f"{message}. Nothing was written (--strict); --force writes it anyway")
        print(f"warning: {message}", file=sys.stderr)
    if args.result:
        publish_submission(submission, args.out)
        print(f"wrote {args.out} from {result.name} ({len(submission)} rows)")
    print(
        f"valid: {len(submission)} rows answered with {submission_answers(competition)}; "
        f"class-distribution shift from train {shift:.3f}"
    )
    if previous is not None:
        diff = diff_submissions(submission, previous, competition)
        print(
            f"against {args.previous}: agreement {diff['agreement']:.4f}, "
            f"distribution shift {diff['distribution_shift']:.4f}, per-class change {diff['per_class_change']}"
        )


def cmd_init(args) -> None:
    competition = open_competition(args.data, args.data_dir)
    out = Path(args.out or f"test_{slug(competition.name)}.py")
    write_test_file(competition, out, model=args.model, force=args.force)
    print(f"wrote {out}: the guards and an example claim for {competition.root}")
    print(f"record its baselines:  pytest {out} --budget smoke --update-baselines")
    print(f"then gate on them:     pytest {out} --budget smoke")


def cmd_report(args) -> None:
    """Reports from stored results alone: the newest run of each name (or of the names given), read from a
    store that may be read-only; nothing in the store is written."""
    store = Store(args.runs_dir, read_only=True)
    out = writable_folder(Path(args.out).resolve(), "reports dir", "choose another with --out")
    newest: dict[str, Result] = {}
    for run in store.runs():
        if "damaged" in run:
            print(f"warning: skipped damaged entry {run['key']}: {run['damaged']}", file=sys.stderr)
        elif run["name"] not in newest and (not args.names or run["name"] in args.names):
            result = store.load_result(run["key"], run["name"])
            if result is not None:
                newest[run["name"]] = result
    if not newest:
        raise CompetitionError(
            f"no readable result{' named ' + ', '.join(args.names) if args.names else ''} in "
            f"{store.root}; `competition runs` lists them"
        )
    for result in newest.values():
        write_run_report(result, run_folder(out, result.name))
    rows = leaderboard_rows(newest.values())
    history = read_history(store.root / "history.jsonl")
    write_leaderboard(rows, out / "leaderboard.md", history)
    page = write_html_report(rows, [], [], out)
    print(f"{len(newest)} run report(s) in {out / 'runs'}; leaderboard {out / 'leaderboard.md'}; HTML {page}")
