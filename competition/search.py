"""Layer 6. Hyperparameter search as experiments: an Optuna study over spec fields, every trial an ordinary
Experiment trained through the store, pruned from its epoch history, and its winner confirmed on rows the
search never saw.

    >>> search = Search("lr-search", base=SMALL_CNN, space={"lr": FloatDistribution(1e-4, 1e-1, log=True)},
    ...                 trials=20)
    >>> report = run_search(search, trainer, competition, "standard", storage_url(store.root))

The search sees only the search split of the train rows (Experiment(rows="search"); the confirmation split,
data.splits.confirmation_split, is the same for every search on a competition). Each trial's objective is
its validation score on the search rows. The best trial is then trained again with fresh seeds, beside the
base spec with the same seeds, and both are scored on the confirmation rows: the claim "best beats base"
there is what a test asserts. The best trial's search score minus its confirmed score is the selection
optimism (the maximum of many noisy scores is biased upward: the winner's curse).

The study lives in an Optuna storage (SQLite in the runs dir by default), named by everything that
defines its trials, so an interrupted search resumes (finished trials are kept, an interrupted one is
tried again, its finished units served by the store) and a finished one is served.
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)
from optuna.trial import TrialState

from .cv import budgeted_schedule
from .errors import ConfigError, StoreError, closest
from .files import check_folder_name, writable_folder
from .experiment import EVAL_METRICS, Budget, Experiment, Result, get_budget
from .gates import ClaimFailed, Underpowered, decide_claim
from .scoring import eval_answers, eval_view
from .train import TrainingDiverged

# Optuna's distributions are re-exported for writing a space
__all__ = [
    "CategoricalDistribution",
    "FloatDistribution",
    "IntDistribution",
    "Search",
    "SearchReport",
    "assert_confirmed",
    "list_studies",
    "run_search",
    "storage_url",
]

SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "asha", None)
KW_FIELDS = ("model_kw", "optimizer_kw", "loss_kw")  # searchable as "<field>.<key>"
NOT_SEARCHABLE = ("name", "data", "rows", "seeds", "max_seeds", "callbacks")
OTHER_SPELLINGS = {
    "learning_rate": "lr",
    "wd": "weight_decay",
    "bs": "batch_size",
    "num_epochs": "epochs",
    "n_epochs": "epochs",
    "img_size": "image_size",
    "size": "image_size",
    "width": "model_kw.width",
}
CONFIRM_SEED = 1000  # the confirmation's first training seed: fresh, never a trial's (trials start at base.seed)
STUDIES_FILE = "studies.sqlite3"

optuna.logging.set_verbosity(optuna.logging.WARNING)  # the search logs its own lines, one per trial


class TrialStopped(Exception):
    """Raised from a trial's epoch listener when the pruner stops it (optuna.TrialPruned's role)."""


@dataclass(frozen=True)
class Search:
    """A hyperparameter search over fields of `base` (see module doc).

    space: spec field -> Optuna distribution (FloatDistribution(low, high, log=...), IntDistribution,
    CategoricalDistribution); "model_kw.width", "optimizer_kw.momentum", "loss_kw.gamma" reach into the
    keyword dicts. trials: trials that finish (complete or pruned). metric: "accuracy" or "macro_f1"
    (default: the competition's). sampler: "tpe" or "random", seeded by sampler_seed. pruner: "median",
    "asha" or None; pruning reads each epoch's validation metric. parallel: trials asked at once (a batch:
    run side by side on Ray, one after another locally, the same trials either way). effect: the smallest
    confirmed gain over the base that the claim is about. confirm_max_seeds: the confirmation adds seeds in
    rounds up to this many per side until its claim decides. enqueue: parameter dicts tried first, after the
    base's own values.
    """

    name: str
    base: Experiment
    space: dict
    trials: int = 20
    metric: str | None = None
    sampler: str = "tpe"
    sampler_seed: int = 0
    pruner: str | None = "median"
    seeds_per_trial: int = 1
    parallel: int = 1
    effect: float = 0.01
    confirm_max_seeds: int = 7
    enqueue: tuple = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"Search.name={self.name!r}: give a non-empty string")
        check_folder_name(self.name, "Search.name")  # its trials' names and its report folder start with it
        if not isinstance(self.base, Experiment):
            raise ConfigError(f"{self.name}: base={self.base!r}; give an Experiment")
        if self.base.seeds == "auto":
            raise ConfigError(
                f"{self.name}: base has seeds='auto'; a search sets each trial's seeds "
                "(seeds_per_trial) and the confirmation's"
            )
        for name, low in (("trials", 1), ("seeds_per_trial", 1), ("parallel", 1), ("confirm_max_seeds", 3)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"{self.name}: {name}={value!r}; use an integer >= {low}")
        if self.metric not in (None, *EVAL_METRICS):
            raise ConfigError(
                f"{self.name}: metric={self.metric!r}; a search reads each epoch's validation "
                f"metric, one of {list(EVAL_METRICS)} (or None: the competition's)"
            )
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"{self.name}: sampler={self.sampler!r}; use one of {list(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise ConfigError(f"{self.name}: pruner={self.pruner!r}; use one of {list(PRUNERS)}")
        if isinstance(self.effect, bool) or not isinstance(self.effect, (int, float)) or self.effect <= 0:
            raise ConfigError(
                f"{self.name}: effect={self.effect!r}; state the smallest confirmed gain worth "
                "claiming, a positive number (e.g. 0.01)"
            )
        if not isinstance(self.space, dict) or not self.space:
            raise ConfigError(
                f"{self.name}: space={self.space!r}; give a dict of spec field -> Optuna "
                "distribution, e.g. {'lr': FloatDistribution(1e-4, 1e-1, log=True)}"
            )
        for path, distribution in self.space.items():
            check_path(self.name, path)
            check_distribution(self, path, distribution)
        object.__setattr__(self, "enqueue", tuple(dict(params) for params in self.enqueue))
        for params in self.enqueue:
            self.check_params(params, "enqueue")

    def check_params(self, params: dict, where: str) -> None:
        unknown = sorted(set(params) - set(self.space))
        if unknown:
            raise ConfigError(f"{self.name}: {where} names {unknown}, not in the space {sorted(self.space)}")
        for path, value in params.items():
            distribution = self.space[path]
            if not contains(distribution, value):
                raise ConfigError(f"{self.name}: {where} sets {path}={value!r}, outside {distribution}")
        self.spec(params, "check")  # the spec's own checks (a float where an int belongs, ...)

    def spec(self, params: dict, name: str, **changes) -> Experiment:
        """The base spec with `params` (space paths -> values) applied, renamed, on the search rows."""
        flat = {path: value for path, value in params.items() if "." not in path}
        nested = {kw: dict(getattr(self.base, kw)) for kw in KW_FIELDS}
        for path, value in params.items():
            if "." in path:
                kw, _, key = path.partition(".")
                nested[kw][key] = value
        changed = {kw: value for kw, value in nested.items() if value != getattr(self.base, kw)}
        return self.base.with_(name=name, rows="search", **flat, **changed, **changes)

    def base_params(self) -> dict | None:
        """The base's own values of the space, or None when one lies outside its distribution."""
        params = {}
        for path in self.space:
            kw, _, key = path.partition(".")
            value = (
                getattr(self.base, kw).get(key)
                if key
                else self.base.split_seed_value
                if path == "split_seed"
                else getattr(self.base, path)
            )
            if value is None or not contains(self.space[path], value):
                return None
            params[path] = value
        return params

    def trial_spec(self, params: dict, number: int) -> Experiment:
        return self.spec(params, f"{self.name}-t{number:03d}", seeds=self.seeds_per_trial)  # search_run_names

    def confirm_spec(self, params: dict, which: str) -> Experiment:
        """Fresh training seeds (from CONFIRM_SEED); the split stays the trials' unless the search chose it."""
        split = {} if "split_seed" in params else {"split_seed": self.base.split_seed_value}
        return self.spec(
            params, f"{self.name}-{which}", seed=CONFIRM_SEED, seeds="auto", max_seeds=self.confirm_max_seeds, **split
        )

    def definition(self) -> dict:
        """What defines the trials (not their count, nor the confirmation): the study's identity."""
        return {
            "base": self.base.to_dict(),
            "space": {p: json.loads(distribution_to_json(d)) for p, d in sorted(self.space.items())},
            "metric": self.metric,
            "sampler": self.sampler,
            "sampler_seed": self.sampler_seed,
            "pruner": self.pruner,
            "seeds_per_trial": self.seeds_per_trial,
            "parallel": self.parallel,
            "enqueue": list(self.enqueue),
        }

    def study_name(self, budget: str, data_digest: str) -> str:
        text = json.dumps({**self.definition(), "budget": budget, "data": data_digest}, sort_keys=True, default=str)
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def check_path(search: str, path: str) -> None:
    names = [f.name for f in fields(Experiment) if f.init and f.name not in NOT_SEARCHABLE + KW_FIELDS]
    kw, dot, key = path.partition(".")
    if (dot and kw in KW_FIELDS and key) or (not dot and path in names):
        return
    close = OTHER_SPELLINGS.get(path) or closest(path, names + [f"{kw}.<key>" for kw in KW_FIELDS])
    hint = f"; did you mean {close!r}?" if close else ""
    if path in KW_FIELDS:
        hint = f"; search its entries, e.g. '{path}.<key>'"
    raise ConfigError(
        f"{search}: space has {path!r}, not a searchable spec field{hint} (searchable: the "
        f"Experiment fields except {list(NOT_SEARCHABLE)}, and '<kw>.<key>' for {list(KW_FIELDS)})"
    )


def check_distribution(search: Search, path: str, distribution) -> None:
    if not isinstance(distribution, (FloatDistribution, IntDistribution, CategoricalDistribution)):
        raise ConfigError(
            f"{search.name}: space[{path!r}]={distribution!r}; give an Optuna distribution: "
            "FloatDistribution(low, high, log=...), IntDistribution(low, high) or "
            "CategoricalDistribution(choices)"
        )
    if isinstance(distribution, CategoricalDistribution):
        candidates = list(distribution.choices)
    else:
        candidates = [distribution.low, distribution.high]
    for value in candidates:  # every end of the range must make a valid spec
        try:
            search.spec({path: value}, "check")
        except ConfigError as exc:
            raise ConfigError(
                f"{search.name}: space[{path!r}] allows {value!r}, which the spec refuses: {exc}"
            ) from None


def contains(distribution: BaseDistribution, value) -> bool:
    try:
        return distribution._contains(distribution.to_internal_repr(value))
    except (ValueError, TypeError):
        return False


# --- the study ------------------------------------------------------------------------------
def storage_url(runs_dir: str | Path) -> str:
    """The default Optuna storage: one SQLite file in the runs dir for every study."""
    return f"sqlite:///{Path(runs_dir).resolve() / STUDIES_FILE}"


@contextmanager
def readable_storage(storage: str):
    """An Optuna storage that cannot be read (a damaged or foreign file at the studies path) as an error naming it,
    not SQLAlchemy's traceback from inside Optuna."""
    from sqlalchemy.exc import DatabaseError

    try:
        yield
    except DatabaseError as exc:
        where = storage.removeprefix("sqlite:///")
        raise StoreError(
            f"{where}: not a readable Optuna study storage ({str(exc.orig or exc).strip()}); move the file aside "
            "(searches then start afresh; trained runs stay in the store) or restore it from a copy"
        ) from None


def make_sampler(search: Search, trials_so_far: int = 0) -> optuna.samplers.BaseSampler:
    """The sampler, seeded by sampler_seed and by the trials the study already holds: a resumed or extended
    study must not draw its first trials' random values again (they would be store hits, not new trials)."""
    seed = search.sampler_seed + 7919 * trials_so_far
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(search: Search) -> optuna.pruners.BasePruner:
    if search.pruner == "median":  # from the fourth finished trial on, never in a trial's first epoch (steps
        # count epochs from 1; in the first, a one-cycle warm-up leaves the score far from where it ends)
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
    if search.pruner == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_study(search: Search, storage: str, study_name: str) -> optuna.Study:
    if storage.startswith("sqlite:///"):  # SQLite creates the file, not its folder
        writable_folder(
            Path(storage.removeprefix("sqlite:///")).parent,
            "studies folder",
            "choose another runs dir (--runs-dir) or storage URL",
        )
    with readable_storage(storage):
        study = optuna.create_study(
            storage=storage,
            study_name=study_name,
            direction="maximize",
            sampler=make_sampler(search),
            pruner=make_pruner(search),
            load_if_exists=True,
        )
    if "search" not in study.user_attrs:
        study.set_user_attr("search", {"name": search.name, **search.definition()})
        if (params := search.base_params()) is not None:
            study.enqueue_trial(params, user_attrs={"source": "base"})
        for params in search.enqueue:
            study.enqueue_trial(params, user_attrs={"source": "enqueued"})
    study.sampler = make_sampler(search, len(study.get_trials(deepcopy=False)))
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        # left running by a search that was killed: tried again; its finished units come from the store
        study.tell(trial.number, state=TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"source": f"retry of trial {trial.number}"})
    return study


def finished(study: optuna.Study) -> list:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


# --- running trials ---------------------------------------------------------------------------
Trainer = Callable[..., Result]  # trainer(spec, on_epoch=None) -> Result, through the store


@dataclass
class TrialOutcome:
    number: int
    state: TrialState
    value: float | None = None
    attrs: dict = field(default_factory=dict)


def epochs_per_unit(spec: Experiment, budget: Budget) -> int:
    return budgeted_schedule(spec, budget)[0]


def pruning_listener(trial: optuna.Trial, metric: str, epochs: int):
    """on_epoch for a trial's units: reports the validation metric at step (unit x epochs + epoch), the
    epochs trained so far, and stops the trial when the pruner says so."""

    def on_epoch(unit_index: int, row: dict) -> None:
        step = unit_index * epochs + int(row["epoch"])
        trial.report(float(row[f"val_{metric}"]), step)
        if trial.should_prune():
            raise TrialStopped(
                f"pruned at epoch {row['epoch']} of unit {unit_index}: val_{metric} {row[f'val_{metric}']:.4f}"
            )

    return on_epoch


def run_trial(search: Search, trial: optuna.Trial, trainer: Trainer, metric: str, budget: Budget) -> TrialOutcome:
    spec = search.trial_spec(trial.params, trial.number)
    listener = pruning_listener(trial, metric, epochs_per_unit(spec, budget)) if search.pruner else None
    try:
        result = trainer(spec, on_epoch=listener)
    except TrialStopped as stopped:
        return TrialOutcome(trial.number, TrialState.PRUNED, attrs={"experiment": spec.name, "why": str(stopped)})
    except TrainingDiverged as diverged:  # a diverged trial is pruned: it says how, and the search goes on
        return TrialOutcome(
            trial.number, TrialState.PRUNED, attrs={"experiment": spec.name, "why": f"diverged: {diverged}"}
        )
    return TrialOutcome(
        trial.number,
        TrialState.COMPLETE,
        result.score(metric),
        {"experiment": spec.name, "key": result.key, "seconds": result.seconds, "seeds": result.n_seeds},
    )


def run_batch(
    search: Search, study: optuna.Study, size: int, trainer: Trainer, metric: str, budget: Budget, workers: int
) -> list[TrialOutcome]:
    """Ask `size` trials, run them (side by side with workers > 1) and tell them in trial order, so the
    sampler sees the same history, and asks the same trials, whatever order they finished in."""
    asked = [study.ask(dict(search.space)) for _ in range(size)]
    if workers > 1 and size > 1:
        with ThreadPoolExecutor(min(workers, size)) as pool:
            outcomes = list(pool.map(lambda t: run_trial(search, t, trainer, metric, budget), asked))
    else:
        outcomes = [run_trial(search, trial, trainer, metric, budget) for trial in asked]
    for trial, outcome in zip(asked, outcomes):
        for key, value in outcome.attrs.items():
            trial.set_user_attr(key, value)
        study.tell(trial, outcome.value, state=outcome.state)
    return outcomes


# --- the report ---------------------------------------------------------------------------------
@dataclass
class SearchReport:
    """What a search found and what of it held on the confirmation rows."""

    name: str
    study: str
    storage: str
    metric: str
    trials: list[dict]  # number, state, params, value, last_step, why
    stopped: str = ""  # why fewer trials than asked finished (the minutes budget)
    best: dict | None = None  # number, params, search_score
    base_search_score: float | None = None
    confirmation: dict | None = None  # outcome, best, base, delta, low, high, mde, seeds, ...

    @property
    def optimism(self) -> float | None:
        """The best trial's search score minus its confirmed score (on other rows, with fresh seeds)."""
        if not (self.best and self.confirmation and "best" in self.confirmation):
            return None
        return self.best["search_score"] - self.confirmation["best"]

    @property
    def gain_optimism(self) -> float | None:
        """The search's gain over the base minus the confirmed gain: the selection bias alone, with the
        difference between the search and confirmation rows' levels taken out."""
        if self.base_search_score is None or self.optimism is None:
            return None
        assert self.best is not None and self.confirmation is not None  # optimism is not None
        return (self.best["search_score"] - self.base_search_score) - self.confirmation["delta"]

    def to_dict(self) -> dict:
        return {**asdict(self), "optimism": self.optimism, "gain_optimism": self.gain_optimism}

    @classmethod
    def from_dict(cls, data: dict) -> "SearchReport":
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def lines(self) -> list[str]:
        done = [t for t in self.trials if t["state"] in ("COMPLETE", "PRUNED")]
        pruned = sum(t["state"] == "PRUNED" for t in done)
        out = [
            f"search {self.name} (study {self.study}): {len(done)} trial(s), {pruned} pruned; {self.metric} on "
            f"the search rows{'; ' + self.stopped if self.stopped else ''}"
        ]
        if self.best:
            out.append(
                f"  best trial {self.best['number']}: {self.best['search_score']:.4f} {self.best['params']}"
                + (f" (base {self.base_search_score:.4f})" if self.base_search_score is not None else "")
            )
        c = self.confirmation
        if c and "delta" in c:
            out.append(
                f"  confirmed on the confirmation split, seeds from {CONFIRM_SEED}: best {c['best']:.4f} vs "
                f"base {c['base']:.4f}, delta {c['delta']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}], "
                f"MDE {c['mde']:.4f}, {c['seeds']} seed(s) per side: beats:{c['effect']} {c['outcome']}"
            )
            out.append(
                f"  selection optimism: search score - confirmed score {self.optimism:+.4f}"
                + (
                    f"; search gain - confirmed gain {self.gain_optimism:+.4f}"
                    if self.gain_optimism is not None
                    else ""
                )
            )
        elif c:
            out.append(f"  confirmation: {c['outcome']}")
        return out


def search_run_names(report: dict) -> list[str]:
    """The experiment names of a search's runs (SearchReport.to_dict()): its trials and its confirmation."""
    return [f"{report['name']}-t{t['number']:03d}" for t in report["trials"]] + [
        f"{report['name']}-{which}" for which in ("best", "base")
    ]


def trial_rows(study: optuna.Study) -> list[dict]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "params": t.params,
                "value": t.value,
                "last_step": t.last_step,
                "why": t.user_attrs.get("why", ""),
                "source": t.user_attrs.get("source", "sampler"),
            }
        )
    return rows


# --- the whole search ---------------------------------------------------------------------------
def run_search(
    search: Search,
    trainer: Trainer,
    competition,
    budget: str | Budget,
    storage: str,
    deadline: float | None = None,
    log: Callable[[str], None] | None = None,
    workers: int = 1,
    confirmation: bool = True,
) -> SearchReport:
    """Run (or resume, or serve) `search`, then confirm its best trial; see the module doc.

    trainer(spec, on_epoch=None) trains a spec through the store (runner.run, or the run_experiment
    fixture). competition: the Competition of search.base.data (its digest names the study; its train labels
    answer the confirmation split). deadline: time.monotonic() after which no new batch of trials starts.
    workers: trials run at once within a batch (threads; useful with a Ray executor, connected first from the
    main thread with executor.ray()). confirmation=False stops after the trials."""
    budget = get_budget(budget)
    log = log or (lambda line: None)
    metric = search.metric or competition.task.metric  # every epoch is scored on it: scored_metrics
    study_name = search.study_name(budget.name, competition.content_digest)
    study = open_study(search, storage, study_name)
    stopped = ""
    while (done := len(finished(study))) < search.trials:
        if deadline is not None and time.monotonic() > deadline:
            stopped = f"stopped after {done} of {search.trials} trials: the minutes budget is spent"
            break
        for outcome in run_batch(
            search, study, min(search.parallel, search.trials - done), trainer, metric, budget, workers
        ):
            best = best_trial(study)
            log(
                f"trial {outcome.number} ({len(finished(study))}/{search.trials}) {outcome.state.name.lower()}"
                + (
                    f" {metric} {outcome.value:.4f}"
                    if outcome.value is not None
                    else f" ({outcome.attrs.get('why', '')})"
                )
                + (f"; best so far {best.value:.4f} (trial {best.number})" if best else "")
            )
    report = SearchReport(search.name, study_name, storage, metric, trial_rows(study), stopped)
    best = best_trial(study)
    if best is None:  # the minutes ran out first (no evidence either way), or every trial was pruned (a failure)
        report.confirmation = {"outcome": "underpowered" if stopped else "no trial completed"}
        return report
    report.best = {"number": best.number, "params": best.params, "search_score": best.value}
    base = [t for t in finished(study) if t.user_attrs.get("source") == "base" and t.state == TrialState.COMPLETE]
    report.base_search_score = base[0].value if base else None
    if confirmation and not stopped:
        report.confirmation = confirm(search, best.params, trainer, competition, metric)
        study.set_user_attr("confirmation", {**report.confirmation, "best_trial": best.number})
    return report


def best_trial(study: optuna.Study):
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def confirm(search: Search, params: dict, trainer: Trainer, competition, metric: str) -> dict:
    """The claim 'best beats base' on the confirmation split, fresh paired seeds in rounds until decided."""
    base_params = search.base_params()
    if base_params is not None and params == base_params:
        return {"outcome": "nothing to confirm: the best trial is the base spec"}
    answers = eval_answers(competition, rows="search")
    assert answers is not None  # the confirmation split's labels are the train labels

    def on_confirmation_rows(spec: Experiment) -> Result:
        return eval_view(trainer(spec), answers)

    best, base = search.confirm_spec(params, "best"), search.confirm_spec(base_params or {}, "base")
    try:
        figures, outcome = decide_claim(on_confirmation_rows, best, base, f"beats:{search.effect}", metric), "pass"
    except ClaimFailed as failed:
        figures, outcome = failed.figures, "fail"
    except Underpowered as undecided:
        figures, outcome = undecided.figures, "underpowered"
    return {
        "outcome": outcome,
        "best": figures["a"],
        "base": figures["b"],
        "delta": figures["delta"],
        "low": figures["low"],
        "high": figures["high"],
        "mde": figures["mde"],
        "effect": search.effect,
        "seeds": figures["seeds_a"],
        "look": figures.get("look"),
        "looks": figures.get("looks"),
    }


def assert_confirmed(report: SearchReport) -> dict:
    """The search's claim, for a test: its best trial beats the base on the confirmation split. Returns the
    confirmation's figures on a pass; raises ClaimFailed on a fail (or when no trial beat the base even on the
    search rows) and Underpowered when the confirmation could not decide (or the minutes ran out first)."""
    __tracebackhide__ = True
    text = "\n".join(report.lines())
    outcome = (report.confirmation or {}).get("outcome")
    if outcome == "pass" and report.confirmation is not None:
        return report.confirmation
    if outcome in ("underpowered", None):
        raise Underpowered(text, report.confirmation or {})
    raise ClaimFailed(text, report.confirmation or {})


STUDY_PLOTS = {
    "optimization_history.png": "plot_optimization_history",
    "param_importances.png": "plot_param_importances",
    "parallel_coordinate.png": "plot_parallel_coordinate",
    "intermediate_values.png": "plot_intermediate_values",
}


def write_study_plots(report: SearchReport, folder: Path) -> list[str]:
    """Optuna's own plots of the study (matplotlib backend: PNGs, no network) into `folder`; a plot the
    study cannot support yet (importances need two parameters and finished trials) is left out."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    study = optuna.load_study(study_name=report.study, storage=report.storage)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, function in STUDY_PLOTS.items():
        if function == "plot_param_importances" and (len(report.trials[0]["params"]) < 2 if report.trials else True):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                axes = getattr(plots, function)(study)
            figure = (axes.flat[0] if hasattr(axes, "flat") else axes).get_figure()
            figure.savefig(folder / name, dpi=90, bbox_inches="tight")
            plt.close(figure)
            written.append(name)
        except (ValueError, RuntimeError, ZeroDivisionError):
            plt.close("all")
    return written


def list_studies(storage: str) -> list[dict]:
    """Every study in `storage`: its name, trials finished, best search score and confirmation."""
    rows = []
    with readable_storage(storage):
        summaries = optuna.get_all_study_summaries(storage)
    for summary in summaries:
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        trials = finished(study)
        best = best_trial(study)
        rows.append(
            {
                "study": summary.study_name,
                "trials": len(trials),
                "pruned": sum(t.state == TrialState.PRUNED for t in trials),
                "best": None if best is None else {"number": best.number, "value": best.value, "params": best.params},
                "confirmation": study.user_attrs.get("confirmation"),
            }
        )
    return rows
