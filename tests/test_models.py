"""Model registry, pretrained weights, transfer modes, checkpoints."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from competition.experiment import Experiment
from competition.errors import CheckpointError, ConfigError
from competition.models import apply_transfer, create_model
from competition.models.registry import (adapt_conv_in_chans, imagenet_classifier_lite0, load_torchvision_state,
                                         register_model, torchvision_weights)

# ImageNet classes a temple photo should land in (torchvision's class indices)
BUILDINGS = {449: "boathouse", 442: "bell cote", 497: "church", 538: "dome", 698: "palace",
             663: "monastery", 668: "mosque", 832: "stupa", 483: "castle", 580: "greenhouse"}


def test_packaged_efficientnet_lite0_weights_are_real_imagenet_weights():
    from sklearn.datasets import load_sample_image
    photo = torch.from_numpy(load_sample_image("china.jpg").copy()).permute(2, 0, 1).float().div(255)[None]
    x = F.interpolate(photo, size=(224, 224), mode="bilinear", antialias=True)
    with torch.inference_mode():
        top5 = imagenet_classifier_lite0()((x - 0.5) / 0.5).topk(5).indices[0].tolist()
    assert set(top5) & set(BUILDINGS), f"top-5 {top5} has no building class"


def test_pretrained_lite0_backbone_equals_packaged_weights():
    model = create_model("efficientnet_lite0", num_classes=4, pretrained="imagenet")
    reference = imagenet_classifier_lite0()
    assert torch.equal(model.backbone.conv_stem.weight, reference.conv_stem.weight)
    assert model.head.out_features == 4


@pytest.mark.parametrize("name", ["rescnn", "rescnn_s", "rescnn_wide", "resnet18", "efficientnet_b0",
                                  "mobilenet_v3_small",
                                  "efficientnet_lite0", "timm/resnet10t"])
def test_every_family_builds_and_runs_on_small_grayscale_input(name):
    kw = {} if name.startswith(("rescnn", "timm/")) else {"small_input": True}
    model = create_model(name, num_classes=5, in_chans=1, **kw)
    out = model(torch.randint(0, 256, (2, 1, 32, 32), dtype=torch.uint8))
    assert out.shape == (2, 5)


def test_rescnn_stages_follow_widths_and_strides():
    model = create_model("rescnn", num_classes=3, in_chans=1, widths=(8, 16), depths=(1, 2), strides=(2, 2),
                         stem_width=4)
    features = model.backbone.stages(model.backbone.stem(torch.rand(1, 1, 28, 28)))
    assert features.shape == (1, 16, 7, 7)
    assert len(model.backbone.stages[1]) == 2 and model.num_features == 16
    wide = create_model("rescnn_wide", num_classes=3, in_chans=1)
    assert wide.backbone.stages(wide.backbone.stem(torch.rand(1, 1, 28, 28))).shape == (1, 192, 4, 4)


def test_rescnn_width_shorthand_replaces_the_variants_widths():
    assert create_model("rescnn_wide", 3, in_chans=1, width=8).num_features == 32
    assert create_model("rescnn", 3, in_chans=1, widths=(4, 8, 12)).num_features == 12


def test_unknown_rescnn_keyword_is_an_error_not_ignored():
    with pytest.raises(ConfigError, match=r"'widht'.*known keywords: width, widths"):
        create_model("rescnn", 3, in_chans=1, widht=8)
    with pytest.raises(ConfigError, match="one entry per stage"):
        create_model("rescnn", 3, in_chans=1, widths=(4, 8))


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_lite0", "timm/resnet10t"])
def test_a_model_keyword_torchvision_or_timm_refuses_is_a_config_error_naming_model_kw(name):
    with pytest.raises(ConfigError, match=rf"model '{name}': model_kw \['drop_rat'\] holds a keyword it does not take"):
        create_model(name, 3, in_chans=1, drop_rat=0.1)


class WithAuxiliaryHead(torch.nn.Module):
    """As torchvision's Inception: logits in eval mode, (logits, auxiliary logits) in training mode."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 3))

    def forward(self, x):
        logits = self.net(x)
        return (logits, logits) if self.training else logits


def test_a_module_that_gives_a_tuple_when_training_is_named_at_the_first_batch():
    """The probe runs in eval mode, where it gives logits; before, the tuple reached the loss as a TypeError."""
    model = create_model(Experiment("aux", model=WithAuxiliaryHead()).model, 3, in_chans=1, input_size=(28, 28))
    assert model.eval()(torch.zeros(2, 1, 28, 28)).shape == (2, 3)
    with pytest.raises(ConfigError, match=r"model WithAuxiliaryHead gives tuple in training mode, not one tensor"):
        model.train()(torch.zeros(2, 1, 28, 28))


KEPT = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                           torch.nn.Linear(4, 3))


@register_model("kept-module-test")
def kept_module(num_classes, in_chans, pretrained=None):
    return KEPT


def test_a_module_that_does_not_take_the_images_is_told_what_it_gets_and_how_to_change_it():
    rgb = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    with pytest.raises(ConfigError, match=r"expected input\[2, 1, 8, 8\] to have 3 channels.*It gets 1-channel "
                                          r"images of 8x8 \(height x width\): Experiment\(channels=1 or 3\)"):
        create_model(Experiment("rgb", model=rgb).model, 10, in_chans=1, input_size=(8, 8))


def softmax_ended(num_classes, in_chans, end):
    return torch.nn.Sequential(torch.nn.Conv2d(in_chans, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Linear(4, num_classes), end)


def test_a_module_that_ends_in_a_softmax_is_named():
    """Its probabilities went into the cross entropy as logits (training nearly stalled) and through the
    harness's softmax again (every prediction squashed towards uniform), without a word."""
    spec = Experiment("softmax", model=lambda num_classes, in_chans: softmax_ended(num_classes, in_chans,
                                                                                torch.nn.Softmax(dim=1)))
    with pytest.raises(ConfigError, match="model Sequential: its outputs are probabilities.*Remove the final Softmax"):
        create_model(spec.model, 10, in_chans=1, input_size=(8, 8))
    for end in (torch.nn.LogSoftmax(dim=1), torch.nn.Identity(), torch.nn.ReLU()):  # logits, or at least not that
        spec = Experiment("other", model=lambda num_classes, in_chans, end=end: softmax_ended(num_classes, in_chans,
                                                                                            end))
        assert create_model(spec.model, 10, in_chans=1, input_size=(8, 8))(torch.rand(2, 1, 8, 8)).shape == (2, 10)


class SigmoidAfterFlatten(torch.nn.Module):
    """A final sigmoid as a functional call, and a shape-only op after it, as a Keras habit writes it."""

    def __init__(self, num_classes: int, in_chans: int):
        super().__init__()
        self.net = softmax_ended(num_classes, in_chans, torch.nn.Identity())

    def forward(self, x):
        return torch.sigmoid(self.net(x)[:, :, None]).squeeze(2)


@pytest.mark.parametrize("make", [lambda c, i: softmax_ended(c, i, torch.nn.Sigmoid()), SigmoidAfterFlatten])
@pytest.mark.parametrize("classes", [2, 10])
def test_a_module_that_ends_in_a_sigmoid_is_named(make, classes):
    """Outputs in (0, 1) as logits: the softmax over them cannot pass e / (e + C - 1), 0.73 on two classes."""
    with pytest.raises(ConfigError, match="final sigmoid.*remove the final sigmoid"):
        create_model(Experiment("sigmoid", model=lambda num_classes, in_chans: make(num_classes, in_chans)).model,
                     classes, in_chans=1, input_size=(8, 8))


@pytest.mark.parametrize("cast, dtype", [(torch.nn.Module.half, "float16"), (torch.nn.Module.double, "float64")])
def test_weights_cast_by_hand_are_named_not_read_as_a_wrong_image_size(cast, dtype):
    """torch's "Input type (float) and bias type should be the same" came with "It gets 1-channel images of
    8x8: Experiment(image_size=...) sets what it gets", a fix that fixes nothing."""
    net = cast(softmax_ended(10, 1, torch.nn.Identity()))
    with pytest.raises(ConfigError, match=f"model Sequential: its weights are {dtype}; give it in float32"):
        create_model(Experiment("cast", model=net).model, 10, in_chans=1, input_size=(8, 8))
    assert create_model(Experiment("fp32", model=net.float()).model, 10, in_chans=1, input_size=(8, 8))


@pytest.mark.parametrize("model, pretrained, message", [
    ("rescnn", "imagenet", r"rescnn models have no pretrained weights \(pretrained='imagenet'\)"),
    ("speednet", "imagenet", "speednet has no pretrained weights"),
    ("resnet18", "imagenet21k", "unknown torchvision weights 'imagenet21k' for resnet18"),
    ("resnet18", "ResNet50_Weights.IMAGENET1K_V2", "ResNet50_Weights.IMAGENET1K_V2 are not resnet18's weights"),
    ("efficientnet_lite0", "imagenet21k", "efficientnet_lite0 weights: use pretrained='imagenet' or None"),
])
def test_weights_a_named_model_does_not_have_fail_when_the_experiment_is_made(model, pretrained, message):
    """They failed when the model was built: after the data was cached, at run time rather than collection."""
    with pytest.raises(ConfigError, match=f"bad: {message}.*Experiment.pretrained"):
        Experiment("bad", model=model, pretrained=pretrained)


def test_weights_a_named_model_has_and_checkpoint_paths_are_accepted_when_the_experiment_is_made():
    for model, pretrained in [("resnet18", "imagenet"), ("resnet18", "ResNet18_Weights.IMAGENET1K_V1"),
                              ("efficientnet_lite0", "imagenet"), ("rescnn", "runs/mine.pt"), ("timm/resnet10t", "x")]:
        Experiment("ok", model=model, pretrained=pretrained)  # a checkpoint is read when built; timm decides then


@pytest.mark.parametrize("how", ["spec factory", "registered factory"])
def test_a_factory_that_returns_a_module_it_keeps_gives_every_unit_its_initial_weights(how):
    """Before, every unit got the kept module itself, as the unit before had trained it: seeds went on from
    each other and a fold started from weights that had seen its validation rows."""
    initial = {k: v.clone() for k, v in KEPT.state_dict().items()}
    name = Experiment("kept", model=lambda num_classes, in_chans: KEPT).model if how == "spec factory" \
        else "kept-module-test"
    first = create_model(name, 3, in_chans=1, input_size=(8, 8))
    with torch.no_grad():
        for p in first.parameters():
            p.add_(1.0)  # what training the first unit does to its model
    second = create_model(name, 3, in_chans=1, input_size=(8, 8))
    assert all(torch.equal(v, initial[k]) for k, v in KEPT.state_dict().items())
    assert len(list(second.parameters())) == len(initial)
    assert all(torch.equal(a, b) for a, b in zip(second.parameters(), initial.values()))


def test_a_factory_module_that_cannot_be_copied_is_used_as_made():
    def weight_normed(num_classes, in_chans):  # torch's old weight_norm keeps a computed tensor: no deepcopy
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.utils.weight_norm(torch.nn.Linear(64, 3)))

    model = create_model(Experiment("wn", model=weight_normed).model, 3, in_chans=1, input_size=(8, 8))
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 3)


@pytest.mark.parametrize("name", ["resnet34", "resnet50", "mobilenet_v3_large", "convnext_tiny"])
def test_larger_torchvision_models_build(name):
    model = create_model(name, num_classes=3)
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, 3)


def test_grayscale_first_conv_sums_rgb_weights():
    conv = torch.nn.Conv2d(3, 8, 3)
    gray = adapt_conv_in_chans(conv, 1)
    x = torch.rand(1, 1, 5, 5)
    assert torch.allclose(gray(x), conv(x.repeat(1, 3, 1, 1)), atol=1e-5)


def test_wrong_channel_count_is_a_clear_error():
    model = create_model("rescnn", num_classes=3, in_chans=1)
    with pytest.raises(ConfigError, match=r"expects input \(B, 1, H, W\) but got \(2, 3, 28, 28\)"):
        model(torch.rand(2, 3, 28, 28))


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown model 'resnet9000' \(did you mean 'resnet50'\?\); known models: "
                                          r"\[.*resnet18"):
        create_model("resnet9000", 10)
    with pytest.raises(ConfigError, match="unknown transfer mode 'half'"):
        apply_transfer(create_model("rescnn", 2), "half", 1e-3)


def test_torchvision_weight_names_resolve_and_offline_error_names_the_file(tmp_path, monkeypatch):
    import torchvision
    assert torchvision_weights("resnet18", "imagenet") == torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    assert torchvision_weights("resnet18", "ResNet18_Weights.IMAGENET1K_V1") == \
        torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.hub.set_dir(str(tmp_path / "hub"))

    def offline(*args, **kwargs):
        raise OSError("network unreachable")
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(CheckpointError, match=r"not in the local torch hub cache.*Place the file "
                                              r"resnet18-f37072fd\.pth at .*hub/checkpoints/resnet18-f37072fd\.pth"):
        load_torchvision_state(torchvision.models.ResNet18_Weights.IMAGENET1K_V1)


def trainable(model):
    return {name for name, p in model.named_parameters() if p.requires_grad}


def test_transfer_modes_choose_which_parameters_get_gradients():
    model = create_model("rescnn", num_classes=3, in_chans=1)
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 0])

    def grads_after_step(mode):
        apply_transfer(model, mode, lr=1e-3)
        model.zero_grad(set_to_none=True)
        model.train()
        F.cross_entropy(model(x), y).backward()
        return {n for n, p in model.named_parameters() if p.grad is not None}

    everything = {n for n, _ in model.named_parameters()}
    assert grads_after_step("finetune") == everything
    assert grads_after_step("feature-extract") == {"head.weight", "head.bias"}
    partial = grads_after_step("partial:1")
    assert partial == {"head.weight", "head.bias"} | {n for n in everything if n.startswith("backbone.stages.2")}


def test_feature_extract_freezes_batchnorm_statistics():
    model = create_model("rescnn", num_classes=3, in_chans=1)
    apply_transfer(model, "feature-extract", lr=1e-3)
    model.train()
    before = model.backbone.stem[1].running_mean.clone()
    model(torch.rand(8, 1, 28, 28) * 5)
    assert torch.equal(before, model.backbone.stem[1].running_mean)
    assert not model.backbone.training and model.head.training


def test_finetune_gives_backbone_a_lower_learning_rate():
    groups = apply_transfer(create_model("rescnn", 3, in_chans=1), "finetune", lr=1e-2, backbone_lr_mult=0.1)
    assert {g["name"]: g["lr"] for g in groups} == {"head": 1e-2, "backbone": pytest.approx(1e-3)}


def test_checkpoint_errors(tmp_path):
    model = create_model("rescnn", num_classes=3, in_chans=1)
    path = tmp_path / "m.pt"
    torch.save({"model": model.state_dict()}, path)
    assert torch.equal(create_model("rescnn", 3, in_chans=1, pretrained=path).head.weight, model.head.weight)
    with pytest.raises(CheckpointError, match="checkpoint head has 3 classes but num_classes=5"):
        create_model("rescnn", 5, in_chans=1, pretrained=path)
    with pytest.raises(CheckpointError, match="checkpoint file not found"):
        create_model("rescnn", 3, in_chans=1, pretrained=tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="bad.pt: corrupt, unreadable or unsafe checkpoint"):
        create_model("rescnn", 3, in_chans=1, pretrained=tmp_path / "bad.pt")


def test_a_model_entry_carries_its_pretrained_config_and_checkpoints_keep_the_normalisation(tmp_path):
    from competition.models.registry import IMAGENET, ModelEntry
    from competition.registry import MODELS

    assert MODELS.get("resnet18").pretrained_config == IMAGENET
    assert MODELS.get("efficientnet_lite0").pretrained_config.mean == (0.5, 0.5, 0.5)
    assert MODELS.get("rescnn").pretrained_config is None and isinstance(MODELS.get("rescnn"), ModelEntry)
    model = create_model("rescnn", 3, in_chans=3, width=4)
    model.set_normalization(IMAGENET.mean, IMAGENET.std)  # as if fine-tuned from ImageNet weights
    torch.save(model.state_dict(), tmp_path / "tuned.pt")
    restored = create_model("rescnn", 3, in_chans=3, width=4, pretrained=tmp_path / "tuned.pt")
    assert torch.allclose(restored.mean.flatten(), torch.tensor(IMAGENET.mean))
