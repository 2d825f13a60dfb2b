"""Layer 2. Named augmentation pipelines (albumentations, torchvision v2) and batch mixup/cutmix."""

from .batch import mix_batch
from .presets import create_augmentation

__all__ = ["create_augmentation", "mix_batch"]
