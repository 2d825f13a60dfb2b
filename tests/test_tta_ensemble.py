"""TTA and ensembles on small models and synthetic Results."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from competition import ensemble
from competition.data import CachedDataset
from competition.errors import ConfigError
from competition.experiment import Result
from competition.models import create_model
from competition.train import predict
from competition.tta import merge, tta_predict, views_of

IMAGES = np.random.default_rng(0).integers(0, 256, (20, 16, 16, 1), dtype=np.uint8)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("rescnn", 4, in_chans=1, width=8).eval()


def test_identity_only_tta_equals_plain_prediction(model):
    ds = CachedDataset(IMAGES)
    assert np.allclose(tta_predict(model, ds, ("identity",)), predict(model, ds), atol=1e-6)


def test_batched_tta_equals_the_per_view_loop(model):
    ds = CachedDataset(IMAGES)
    views = ("identity", "hflip", "shift:2", "scale:1.2", "scale:0.8", "five_crop:0.75")
    for how in ("mean", "geometric", "max"):
        batched, one_by_one = tta_predict(model, ds, views, how), tta_predict(model, ds, views, how, batched=False)
        assert np.allclose(batched, one_by_one, atol=1e-5)


def test_views_count_and_shape():
    x = torch.from_numpy(IMAGES[:3]).permute(0, 3, 1, 2)
    assert views_of(x, ("identity", "hflip", "shift:1", "five_crop")).shape == (1 + 1 + 4 + 5, 3, 1, 16, 16)
    assert torch.equal(views_of(x, ("hflip",))[0], x.float().div(255).flip(-1))
    with pytest.raises(ConfigError, match="unknown TTA view"):
        views_of(x, ("rotate",))


def test_tta_sets_eval_mode_itself(model):
    model.train()
    tta_predict(model, CachedDataset(IMAGES[:4]), ("identity",))
    assert not model.training


def test_geometric_mean_never_nan_even_with_zero_probabilities():
    probs = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 0.0]]])
    merged = merge(probs, "geometric")
    assert torch.isfinite(merged).all() and torch.allclose(merged.sum(1), torch.ones(1))
    assert merged[0, 0] > merged[0, 1]
    with pytest.raises(ConfigError, match="unknown TTA merge"):
        merge(probs, "median")


def fake_result(name, probs, y, eval_probs=None, index=None):
    n = len(y)
    return Result(name=name, spec={}, budget="smoke", key="", class_names=["a", "b", "c"], metric="macro_f1",
                  y=np.asarray(y), oof_index=np.arange(n) if index is None else index, oof_probs=probs,
                  eval_ids=np.array(["e0", "e1"]), eval_probs=probs[:2] if eval_probs is None else eval_probs,
                  folds=[], seconds=1.0)


rng = np.random.default_rng(1)
Y = rng.integers(0, 3, 200)


def noisy(strength):
    probs = rng.dirichlet(np.ones(3), 200)
    probs[np.arange(200), Y] += strength
    return probs / probs.sum(1, keepdims=True)


def test_votes_and_stacking_return_results_that_gates_accept():
    members = [fake_result(f"m{i}", noisy(0.6), Y) for i in range(3)]
    for how in ("soft_vote", "hard_vote", "weighted_vote", "stacking"):
        combined = ensemble.create_ensemble(how, members)
        assert combined.name == how and combined.spec["ensemble"] == how
        assert combined.oof_probs.shape == (200, 3) and np.allclose(combined.oof_probs.sum(1), 1, atol=1e-4)
        assert combined.provenance.members == ["m0", "m1", "m2"] and combined.score() > 0.5
    soft = ensemble.soft_vote(members)
    assert np.allclose(soft.oof_probs, np.mean([m.oof_probs for m in members], 0))


def test_an_unknown_ensemble_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown ensemble 'soft_votes' \(did you mean 'soft_vote'\?\); "
                                          r"known ensembles: \['hard_vote', "):
        ensemble.create_ensemble("soft_votes", [fake_result("a", noisy(1.0), Y), fake_result("b", noisy(1.0), Y)])


def test_weighted_vote_prefers_the_informative_member():
    good, bad = fake_result("good", noisy(2.0), Y), fake_result("bad", noisy(0.0), Y)
    assert ensemble.weighted_vote([good, bad]).spec["weights"][0] > 0.8


def test_stacking_never_scores_rows_it_was_fit_on():
    # members that are pure noise: a leaky stacker would still fit them; a cross-validated one stays at chance
    members = [fake_result(f"noise{i}", rng.dirichlet(np.ones(3), 200), Y) for i in range(4)]
    assert ensemble.stacking(members).score("accuracy") < 0.5


def test_incompatible_members_are_refused():
    a = fake_result("a", noisy(1), Y)
    with pytest.raises(ConfigError, match="validated on different samples"):
        ensemble.soft_vote([a, fake_result("b", noisy(1)[:100], Y[:100])])
    with pytest.raises(ConfigError, match="at least two"):
        ensemble.soft_vote([a])


def test_member_spread():
    a = fake_result("a", noisy(1), Y)
    assert ensemble.member_spread([a, a]) == {"mean_std_of_top_class_prob": 0.0, "mean_agreement": 1.0,
                                              "unanimous_share": 1.0}


def test_boosting_on_features_is_cross_validated():
    reference = fake_result("ref", noisy(1), Y)
    features = np.c_[Y + rng.normal(0, 0.3, 200), rng.normal(size=(200, 3))]
    boosted = ensemble.boosting_on_features(reference, features, features[:2], max_iter=30)
    assert boosted.score("accuracy") > 0.8


def test_a_view_that_changes_the_shape_is_refused(monkeypatch):
    from competition import tta
    monkeypatch.setattr(tta, "expand_view", lambda view, x: [x[..., :-1]])
    with pytest.raises(ConfigError, match=r"TTA views must keep the input shape \(2, 1, 16, 16\)"):
        tta.views_of(torch.from_numpy(IMAGES[:2]).permute(0, 3, 1, 2), ("identity",))
