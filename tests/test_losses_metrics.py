"""Losses against references; metrics against scikit-learn; bootstrap."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn import metrics as skm
from torch.optim.lr_scheduler import LinearLR, ReduceLROnPlateau

from competition import metrics as metrics_module
from competition.errors import ConfigError
from competition.experiment import Experiment
from competition.metrics import METRICS, Metric, bootstrap_ci, bootstrap_scores, compute_metrics, confusion, \
    higher_is_better, paired_bootstrap, per_class_report, register_metric
from competition.train import balanced_class_weights, create_criterion, create_optimizer, create_scheduler
from competition.train.optim import plateau_figure

torch.manual_seed(0)
LOGITS, TARGETS = torch.randn(32, 5) * 2, torch.randint(0, 5, (32,))
WEIGHTS = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5])


def test_cross_entropy_matches_torch_with_and_without_weights():
    assert torch.allclose(create_criterion("cross_entropy")(LOGITS, TARGETS), F.cross_entropy(LOGITS, TARGETS))
    assert torch.allclose(create_criterion("cross_entropy", weight=WEIGHTS)(LOGITS, TARGETS),
                          F.cross_entropy(LOGITS, TARGETS, weight=WEIGHTS))


def test_focal_with_gamma_zero_is_cross_entropy_and_gamma_downweights_easy_samples():
    assert torch.allclose(create_criterion("focal", gamma=0.0)(LOGITS, TARGETS), F.cross_entropy(LOGITS, TARGETS))
    assert torch.allclose(create_criterion("focal", gamma=0.0, alpha=WEIGHTS)(LOGITS, TARGETS),
                          F.cross_entropy(LOGITS, TARGETS, weight=WEIGHTS))
    p_true = LOGITS.softmax(1).gather(1, TARGETS[:, None]).squeeze(1)
    reference = (-(1 - p_true) ** 2 * p_true.log()).mean()
    assert torch.allclose(create_criterion("focal", gamma=2.0)(LOGITS, TARGETS), reference, atol=1e-6)


def test_label_smoothing_matches_torch_argument():
    assert torch.allclose(create_criterion("label_smoothing", smoothing=0.1)(LOGITS, TARGETS),
                          F.cross_entropy(LOGITS, TARGETS, label_smoothing=0.1), atol=1e-6)


def test_soft_targets_match_torch_probability_targets():
    soft = torch.softmax(torch.randn(32, 5), 1)
    assert torch.allclose(create_criterion("soft_target_ce")(LOGITS, soft), F.cross_entropy(LOGITS, soft), atol=1e-6)


def test_soft_f1_loss_equals_one_minus_macro_f1_on_confident_predictions():
    logits = F.one_hot(torch.randint(0, 5, (40,)), 5).float() * 50
    y = torch.randint(0, 5, (40,))
    f1 = skm.f1_score(y, logits.argmax(1), average="macro", labels=range(5), zero_division=0)
    assert create_criterion("f1")(logits, y).item() == pytest.approx(1 - f1, abs=1e-4)
    logits.requires_grad_(True)
    create_criterion("f1")(logits * 0.01, y).backward()
    assert logits.grad.abs().sum() > 0  # differentiable


def test_balanced_weights_and_unknown_names():
    assert torch.allclose(balanced_class_weights(torch.tensor([0, 0, 0, 1]), 2), torch.tensor([2 / 3, 2.0]))
    with pytest.raises(ConfigError, match="unknown loss 'hinge'; known losses"):
        create_criterion("hinge")
    with pytest.raises(ConfigError, match="unknown optimizer 'lion'"):
        create_optimizer("lion", [{"params": [torch.nn.Parameter(torch.zeros(1))]}], 0.1)


# --- what optimizer_kw and loss_kw may say --------------------------------------------------------
def rmsprop(params, lr):
    return torch.optim.RMSprop(params, lr=lr)


def rmsprop_with_momentum(params, lr, momentum=0.0):
    return torch.optim.RMSprop(params, lr=lr, momentum=momentum)


@pytest.mark.parametrize("optimizer, options, message", [
    ("adamw", {"momentum": 0.9}, r"'momentum', which optimizer 'adamw' does not take; it takes betas, eps, and every"),
    ("adam", {"nesterov": True}, "'nesterov', which optimizer 'adam' does not take"),
    ("sgd", {"betas": (0.9, 0.99)}, "'betas', which optimizer 'sgd' does not take; it takes momentum, nesterov"),
    ("adamw", {"lookahead_step": 5}, r"'lookahead_step' \(did you mean 'lookahead_steps'\?\)"),
    ("sgd", {"momentun": 0.8}, r"'momentun' \(did you mean 'momentum'\?\)"),
    (rmsprop, {"momentum": 0.9}, "'momentum', which optimizer 'rmsprop#.*' does not take; it takes nothing more"),
    ("sgd", {"weight_decay": 0.1}, "set Experiment.weight_decay instead"),
])
def test_an_option_the_optimizer_would_not_use_fails_when_the_experiment_is_made(optimizer, options, message):
    """Before, AdamW and one's own factory dropped momentum/nesterov without a word."""
    with pytest.raises(ConfigError, match=f"bad: optimizer_kw .*{message}"):
        Experiment("bad", optimizer=optimizer, optimizer_kw=options)


def test_the_options_an_optimizer_takes_reach_it():
    param = torch.nn.Parameter(torch.zeros(2, 2))
    adamw = create_optimizer("adamw", [{"params": [param]}], 1e-3, betas=[0.8, 0.95], eps=1e-6)  # a list, as JSON
    assert (adamw.param_groups[0]["betas"], adamw.param_groups[0]["eps"]) == ((0.8, 0.95), 1e-6)
    Experiment("ok", optimizer=rmsprop_with_momentum, optimizer_kw={"momentum": 0.7})
    own = create_optimizer(Experiment("ok", optimizer=rmsprop_with_momentum).optimizer, [{"params": [param]}], 0.1,
                           momentum=0.7)
    assert own.param_groups[0]["momentum"] == 0.7
    with pytest.raises(ConfigError, match="optimizer 'adamw': optimizer_kw has 'momentum'"):
        create_optimizer("adamw", [{"params": [param]}], 1e-3, momentum=0.9)  # a TrainConfig made by hand


@pytest.mark.parametrize("changes, message", [
    ({"loss": "focal", "loss_kw": {"gama": 2}}, r"loss 'focal' does not take 'gama' \(did you mean 'gamma'\?\); "
                                                 "it takes alpha, gamma, weight"),
    ({"loss": "f1", "class_weights": "balanced"}, "loss 'f1' does not take 'weight'; it takes eps"),
    ({"loss": torch.nn.CrossEntropyLoss(), "class_weights": "balanced"},
     r"loss CrossEntropyLoss\(\) is a module, used as it is, so the keywords \['weight'\] would go nowhere"),
    ({"loss": torch.nn.CrossEntropyLoss(label_smoothing=0.1), "loss_kw": {"label_smoothing": 0.2}}, "is a module"),
    ({"loss": lambda logits, targets: F.cross_entropy(logits, targets), "class_weights": "balanced"},
     r"is a function of \(logits, targets\)"),
    ({"loss": torch.nn.CrossEntropyLoss, "loss_kw": {"label_smothing": 0.1}},
     r"does not take 'label_smothing' \(did you mean 'label_smoothing'\?\)"),
    ({"loss": "focal", "loss_kw": {"weight": [1.0, 2.0]}, "class_weights": "balanced"},
     r"loss_kw\['weight'\] and class_weights='balanced' both set the class weights"),
    ({"loss_kw": {"gamma": 2.0}}, r"loss 'cross_entropy' does not take 'gamma'.*; loss='focal' takes 'gamma'"),
    ({"loss_kw": {"label_smoothing": 0.1}},  # torch's keyword: here a loss of its own
     r"does not take 'label_smoothing'.*; label smoothing is loss='label_smoothing', loss_kw=\{'smoothing': \.\.\.\}"),
])
def test_a_loss_keyword_that_would_go_nowhere_fails_when_the_experiment_is_made(changes, message):
    """Before, a loss module dropped class_weights='balanced' and loss_kw without a word, and a typo or a
    loss without `weight` failed only when training started."""
    with pytest.raises(ConfigError, match=f"bad: .*{message}"):
        Experiment("bad", **changes)


def test_a_loss_class_gets_its_keywords_and_the_class_weights():
    spec = Experiment("ok", loss=torch.nn.CrossEntropyLoss, loss_kw={"label_smoothing": 0.1}, class_weights="balanced")
    made = create_criterion(spec.loss, label_smoothing=0.1, weight=WEIGHTS)
    assert made.label_smoothing == 0.1 and torch.equal(made.weight, WEIGHTS)
    module = Experiment("ok", loss=torch.nn.CrossEntropyLoss()).loss
    with pytest.raises(ConfigError, match="create_criterion: loss CrossEntropyLoss.* is a module"):
        create_criterion(module, weight=WEIGHTS)  # a TrainConfig made by hand


def test_adamw_has_no_decay_on_biases_and_norms():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
    opt = create_optimizer("adamw", [{"params": list(model.parameters())}], 1e-3, weight_decay=0.05)
    decays = {tuple(p.shape): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert decays == {(3, 3): 0.05, (3,): 0.0}


def batch_rates(name, epochs: int, steps_per_epoch: int, **options) -> np.ndarray:
    """The learning rate each batch of a run trains at, the schedule stepped as the loop steps it."""
    opt = create_optimizer("sgd", [{"params": [torch.nn.Parameter(torch.zeros(1))]}], 0.1)
    sched = create_scheduler(name, opt, epochs=epochs, steps_per_epoch=steps_per_epoch, **options)
    rates = np.zeros((epochs, steps_per_epoch))
    for epoch in range(epochs):
        for step in range(steps_per_epoch):
            rates[epoch, step] = opt.param_groups[0]["lr"]
            opt.step()
            if sched.interval == "step":
                sched.step()
        if sched.interval == "epoch":
            sched.step(0.5)
    return rates


def test_the_step_schedule_decays_within_any_run_length():
    """Its step size was a fixed 10 epochs, so a 6-epoch run never left its first rate."""
    for epochs, last in ((6, 0.001), (30, 0.001), (2, 0.01)):
        rates = batch_rates("step", epochs, 5)
        assert rates[-1] == pytest.approx(last) and rates[0] == pytest.approx(0.1)


@pytest.mark.parametrize("name, after_warmup", [("step", [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]), ("none", [0.1] * 6)])
def test_step_and_none_warm_up_when_told_and_not_otherwise(name, after_warmup):
    """warmup_epochs was dropped without a word by 'step' and 'none'; it is a linear ramp over its batches
    now, and a spec that gives none keeps these schedules' own (no warm-up), as every run of them had."""
    warm = batch_rates(name, 6, 4, warmup_epochs=1)
    assert warm[0] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert warm[1:, 0] == pytest.approx(after_warmup[1:])
    plain = batch_rates(name, 6, 4)
    assert plain[:, 0] == pytest.approx(after_warmup) and (plain == plain[:, :1]).all()


def test_a_warmup_a_schedule_would_drop_is_refused():
    with pytest.raises(ConfigError, match="scheduler='plateau', which has no warm-up"):
        Experiment("bad", scheduler="plateau", warmup_epochs=1)
    with pytest.raises(ConfigError, match="takes no 'warmup_steps', so the warm-up would go unused"):
        Experiment("bad", scheduler=lambda optimizer, total_steps: LinearLR(optimizer), warmup_epochs=1)
    told = []

    def linear(optimizer, total_steps, warmup_steps=7):
        told.append(warmup_steps)
        return LinearLR(optimizer)

    own = Experiment("ok", scheduler=linear, warmup_epochs=1)
    batch_rates(own.scheduler, 2, 4, warmup_epochs=1)
    batch_rates(own.scheduler, 2, 4)  # not told: the factory keeps its own default
    assert told == [4, 7]


def test_ones_own_reduce_on_plateau_steps_once_an_epoch_on_the_validation_loss():
    """A factory returning ReduceLROnPlateau was stepped after every batch without its figure: a TypeError."""
    opt = create_optimizer("sgd", [{"params": [torch.nn.Parameter(torch.zeros(1))]}], 0.1)
    sched = create_scheduler(Experiment("own", scheduler=lambda optimizer: ReduceLROnPlateau(optimizer)).scheduler,
                             opt, epochs=3, steps_per_epoch=4)
    assert sched.interval == "epoch"
    row = {"train_loss": 0.9, "val_loss": 0.7}
    assert plateau_figure(sched, row, score=0.8) == 0.7 and plateau_figure(sched, {"train_loss": 0.9}, 0.8) == 0.9
    builtin = create_scheduler("plateau", opt, epochs=3, steps_per_epoch=4)
    assert plateau_figure(builtin, row, score=0.8) == 0.8  # the monitored score, in mode 'max'


@pytest.mark.parametrize("name", ["cosine", "onecycle", "step", "plateau", "none"])
def test_schedulers_step(name):
    rates = batch_rates(name, 3, 4, warmup_epochs=None if name == "plateau" else 1)
    assert rates.max() <= 0.1 + 1e-9
    if name == "cosine":
        assert rates[-1, -1] < 0.01


rng = np.random.default_rng(0)
Y = rng.integers(0, 4, 300)
PROBS = rng.dirichlet(np.ones(4), 300)
PROBS[np.arange(150), Y[:150]] += 1.0  # a half-informative model
PROBS /= PROBS.sum(1, keepdims=True)


def test_metrics_agree_with_scikit_learn():
    pred = PROBS.argmax(1)
    m = compute_metrics(Y, PROBS, tuple(METRICS.names()))
    assert m["accuracy"] == skm.accuracy_score(Y, pred)
    assert m["macro_f1"] == skm.f1_score(Y, pred, average="macro")
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(Y, PROBS, multi_class="ovr"))
    assert m["log_loss"] == pytest.approx(skm.log_loss(Y, PROBS))
    assert confusion(Y, PROBS).sum() == 300
    assert list(per_class_report(Y, PROBS, "abcd")["support"]) == list(np.bincount(Y))


@pytest.mark.parametrize("name", ["accuracy", "macro_f1", "weighted_f1", "precision", "recall"])
def test_fast_bootstrap_equals_scikit_learn_on_each_resample(name):
    draws = np.random.default_rng(1).integers(0, 300, size=(20, 300))
    fast = bootstrap_scores(name, Y, PROBS, draws=draws)
    slow = [METRICS.get(name)(Y[d], PROBS[d]) for d in draws]
    assert np.allclose(fast, slow)


def test_a_users_metric_entry_scores_the_bootstrap_its_fast_way_with_the_slow_ways_numbers():
    def balanced_accuracy(y, pred):
        return skm.balanced_accuracy_score(y, pred)

    stacks = []

    def recall_of_each_stack(cm):  # balanced accuracy is the mean per-class recall of each matrix
        stacks.append(len(cm))
        return (np.diagonal(cm, axis1=1, axis2=2) / cm.sum(axis=2)).mean(1)

    register_metric("test_balanced_accuracy_slow", balanced_accuracy, needs="labels")
    fast_entry = Metric(METRICS.get("test_balanced_accuracy_slow").score, from_confusion=recall_of_each_stack)
    register_metric("test_balanced_accuracy_fast", fast_entry)
    assert stacks == [1]  # registration checks the fast way against the score once (check_fast_ways)
    stacks.clear()
    try:
        draws = np.random.default_rng(2).integers(0, 300, size=(20, 300))
        fast = bootstrap_scores("test_balanced_accuracy_fast", Y, PROBS, draws=draws)
        assert stacks == [20]  # all 20 resamples in one call of the entry's fast way
        assert np.allclose(fast, bootstrap_scores("test_balanced_accuracy_slow", Y, PROBS, draws=draws))
        assert not np.allclose(fast, bootstrap_scores("accuracy", Y, PROBS, draws=draws))
    finally:
        for name in ("test_balanced_accuracy_slow", "test_balanced_accuracy_fast"):
            METRICS.registered.pop(name)


def test_a_metric_entry_whose_fast_way_scores_another_metric_is_refused():
    """The bootstrap scores resamples the fast way and the point the slow way: a from_confusion that read the
    matrix transposed (columns as the truth) gave every interval of balanced accuracy another metric's."""
    def balanced_accuracy(y, probs):
        return skm.balanced_accuracy_score(y, probs.argmax(1))

    def transposed(cm):  # precision's per-class mean, not recall's
        return (np.diagonal(cm, axis1=1, axis2=2) / cm.sum(axis=1)).mean(1)

    with pytest.raises(ConfigError, match="its from_confusion gives .* where its score gives .*another metric's"):
        register_metric("test_transposed", Metric(balanced_accuracy, from_confusion=transposed))
    assert "test_transposed" not in METRICS
    for name in METRICS.names():  # the built-in entries hold to the same check
        entry = METRICS.get(name)
        if isinstance(entry, Metric):
            metrics_module.check_fast_ways(name, entry)


@pytest.mark.parametrize("fn, message", [
    (skm.f1_score, r"metric .test_bad. failed on 300 rows and probabilities \(300, 4\) \(ValueError: Target is"),
    (lambda y, pred: skm.f1_score(y, pred, average=None), r"returned ndarray of shape \(4,\); a metric returns one"),
    (lambda y, pred: float("nan"), "returned nan on 300 rows; a metric returns a finite number"),
], ids=["binary-average", "per-class", "nan"])
def test_ones_own_metric_that_gives_other_than_one_number_is_named(fn, message):
    """Before: scikit-learn's words with no metric named, 'only 0-dimensional arrays can be converted to Python
    scalars' for per-class scores, and a NaN score taken as it was."""
    register_metric("test_bad", fn, needs="labels")
    try:
        for score in (lambda: compute_metrics(Y, PROBS, ("test_bad",)), lambda: bootstrap_ci("test_bad", Y, PROBS)):
            with pytest.raises(ConfigError, match=message):
                score()
    finally:
        METRICS.registered.pop("test_bad")


@pytest.mark.parametrize("fn, needs, higher, message", [
    (skm.log_loss, "probs", True, r"so lower is better, but it is registered as higher_is_better=True; register it "
                                  r"with higher_is_better=False"),
    (lambda y, pred: float((y != pred).mean()), "labels", True, "so lower is better"),
    (skm.accuracy_score, "labels", False, "so higher is better.*drop higher_is_better=False"),
], ids=["log-loss", "error-rate", "accuracy-as-lower"])
def test_a_metric_registered_in_the_wrong_direction_is_refused(fn, needs, higher, message):
    """Before: registered as it was, so every gate, early stop and leaderboard preferred the worse model."""
    with pytest.raises(ConfigError, match=message):
        register_metric("test_wrong_way", fn, higher_is_better=higher, needs=needs)
    assert "test_wrong_way" not in METRICS
    with pytest.raises(ConfigError, match="so lower is better"):
        register_metric("test_wrong_way", Metric(lambda y, p: skm.log_loss(y, p)))


def test_a_metric_whose_direction_the_check_cannot_tell_is_taken_at_its_word():
    binary_only = lambda y, probs: skm.roc_auc_score(y, probs[:, 1])  # noqa: E731  fails on three classes
    constant = lambda y, pred: 0.5  # noqa: E731
    try:
        register_metric("test_binary_auc", binary_only)
        register_metric("test_constant", constant, higher_is_better=False, needs="labels")
        assert higher_is_better("test_binary_auc") and not higher_is_better("test_constant")
        with pytest.raises(ConfigError, match="so higher is better"):  # the two-class problem tells
            register_metric("test_binary_auc_lower", binary_only, higher_is_better=False)
    finally:
        for name in ("test_binary_auc", "test_constant"):
            METRICS.registered.pop(name, None)


@pytest.mark.parametrize("metric", ["macro_f1", "precision", "recall", "roc_auc", "accuracy", "weighted_f1"])
def test_a_declared_class_with_no_rows_caps_no_score(metric):
    """Macro averages counted a declared class that no row has, never predicted, as a 0: a perfect model
    scored macro F1 0.75 on four declared classes with three in the data (a grader scores 1.0), and its
    ROC-AUC was NaN, refused as 'check its divisions by zero'."""
    y = np.repeat([0, 1, 2], 20)
    perfect = np.eye(4)[y] * 0.97 + 0.01
    assert compute_metrics(y, perfect, (metric,))[metric] == pytest.approx(1.0)
    noisy = np.random.default_rng(4).dirichlet(np.ones(4), len(y))
    draws = np.random.default_rng(5).integers(0, len(y), size=(30, len(y)))
    sklearn_way = {"macro_f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score}
    if metric in sklearn_way:  # the bootstrap's confusion-matrix path gives scikit-learn's default-labels numbers
        expected = [sklearn_way[metric](y[d], noisy[d].argmax(1), average="macro", zero_division=0) for d in draws]
        assert np.allclose(bootstrap_scores(metric, y, noisy, draws=draws), expected)


@pytest.mark.parametrize("classes, ties", [(2, False), (2, True), (5, True)])
def test_the_batched_bootstrap_of_roc_auc_and_log_loss_gives_scikit_learns_numbers(classes, ties):
    """One scikit-learn call per resample took 6 ms (ROC-AUC): a gate on a ROC-AUC competition spent minutes in its
    bootstrap. The batched way must give the same numbers, ties, float32 and a resample that lacks a class included."""
    from competition.metrics import get_metric, resample_weights, weighted_scores
    rng = np.random.default_rng(classes)
    y = rng.integers(0, classes, 300)
    probs = rng.dirichlet(np.ones(classes), 300).astype(np.float32)
    if ties:
        probs[:40] = probs[0]
        probs[40:60] = np.eye(classes, dtype=np.float32)[0]  # saturated, as a confident model gives
    weights = resample_weights(y, None, 50, 0)
    weights[0, y == 1] = 0
    for name in ("roc_auc", "log_loss"):
        metric = get_metric(name)
        one_at_a_time = []
        for w in weights:
            rows = w > 0
            try:
                one_at_a_time.append(metric.with_weights(y[rows], probs[rows], w[rows]))
            except ValueError:
                one_at_a_time.append(np.nan)
        np.testing.assert_allclose(weighted_scores(name, y, probs, weights), one_at_a_time, rtol=1e-6, atol=1e-9)


def test_roc_auc_scores_a_binary_competition():
    """scikit-learn's multi-class form refused two probability columns: every binary competition failed."""
    rng = np.random.default_rng(6)
    y, probs = rng.integers(0, 2, 80), rng.dirichlet([1, 1], 80)
    assert compute_metrics(y, probs, ("roc_auc",))["roc_auc"] == pytest.approx(skm.roc_auc_score(y, probs[:, 1]))
    y5, probs5 = rng.integers(0, 5, 300), rng.dirichlet(np.ones(5), 300)
    assert compute_metrics(y5, probs5, ("roc_auc",))["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y5, probs5, multi_class="ovr"))


def test_a_plain_function_registered_straight_into_the_registry_is_a_metric_too():
    METRICS.register("test_plain_accuracy", lambda y, probs: float(np.mean(y == probs.argmax(1))))
    try:
        draws = np.random.default_rng(3).integers(0, 300, size=(5, 300))
        assert np.allclose(bootstrap_scores("test_plain_accuracy", Y, PROBS, draws=draws),
                           bootstrap_scores("accuracy", Y, PROBS, draws=draws))
        assert higher_is_better("test_plain_accuracy") and not higher_is_better("log_loss")
    finally:
        METRICS.registered.pop("test_plain_accuracy")


def test_bootstrap_ci_is_seeded_and_brackets_the_point():
    point, low, high = bootstrap_ci("accuracy", Y, PROBS, seed=3)
    assert low < point < high and (point, low, high) == bootstrap_ci("accuracy", Y, PROBS, seed=3)
    assert bootstrap_ci("roc_auc", Y, PROBS, n_boot=50)[1] > 0.5


def test_paired_bootstrap_detects_the_better_model():
    worse = np.roll(PROBS, 1, axis=1) * 0.5 + PROBS * 0.5
    result = paired_bootstrap("accuracy", Y, PROBS, worse)
    assert result["delta"] > 0 and result["low"] > 0 and result["p_value"] < 0.05
    same = paired_bootstrap("macro_f1", Y, PROBS, PROBS)
    assert same["delta"] == 0 and same["p_value"] == 1.0
    with pytest.raises(ConfigError, match="same samples"):
        paired_bootstrap("accuracy", Y, PROBS, PROBS[:10])
