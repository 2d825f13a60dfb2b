"""Layer 6. The project's reference specs, importable from any experiment file (inside this repository
or not): the guard model, the baseline models, the photos configuration and the fast recipe.

    >>> from competition.recipes import FAST, GUARD
    >>> mine = FAST.with_(name="fast-on-mine", data="/path/to/mine")

Each spec is written for the standard budget; --budget scales it. GUARD (and LT_GUARD, on the long-tailed
set) is what CI gates on: the small CNN trained with GUARD_SEEDS seeds, whose per-seed scores are compared
with a baseline of BASELINE_SEEDS seeds (fixtures/baselines/).
"""

from __future__ import annotations

from .experiment import Experiment

SMALL_CNN = Experiment(
    "small_cnn", model="rescnn", augmentation="crop_flip", loss="label_smoothing", loss_kw={"smoothing": 0.1}, epochs=6
)
WIDE_CNN = SMALL_CNN.with_(name="wide_cnn", model="rescnn_wide")
RESNET18 = Experiment("resnet18", model="resnet18", image_size=32, augmentation="crop_flip", epochs=6)
EFFICIENTNET_LITE0 = Experiment(
    "efficientnet_lite0",
    model="efficientnet_lite0",
    pretrained="imagenet",
    transfer="finetune",
    image_size=64,
    augmentation="crop_flip",
    lr=2e-3,
    epochs=4,
)
BASELINE_MODELS = [SMALL_CNN, RESNET18, EFFICIENTNET_LITE0]
# the seed's own configuration on large RGB photos: ImageNet Lite0 fine-tuned at 3 channels, 128 high x 96 wide,
# people kept apart by group 5-fold CV. lr 1e-2 at batch 32: at smoke's 5 epochs, 2e-3 at batch 64 (75 steps)
# left it at macro F1 0.11 on holdout, 5e-3/32 reached 0.42, 1e-2/32 0.46, 2e-2/32 0.47 (one seed each).
PHOTOS_LITE0 = Experiment(
    "photos-lite0",
    data="fashion-photos",
    model="efficientnet_lite0",
    pretrained="imagenet",
    transfer="finetune",
    image_size=(128, 96),
    channels=3,
    augmentation="crop_flip",
    cv="stratified_group:5",
    lr=1e-2,
    batch_size=32,
    epochs=6,
)

# The fast recipe (issue 16): SpeedNet with the CIFAR-10 speedrun techniques, each switchable so
# experiments/test_fast_recipe.py can prove it against the recipe without it.
FAST = Experiment(
    "fast",
    model="speednet",
    model_kw={"widths": (48, 96, 192), "whiten": True, "dirac": True, "bn_momentum": 0.4},
    optimizer="sgd",
    optimizer_kw={  # momentum: SGD's default 0.9, which onecycle cycles from 0.95 to 0.85 and back
        "nesterov": True,
        "norm_lr_mult": 16.0,
        "lookahead_steps": 5,
        "lookahead_alpha": 0.5,
    },
    lr=0.2,
    weight_decay=5e-4,
    scheduler="onecycle",
    loss="label_smoothing",
    loss_kw={"smoothing": 0.1},
    augmentation="crop_alternating_flip",
    batch_size=128,
    epochs=8,
)


def fast_without(name: str, **changes) -> Experiment:
    """The fast recipe without one technique (an ablation: experiments/test_fast_recipe.py)."""
    return FAST.with_(name=f"fast-no-{name}", **changes)


def fast_model_kw(**changes) -> dict:
    return {**FAST.model_kw, **changes}


def fast_optimizer_kw(**changes) -> dict:
    return {**FAST.optimizer_kw, **changes}


FAST_ABLATIONS = {  # technique -> the recipe without it
    "whitening": fast_without("whitening", model_kw=fast_model_kw(whiten=False)),
    "dirac": fast_without("dirac", model_kw=fast_model_kw(dirac=False)),
    "fast_bn_momentum": fast_without("fast_bn_momentum", model_kw=fast_model_kw(bn_momentum=0.1)),
    "norm_lr_mult": fast_without("norm_lr_mult", optimizer_kw=fast_optimizer_kw(norm_lr_mult=1.0)),
    "lookahead": fast_without("lookahead", optimizer_kw=fast_optimizer_kw(lookahead_steps=0)),
    "nesterov": fast_without("nesterov", optimizer_kw=fast_optimizer_kw(nesterov=False)),
    "label_smoothing": fast_without("label_smoothing", loss="cross_entropy", loss_kw={}),
    "alternating_flip": fast_without("alternating_flip", augmentation="crop_flip"),
}
TRANSFER_SIZES = {"little": 0.01, "much": 1.0}  # 1% (600 images) and all of the train split (budget-capped)


def transfer_spec(size: str, mode: str) -> Experiment:
    """The ImageNet efficientnet_lite0 on fashion with little or much data, by transfer mode ("scratch",
    "feature-extract" or "finetune"): the transfer experiments' and bench_transfer's specs."""
    base = EFFICIENTNET_LITE0.with_(train_fraction=TRANSFER_SIZES[size])
    if size == "little":  # 600 images: small batches and more epochs, or training takes a handful of steps
        base = base.with_(batch_size=32, epochs=15)
    if mode == "scratch":
        return base.with_(name=f"lite0-{size}-scratch", pretrained=None, transfer="scratch", lr=3e-3)
    if mode == "feature-extract":
        return base.with_(
            name=f"lite0-{size}-feature-extract", transfer="feature-extract", lr=1e-2, augmentation="none"
        )
    return base.with_(name=f"lite0-{size}-finetune", transfer="finetune")


RECIPES = {"fast": FAST}  # what benchmarks/bench_train.py quality --recipe trains

GUARD_SEEDS = 3  # seeds per CI run of the guard model
BASELINE_SEEDS = 8  # seeds a baseline is recorded with (--update-baselines): its spread sets the tolerance
GUARD = SMALL_CNN.with_(seeds=GUARD_SEEDS)
# The long-tailed guard: class weights on fashion-lt (imbalance 100), where a fault in one or two classes (the
# minority classes given up) hides in an average; experiments/test_losses.py claims it against plain CE.
LT_GUARD = SMALL_CNN.with_(
    name="lt-weighted_ce",
    data="fashion-lt",
    loss="cross_entropy",
    loss_kw={},
    class_weights="balanced",
    seeds=GUARD_SEEDS,
)
GUARD_MODELS = {"fashion": GUARD, "fashion-lt": LT_GUARD}
