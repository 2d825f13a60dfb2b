"""Layer 6. `competition init`: a ready test file that gates one's own model on one's own competition.

The file it writes holds a guard model with seeds, the guards CI runs (no regression on the OOF score, the
gap and, where eval answers exist, the eval score; beats the most-frequent-class model; no group on both
sides of the split; a valid submission that agrees with the previous one as well as two seeds agree), and
one example claim. Its baselines live beside it (baselines/), recorded with `--update-baselines`.
"""
from __future__ import annotations

import re
from pathlib import Path

from .data import Competition
from .data.cache import image_header
from .errors import ConfigError
from .files import atomic_write
from .registry import MODELS

SMALL_SIDE = 64  # images larger than this are resized to it for the guard model (a fast CI gate)

TEMPLATE = '''"""Guards and a claim for the competition {name!r}, written by `competition init`.

    pytest {file} --budget smoke --update-baselines   # record the baselines (8 seeds) with their environment
    pytest {file} --budget smoke                      # gate: what CI runs on every commit

The guard model trains {seeds} seeds; each regression guard compares their mean with the {baseline_seeds}
recorded seeds, with a tolerance from their spread (a false alarm at most 1% of the time). Baselines and the
previous submission are kept in {baselines_dir}/ beside this file: commit them.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from competition.data import make_splits
from competition.experiment import Experiment
from competition.gates import Baselines, assert_claim, assert_no_group_leakage
from competition.guards import assert_agrees_with_previous, result_guards
from competition.submission import make_submission

COMPETITION = {root!r}
BASELINES = Path(__file__).with_name({baselines_dir!r})
BASELINE_SEEDS = {baseline_seeds}
GUARD = Experiment({guard_name!r}, data=COMPETITION, model={model!r}, image_size={image_size!r},
                   augmentation="none", cv="holdout", seeds={seeds})

pytestmark = pytest.mark.experiment


@pytest.fixture(scope="module")
def competition(load_competition_by_name):
    return load_competition_by_name(COMPETITION)


@pytest.fixture(scope="module")
def own_baselines(baselines):
    """This file's baselines; --update-baselines records them instead of judging."""
    return Baselines(BASELINES, update=baselines.update)


@pytest.fixture(scope="module")
def guard_result(run_experiment, own_baselines):
    return run_experiment(GUARD.with_(seeds=BASELINE_SEEDS) if own_baselines.update else GUARD)


@pytest.mark.guard
@pytest.mark.parametrize("guard", sorted(result_guards(has_answers={has_answers!r})))
def test_guard_model(guard, guard_result, own_baselines, competition, eval_answers_of):
    answers = eval_answers_of(competition) if "eval" in guard else None
    result_guards({has_answers!r})[guard](guard_result, own_baselines, answers)


@pytest.mark.guard
def test_no_group_is_on_both_sides_of_the_split(competition):
    folds = make_splits(competition.train, "stratified_group" if competition.train["group"].duplicated().any()
                        else "stratified", n_splits=5)
    assert_no_group_leakage(competition.train, folds, COMPETITION)


@pytest.mark.guard
def test_the_submission_is_valid_and_agrees_with_the_previous_one(guard_result, competition, own_baselines):
    submission = make_submission(guard_result, competition)  # raises on a wrong id, label or column
    assert_agrees_with_previous(submission, BASELINES / "submission.csv", guard_result, competition,
                                update=own_baselines.update)


@pytest.mark.claim
def test_crop_and_flip_are_not_worse_than_no_augmentation(run_experiment, budget):
    """An example claim, stated at the standard budget (claims run where they have power, not as CI
    snapshots): crop and flip cost at most 2 points against none. UNDERPOWERED, a skip, when the seeds
    cannot decide it; a fail when crop and flip hurt (flips do, on text or digits)."""
    if budget.name == "smoke":
        pytest.skip("claims are stated at the standard budget; run with --budget standard")
    plain = run_experiment(GUARD)
    augmented = run_experiment(GUARD.with_(name={augmented_name!r}, augmentation="crop_flip"))
    assert_claim(augmented, plain, "not_worse:0.02")
'''


def slug(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower() or "competition"


def guard_image_size(competition: Competition) -> int | None:
    """Small uniform images stay as they are; larger or mixed ones go to SMALL_SIDE for a fast gate."""
    sizes = {image_header(path)[:2] for path in competition.train["path"].iloc[:200]}
    if len(sizes) == 1 and max(next(iter(sizes))) <= SMALL_SIDE:
        return None
    return SMALL_SIDE


def write_test_file(competition: Competition, out: Path, model: str = "rescnn", seeds: int = 3,
                    baseline_seeds: int = 8, force: bool = False) -> Path:
    """Write the guard file for `competition` at `out` (refused when it exists, unless force)."""
    MODELS.check(model, field="model")
    if out.exists() and not force:
        raise ConfigError(f"{out} exists; choose another --out, or --force to replace it")
    name = slug(competition.name)
    text = TEMPLATE.format(name=competition.name, file=out.name, root=str(competition.root), model=model,
                           image_size=guard_image_size(competition), seeds=seeds, baseline_seeds=baseline_seeds,
                           guard_name=f"{name}-guard", augmented_name=f"{name}-guard-crop-flip",
                           baselines_dir="baselines", has_answers=competition.has_answers())
    compile(text, str(out), "exec")  # a template error must never reach the user's file
    atomic_write(out, lambda tmp: tmp.write_text(text))
    return out
