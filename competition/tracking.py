"""Layer 6. Trackers: where a session's results and searches are sent when it ends, to be compared in
another tool. A tracker is an entry in registry.TRACKERS, chosen on the command line:

    pytest experiments --tracker mlflow                   # a local SQLite store: runs/mlflow.db, offline
    pytest experiments --tracker mlflow=http://host:5000  # a tracking server one already runs (--mlflow [URI])
    pytest experiments --tracker jsonl                    # one JSON line per run: runs/tracked.jsonl

An entry is a factory `(target, runs_dir) -> Tracker`, called when the session starts (so a bad target is
a usage error before any training: raise ConfigError), with `target` the text after '=' or None.

MLflow: each Result becomes one run: the spec as params, the score with its interval bounds and the eval
metrics as metrics, every unit's per-epoch history as metric steps, the plots and OOF/eval probabilities as
artifacts, and tags for the budget, the commit and the store key; a search is a parent run of its trials.
mlflow is an optional dependency (`pip install .[mlflow]`), imported only when it is asked for.
"""

from __future__ import annotations

import json
import socket
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import numpy as np

from .cv import unit_label
from .errors import ConfigError
from .experiment import Result
from .files import writable_folder
from .report import score_interval
from .provenance import environment
from .registry import TRACKERS

EXPERIMENT = "competition"


class Tracker(Protocol):
    """What a tracker entry's factory returns. The plugin calls log_search for every search first, then
    log_result for every result (parent: what log_search returned for the search that ran it, else None)."""

    def log_search(self, search: dict, plots_dir: Path | None) -> str | None:
        """Log a search (SearchReport.to_dict()); returns an id its runs can name as their parent."""
        ...

    def log_result(self, result: Result, report_dir: Path | None, parent: str | None = None) -> str | None:
        """Log one Result (report_dir: its run report's folder, with the plots); returns its id there."""
        ...

    def describe(self) -> str:
        """Where the runs went and how to look at them, for the session's summary."""
        ...


def open_tracker(choice: str, runs_dir: Path) -> Tracker:
    """'NAME' or 'NAME=TARGET' (the --tracker option) -> the tracker, its target checked now."""
    name, _, target = choice.partition("=")
    return TRACKERS.get(name.strip())(target.strip() or None, Path(runs_dir))


def default_uri(runs_dir: Path) -> str:
    return f"sqlite:///{Path(runs_dir).resolve() / 'mlflow.db'}"


def check_uri(uri: str, timeout: float = 3.0) -> str:
    """Check a tracking URI before any training: a local store's folder must take files, a server must
    answer a connection. Returns the URI; raises ConfigError naming it and what to do."""
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        if not parsed.hostname:
            raise ConfigError(f"--mlflow {uri!r}: no host in the URI; write http://HOST:PORT")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            socket.create_connection((parsed.hostname, port), timeout=timeout).close()
        except OSError as exc:
            raise ConfigError(
                f"--mlflow {uri!r}: no tracking server answers at {parsed.hostname}:{port} "
                f"({exc.strerror or exc}); start it, fix the URI, or use --mlflow alone for a local "
                "store"
            ) from None
        return uri
    if parsed.scheme in ("sqlite", "file"):
        target = Path(parsed.path if parsed.scheme == "file" else uri.removeprefix("sqlite:///"))
        writable_folder(
            target.parent if parsed.scheme == "sqlite" else target,
            "MLflow store",
            "fix the --mlflow URI or use --mlflow alone",
        )
        return uri
    raise ConfigError(
        f"--mlflow {uri!r}: not a tracking URI this harness can check; use http(s)://HOST:PORT, "
        "sqlite:///PATH/mlflow.db, file:///PATH, or --mlflow alone for a local store"
    )


def flat_params(spec: dict, prefix: str = "") -> dict[str, str]:
    """Nested spec -> {"a.b": "value"}; MLflow params are strings of bounded length."""
    params = {}
    for key, value in spec.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            params.update(flat_params(value, f"{name}."))
        else:
            params[name] = json.dumps(value, default=str)[:500] if not isinstance(value, str) else value[:500]
    return params


def client_and_experiment(uri: str, artifact_root: Path | None):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = (
        experiment.experiment_id
        if experiment
        else client.create_experiment(
            EXPERIMENT, artifact_location=artifact_root.resolve().as_uri() if artifact_root else None
        )
    )
    return client, experiment_id


def log_study(search: dict, uri: str, plots_dir: Path | None = None, artifact_root: Path | None = None) -> str:
    """Log a search (SearchReport.to_dict()) as a parent MLflow run: its study, space, best trial, confirmation
    and the study's plots; its trials and confirmation runs are logged as child runs (log_result's
    parent_run_id). Returns the parent's run id."""
    from mlflow.entities import Metric, Param

    client, experiment_id = client_and_experiment(uri, artifact_root)
    tags = {
        "mlflow.runName": f"search {search['name']}",
        "study": search["study"],
        "storage": search["storage"],
        "metric": search["metric"],
        "commit": environment()["commit"],
    }
    run_id = client.create_run(experiment_id, tags=tags).info.run_id
    best, confirmation = search.get("best") or {}, search.get("confirmation") or {}
    metrics = {
        "trials": len([t for t in search["trials"] if t["state"] in ("COMPLETE", "PRUNED")]),
        "pruned": len([t for t in search["trials"] if t["state"] == "PRUNED"]),
        "best_search_score": best.get("search_score"),
        "base_search_score": search.get("base_search_score"),
        **{f"confirmed_{k}": confirmation.get(k) for k in ("best", "base", "delta", "low", "high", "mde")},
        "optimism": search.get("optimism"),
        "gain_optimism": search.get("gain_optimism"),
    }
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items() if v is not None],
        params=[Param(f"best.{k}", json.dumps(v)[:500]) for k, v in best.get("params", {}).items()]
        + [Param("confirmation", str(confirmation.get("outcome", "")))],
    )
    for plot in sorted(plots_dir.glob("*.png")) if plots_dir is not None and plots_dir.is_dir() else ():
        client.log_artifact(run_id, str(plot), "plots")
    client.set_terminated(run_id)
    return run_id


def log_result(
    result: Result,
    uri: str,
    report_dir: Path | None = None,
    artifact_root: Path | None = None,
    parent_run_id: str | None = None,
) -> str:
    """Log one Result as an MLflow run (a child of parent_run_id: a search's trial); returns the run id."""
    from mlflow.entities import Metric, Param, RunTag

    client, experiment_id = client_and_experiment(uri, artifact_root)
    env = environment()
    tags = {
        "mlflow.runName": result.name,
        "budget": result.budget,
        "commit": env["commit"],
        "key": result.key,
        "seeds": str(result.n_seeds),
        "metric": result.metric,
    }
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    run_id = client.create_run(experiment_id, tags=tags).info.run_id
    point, low, high = score_interval(result)
    metrics = {
        "score": point,
        "score_low": low,
        "score_high": high,
        "gap": result.gap() if result.folds else None,
        **{f"eval_{k}": v for k, v in (result.eval_metrics or {}).items()},
    }
    now = 0
    batch = [Metric(key, float(value), now, 0) for key, value in metrics.items() if value is not None]
    for unit in result.folds:  # per-epoch history as steps, one series per unit (fold x seed)
        label = unit_label(unit["fold"], unit.get("seed", 0))
        for row in unit.get("history", []):
            batch += [
                Metric(f"{label}/{k}", float(v), now, int(row["epoch"]))
                for k, v in row.items()
                if k != "epoch" and isinstance(v, (int, float))
            ]
    params = [Param(k, v) for k, v in flat_params(result.spec).items()]
    client.log_batch(run_id, tags=[RunTag("environment", json.dumps(env))])
    for start in range(0, len(params), 100):  # MLflow takes at most 100 params and 1,000 metrics a call
        client.log_batch(run_id, params=params[start : start + 100])
    for start in range(0, len(batch), 1000):
        client.log_batch(run_id, metrics=batch[start : start + 1000])
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "oof_probs.npy", result.oof_probs)
        np.save(Path(tmp) / "eval_probs.npy", result.eval_probs)
        client.log_artifacts(run_id, tmp, "probabilities")
    if report_dir is not None and report_dir.is_dir():
        for plot in sorted(report_dir.glob("*.png")):
            client.log_artifact(run_id, str(plot), "plots")
    client.set_terminated(run_id)
    return run_id


class MlflowTracker:
    def __init__(self, uri: str, artifact_root: Path):
        self.uri, self.artifact_root = check_uri(uri), artifact_root

    def log_search(self, search: dict, plots_dir: Path | None) -> str | None:
        return log_study(search, self.uri, plots_dir, self.artifact_root)

    def log_result(self, result: Result, report_dir: Path | None, parent: str | None = None) -> str | None:
        return log_result(result, self.uri, report_dir, self.artifact_root, parent_run_id=parent)

    def describe(self) -> str:
        return f"MLflow at {self.uri} (mlflow ui --backend-store-uri {self.uri})"


@TRACKERS.register("mlflow")
def mlflow_tracker(target: str | None, runs_dir: Path) -> MlflowTracker:
    """MLflow runs: a local SQLite store under the runs dir, or the tracking URI given as the target."""
    return MlflowTracker(target or default_uri(runs_dir), runs_dir / "mlflow-artifacts")


class JsonLinesTracker:
    """One JSON line per result and per search appended to a file: the spec, the score with its interval,
    the eval metrics, the store key and the commit; for reading with pandas.read_json(path, lines=True)."""

    def __init__(self, path: Path):
        self.path = path
        if path.exists() and not path.is_file():
            raise ConfigError(f"--tracker jsonl={path}: not a file; give a file to append to: --tracker jsonl=PATH")
        writable_folder(path.parent, "tracker file's folder", "give another file: --tracker jsonl=PATH")

    def append(self, record: dict) -> str:
        line = json.dumps(record, default=str)
        with self.path.open("a") as out:
            out.write(line + "\n")
        return record["id"]

    def log_search(self, search: dict, plots_dir: Path | None) -> str | None:
        best, confirmation = search.get("best") or {}, search.get("confirmation") or {}
        return self.append(
            {
                "id": f"search:{search['name']}",
                "kind": "search",
                "name": search["name"],
                "study": search["study"],
                "metric": search["metric"],
                "trials": len(search["trials"]),
                "best": best,
                "confirmation": confirmation,
                "commit": environment()["commit"],
            }
        )

    def log_result(self, result: Result, report_dir: Path | None, parent: str | None = None) -> str | None:
        point, low, high = score_interval(result)
        return self.append(
            {
                "id": result.key,
                "kind": "result",
                "name": result.name,
                "parent": parent,
                "budget": result.budget,
                "metric": result.metric,
                "seeds": result.n_seeds,
                "score": point,
                "score_low": low,
                "score_high": high,
                "eval_metrics": result.eval_metrics,
                "spec": result.spec,
                "commit": environment()["commit"],
                "report": str(report_dir) if report_dir else None,
            }
        )

    def describe(self) -> str:
        return f"{self.path} (pandas.read_json(path, lines=True))"


@TRACKERS.register("jsonl")
def jsonl_tracker(target: str | None, runs_dir: Path) -> JsonLinesTracker:
    """A JSON-lines file: runs/tracked.jsonl, or the path given as the target."""
    return JsonLinesTracker((Path(target) if target else runs_dir / "tracked.jsonl").resolve())
