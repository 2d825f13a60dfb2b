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
from .data.splits import HOLDOUT_FRACTION
from .errors import ConfigError
from .experiment import get_budget
from .files import atomic_write
from .registry import MODELS

SMALL_SIDE = 64  # images larger than this are resized to it for the guard model (a fast CI gate)
# The guard's batch: at least this many steps per epoch on the rows the smallest budget trains (on 128 rows the
# default batch took 10 steps in smoke's five epochs and the model stayed at the dummy's score), within these bounds.
STEPS_PER_EPOCH = 10
GUARD_BATCH_RANGE = (8, 256)

# the test file, a str.format template (kept as data: only pytest_plugin.py imports pytest in the package)
TEMPLATE = Path(__file__).with_name("templates") / "guard_tests.py.tmpl"


def slug(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower() or "competition"


def guard_image_size(competition: Competition) -> int | None:
    """Small uniform images stay as they are; larger or mixed ones go to SMALL_SIDE for a fast gate."""
    sizes = {image_header(path)[:2] for path in competition.train["path"].iloc[:200]}
    if len(sizes) == 1 and max(next(iter(sizes))) <= SMALL_SIDE:
        return None
    return SMALL_SIDE


def guard_batch_size(competition: Competition) -> int:
    """The largest power of two that gives STEPS_PER_EPOCH steps on the smoke budget's holdout train rows."""
    smoke = get_budget("smoke")
    train_rows = int(min(len(competition.train), smoke.max_train or len(competition.train)) * (1 - HOLDOUT_FRACTION))
    low, high = GUARD_BATCH_RANGE
    batch = low
    while batch * 2 <= min(high, train_rows // STEPS_PER_EPOCH):
        batch *= 2
    return batch


def write_test_file(
    competition: Competition,
    out: Path,
    model: str = "rescnn",
    seeds: int = 3,
    baseline_seeds: int = 8,
    force: bool = False,
) -> Path:
    """Write the guard file for `competition` at `out` (refused when it exists, unless force)."""
    MODELS.check(model, field="model")
    if out.exists() and not force:
        raise ConfigError(f"{out} exists; choose another --out, or --force to replace it")
    name = slug(competition.name)
    text = TEMPLATE.read_text().format(
        name=competition.name,
        file=out.name,
        root=str(competition.root),
        model=model,
        image_size=guard_image_size(competition),
        batch_size=guard_batch_size(competition),
        seeds=seeds,
        baseline_seeds=baseline_seeds,
        guard_name=f"{name}-guard",
        augmented_name=f"{name}-guard-crop-flip",
        baselines_dir="baselines",
        has_answers=competition.has_answers(),
    )
    compile(text, str(out), "exec")  # a template error must never reach the user's file
    atomic_write(out, lambda tmp: tmp.write_text(text))
    return out
