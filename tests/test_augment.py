"""Augmentation presets: property-based checks over random images and seeds."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from competition.augment import create_augmentation, mix_batch
from competition.registry import AUGMENTATIONS
from competition.errors import ConfigError

images = st.integers(8, 40).flatmap(
    lambda side: st.sampled_from([1, 3]).flatmap(
        lambda c: arrays(np.uint8, (side, side, c), elements=st.integers(0, 255))))
SETTINGS = settings(max_examples=25, deadline=None)


def as_hwc(out) -> np.ndarray:
    return out.permute(1, 2, 0).numpy() if isinstance(out, torch.Tensor) else out


@SETTINGS
@given(image=images, preset=st.sampled_from([p for p in AUGMENTATIONS.names() if p != "none"]),
       backend=st.sampled_from(["albumentations", "torchvision"]), seed=st.integers(0, 2**31 - 1))
def test_shape_dtype_and_range_are_kept(image, preset, backend, seed):
    out = as_hwc(create_augmentation(preset, image.shape[:2], backend, seed)(image))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert out.min() >= 0 and out.max() <= 255


@SETTINGS
@given(image=images, preset=st.sampled_from(["light", "heavy", "crop_flip_erase"]),
       backend=st.sampled_from(["albumentations", "torchvision"]), seed=st.integers(0, 2**31 - 1))
def test_same_seed_same_output(image, preset, backend, seed):
    a = create_augmentation(preset, image.shape[:2], backend, seed)
    b = create_augmentation(preset, image.shape[:2], backend, seed)
    for _ in range(3):
        assert np.array_equal(as_hwc(a(image)), as_hwc(b(image)))


@SETTINGS
@given(image=images, seed=st.integers(0, 2**31 - 1), backend=st.sampled_from(["albumentations", "torchvision"]))
def test_probability_zero_is_the_identity(image, seed, backend):
    flip = ("HorizontalFlip" if backend == "albumentations" else "RandomHorizontalFlip", {"p": 0.0})
    out = create_augmentation([flip], image.shape[:2], backend, seed)(image)
    assert np.array_equal(as_hwc(out), image)
    assert create_augmentation("none", image.shape[:2], backend, seed) is None


@SETTINGS
@given(labels=arrays(np.int64, st.integers(2, 16), elements=st.integers(0, 4)), seed=st.integers(0, 2**31 - 1),
       mixup=st.sampled_from([0.0, 0.4]), cutmix=st.sampled_from([0.0, 1.0]))
def test_mixing_keeps_labels_as_distributions_over_the_batch_labels(labels, seed, mixup, cutmix):
    x = torch.randint(0, 256, (len(labels), 1, 8, 8), dtype=torch.uint8)
    y = torch.from_numpy(labels)
    mixed, soft = mix_batch(x, y, 5, np.random.default_rng(seed), mixup, cutmix)
    assert mixed.shape == x.shape and torch.allclose(soft.sum(1), torch.ones(len(y)))
    # probability mass only on classes present in the batch: labels never change into others
    assert set(torch.nonzero(soft.sum(0)).flatten().tolist()) <= set(labels.tolist())
    if not mixup and not cutmix:
        assert torch.equal(soft.argmax(1), y) and torch.equal(mixed, x)


def test_dataset_labels_never_change_under_augmentation():
    from competition.data import CachedDataset
    images = np.random.default_rng(0).integers(0, 256, (12, 10, 10, 1), dtype=np.uint8)
    ds = CachedDataset(images, np.arange(12) % 3, create_augmentation("heavy", (10, 10), seed=1))
    assert [int(y) for _, y in ds.__getitems__(list(range(12)))] == (np.arange(12) % 3).tolist()


def test_strict_arguments_and_unknown_names():
    with pytest.raises(ConfigError, match="'bogus' are not valid for transform HorizontalFlip"):
        create_augmentation([("HorizontalFlip", {"p": 0.5, "bogus": 1})], (8, 8))
    with pytest.raises(ConfigError, match="unknown augmentation preset 'wild'"):
        create_augmentation("wild", (8, 8))
    with pytest.raises(ConfigError, match="unknown augmentation backend"):
        create_augmentation("light", (8, 8), backend="kornia")


# --- what one's own augmentation may return ----------------------------------------------------------
GRAY = np.random.default_rng(0).integers(0, 256, (28, 28, 1), dtype=np.uint8)
RGB = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def own(obj, image: np.ndarray):
    """The pipeline an Experiment holding `obj` trains with, applied to one image."""
    from competition.experiment import Experiment
    return create_augmentation(Experiment("own", augmentation=obj).augmentation, image.shape[:2], seed=0)(image)


def test_an_augmentation_that_normalises_or_resizes_is_refused_before_it_trains_on_other_inputs():
    """Evaluation images are not augmented: before, A.Normalize (copied from a notebook) made the model
    train on normalised-twice images and be scored on its own scaling, and a crop to 20 px trained it at
    20 px and scored it at 28, both without a word."""
    import albumentations as A
    from albumentations.pytorch import ToTensorV2
    from torchvision.transforms import v2
    normalised = r"returned values in \[-2.\d\d, 2.\d\d\]: it normalises the image"
    for obj, image, message in [
        (A.Compose([A.HorizontalFlip(), A.Normalize(), ToTensorV2()]), RGB, normalised),
        (v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize([0.5], [0.2])]), GRAY, normalised),
        (A.Compose([A.RandomCrop(20, 20)]), GRAY, "turned a 28 x 28 image of 1 channel.* into 20 x 20 of 1"),
        (lambda image: image[::2, ::2], GRAY, "into 14 x 14"),
        (lambda image: [image], GRAY, "returned list; return the image"),
        (v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=False)]), GRAY,  # not normalised: unscaled
         r"returned floats in \[\d+.\d\d, 2\d\d.\d\d\]: pixels made float without being scaled to \[0, 1\]"),
    ]:
        with pytest.raises(ConfigError, match=message):
            own(obj, image)
    for steps, backend in [([("Normalize", {})], "albumentations"), ([("RandomCrop", {"size": 20})], "torchvision")]:
        with pytest.raises(ConfigError, match=f"{normalised}|into 20 x 20"):
            create_augmentation(steps, (28, 28), backend, seed=0)(GRAY)


def test_an_augmentation_may_return_a_tensor_or_floats_in_zero_one():
    import albumentations as A
    from albumentations.pytorch import ToTensorV2
    from torchvision.transforms import v2
    assert own(A.Compose([A.HorizontalFlip(), ToTensorV2()]), RGB).dtype == torch.uint8
    assert own(A.Compose([A.RandomResizedCrop(size=(28, 28))]), GRAY).shape == (28, 28, 1)
    scaled = own(v2.Compose([v2.ToDtype(torch.float32, scale=True)]), GRAY)
    assert scaled.shape == (1, 28, 28) and torch.allclose(scaled * 255, torch.from_numpy(GRAY).permute(2, 0, 1).float())
    assert own(lambda image: image / 255.0, GRAY).dtype == np.float32  # float64 would fail in the float32 model


def test_an_augmentation_is_described_only_when_its_output_is_refused():
    """Its description was built for every image: albumentations renders every transform's arguments, which
    cost more than the transforms on 28 px images (the fast recipe's data pipeline ran at a quarter of its rate,
    and its training at 0.67 of the model's step instead of 0.9)."""
    class Counted:
        described = 0

        def __init__(self, step: int = 1):
            self.step = step

        def __call__(self, image):
            return image[:: self.step]

        def __repr__(self):
            Counted.described += 1
            return "Counted()"

    from competition.experiment import Experiment
    augmentation = create_augmentation(Experiment("own", augmentation=Counted()).augmentation, (28, 28), seed=0)
    Counted.described = 0  # the spec may describe it once, as it is made
    for _ in range(50):
        augmentation(GRAY)
    assert Counted.described == 0
    with pytest.raises(ConfigError, match=r"augmentation Counted\(\) turned a 28 x 28"):
        own(Counted(step=2), GRAY)
