"""Named augmentation pipelines on albumentations 2.x or torchvision.transforms.v2.

A pipeline maps one H x W x C uint8 image to an augmented image of the same
size: a uint8 array (albumentations) or a C x H x W tensor (torchvision).
Normalisation is not here: each model normalises with its own weights' stats.

    create_augmentation("light", size=(28, 28), seed=0)
    create_augmentation([("HorizontalFlip", {"p": 0.5})], size=(28, 28))
    create_augmentation("light", size=(28, 28), backend="torchvision")
"""

from __future__ import annotations

import copy
import os
import random
import warnings
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations checks the network at import

import numpy as np
import torch

from ..errors import ConfigError
from ..registry import AUGMENTATION_STEPS, AUGMENTATIONS, SpecObject, describe

Step = tuple[str, dict]
# backend-neutral steps; any other name is a raw albumentations / torchvision v2 class name
for _step in ("flip", "alternating_flip", "resize", "pad_crop", "erase", "affine", "brightness_contrast"):
    AUGMENTATION_STEPS.register(_step, _step)


def preset_table(size: tuple[int, int]) -> dict[str, list[Step]]:
    """Each preset as backend-neutral (name, params) steps for images of `size`."""
    h, w = size
    pad = max(2, round(0.1 * min(h, w)))
    flip = ("flip", {"p": 0.5})
    pad_crop = ("pad_crop", {"pad": pad, "size": (h, w)})
    erase = ("erase", {"p": 0.5, "scale": (0.02, 0.15)})
    affine = ("affine", {"p": 0.5, "degrees": 10, "translate": 0.08, "scale": (0.9, 1.1)})
    return {
        "none": [],
        "base": [("resize", {"size": (h, w)})],
        "light": [flip, affine],
        "heavy": [flip, affine, pad_crop, ("brightness_contrast", {"p": 0.5, "limit": 0.2}), erase],
        # for small grayscale images (Fashion-MNIST and friends)
        "crop_flip": [pad_crop, flip],
        "crop_flip_erase": [pad_crop, flip, erase],
        # each image flipped in every other epoch, from a random first epoch (the CIFAR-10 speedruns)
        "crop_alternating_flip": [pad_crop, ("alternating_flip", {})],
        "affine": [affine],
    }


for _preset in preset_table((28, 28)):
    AUGMENTATIONS.register(_preset, _preset)


def preset_steps(name: str, size: tuple[int, int]) -> list[Step]:
    return preset_table(size)[AUGMENTATIONS.check(name)]


# --- albumentations ---------------------------------------------------------------
def albumentations_step(step: Step):
    import albumentations as A
    import cv2

    name, p = step
    if name == "flip":
        return A.HorizontalFlip(p=p["p"])
    if name == "resize":
        return A.Resize(*p["size"])
    if name == "pad_crop":
        h, w = p["size"]
        return A.Compose(
            [
                A.PadIfNeeded(h + 2 * p["pad"], w + 2 * p["pad"], border_mode=cv2.BORDER_CONSTANT, fill=0),
                A.RandomCrop(h, w),
            ]
        )
    if name == "erase":
        return A.Erasing(p=p["p"], scale=p["scale"])
    if name == "affine":
        return A.Affine(
            p=p["p"],
            rotate=(-p["degrees"], p["degrees"]),
            scale=p["scale"],
            translate_percent=(-p["translate"], p["translate"]),
            border_mode=cv2.BORDER_CONSTANT,
            fill=0,
        )
    if name == "brightness_contrast":
        return A.RandomBrightnessContrast(p=p["p"], brightness_limit=p["limit"], contrast_limit=p["limit"])
    return getattr(A, name)(**p)  # a raw albumentations transform by class name


def named(source: Any) -> str:
    """The augmentation in an error message. Only there: its repr costs more than a 28 px image's transforms
    (albumentations renders every transform's arguments), and it was once built for every image."""
    return f"augmentation {describe(source, 80)}"


def checked_output(out: Any, image: np.ndarray, source: Any) -> Any:
    """An augmentation's output as the loop takes it: the image at its size and channels, uint8 or float
    in [0, 1] (float64 made float32); anything else is a ConfigError that says what the augmentation did.
    Evaluation images are not augmented, so an output that differs in size or scale from its input would
    train the model on other inputs than it is scored on, without a word."""
    if isinstance(out, np.ndarray) and out.ndim == 2:
        out = out[:, :, None]
    if isinstance(out, np.ndarray) and out.ndim == 3:
        size, channels = out.shape[:2], out.shape[2]
    elif isinstance(out, torch.Tensor) and out.ndim == 3:
        size, channels = tuple(out.shape[1:]), out.shape[0]
    else:
        shown = tuple(out.shape) if hasattr(out, "shape") else type(out).__name__
        raise ConfigError(
            f"{named(source)} returned {shown}; return the image, an H x W x C array or a C x H x W tensor"
        )
    if tuple(size) != image.shape[:2] or channels != image.shape[2]:
        raise ConfigError(
            f"{named(source)} turned a {image.shape[0]} x {image.shape[1]} image of {image.shape[2]} channel(s) into "
            f"{size[0]} x {size[1]} of {channels}; evaluation images are not augmented, so the model would train "
            "on another size than it is scored on: keep the size (e.g. A.RandomResizedCrop(size=(h, w)), or "
            "pad and crop back) and set the size with Experiment(image_size=...)"
        )
    if out.dtype in (np.uint8, torch.uint8):
        return out
    low, high = float(out.min()), float(out.max())
    if low >= -0.01 and 3.0 < high <= 255.5:  # past any normalised pixel's reach: floats of 0-255, unscaled
        raise ConfigError(
            f"{named(source)} returned floats in [{low:.2f}, {high:.2f}]: pixels made float without being scaled "
            "to [0, 1] (v2.ToDtype(torch.float32, scale=False), image.astype(np.float32)), which the model would read "
            "as 255 times as bright as the evaluation images. Return uint8, or floats in [0, 1] "
            "(v2.ToDtype(torch.float32, scale=True), image / 255)"
        )
    if low < -0.01 or high > 1.01:
        raise ConfigError(
            f"{named(source)} returned values in [{low:.2f}, {high:.2f}]: it normalises the image (A.Normalize, "
            "v2.Normalize), which the model does itself, with its weights' mean and std, from uint8 pixels or "
            "floats in [0, 1]; evaluation images are not augmented, so they would reach it on another scale. "
            "Remove the normalisation (ToTensorV2 or v2.ToDtype(torch.float32, scale=True) may stay)"
        )
    return out.astype(np.float32) if isinstance(out, np.ndarray) else out.float()


class AlbumentationsPipeline:
    def __init__(self, steps: list[Step], seed: int):
        import albumentations as A

        with warnings.catch_warnings():  # strict Compose below turns bad arguments into errors
            warnings.simplefilter("ignore", UserWarning)
            transforms = [albumentations_step(s) for s in steps]
        self.compose = A.Compose(transforms, strict=True, seed=seed)

    def set_random_seed(self, seed: int) -> None:
        self.compose.set_random_seed(seed)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return checked_output(self.compose(image=image)["image"], image, self.compose)


# --- torchvision.transforms.v2 -----------------------------------------------------------
def torchvision_step(step: Step):
    from torchvision.transforms import v2

    name, p = step
    if name == "flip":
        return v2.RandomHorizontalFlip(p=p["p"])
    if name == "resize":
        return v2.Resize(p["size"], antialias=True)
    if name == "pad_crop":
        return v2.RandomCrop(p["size"], padding=p["pad"], fill=0)
    if name == "erase":
        return v2.RandomErasing(p=p["p"], scale=p["scale"], value=0)
    if name == "affine":
        return v2.RandomApply(
            [v2.RandomAffine(p["degrees"], translate=(p["translate"],) * 2, scale=p["scale"])], p=p["p"]
        )
    if name == "brightness_contrast":
        return v2.RandomApply([v2.ColorJitter(brightness=p["limit"], contrast=p["limit"])], p=p["p"])
    return getattr(v2, name)(**p)


class TorchvisionPipeline:
    """v2 transforms draw from torch's global RNG; each call forks it from our own seed stream."""

    def __init__(self, steps: list[Step], seed: int):
        from torchvision.transforms import v2

        self.compose = v2.Compose([torchvision_step(s) for s in steps])
        self.set_random_seed(seed)

    def set_random_seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.rng.integers(2**63)))
            return checked_output(self.compose(tensor), image, self.compose)


MASK64 = 2**64 - 1


def image_coin(seed: int, index: int) -> int:
    """A fixed random bit per (seed, image): the splitmix64 finaliser of seed and index, top bit."""
    z = (seed * 0x9E3779B97F4A7C15 + index + 1) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return (z ^ (z >> 31)) >> 63


class AlternatingFlip:
    """Horizontal flip that alternates per image across epochs: image i is flipped in epoch e when
    coin(i) + e is odd, so each image is seen both ways every two epochs (a random flip leaves a
    quarter of them unflipped, or flipped, for two epochs running). The coins come from the seed the
    pipeline was made with and stay fixed across epochs; the epoch comes from set_epoch, the index
    from the dataset (takes_index). Runs after the other steps, on their output."""

    takes_index = True

    def __init__(self, inner, seed: int):
        self.inner, self.seed, self.epoch = inner, seed, 0
        self.rng = np.random.default_rng(seed)

    def set_random_seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        if self.inner is not None:
            self.inner.set_random_seed(seed)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __call__(self, image: np.ndarray, index: int | None = None):
        """Called without an index (outside a dataset), it is a seeded random flip."""
        out = image if self.inner is None else self.inner(image)
        coin = image_coin(self.seed, index) if index is not None else int(self.rng.integers(2))
        if (coin + self.epoch) % 2 == 0:
            return out
        return out.flip(-1) if isinstance(out, torch.Tensor) else out[:, ::-1]


class ObjectPipeline:
    """One's own augmentation, seeded like the presets: an albumentations transform (called as
    aug(image=...)["image"], seeded with set_random_seed), a torchvision v2 transform (a C x H x W uint8
    tensor in; torch's RNG forked from our seed stream for each call), or a function of one H x W x C uint8
    array (numpy's, Python's and torch's RNGs forked likewise, so it may draw from any of them)."""

    def __init__(self, obj, seed: int):
        self.obj = copy.deepcopy(obj)
        module = type(self.obj).__module__
        self.kind = (
            "albumentations"
            if module.startswith("albumentations")
            else "torchvision"
            if module.startswith("torchvision")
            else "function"
        )
        self.set_random_seed(seed)

    def set_random_seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        if self.kind == "albumentations" and hasattr(self.obj, "set_random_seed"):
            self.obj.set_random_seed(seed)

    def __call__(self, image: np.ndarray):
        return checked_output(self.augment(image), image, self.obj)

    def augment(self, image: np.ndarray):
        if self.kind == "albumentations":
            return self.obj(image=image)["image"]
        draw = int(self.rng.integers(2**32))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(draw)
            if self.kind == "torchvision":
                return self.obj(torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))))
            numpy_state, python_state = np.random.get_state(), random.getstate()
            np.random.seed(draw)
            random.seed(draw)
            try:
                out = self.obj(image)
            finally:
                np.random.set_state(numpy_state)
                random.setstate(python_state)
        return np.ascontiguousarray(out) if isinstance(out, np.ndarray) else out


def create_augmentation(spec: Any, size: tuple[int, int], backend: str = "albumentations", seed: int = 0):
    """A seeded pipeline from a preset name, a list of (name, params) pairs, a registered list of steps or
    a spec's object (ObjectPipeline); None for 'none'."""
    if isinstance(spec, str):
        entry = AUGMENTATIONS.get(spec)
        if isinstance(entry, SpecObject) or callable(entry):
            return ObjectPipeline(entry.obj if isinstance(entry, SpecObject) else entry, seed)
        if isinstance(entry, (list, tuple)):  # a preset registered as its steps
            spec = list(entry)
    steps = preset_steps(spec, (size[0], size[1])) if isinstance(spec, str) else list(spec)
    alternating = any(name == "alternating_flip" for name, _ in steps)
    steps = [step for step in steps if step[0] != "alternating_flip"]
    if not steps:
        return AlternatingFlip(None, seed) if alternating else None
    if backend not in ("albumentations", "torchvision"):
        raise ConfigError(f"unknown augmentation backend {backend!r}; use 'albumentations' or 'torchvision'")
    try:
        pipeline = (AlbumentationsPipeline if backend == "albumentations" else TorchvisionPipeline)(steps, seed)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"augmentation {spec!r} ({backend}): {exc}") from exc
    return AlternatingFlip(pipeline, seed) if alternating else pipeline
