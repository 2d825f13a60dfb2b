"""Model registry, pretrained weights and transfer-learning modes."""
from .classifier import Classifier
from .registry import MODELS, create_model, list_models, register_model
from .transfer import TRANSFER_MODES, apply_transfer

__all__ = ["Classifier", "MODELS", "TRANSFER_MODES", "apply_transfer", "create_model", "list_models",
           "register_model"]
