"""Layer 6. Gates: guards that CI trusts and claims that say what a technique does.

Guards (marker `guard`) fail a commit that made the model worse: a floor, no
regression against a baseline, a gap ceiling, no leakage, a valid submission.
Their tolerances come from the seed spread stored with each baseline, so a
re-run with other seeds or another thread count does not trip them.

Claims (marker `claim`) state what a technique does against another run:
`beats`, `loses`, `equivalent:<margin>` (two one-sided tests) or
`not_worse:<margin>`. A claim without the power to decide raises Underpowered
(the plugin reports it as a skip that starts with UNDERPOWERED), never a pass.

Every comparison bootstraps at two levels (training seeds, then rows within
class or group) and reports its minimum detectable effect (MDE). What a gate
measured is a GateFigure, published with `publish_figures`; within a
`collect_figures()` block they are gathered (the pytest plugin opens one around
each test and hands every figure to the `pytest_competition_gate` hook: its
terminal summary, JUnit properties and HTML report are built from them, and a
conftest.py may implement the hook too), elsewhere they are only returned.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
from scipy.stats import norm, t as student_t

from .data import check_no_leakage
from .data.eda import duplicates_across, image_hashes
from .baselines import MEASURES, Baselines, measure_step, measure_values
from .errors import ConfigError
from .experiment import Experiment, Result
from .metrics import higher_is_better, bootstrap_ci, paired_bootstrap, seed_level_comparison, seeds_for_effect
from .submission import distribution_shift, validate_submission

# The figures the gates publish in the current context (the test being run), when someone collects them
COLLECTED_FIGURES: ContextVar[list[GateFigure] | None] = ContextVar("collected_gate_figures", default=None)
MIN_CLAIM_SEEDS = 2  # one seed shows nothing of the training's own variance
CLAIM_RESAMPLES = 1000  # row resamples behind a claim's row level


class Underpowered(Exception):
    """A claim whose data cannot decide it: its MDE is larger than the effect or margin it states."""

    def __init__(self, message: str, figures: dict):
        super().__init__(message)
        self.figures = figures


class ClaimFailed(AssertionError):
    """A claim its data decided against (an AssertionError, as pytest reports it); .figures holds its interval."""

    def __init__(self, message: str, figures: dict):
        super().__init__(message)
        self.figures = figures


class ClaimDeferred(Exception):
    """A claim decided in rounds, still undecided at the last look its caller allows now (claim_looks): the
    pytest plugin runs its test again once every other claim has had as many looks. .figures: its interval."""

    def __init__(self, message: str, figures: dict):
        super().__init__(message)
        self.figures = figures


@dataclass(frozen=True)
class GateFigure:
    """What one gate measured: which gate (claim, regression, metric_floor, gap, fold_std, beats_dummy,
    baseline, group_leakage, duplicates_across, submission; the suite's self-tests add fault and aa), the
    experiment (or split, or competition) it judged, and its figures, numbers and short texts by name."""

    gate: str
    experiment: str
    figures: Mapping[str, Any]

    def as_dict(self) -> dict:
        """The flat JSON form the session summary, xdist workers and the HTML report carry."""
        return {"gate": self.gate, "experiment": self.experiment, **self.figures}

    def properties(self) -> list[tuple[str, Any]]:
        """JUnit properties: `<gate>.<experiment>.<figure>` for each scalar figure."""
        return [
            (f"{self.gate}.{self.experiment}.{key}", value)
            for key, value in self.figures.items()
            if isinstance(value, (int, float, str, bool))
        ]


def publish_figures(gate: str, name: str, **figures) -> GateFigure:
    figure = GateFigure(gate, name, MappingProxyType(figures))
    if (collected := COLLECTED_FIGURES.get()) is not None:
        collected.append(figure)
    return figure


@contextmanager
def scoped(variable: ContextVar, value):
    """`variable` set to `value` within the block (in this context), and back to what it was after it."""
    token = variable.set(value)
    try:
        yield value
    finally:
        variable.reset(token)


@contextmanager
def collect_figures():
    """`with collect_figures() as figures:` gathers what every gate inside the block publishes (a block
    nested in it gathers its own), in this thread: a gate called on another thread publishes elsewhere."""
    with scoped(COLLECTED_FIGURES, []) as collected:
        yield collected


def fmt(x: float) -> str:
    return f"{x:.4f}"


def check_same_samples(a: Result, b: Result) -> None:
    if len(a.y) != len(b.y) or not np.array_equal(a.oof_index, b.oof_index) or not np.array_equal(a.y, b.y):
        raise ConfigError(
            f"{a.name} and {b.name} were validated on different samples; compare results of the "
            "same data, budget and CV scheme"
        )
    if a.oof_probs.shape[1] != b.oof_probs.shape[1]:
        raise ConfigError(f"{a.name} has {a.oof_probs.shape[1]} classes, {b.name} {b.oof_probs.shape[1]}")


def seed_list(result: Result) -> list[int]:
    return sorted({int(f.get("seed", 0)) for f in result.folds})


def compare(a: Result, b: Result, metric: str, level: float) -> dict:
    """A - B with the seed-level t interval (metrics.seed_level_comparison); paired by seed when A and B were
    trained on the same seed list (they then share data order, augmentation draws and, where the shapes
    match, initialisation)."""
    check_same_samples(a, b)
    paired = bool(a.folds) and seed_list(a) == seed_list(b)
    return seed_level_comparison(
        metric, a.y, a.seed_probs(), b.seed_probs(), CLAIM_RESAMPLES, level, seed=0, groups=a.groups, paired=paired
    )


def interval_text(cmp: dict) -> str:
    return (
        f"{fmt(cmp['a'])} vs {fmt(cmp['b'])}, delta {fmt(cmp['delta'])} [{fmt(cmp['low'])}, {fmt(cmp['high'])}] "
        f"({cmp['level']:.0%} t interval, {cmp['df']:.1f} df, {cmp['seeds_a']} vs {cmp['seeds_b']} "
        f"{'paired ' if cmp.get('paired') else ''}seeds, n={cmp['n']}, MDE {fmt(cmp['mde'])})"
    )


def seeds_needed(cmp: dict, effect: float) -> int:
    """Seeds per side for the MDE to reach `effect` under the same variance model (-1: the rows alone are
    too few)."""
    return seeds_for_effect(
        cmp["row_var"],
        cmp["seed_var"],
        max(cmp["seeds_a"], cmp["seeds_b"], 1),
        cmp.get("paired", False),
        effect,
        cmp["level"],
        cmp["power"],
    )


def require_seeds(a: Result, b: Result, claim: str) -> None:
    __tracebackhide__ = True
    if min(a.n_seeds, b.n_seeds) < MIN_CLAIM_SEEDS:
        figures = {"claim": claim, "seeds_a": a.n_seeds, "seeds_b": b.n_seeds}
        publish_figures("claim", a.name, other=b.name, outcome="underpowered", **figures)
        raise Underpowered(
            f"{a.name} {claim} {b.name}: {a.n_seeds} vs {b.n_seeds} training seeds; a claim needs at "
            f"least {MIN_CLAIM_SEEDS} per side to see the training's own variance "
            "(Experiment(seeds=...) or a budget with more seeds)",
            figures,
        )


def require_better_than_dummy(*results: Result, metric: str) -> None:
    """Equivalence or non-inferiority of models that do not beat the most-frequent-class model proves nothing."""
    __tracebackhide__ = True
    for result in results:
        cmp = paired_bootstrap(
            metric, result.y, result.seed_probs(), dummy_probs(result), 1000, 0.95, seed=0, groups=result.groups
        )
        if cmp["low"] <= 0:
            raise AssertionError(
                f"{result.name} does not beat the most-frequent-class model on {metric} "
                f"({fmt(cmp['a'])} vs {fmt(cmp['b'])}); a claim of no difference between broken "
                "models proves nothing"
            )


def underpowered(a: Result, b: Result, claim: str, cmp: dict, effect: float) -> Underpowered:
    needed = seeds_needed(cmp, effect)
    publish_figures("claim", a.name, other=b.name, claim=claim, outcome="underpowered", seeds_needed=needed, **cmp)
    advice = (
        f"about {needed} seeds per side would resolve it"
        if needed > 0
        else "more rows are needed: the rows alone keep the MDE above it"
    )
    return Underpowered(
        f"{a.name} {claim} {b.name}: MDE {fmt(cmp['mde'])} is larger than the effect "
        f"{fmt(effect)} the claim is about; {interval_text(cmp)}; {advice}",
        cmp,
    )


def stated_effect(effect, claim: str) -> float:
    if effect is None or isinstance(effect, bool) or not isinstance(effect, (int, float)) or effect <= 0:
        raise ConfigError(
            f"{claim}: state the smallest effect the claim is about (effect=0.01, or "
            f"'{claim}:0.01' in assert_claim), from the measurement that motivated it; without it a "
            "null result could never fail"
        )
    return float(effect)


# --- claims -------------------------------------------------------------------------------
CLAIM_VERBS = ("beats", "loses", "equivalent", "not_worse")


def interval_level(verb: str, level: float) -> float:
    """The two-sided level of the interval a verb reads: equivalence's two one-sided tests read the
    (1 - 2 alpha) interval, the others the `level` one (its lower bound one-sided at (1 - level) / 2)."""
    return 1 - 2 * (1 - level) if verb == "equivalent" else level


def claim_interval(a: Result, b: Result, verb: str, metric: str, level: float) -> dict:
    """The comparison a verb reads ('loses' is read as B beats A)."""
    if verb == "loses":
        a, b = b, a
    return compare(a, b, metric, level=interval_level(verb, level))


def verdict(verb: str, cmp: dict, number: float) -> str:
    """'pass', 'fail' or 'undecided' (the MDE exceeds the effect or margin the claim is about, and the
    interval still holds both answers). `cmp` is from claim_interval; `number` the effect or margin."""
    low, high, mde = cmp["low"], cmp["high"], cmp["mde"]
    if verb in ("beats", "loses"):  # A - B (B - A for loses) above zero
        if low > 0:
            return "pass"
        return "undecided" if high >= number and mde > number else "fail"
    if verb == "equivalent":
        if -number < low and high < number:
            return "pass"
        return "undecided" if (high - low) / 2 >= number else "fail"
    if low > -number:  # not_worse
        return "pass"
    return "undecided" if high >= -number and mde > number else "fail"


def claim_words(verb: str, number: float) -> str:
    return {
        "beats": "beats",
        "loses": "loses to",
        "equivalent": f"equivalent within {number}",
        "not_worse": f"not worse by {number}",
    }[verb]


def failure_text(verb: str, a: Result, b: Result, metric: str, cmp: dict, number: float) -> str:
    if verb in ("beats", "loses"):
        winner, loser = (a, b) if verb == "beats" else (b, a)
        why = (
            f"the interval excludes the stated effect {fmt(number)}"
            if cmp["high"] < number
            else f"the comparison could see {fmt(number)} (MDE {fmt(cmp['mde'])}) and did not"
        )
        return (
            f"{winner.name} does not beat {loser.name} on {metric}: {interval_text(cmp)}; expected the lower "
            f"bound > 0; {why}"
        )
    if verb == "equivalent":
        return (
            f"{a.name} and {b.name} are not equivalent within {fmt(number)} on {metric}: "
            f"{interval_text(cmp)}; expected the interval inside (-{fmt(number)}, {fmt(number)})"
        )
    return f"{a.name} is worse than {b.name} on {metric} by more than {fmt(number)}: {interval_text(cmp)}"


def check_claim_number(verb: str, number) -> float:
    if verb in ("beats", "loses"):
        return stated_effect(number, verb)
    if number is None or isinstance(number, bool) or not isinstance(number, (int, float)) or number <= 0:
        raise ConfigError(
            f"claim {verb}:{number!r}: state a positive margin, the largest difference "
            "that counts as no difference (e.g. 0.01)"
        )
    return float(number)


def judge_claim(
    a: Result,
    b: Result,
    verb: str,
    number: float | None,
    metric: str | None = None,
    level: float = 0.95,
    extra: dict | None = None,
) -> dict:
    """Decide one claim and publish its figures (with `extra`): returns them on a pass, raises AssertionError
    on a fail and Underpowered when undecided."""
    __tracebackhide__ = True
    number = check_claim_number(verb, number)
    metric = metric or a.metric
    words = claim_words(verb, number)
    require_seeds(a, b, words)
    if verb in ("equivalent", "not_worse"):
        require_better_than_dummy(a, b, metric=metric)
    cmp = claim_interval(a, b, verb, metric, level)
    cmp["effect" if verb in ("beats", "loses") else "margin"] = number
    cmp.update(extra or {})
    outcome = verdict(verb, cmp, number)
    winner, loser = (b, a) if verb == "loses" else (a, b)
    if outcome == "undecided":
        raise underpowered(winner, loser, words if verb != "loses" else "beats", cmp, number)
    publish_figures(
        "claim", winner.name, other=loser.name, claim="beats" if verb == "loses" else verb, outcome=outcome, **cmp
    )
    if outcome == "fail":
        raise ClaimFailed(failure_text(verb, a, b, metric, cmp, number), cmp)
    return cmp


def parse_claim(expected: str) -> tuple[str, float | None]:
    """'beats:<effect>', 'loses:<effect>', 'equivalent:<margin>', 'not_worse:<margin>' -> (verb, number)."""
    name, _, arg = expected.partition(":")
    if name in ("beats", "loses") and not arg:
        return name, None  # the effect may come as assert_claim's effect=
    if name in CLAIM_VERBS:
        try:
            return name, float(arg)
        except ValueError:
            pass
        what = "the smallest effect" if name in ("beats", "loses") else "the margin"
        raise ConfigError(f"claim {expected!r}: state {what}, e.g. '{name}:0.01'")
    raise ConfigError(
        f"unknown claim {expected!r}; use beats:<effect>, loses:<effect>, equivalent:<margin> or not_worse:<margin>"
    )


def assert_claim(
    a: Result, b: Result, expected: str, metric: str | None = None, level: float = 0.95, effect: float | None = None
) -> dict:
    """A claim about A against B, judged on the two-level interval of (A - B) in `metric` (default: the
    competition's) at `level`:

    - 'beats:<effect>' (or 'beats' with effect=): A is better. Passes when the lower bound is above zero;
      fails when the interval excludes the effect (A does not gain it) or the comparison had the power to
      see it and did not; Underpowered only when its MDE exceeds the effect.
    - 'loses:<effect>': A is worse (B beats A).
    - 'equivalent:<margin>': two one-sided tests at 1 - level; passes when the (1 - 2 alpha) interval lies
      inside (-margin, margin), Underpowered where it is too wide to fit inside at all.
    - 'not_worse:<margin>': non-inferiority, the lower bound is above -margin.

    Returns the comparison's figures (delta, low, high, MDE, seeds)."""
    __tracebackhide__ = True
    verb, number = parse_claim(expected)
    return judge_claim(a, b, verb, number if number is not None else effect, metric, level)


# --- claims decided in rounds of seeds ----------------------------------------------------------
SEED_ROUND = 2  # seeds added per side at each look of a claim decided in rounds
# The most looks a claim decided in rounds may take now (None: all it needs). The pytest plugin allows one
# look per pass over the tests, so a claim's extra seeds wait until every other claim has had its look.
LOOKS_NOW: ContextVar[int | None] = ContextVar("claim_looks_now", default=None)


# How many of its looks a claim decided in rounds plans, asked once per claim after its first look's runs and
# before its first judgement: plan(looks it could take) -> looks it will take (None: all). A plan may depend on
# time (the pytest plugin plans one look when the session's minutes cannot reach a second pass), never on the
# claim's figures, so the error each look spends is fixed before anything is judged.
LOOK_PLAN: ContextVar[Callable[[int], int] | None] = ContextVar("claim_look_plan", default=None)


@contextmanager
def planned_looks(plan: Callable[[int], int] | None):
    """Within this block, each claim decided in rounds takes plan(its looks) looks at most, its error spread over
    those (one look: all of it at the first round)."""
    with scoped(LOOK_PLAN, plan):
        yield


@contextmanager
def claim_looks(allowed: int | None):
    """Within this block, a claim decided in rounds that is undecided after `allowed` looks raises
    ClaimDeferred instead of training its next round."""
    with scoped(LOOKS_NOW, allowed):
        yield


def seed_rounds(first: int, max_seeds: int, step: int = SEED_ROUND) -> list[int]:
    """Seeds per side at each look: first, first + step, ..., max_seeds."""
    rounds = [first]
    while rounds[-1] < max_seeds:
        rounds.append(min(rounds[-1] + step, max_seeds))
    return rounds


def error_spending(looks: int, rho: float = 2.0) -> list[float]:
    """The fraction of a claim's error spent at each of `looks` looks, (k/L)^rho - ((k-1)/L)^rho, summing to one.

    By the union bound, the chance of a false decision at any look is at most the sum of what each look
    spends, however the looks depend on each other: stopping at the first decision is valid. rho=2 keeps
    most of the error for the later looks, where more seeds make a decision likelier."""
    return [(k / looks) ** rho - ((k - 1) / looks) ** rho for k in range(1, looks + 1)]


def decide_claim(
    run: Callable[[Experiment], Result],
    a: Experiment,
    b: Experiment,
    expected: str,
    metric: str | None = None,
    level: float = 0.95,
    effect: float | None = None,
) -> dict:
    """A claim between two specs, decided in rounds of seeds when either says seeds='auto': both sides train
    the first round (Experiment.training_seeds), and while the claim is undecided SEED_ROUND more seeds each
    (the same seed list, so the comparison stays paired; earlier seeds come from the store), up to the
    larger max_seeds. Each look spends part of the claim's error (error_spending), so the verdict keeps its
    error rate under this optional stopping. `run` trains a spec through the store (the run_experiment
    fixture); specs without 'auto' are judged once, as assert_claim does. Inside claim_looks(n), an undecided
    claim stops after look n with ClaimDeferred (its earlier looks are store hits when it is asked again)."""
    __tracebackhide__ = True
    verb, number = parse_claim(expected)
    number = check_claim_number(verb, number if number is not None else effect)
    auto = [int(spec.max_seeds or 0) for spec in (a, b) if spec.seeds == "auto"]  # validated: set with "auto"
    result_a, result_b = run(a), run(b)
    if not auto:
        return judge_claim(result_a, result_b, verb, number, metric, level)
    rounds = seed_rounds(max(result_a.n_seeds, result_b.n_seeds), max(auto))
    if (plan := LOOK_PLAN.get()) is not None:
        rounds = rounds[: min(max(plan(len(rounds)), 1), len(rounds))]
    allowed = LOOKS_NOW.get()
    for look, (seeds, spent) in enumerate(zip(rounds, error_spending(len(rounds))), start=1):
        if look > 1 or result_a.n_seeds != result_b.n_seeds:
            result_a, result_b = (run(spec.with_(seeds=seeds, max_seeds=None)) for spec in (a, b))
        look_level = 1 - (1 - level) * spent
        cmp = claim_interval(result_a, result_b, verb, metric or result_a.metric, look_level)
        decided = verdict(verb, cmp, number) != "undecided"
        if decided or look == len(rounds):
            return judge_claim(
                result_a,
                result_b,
                verb,
                number,
                metric,
                look_level,
                extra={"look": look, "looks": len(rounds), "error_spent": spent},
            )
        if allowed is not None and look >= allowed:
            raise deferred(result_a, result_b, cmp, look, rounds)
    raise AssertionError("unreachable: the last look always judges")


def deferred(a: Result, b: Result, cmp: dict, look: int, rounds: list[int]) -> ClaimDeferred:
    return ClaimDeferred(
        f"{a.name} vs {b.name}: undecided at look {look} of {len(rounds)} ({rounds[look - 1]} seeds per side, "
        f"delta {cmp['delta']:+.4f} [{cmp['low']:+.4f}, {cmp['high']:+.4f}]); {rounds[look]} seeds per side "
        f"once every other claim has had {look} look(s)",
        {**cmp, "look": look, "looks": len(rounds)},
    )


# --- guards on one result --------------------------------------------------------------------
def assert_metric_floor(result: Result, floor: float, metric: str | None = None, level: float = 0.95):
    """The lower bound of the two-level bootstrap interval of the OOF metric is at least `floor`."""
    __tracebackhide__ = True
    metric = metric or result.metric
    point, low, high = bootstrap_ci(metric, result.y, result.seed_probs(), 1000, level, seed=0, groups=result.groups)
    publish_figures(
        "metric_floor",
        result.name,
        metric=metric,
        score=point,
        low=low,
        high=high,
        floor=floor,
        level=level,
        n=len(result.y),
        seeds=result.n_seeds,
    )
    assert low >= floor, (
        f"{result.name}: {metric} is {fmt(point)} [{fmt(low)}, {fmt(high)}] ({level:.0%} two-level bootstrap, "
        f"{result.n_seeds} seed(s), {len(result.y)} OOF samples); expected the lower bound >= {fmt(floor)}"
    )
    return point, low, high


def assert_gap_below(result: Result, max_gap: float, metric: str | None = None):
    """Train minus validation metric (both unaugmented) is at most `max_gap`."""
    __tracebackhide__ = True
    metric = metric or result.metric
    gap, train, val = result.gap(metric), result.train_score(metric), float(np.mean(result.fold_scores(metric)))
    publish_figures("gap", result.name, metric=metric, gap=gap, train=train, val=val, max_gap=max_gap)
    assert gap <= max_gap, (
        f"{result.name}: generalisation gap in {metric} is {fmt(gap)} (train {fmt(train)} - "
        f"val {fmt(val)}); expected <= {fmt(max_gap)}"
    )
    return gap


def assert_fold_std_below(result: Result, max_std: float, metric: str | None = None):
    __tracebackhide__ = True
    metric = metric or result.metric
    scores = result.fold_scores(metric)
    std = float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0
    publish_figures("fold_std", result.name, metric=metric, std=std, mean=float(scores.mean()), max_std=max_std)
    assert std <= max_std, (
        f"{result.name}: {metric} across {len(scores)} folds is {np.round(scores, 4).tolist()}, "
        f"std {fmt(std)}; expected std <= {fmt(max_std)}"
    )
    return std


def dummy_probs(result: Result) -> np.ndarray:
    """The most-frequent-class model, fit on the validated labels' class counts."""
    counts = np.bincount(result.y, minlength=result.oof_probs.shape[1])
    probs = np.zeros_like(result.oof_probs)
    probs[:, counts.argmax()] = 1.0
    return probs


def assert_beats_dummy(result: Result, metric: str | None = None, level: float = 0.95):
    """A sanity guard: the model beats the most-frequent-class model (it catches a dead model, not a worse one)."""
    __tracebackhide__ = True
    metric = metric or result.metric
    cmp = paired_bootstrap(
        metric, result.y, result.seed_probs(), dummy_probs(result), 1000, level, seed=0, groups=result.groups
    )
    publish_figures("beats_dummy", result.name, **cmp)
    assert cmp["low"] > 0, (
        f"{result.name} does not beat the most-frequent-class model on {metric}: "
        f"{fmt(cmp['a'])} vs {fmt(cmp['b'])} (delta lower bound {fmt(cmp['low'])})"
    )
    return cmp


# --- the regression guards -----------------------------------------------------------------
def regression_tolerance(baseline_values, n_new: int, false_alarm: float = 0.01, step: float = 0.0) -> dict:
    """One-sided threshold on the mean of n_new seeds against the baseline's seeds.

    Under the hypothesis of no change, mean_new - mean_base has sd * sqrt(1/n_new + 1/n_base);
    with sd estimated from the baseline's seeds, the (1 - false_alarm) quantile of Student's t
    with n_base - 1 degrees of freedom bounds a false alarm at `false_alarm`.

    `step` is the measure's resolution (one row's worth of an accuracy or an F1): seeds that tie on a
    small or saturated split (eight at 1.000 on 30 rows) measure a spread of 0, and a new seed one row
    lower would fail on an unchanged model; a simulated A/A rate of such seeds (miss counts per seed
    Poisson, mean 0.01-10 rows) reached 35% unfloored and 1.6% with the sd floored at one step
    (tests/test_gates.py checks it)."""
    values = np.asarray(baseline_values, float)
    if len(values) < 3:
        raise ConfigError(
            f"a baseline needs at least 3 seeds to measure its spread (it has {len(values)}); "
            "re-record it with more seeds"
        )
    measured = float(values.std(ddof=1))
    sd = max(measured, step)
    scale = sd * math.sqrt(1 / n_new + 1 / len(values))
    quantile = float(student_t.ppf(1 - false_alarm, len(values) - 1))
    return {
        "mean": float(values.mean()),
        "sd": sd,
        "measured_sd": measured,
        "sd_floor": step if step > measured else 0.0,  # the floor in force, 0 where the seeds' spread exceeds it
        "tolerance": quantile * scale,
        "detectable": (quantile + float(norm.ppf(0.8))) * scale,
        "n_base": len(values),
    }


def describe_spread(limits: dict) -> str:
    floored = f", floored at one row's worth {fmt(limits['sd_floor'])}" if limits["sd_floor"] else ""
    return f"seed sd {fmt(limits['measured_sd'])}{floored}"


def publish_regression(result: Result, measure: str, new: np.ndarray, limits: dict, worse_by: float) -> None:
    """The figures of a guard against its baseline: the new seeds' values, regression_tolerance's limits, and
    how far the new mean moved the wrong way (it fails beyond the tolerance)."""
    publish_figures(
        "regression",
        result.name,
        measure=measure,
        new=float(new.mean()),
        baseline=limits["mean"],
        seed_sd=limits["measured_sd"],
        sd_floor=limits["sd_floor"],
        tolerance=limits["tolerance"],
        detectable=limits["detectable"],
        seeds=len(new),
        worse_by=worse_by,
        outcome="pass" if worse_by <= limits["tolerance"] else "fail",
    )


def assert_no_regression(
    result: Result, baselines: Baselines, measure: str = "score", answers=None, false_alarm: float = 0.01
):
    """The mean over the result's seeds of `measure` ('score' OOF, 'eval', or 'gap') is not worse
    than its baseline beyond what other training seeds explain (false-alarm rate `false_alarm`).

    `--update-baselines` records the result as the new baseline instead of judging it."""
    __tracebackhide__ = True
    if baselines.update:
        recorded = baselines.record(result, answers)
        publish_figures(
            "baseline", result.name, measure=measure, recorded=True, mean=float(np.mean(recorded["measures"][measure]))
        )
        return recorded
    baseline = baselines.get(result)
    if measure not in baseline["measures"]:
        raise AssertionError(
            f"{result.name}: the baseline has no {measure!r} values; re-record it with --update-baselines"
        )
    new = measure_values(result, measure, answers)
    limits = regression_tolerance(
        baseline["measures"][measure], len(new), false_alarm, measure_step(result, measure, answers)
    )
    higher_better = MEASURES.get(measure, (None, True))[1] and (measure != "eval" or higher_is_better(result.metric))
    worse_by = (limits["mean"] - new.mean()) if higher_better else (new.mean() - limits["mean"])
    publish_regression(result, measure, new, limits, float(worse_by))
    assert worse_by <= limits["tolerance"], (
        f"{result.name}: {measure} ({result.metric}) regressed to {fmt(new.mean())} over {len(new)} seed(s) "
        f"{np.round(new, 4).tolist()} from the baseline {fmt(limits['mean'])} ({describe_spread(limits)}, "
        f"{limits['n_base']} seeds, promoted {baseline['promoted']}); worse by {fmt(worse_by)}, expected at most "
        f"{fmt(limits['tolerance'])} (false-alarm rate {false_alarm:.0%})"
    )
    return limits


def assert_no_optimism(result: Result, baselines: Baselines, answers, false_alarm: float = 0.01):
    """The OOF score minus the eval score, per seed, stays where its baseline put it, in both directions
    (false-alarm rate `false_alarm`, split between the two): validation rows that reach training after the
    split raise the OOF score while the eval score stays, which no one-sided regression guard sees."""
    __tracebackhide__ = True
    if baselines.update:
        return baselines.record(result, answers)
    baseline = baselines.get(result)
    if not {"score", "eval"} <= set(baseline["measures"]):
        raise AssertionError(
            f"{result.name}: the baseline has no score and eval values; re-record it with --update-baselines"
        )
    before = np.asarray(baseline["measures"]["score"]) - np.asarray(baseline["measures"]["eval"])
    new = measure_values(result, "optimism", answers)
    limits = regression_tolerance(before, len(new), false_alarm / 2, measure_step(result, "optimism", answers))
    moved = float(new.mean() - limits["mean"])
    publish_regression(result, "optimism", new, limits, abs(moved))
    assert abs(moved) <= limits["tolerance"], (
        f"{result.name}: OOF minus eval ({result.metric}) is {fmt(new.mean())} over {len(new)} seed(s) against "
        f"{fmt(limits['mean'])} in the baseline ({describe_spread(limits)}); moved by {moved:+.4f}, expected "
        f"within {fmt(limits['tolerance'])}: "
        + (
            "the OOF score rose while the eval score did not (a leak of validation rows into training?)"
            if moved > 0
            else "the eval score rose above the OOF score (eval answers leaking, "
            "or the validation rows harder than before?)"
        )
    )
    return limits


def holm_rejections(p_values: np.ndarray, alpha: float) -> np.ndarray:
    """Holm's step-down: which of the hypotheses to reject with the family-wise error at most `alpha`."""
    order = np.argsort(p_values)
    rejected = np.zeros(len(p_values), bool)
    for rank, index in enumerate(order):
        if p_values[index] > alpha / (len(p_values) - rank):
            break
        rejected[index] = True
    return rejected


def moderated_class_sd(before: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, int]:
    """Each class's seed sd of recall, shrunk halfway (in variance) toward the median class's, and its degrees
    of freedom. Eight seeds estimate one class's spread poorly, and Holm's test picks the class whose spread came
    out smallest by chance: on an Intel machine (AMX), three new seeds of an unchanged model fell 0.056 below a
    tail class's baseline whose eight AMD seeds had spread 0.015 (p 4.5e-4 alone), where the median class spread
    was 0.05. Shrinking toward the median class (an empirical-Bayes moderated variance, with the median class's
    degrees of freedom added) keeps a swapped or abandoned class far outside, and no class is judged by a spread
    that luck made small. A class whose recall never moved may still move by one row."""
    seeds = np.sum(~np.isnan(before), axis=0)
    variance = np.nanvar(before, axis=0, ddof=1)
    prior = float(np.nanmedian(variance))
    moderated = (variance + prior) / 2
    return np.maximum(np.sqrt(moderated), 1 / np.maximum(rows, 1)), 2 * (int(np.median(seeds)) - 1)


def assert_no_class_regression(result: Result, baselines: Baselines, answers, false_alarm: float = 0.01):
    """No class's eval recall, averaged over the result's seeds, fell below its baseline beyond what other
    seeds explain: a one-sided t test per class against the baseline's per-class seed spread (moderated toward
    the median class's: moderated_class_sd), with Holm's
    correction across the classes so that the unchanged model trips it at most `false_alarm` of the time.
    It sees what an average hides: two classes swapped in the label map, the minority classes given up."""
    __tracebackhide__ = True
    if baselines.update:
        return baselines.record(result, answers)
    baseline = baselines.get(result)
    if "class_recall" not in baseline["measures"]:
        raise AssertionError(
            f"{result.name}: the baseline has no per-class recall; re-record it with --update-baselines"
        )
    before = np.asarray(baseline["measures"]["class_recall"], float)
    new = measure_values(result, "class_recall", answers)
    rows = np.bincount(np.asarray(answers), minlength=new.shape[1])
    sd, df = moderated_class_sd(before, rows)
    scale = sd * math.sqrt(1 / len(new) + 1 / len(before))
    drop = np.nan_to_num(np.nanmean(before, axis=0) - np.nanmean(new, axis=0))
    p_values = student_t.sf(drop / scale, df)
    rejected = holm_rejections(p_values, false_alarm)
    worst = int(np.argmin(p_values))
    quantile = float(student_t.ppf(1 - false_alarm / len(p_values), df))
    publish_figures(
        "regression",
        result.name,
        measure=f"recall[{result.class_names[worst]}]",
        new=float(np.nanmean(new[:, worst])),
        baseline=float(np.nanmean(before[:, worst])),
        seed_sd=float(sd[worst]),
        tolerance=quantile * float(scale[worst]),
        detectable=(quantile + float(norm.ppf(0.8))) * float(scale[worst]),
        seeds=len(new),
        worse_by=float(drop[worst]),
        outcome="fail" if rejected.any() else "pass",
    )
    fallen = [
        f"{result.class_names[c]!r} {np.nanmean(new[:, c]):.3f} from {np.nanmean(before[:, c]):.3f} "
        f"(seed sd {sd[c]:.3f}, p {p_values[c]:.1e})"
        for c in np.flatnonzero(rejected)
    ]
    assert not fallen, (
        f"{result.name}: eval recall fell in {len(fallen)} of {len(p_values)} classes beyond their seed spread "
        f"(Holm across classes, false-alarm rate {false_alarm:.0%}; {len(before)} baseline seeds, {len(new)} new): "
        + "; ".join(fallen)
    )
    return {"p_values": p_values.tolist(), "worst": result.class_names[worst]}


# --- leakage ----------------------------------------------------------------------------------
def assert_no_group_leakage(table: pd.DataFrame, folds, name: str = "split"):
    __tracebackhide__ = True
    for train, val in folds:
        check_no_leakage(table.iloc[train], table.iloc[val])
    publish_figures("group_leakage", name, folds=len(folds), groups=int(table["group"].nunique()))


def assert_no_duplicates_across(
    train_images: np.ndarray, other_images: np.ndarray, name: str = "split", max_duplicates: int = 0
):
    __tracebackhide__ = True
    pairs = duplicates_across(image_hashes(train_images), image_hashes(other_images))
    publish_figures("duplicates_across", name, duplicates=len(pairs), max_duplicates=max_duplicates)
    assert len(pairs) <= max_duplicates, (
        f"{name}: {len(pairs)} images appear on both sides (first pairs, train row -> other row: {pairs[:5]}); "
        f"expected at most {max_duplicates}"
    )


# --- submission ---------------------------------------------------------------------------------
def assert_submission_ready(submission: pd.DataFrame, competition, max_distribution_shift: float = 0.25):
    """Ids, row count and value range are exact; the predicted class distribution is within
    `max_distribution_shift` (total variation) of the train distribution."""
    __tracebackhide__ = True
    validate_submission(submission, competition)
    shift, predicted, prior = distribution_shift(submission, competition)
    publish_figures(
        "submission", competition.name, rows=len(submission), distribution_shift=shift, max_shift=max_distribution_shift
    )
    assert shift <= max_distribution_shift, (
        f"submission class distribution is {np.round(predicted, 3).tolist()} against train "
        f"{np.round(prior, 3).tolist()}: total variation {fmt(shift)}; expected <= {fmt(max_distribution_shift)}"
    )
    return shift
