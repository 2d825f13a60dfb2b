"""Layer 6. `python -m competition ...`: prepare data, explore it, write submissions."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __version__
from .data import BUILTINS, data_dir, open_competition, prepare
from .data.eda import format_summary, run_eda
from .errors import CompetitionError
from .gates import assert_submission_ready
from .store import Store
from .submission import diff_submissions, read_submission, validate_submission, write_submission


def cmd_data(args) -> None:
    """A built-in name: prepare it and print its path. A directory: validate it and summarise it."""
    start = time.perf_counter()
    if args.name not in BUILTINS and Path(args.name).exists():
        competition = open_competition(args.name, args.data_dir)
        counts = competition.train["label"].value_counts().reindex(range(competition.task.num_classes), fill_value=0)
        print(f"{competition.root}: {competition.format} format, {len(competition.train)} train rows, "
              f"{competition.train['group'].nunique()} groups, {competition.task.num_classes} classes "
              f"(smallest {counts.min()} rows, largest {counts.max()}), {len(competition.eval)} eval rows, "
              f"metric {competition.task.metric}; valid")
        return
    path = prepare(args.name, args.data_dir)
    print(path)
    print(f"ready in {time.perf_counter() - start:.1f}s", file=sys.stderr)


def cmd_eda(args) -> None:
    competition = open_competition(args.name, args.data_dir)
    out = Path(args.out or f"reports/eda/{competition.name}")
    summary = run_eda(competition, out, data_dir(args.data_dir) / ".cache")
    print(format_summary(summary))
    print(f"plots and summary.md written to {out}")


def cmd_runs(args) -> None:
    runs = Store(args.runs_dir).runs()
    if not runs:
        print(f"no stored runs in {args.runs_dir}")
        return
    print(f"{'experiment':<36} {'budget':<9} {'seeds':>5} {'mean fold score':>15}  {'when':<16} key")
    for run in runs:
        print(f"{run['name'][:36]:<36} {run['budget']:<9} {run['seeds']:>5} {run['score']:>15.4f}  {run['when']:<16} "
              f"{run['key']}")


def cmd_submit(args) -> None:
    competition = open_competition(args.data, args.data_dir)
    if args.result:
        result = Store(args.runs_dir).find(args.result)
        if result is None:
            raise CompetitionError(f"{args.result}: no readable result of that name or key in the store "
                                   f"{args.runs_dir}; `python -m competition runs` lists them")
        submission = write_submission(result, competition, args.out)
        print(f"wrote {args.out} from {result.name} ({len(submission)} rows)")
    else:
        submission = validate_submission(args.out, competition)
    try:
        shift = assert_submission_ready(submission, competition)
    except AssertionError as exc:
        raise CompetitionError(str(exc)) from None
    print(f"valid: {len(submission)} rows; class-distribution shift from train {shift:.3f}")
    if args.previous:
        diff = diff_submissions(submission, read_submission(args.previous, competition), competition)
        print(f"against {args.previous}: agreement {diff['agreement']:.4f}, "
              f"distribution shift {diff['distribution_shift']:.4f}, per-class change {diff['per_class_change']}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="competition", description="Prepare data, explore it, list stored runs, "
                                     "write and check submissions.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="prepare a built-in competition and print its path")
    data.add_argument("name", help=f"a built-in competition ({', '.join(sorted(BUILTINS))}) to prepare, or your "
                                   "own competition directory to validate and summarise")
    data.add_argument("--data-dir", help="default: $COMPETITION_DATA_DIR or ./data")
    data.set_defaults(func=cmd_data)

    eda = sub.add_parser("eda", help="class counts, sizes, channel stats, duplicates, plots")
    eda.add_argument("name", help="a built-in competition name or a competition directory")
    eda.add_argument("--data-dir", help="default: $COMPETITION_DATA_DIR or ./data")
    eda.add_argument("--out", help="output folder (default reports/eda/NAME)")
    eda.set_defaults(func=cmd_eda)

    submit = sub.add_parser("submit", help="write (from a stored result) or check a submission, and diff it")
    submit.add_argument("data", help="a built-in competition name or a competition directory")
    submit.add_argument("--result", help="an experiment name (its newest stored run), a store key, or "
                                         "runs/entries/KEY, to write the submission from")
    submit.add_argument("--out", default="submission.csv", help="the submission file to write or check")
    submit.add_argument("--previous", help="an earlier submission to diff against")
    submit.add_argument("--runs-dir", default="runs", help="the result store (default ./runs)")
    submit.add_argument("--data-dir", help="default: $COMPETITION_DATA_DIR or ./data")
    submit.set_defaults(func=cmd_submit)

    runs = sub.add_parser("runs", help="list the stored runs: name, budget, seeds, score, date, key")
    runs.add_argument("--runs-dir", default="runs", help="the result store (default ./runs)")
    runs.set_defaults(func=cmd_runs)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit 0 on success, 1 on a runtime error (bad data, a bad file, an unwritable path),
    2 on a usage error (argparse's own code)."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (CompetitionError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
