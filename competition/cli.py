"""`python -m competition ...`: prepare data, explore it, write submissions."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .errors import CompetitionError


def cmd_data(args) -> None:
    from .data import prepare

    start = time.perf_counter()
    path = prepare(args.name, args.data_dir)
    print(path)
    print(f"ready in {time.perf_counter() - start:.1f}s", file=sys.stderr)


def cmd_eda(args) -> None:
    from .data import open_competition
    from .data.eda import format_summary, run_eda

    competition = open_competition(args.name, args.data_dir)
    out = Path(args.out or f"reports/eda/{competition.name}")
    summary = run_eda(competition, out)
    print(format_summary(summary))
    print(f"plots and summary.md written to {out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="competition", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="prepare a built-in competition and print its path")
    data.add_argument("name")
    data.add_argument("--data-dir", help="default: $COMPETITION_DATA_DIR or ./data")
    data.set_defaults(func=cmd_data)

    eda = sub.add_parser("eda", help="class counts, sizes, channel stats, duplicates, plots")
    eda.add_argument("name", help="a built-in competition name or a competition directory")
    eda.add_argument("--data-dir")
    eda.add_argument("--out", help="output folder (default reports/eda/NAME)")
    eda.set_defaults(func=cmd_eda)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except CompetitionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
