"""MLflow export, read back with MlflowClient from a local SQLite store (offline)."""
from __future__ import annotations

import numpy as np
import pytest

from competition.experiment import Budget, Experiment
from competition.report import write_run_report
from competition.runner import RunContext, run
from competition.store import Store
from competition.data import prepare
from competition.tracking import default_uri, log_result

mlflow = pytest.importorskip("mlflow", reason="mlflow is an optional extra: pip install .[mlflow]")


def test_a_result_is_logged_as_a_run_with_params_metrics_steps_artifacts_and_tags(tmp_path):
    from mlflow.tracking import MlflowClient

    prepare("digits", tmp_path / "data")
    result = run(Experiment("digits-ml", data="digits", model="rescnn", model_kw={"width": 4}, epochs=2,
                            batch_size=32, cv="stratified:2", seeds=2),
                 Budget("tiny", max_train=200), RunContext(store=Store(tmp_path / "runs"), data_root=tmp_path / "data",
                                                           progress_file=False))
    report = write_run_report(result, tmp_path / "reports" / "digits-ml")
    uri = default_uri(tmp_path / "runs")
    run_id = log_result(result, uri, report, tmp_path / "runs" / "mlflow-artifacts")
    client = MlflowClient(tracking_uri=uri)
    logged = client.get_run(run_id)
    assert logged.data.tags["mlflow.runName"] == "digits-ml" and logged.data.tags["budget"] == "tiny"
    assert logged.data.tags["key"] == result.key and "commit" in logged.data.tags
    assert logged.data.params["model"] == "rescnn" and logged.data.params["model_kw.width"] == "4"
    assert logged.data.params["seeds"] == "2"
    assert logged.data.metrics["score"] == pytest.approx(result.score())
    assert logged.data.metrics["score_low"] <= logged.data.metrics["score"] <= logged.data.metrics["score_high"]
    steps = client.get_metric_history(run_id, "fold1-seed1/train_loss")
    assert [m.step for m in steps] == [1, 2]
    artifacts = {a.path for folder in ("plots", "probabilities") for a in client.list_artifacts(run_id, folder)}
    assert {"plots/learning_curves.png", "probabilities/oof_probs.npy"} <= artifacts
    assert np.allclose(np.load(client.download_artifacts(run_id, "probabilities/oof_probs.npy", str(tmp_path))),
                       result.oof_probs)
