"""Layer 6. Baselines: the per-seed measures of a run the guards compare new runs against.

One JSON file per experiment and budget under fixtures/baselines/, keyed inside by the data
fingerprint; each record holds every measure's per-seed values (so a guard's tolerance comes from
the measured seed spread), the run's key and the environment it was measured in. `measure_values`
reads a measure from a Result: score and gap on OOF rows, eval, optimism (OOF minus eval) and
per-class recall on the eval answers.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .errors import ConfigError
from .experiment import Result
from .files import atomic_write
from .metrics import get_metric, one_row_step
from .provenance import environment, library_versions

MEASURES = {  # name -> (how to read it from a Result, higher is better)
    "score": (lambda r: r.seed_scores(), True),
    "gap": (lambda r: r.seed_gaps(), False),
}


def class_recalls(y: np.ndarray, seed_probs: np.ndarray) -> np.ndarray:
    """(S, C): each seed's recall of each class (NaN for a class with no rows)."""
    y = np.asarray(y)
    rows = np.bincount(y, minlength=seed_probs.shape[2]).astype(float)
    rows[rows == 0] = np.nan
    return np.stack(
        [np.bincount(y[probs.argmax(1) == y], minlength=seed_probs.shape[2]) / rows for probs in seed_probs]
    )


def measure_values(result: Result, measure: str, answers=None) -> np.ndarray:
    if measure == "class_recall":  # (S, C), on the eval answers: a fault in the label map keeps OOF intact
        if answers is None:
            raise ConfigError("the 'class_recall' measure needs the eval answers (competition.scoring.eval_answers)")
        return class_recalls(answers, result.seed_eval())
    if measure == "optimism":  # OOF minus eval, per seed: a leak downstream of the split raises it
        return measure_values(result, "score") - measure_values(result, "eval", answers)
    if measure == "eval":
        if answers is None:
            raise ConfigError("the 'eval' measure needs the eval answers (competition.scoring.eval_answers)")
        return np.array([get_metric(result.metric)(answers, p) for p in result.seed_eval()])
    return MEASURES[measure][0](result)


def measure_step(result: Result, measure: str, answers=None) -> float:
    """One row's worth of `measure` (metrics.one_row_step): the score and the gap on the OOF rows, eval on the
    eval answers, optimism (their difference) by the coarser of the two."""
    if measure in ("score", "gap"):
        return one_row_step(result.metric, result.y, result.seed_probs()[0])
    if measure == "eval":
        return one_row_step(result.metric, answers, result.seed_eval()[0])
    if measure == "optimism":
        return max(measure_step(result, "score"), measure_step(result, "eval", answers))
    return 0.0


class Baselines:
    """Baselines in a folder, one JSON file per experiment and budget, keyed inside by the
    data fingerprint. Each holds the per-seed values of every measure, so the regression
    guard's tolerance comes from the measured seed spread, and the environment it ran in."""

    def __init__(self, folder: str | Path, update: bool = False):
        self.folder, self.update = Path(folder), update

    def path(self, name: str, budget: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return self.folder / f"{safe}.{budget}.json"

    def read(self, name: str, budget: str) -> dict:
        path = self.path(name, budget)
        return json.loads(path.read_text()) if path.exists() else {}

    def write(self, name: str, budget: str, records: dict) -> None:
        text = json.dumps(records, indent=2, sort_keys=True) + "\n"
        atomic_write(self.path(name, budget), lambda tmp: tmp.write_text(text))

    def record(self, result: Result, answers=None) -> dict:
        """Store the result's per-seed measures as the baseline for its data."""
        measures = {"score": result.seed_scores().tolist(), "gap": result.seed_gaps().tolist()}
        if answers is not None:
            measures["eval"] = measure_values(result, "eval", answers).tolist()
            measures["class_recall"] = measure_values(result, "class_recall", answers).tolist()
        records = self.read(result.name, result.budget)
        earlier = records.get(result.provenance.data_fingerprint, {})
        if earlier.get("key") == result.key:  # the same run, recorded by another guard: keep its other measures
            measures = {**earlier["measures"], **measures}
        records[result.provenance.data_fingerprint] = {
            "metric": result.metric,
            "measures": measures,
            "seeds": result.n_seeds,
            "key": result.key,
            "promoted": time.strftime("%Y-%m-%d"),
            "environment": environment(),
        }
        self.write(result.name, result.budget, records)
        return records[result.provenance.data_fingerprint]

    def get(self, result: Result) -> dict:
        """The baseline for this result's data; a clear error when it is missing or foreign."""
        path = self.path(result.name, result.budget)
        records = self.read(result.name, result.budget)
        baseline = records.get(result.provenance.data_fingerprint)
        if baseline is None:
            other = sorted(records)
            raise AssertionError(
                f"{result.name}: no baseline for this data (fingerprint {result.provenance.data_fingerprint}) in {path}"
                + (f"; it holds baselines for different data: {other}" if other else "")
                + "; run with --update-baselines to record one"
            )
        if baseline.get("metric") != result.metric:
            raise ConfigError(
                f"{path}: the baseline scores {baseline.get('metric')!r}, the result {result.metric!r}; "
                "re-record it with --update-baselines"
            )
        theirs, ours = baseline.get("environment", {}).get("libraries", {}), library_versions()
        changed = {lib: (theirs.get(lib), ours[lib]) for lib in ours if theirs.get(lib) != ours[lib]}
        if changed:
            raise ConfigError(
                f"{path}: the baseline was measured with other library versions "
                f"{ {k: v[0] for k, v in changed.items()} }, this run has "
                f"{ {k: v[1] for k, v in changed.items()} }; install constraints.txt, or "
                "re-record the baseline with --update-baselines"
            )
        return baseline
