"""Layer 2. Model registry, pretrained weights and transfer-learning modes."""

from .classifier import Classifier
from .registry import create_model, is_own_model, register_model
from .transfer import apply_transfer

__all__ = ["Classifier", "apply_transfer", "create_model", "is_own_model", "register_model"]
