"""Layer 4. The runner: prepare the data an experiment trains on, then train every
unit (fold x seed) the store does not hold, and assemble the Result.

    >>> from competition.runner import RunContext, run
    >>> result = run(Experiment("mine", data="fashion"), "smoke", RunContext(store=Store("runs")))

One RunContext carries what a run needs besides the spec and the budget: the
store, the data directory, the device, whether to retrain, progress, logging and
the executor that trains missing units (executors.py: local or Ray).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split

from .cv import Unit, UnitOutput, assemble, budgeted_schedule, make_units
from .models import create_model, is_own_model
from .data import Competition, Preprocess, default_cache_dir, open_competition
from .data.cache import image_channels, open_cache, sized_like, training_size
from .data.splits import check_fold_column, confirmation_split
from .errors import ConfigError
from .execution import (
    ExecutionPath,
    ExecutionWarning,
    cached_probe,
    candidate_paths,
    channels_last_failure,
    choose,
    machine,
    probe,
    refused_paths,
    supported_precisions,
)
from .executors import LocalExecutor, RayExecutor, UnitJob
from .experiment import Budget, Experiment, PreparedData, Result, get_budget
from .store import Store, StoreIntegrityError


@dataclass
class RunContext:
    store: Store | None = None
    data_root: str | Path | None = None
    device: str | None = None  # None: the budget's device
    rerun: bool = False  # ignore store hits and train again
    progress_file: object = None  # a stream for the tqdm bar; False turns it off
    log: Callable[[str], None] | None = None  # one line per epoch and unit
    cache_dir: str | Path | None = None  # the image cache; default <data dir>/.cache, never inside a competition
    deadline: float | None = None  # time.monotonic() after which no unit starts training
    executor: LocalExecutor | RayExecutor | None = None  # who trains missing units; None: this process
    on_epoch: Callable[[int, dict], None] | None = None  # (unit index, history row) per epoch (UnitJob.on_epoch)
    on_trained: Callable[[UnitOutput], None] | None = None  # each unit trained here (not served by the store)


def subsample(table: pd.DataFrame, n: int, seed: int, floor: int = 2) -> np.ndarray:
    """A stratified subsample of n rows (all rows when n >= len) in which every class keeps at least `floor`
    rows, or all of its rows where it has fewer (so a little over n where rare classes are topped up).

    The split a spec names must hold on a budget's subsample wherever it holds on the whole split: a class of
    5 rows among 4,000 kept 4 in smoke's 3,000, so cv='stratified:5' failed at smoke and ran at standard, and a
    rarer class was left out of the smoke gate altogether."""
    if n >= len(table):
        return np.arange(len(table))
    counts = table["label"].value_counts()
    stratify = table["label"] if (counts >= 2).all() and n >= len(counts) else None
    keep, _ = train_test_split(np.arange(len(table)), train_size=n, random_state=seed, stratify=stratify)
    labels, kept = table["label"].to_numpy(), np.zeros(len(table), dtype=bool)
    kept[keep] = True
    rng = np.random.default_rng(seed)
    for label, count in counts.items():
        short = min(int(count), floor) - int(np.count_nonzero(kept & (labels == label)))
        if short > 0:
            kept[rng.choice(np.flatnonzero(~kept & (labels == label)), short, replace=False)] = True
    return np.flatnonzero(kept)


def open_data(experiment: Experiment, data_root=None) -> Competition:
    return open_competition(experiment.data, data_root)


def cache_root(context: RunContext) -> Path:
    """Decoded images live apart from the competitions (which may be read-only or shared), keyed by content."""
    return Path(context.cache_dir) if context.cache_dir else default_cache_dir(context.data_root)


def prepare_data(experiment: Experiment, budget: Budget, competition: Competition, cache_dir: Path) -> PreparedData:
    """The budget-scaled train table and the cached images: what training may see."""
    table, eval_table = competition.train, competition.eval
    rows = np.arange(len(table))
    floor = max(2, experiment.cv_scheme()[1])  # rows per class a subsample keeps, so that its split holds
    if experiment.rows == "search":  # the confirmation rows become the eval set: predicted, never trained on
        rows, confirm = confirmation_split(table)
        eval_table = table.iloc[confirm].reset_index(drop=True)
    if experiment.train_fraction < 1.0:
        rows = rows[
            subsample(
                table.iloc[rows],
                max(len(competition.task.class_names), round(experiment.train_fraction * len(rows))),
                seed=0,
                floor=floor,
            )
        ]
    if budget.max_train is not None:
        rows = rows[subsample(table.iloc[rows], budget.max_train, seed=0, floor=floor)]
    table = table.iloc[rows].reset_index(drop=True)
    size = (
        experiment.image_size
        if isinstance(experiment.image_size, tuple) or experiment.image_size is None
        else (experiment.image_size,) * 2
    )
    # the size and colour of the whole train split, so every budget's subsample trains as the full run does
    if size is None:  # mixed sizes: the median over every train row, whatever their order
        size = training_size(competition.train["path"], experiment.crop)
    channels = experiment.channels or image_channels(competition.train["path"], competition.train["label"])
    spec = Preprocess(size=size, crop=experiment.crop, channels=channels, draft=experiment.draft)
    images, train_key = open_cache(table["path"], spec, cache_dir)
    if len(eval_table):  # at the size train was cached at, whatever size the eval files have
        eval_spec = sized_like(spec, eval_table["path"], images.shape[1:3])
        eval_images, eval_key = open_cache(eval_table["path"], eval_spec, cache_dir)
    else:
        eval_images, eval_key = None, ""
    for column in experiment.split_columns():
        check_fold_column(competition.train.columns, column)
    kept = ["image_id", "label", "group", *experiment.split_columns()]
    labels_hash = pd.util.hash_pandas_object(table[kept], index=False).sum()
    fingerprint = f"{train_key[:16]}-{eval_key[:16]}-{labels_hash & 0xFFFFFFFF:08x}"
    return PreparedData(
        table=table[kept].copy(),
        images=images,
        eval_images=eval_images,
        eval_ids=eval_table["image_id"].to_numpy(),
        class_names=competition.task.class_names,
        metric=competition.task.metric,
        fingerprint=fingerprint,
        task=competition.task.to_json(),
        competition_digest=competition.content_digest,
        skipped=list(competition.skipped),
    )


def result_mismatch(result: Result, data: PreparedData, seeds: int) -> str | None:
    """Why a stored Result does not fit this data, or None."""
    if result.provenance.train_rows != len(data.table) or len(result.class_names) != data.num_classes:
        return (
            f"it has {result.provenance.train_rows} train rows and {len(result.class_names)} classes; the data has "
            f"{len(data.table)} and {data.num_classes}"
        )
    if not np.array_equal(result.eval_ids.astype(str), data.eval_ids.astype(str)):
        return "its eval ids are not the data's"
    if result.n_seeds != seeds:
        return f"it has {result.n_seeds} seeds, the spec {seeds}"
    return None


def unit_key(experiment: Experiment, data: PreparedData, budget: Budget, store: Store | None) -> str:
    """Units are keyed without the seed count, so adding a seed trains only the new one."""
    if store is None:
        return ""
    return store.key(
        experiment.unit_dict(), data.fingerprint, budget.name, data.task, experiment.user_code(data.metric)
    )


def result_key(experiment: Experiment, data: PreparedData, budget: Budget, store: Store | None, seeds: int) -> str:
    if store is None:
        return ""
    return store.key(
        {**experiment.to_dict(), "seeds": seeds},
        data.fingerprint,
        budget.name,
        data.task,
        experiment.user_code(data.metric),
    )


def plan_execution(
    experiment: Experiment, data: PreparedData, budget: Budget, device: str, store: Store | None
) -> tuple[Experiment, dict]:
    """The spec with its execution path fixed (competition.execution): as written, or, where it says
    'auto', the fastest path a probe of its model measured on this machine (cached in the store's root).
    Returns the spec and the record of the choice (Result.provenance.execution)."""
    if experiment.precision not in ("auto", *supported_precisions(device)):
        raise ConfigError(
            f"{experiment.name}: precision={experiment.precision!r} is not supported on {device} here "
            f"(supported: {supported_precisions(device)}); use precision='auto' or 'fp32'"
        )
    height, width, channels = data.images.shape[1:4]

    def make_model():
        return create_model(
            experiment.model, data.num_classes, in_chans=channels, input_size=(height, width), **experiment.model_kw
        )

    layout = {}
    if experiment.channels_last in (True, "auto") and is_own_model(experiment.model):
        failure = channels_last_failure(make_model, (channels, height, width), device)
        if failure:
            warnings.warn(
                f"{experiment.name}: its model {experiment.model} fails on channels_last inputs ({failure}), so it "
                "trains in NCHW, the slower layout here; where it flattens with .view, .reshape or .flatten takes "
                "both (or set channels_last=False to say so)",
                ExecutionWarning,
                stacklevel=2,
            )
            experiment, layout = experiment.with_(channels_last=False), {"channels_last_refused": failure}
    precision, channels_last, compile_ = experiment.precision, experiment.channels_last, experiment.compile
    if "auto" not in (precision, channels_last, compile_):
        path = ExecutionPath(precision, bool(channels_last), bool(compile_))
        return experiment, {"path": path.label, "chosen_by": "spec", **layout}
    paths = candidate_paths(precision, channels_last, compile_, device)
    epochs, batch = budgeted_schedule(experiment, budget)
    batch = min(batch, len(data.table))
    shape = {
        "model": experiment.model,
        "model_kw": experiment.model_kw,
        "transfer": experiment.transfer,
        "input": [channels, height, width],
        "classes": data.num_classes,
        "batch": batch,
        "device": device,
        "paths": [path.label for path in paths],
    }

    records, cached = cached_probe(
        store.root if store is not None else None,
        shape,
        lambda: probe(make_model, (channels, height, width), data.num_classes, batch, device, paths),
    )
    planned_steps = epochs * max(len(data.table) // batch, 1) * len(experiment.training_seeds(budget))
    refused = refused_paths(store.root if store is not None else None, device, paths)
    chosen = choose(records, planned_steps, batch, refused)
    experiment = experiment.with_(
        precision=chosen["precision"], channels_last=chosen["channels_last"], compile=chosen["compile"]
    )
    return experiment, {
        "path": chosen["label"],
        "chosen_by": "probe",
        "probe_cached": cached,
        "planned_steps": planned_steps,
        "probe": records,
        **machine(),
        **({"refused": refused} if refused else {}),
        **layout,
    }


def resolve_device(device: str) -> str:
    """'auto' -> cuda where a GPU is visible, else cpu; 'cuda' without one is an error before any work."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device={device!r} but no CUDA device is visible to torch; use device='cpu' (--device cpu) or 'auto'"
        )
    if not (device == "cpu" or device.startswith("cuda")):
        raise ConfigError(f"device={device!r}; use 'cpu', 'cuda', 'cuda:N' or 'auto'")
    return device


@dataclass(frozen=True)
class RunPlan:
    """What a run of `experiment` at `budget` is, resolved once: the device, the prepared data, the spec with
    its execution path fixed, its units (fold x seed) and the store keys. `run`, post-hoc TTA and frozen
    features all start from one, so none of them re-derives rows, seeds, folds or the device its own way."""

    experiment: Experiment
    budget: Budget
    device: str
    data: PreparedData
    units: list[Unit]
    seeds: list[int]
    unit_key: str  # where the store keeps the units (not the seed count: a new seed trains only itself)
    result_key: str  # where the store keeps the Result
    execution: dict  # the execution path and how it was chosen (Result.provenance.execution)


def plan(
    experiment: Experiment,
    budget: str | Budget = "standard",
    context: RunContext | None = None,
    choose_path: bool = True,
) -> RunPlan:
    """Resolve a run once. choose_path=False keeps the spec's execution path as written (for work that only
    predicts with stored weights, where a probe of the training paths would be wasted)."""
    context = context or RunContext()
    budget = get_budget(budget)
    device = resolve_device(context.device or budget.device)
    data = prepare_data(experiment, budget, open_data(experiment, context.data_root), cache_root(context))
    store = context.store
    execution: dict = {}
    if choose_path:
        experiment, execution = plan_execution(experiment, data, budget, device, store)
    seeds = experiment.training_seeds(budget)
    return RunPlan(
        experiment,
        budget,
        device,
        data,
        make_units(experiment, data.table, budget, data.class_names),
        seeds,
        unit_key(experiment, data, budget, store),
        result_key(experiment, data, budget, store, len(seeds)),
        execution,
    )


def run(experiment: Experiment, budget: str | Budget = "standard", context: RunContext | None = None) -> Result:
    """Train and score `experiment` at `budget`, unit by unit, through the context's store."""
    context = context or RunContext()
    started = time.perf_counter()
    planned = plan(experiment, budget, context)
    store, data = context.store, planned.data
    if (
        store is not None
        and not context.rerun
        and (hit := store.load_result(planned.result_key, experiment.name)) is not None
    ):
        if (mismatch := result_mismatch(hit, data, len(planned.seeds))) is None:
            return hit
        store.report_corrupt(hit.provenance.path, StoreIntegrityError(mismatch))
    job = UnitJob(
        planned.experiment,
        data,
        planned.units,
        planned.budget,
        planned.device,
        store,
        planned.unit_key,
        rerun=context.rerun,
        deadline=context.deadline,
        log=context.log,
        progress_file=context.progress_file,
        on_epoch=context.on_epoch,
        on_trained=context.on_trained,
    )
    outputs = (context.executor or LocalExecutor()).run_units(job)
    result = assemble(
        planned.experiment,
        data,
        planned.budget,
        planned.result_key,
        outputs,
        time.perf_counter() - started,
        planned.unit_key,
        planned.execution,
    )
    if store is not None:
        store.save_result(planned.result_key, result)
    return result
