"""Layer 6. `python -m competition ...`: prepare data, explore it, list stored runs, write submissions.

This module imports nothing heavy: the parser answers --help and usage errors at once, and the
command's implementation (commands.py, with torch and the data stack) is imported only to run it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import CompetitionError

BUILTIN_NAMES = ("digits", "fashion", "fashion-lt", "fashion-photos")  # competition.data.BUILTINS (a test checks)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="competition", description="Prepare data, explore it, list stored runs, write and check submissions."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="prepare a built-in competition and print its path")
    data.add_argument(
        "name",
        help=f"a built-in competition ({', '.join(BUILTIN_NAMES)}) to prepare, or your "
        "own competition directory to validate and summarise",
    )
    data.add_argument("--data-dir", help="default: $COMPETITION_DATA_DIR or ./data")
    data.set_defaults(func="cmd_data")

    eda = sub.add_parser("eda", help="class counts, sizes, channel stats, duplicates, plots")
    eda.add_argument("name", help="a built-in competition name or a competition directory")
    eda.add_argument("--data-dir", help="default: $COMPETITION_DATA_DIR or ./data")
    eda.add_argument("--out", help="output folder (default reports/eda/NAME)")
    eda.set_defaults(func="cmd_eda")

    submit = sub.add_parser("submit", help="write (from a stored result) or check a submission, and diff it")
    submit.add_argument("data", help="a built-in competition name or a competition directory")
    submit.add_argument(
        "--result",
        help="an experiment name (its newest stored run), a store key, or "
        "runs/entries/KEY, to write the submission from",
    )
    submit.add_argument("--out", default="submission.csv", help="the submission file to write or check")
    submit.add_argument("--previous", help="an earlier submission to diff against (never the --out file)")
    submit.add_argument(
        "--max-shift",
        type=float,
        default=0.25,
        help="total variation between the predicted and train class mix above which it warns",
    )
    submit.add_argument(
        "--strict", action="store_true", help="a class mix over --max-shift is an error and nothing is written"
    )
    submit.add_argument(
        "--force", action="store_true", help="with --strict, write past the class-mix check (never past ids or labels)"
    )
    submit.add_argument("--runs-dir", default="runs", help="the result store (default ./runs)")
    submit.add_argument("--data-dir", help="default: $COMPETITION_DATA_DIR or ./data")
    submit.set_defaults(func="cmd_submit")

    init = sub.add_parser("init", help="write a test file that gates your model on your competition in CI")
    init.add_argument("data", help="a competition directory (or a built-in name)")
    init.add_argument("--model", default="rescnn", help="the guard model's name (default rescnn)")
    init.add_argument("--out", help="the test file to write (default ./test_<competition>.py)")
    init.add_argument("--force", action="store_true", help="replace --out when it exists")
    init.add_argument("--data-dir", help="default: $COMPETITION_DATA_DIR or ./data")
    init.set_defaults(func="cmd_init")

    report = sub.add_parser("report", help="write run reports, leaderboard and HTML from stored results alone")
    report.add_argument("names", nargs="*", help="experiment names (default: every stored one, newest run each)")
    report.add_argument("--runs-dir", default="runs", help="the result store, read only (default ./runs)")
    report.add_argument("--out", default="reports", help="where the reports go (default ./reports)")
    report.set_defaults(func="cmd_report")

    runs = sub.add_parser("runs", help="list the stored runs: name, budget, seeds, score, date, key")
    runs.add_argument("--runs-dir", default="runs", help="the result store (default ./runs)")
    runs.set_defaults(func="cmd_runs")

    search = sub.add_parser("search", help="list the hyperparameter searches: trials, best, confirmed claim")
    search.add_argument(
        "--runs-dir", default="runs", help="the result store, whose studies file is read (default ./runs)"
    )
    search.add_argument("--storage", help="an Optuna storage URL instead of the runs dir's studies file")
    search.set_defaults(func="cmd_search")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit 0 on success, 1 on a runtime error (bad data, a bad file, an unwritable path),
    2 on a usage error (argparse's own code)."""
    args = build_parser().parse_args(argv)
    try:
        commands = importlib.import_module(f"{__package__}.commands")  # deferred: the heavy imports are there
        getattr(commands, args.func)(args)
    except (CompetitionError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
