"""Do the guards gate? Faults a competitor really makes, injected into the guard
model's run, must each fail at least one CI guard (power); the unchanged model
with other seeds and another thread count must fail none (A/A).

Each fault runs one seed in a throw-away store (the faults patch code that the
store's key cannot see). The figures each guard reports (tolerance, smallest
detectable regression) and the faults it caught go to the terminal summary and
the JUnit properties.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from competition import cv, runner
from competition.data import CachedDataset
from competition.data.splits import LeakageError
from competition.gates import assert_claim, assert_submission_ready, publish_figures
from competition.models.classifier import Classifier
from competition.runner import RunContext, run
from competition.scoring import eval_view
from competition.store import Store
from competition.submission import SubmissionError, diff_submissions, read_submission, write_submission
from fixtures.guards import guard_failures
from fixtures.models import GUARD, GUARD_MODELS, LT_GUARD

# the power and A/A checks are about CI's guards, which are calibrated at smoke
pytestmark = [pytest.mark.experiment, pytest.mark.guard, pytest.mark.budgets("smoke")]

real_prepare_data, real_predict, real_normalize = runner.prepare_data, cv.predict, Classifier.normalize


def relabel_a_tenth(*args):
    """labels: a join that misaligns a tenth of train.csv's rows with their images."""
    data = real_prepare_data(*args)
    table = data.table.copy()
    rows = np.random.default_rng(0).choice(len(table), size=len(table) // 10, replace=False)
    table.loc[rows, "label"] = (table.loc[rows, "label"] + 1) % data.num_classes
    return replace(data, table=table)


def rotate_eval_images(*args):
    """data: the eval images arrive transposed (a camera or export that rotates), train ones do not."""
    data = real_prepare_data(*args)
    return replace(data, eval_images=np.ascontiguousarray(data.eval_images.swapaxes(1, 2)))


def unscaled_at_inference(self, x):
    """input scaling: inference feeds 0-255 floats where training fed 0-1 (the /255 forgotten)."""
    if not self.training and x.dtype == torch.uint8:
        x = x.float()
    return real_normalize(self, x)


def shuffled_predict(model, dataset, **kw):
    """inference: predictions from a DataLoader with shuffle=True, so rows no longer match ids."""
    probs = real_predict(model, dataset, **kw)
    return probs[np.random.default_rng(0).permutation(len(probs))]


def overlapping_splits(table, scheme, n_splits=5, seed=0, val_fraction=0.2, class_names=()):
    """split: validation rows left in the training rows."""
    rows = np.arange(len(table))
    return [(rows, rows[: len(rows) // 5])]


real_fit = cv.fit


def leak_validation_into_training(model, train_ds, val_ds, cfg, **kw):
    """leakage: the validation rows reach the training set after the fold-index check (a concatenation
    downstream of the split)."""
    leaked = CachedDataset(np.concatenate([train_ds.images, val_ds.images]),
                           np.concatenate([train_ds.labels.numpy(), val_ds.labels.numpy()]), train_ds.transform)
    return real_fit(model, leaked, val_ds, cfg, **kw)


def swap_two_classes(*args):
    """label map: two classes swapped where the names are mapped to indices (Sandal and Sneaker, 5 and 7)."""
    data = real_prepare_data(*args)
    table = data.table.copy()
    table["label"] = table["label"].replace({5: 7, 7: 5})
    return replace(data, table=table)


def unit_class_weights(labels, num_classes):
    """class weights: computed, then not passed on (every class weighted 1)."""
    return torch.ones(num_classes)


FAULTS = {  # name -> (kind, patches as (object, attribute, replacement), spec change, guard model)
    "labels-misaligned-10pct": ("labels", [(runner, "prepare_data", relabel_a_tenth)], {}, GUARD),
    "eval-images-rotated": ("data", [(runner, "prepare_data", rotate_eval_images)], {}, GUARD),
    "unscaled-inputs-at-inference": ("input scaling", [(Classifier, "normalize", unscaled_at_inference)], {}, GUARD),
    "learning-rate-100x-low": ("training", [], {"lr": GUARD.lr / 100}, GUARD),
    "shuffled-inference-loader": ("inference", [(cv, "predict", shuffled_predict)], {}, GUARD),
    "two-classes-swapped": ("label map", [(runner, "prepare_data", swap_two_classes)], {}, GUARD),
    "class-weights-ignored": ("loss", [(cv, "balanced_class_weights", unit_class_weights)], {}, LT_GUARD),
}


def faulty_run(state, monkeypatch, tmp_path, patches, changes, spec=GUARD):
    for owner, attribute, replacement in patches:
        monkeypatch.setattr(owner, attribute, replacement)
    context = RunContext(store=Store(tmp_path / "runs"), data_root=state.data_root, device=state.device,
                         progress_file=False)
    return run(spec.with_(seeds=1, **changes), state.budget, context)


@pytest.mark.parametrize("fault", FAULTS)
def test_guards_catch_the_fault(fault, competition_session, monkeypatch, tmp_path, baselines,
                                load_competition_by_name, eval_answers_of):
    kind, patches, changes, spec = FAULTS[fault]
    result = faulty_run(competition_session, monkeypatch, tmp_path, patches, changes, spec)
    monkeypatch.undo()
    caught = guard_failures(result, baselines, eval_answers_of(load_competition_by_name(spec.data)))
    publish_figures("fault", fault, kind=kind, caught=", ".join(caught) or "NOTHING", score=result.score())
    assert caught, f"fault {fault!r} ({kind}) passed every guard; the guards cannot see it"


def test_overlapping_folds_are_stopped_before_training(competition_session, monkeypatch, tmp_path):
    with pytest.raises(LeakageError, match="in both train and validation"):
        faulty_run(competition_session, monkeypatch, tmp_path, [(cv, "make_splits", overlapping_splits)], {})
    publish_figures("fault", "overlapping-folds", kind="split", caught="run-time leakage check")


def test_validation_rows_that_reach_training_after_the_split_are_stopped(competition_session, monkeypatch,
                                                                        tmp_path):
    """At smoke the guard model underfits, so the leak moves its OOF score too little for any guard (measured:
    OOF minus eval 0.0209 against the baseline's 0.0147, within the tolerance 0.0280): the check where
    training happens stops it instead."""
    with pytest.raises(LeakageError, match="validation images are in the training set the loop trains on"):
        faulty_run(competition_session, monkeypatch, tmp_path, [(cv, "fit", leak_validation_into_training)], {})
    publish_figures("fault", "validation-rows-leak-into-training", kind="leakage",
                    caught="run-time leakage check in fit")


def test_a_submission_in_shifted_label_space_is_refused(guard_result, fashion, baselines, competition_session,
                                                        tmp_path):
    """submission: 1-based labels written where the template wants 0-based ones."""
    shifted = replace(guard_result, eval_probs=np.roll(guard_result.eval_probs, 1, axis=1))
    with pytest.raises((AssertionError, SubmissionError)):
        submission = write_submission(shifted, fashion, tmp_path / "shifted.csv")
        assert_submission_ready(submission, fashion)
        previous = baselines.folder / f"submission.{competition_session.budget.name}.csv"
        assert diff_submissions(submission, read_submission(previous, fashion), fashion)["agreement"] > 0.5
    publish_figures("fault", "submission-labels-shifted", kind="submission", caught="submission")


@pytest.mark.slow
@pytest.mark.parametrize("data", GUARD_MODELS)
def test_no_guard_fails_on_other_seeds_and_one_thread(data, competition_session, baselines, load_competition_by_name,
                                                      eval_answers_of):
    """A/A: each unchanged guard model with seeds 100-102 (same split) on one thread instead of two."""
    state, spec = competition_session, GUARD_MODELS[data]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        context = RunContext(store=state.store, data_root=state.data_root, device=state.device, progress_file=False)
        result = run(spec.with_(seed=100, split_seed=0), state.budget, context)
    finally:
        torch.set_num_threads(threads)
    failures = guard_failures(result, baselines, eval_answers_of(load_competition_by_name(data)))
    publish_figures("aa", spec.name, seeds="100-102", threads=1, failures=len(failures), score=result.score())
    assert not failures, f"an unchanged model failed guards: {failures}"


def test_a_technique_that_silently_stops_working_fails_its_claim(competition_session, monkeypatch, tmp_path,
                                                                run_experiment, until_decided, fashion_lt,
                                                                eval_answers_of):
    """The claim 'lt-weighted_ce beats lt-cross_entropy' (experiments/test_losses.py, effect 0.1) with the class
    weights computed and then dropped: the claim must fail, not skip as underpowered (issue 24: it was a skip,
    delta +0.0000, and CI stayed green)."""
    from experiments.test_losses import CE, CLAIMS
    claim, _ = CLAIMS["weighted_ce"]
    plain = run_experiment(CE.with_(**until_decided))  # the claim's first round, as test_losses trains it
    monkeypatch.setattr(cv, "balanced_class_weights", unit_class_weights)
    context = RunContext(store=Store(tmp_path / "runs"), data_root=competition_session.data_root,
                         device=competition_session.device, progress_file=False)
    broken = run(LT_GUARD.with_(seeds=plain.n_seeds), competition_session.budget, context)
    monkeypatch.undo()
    with pytest.raises(AssertionError, match="does not beat"):
        answers = eval_answers_of(fashion_lt)  # judged where experiments/test_losses.py judges it
        assert_claim(eval_view(broken, answers), eval_view(plain, answers), claim, metric="macro_f1")
    publish_figures("fault", "class-weights-dropped (claim)", kind="claim", caught=f"claim {claim} fails")
