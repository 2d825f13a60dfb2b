"""Layer 2. Losses, optimizers/schedulers and the fit/evaluate/predict loop."""

from .loop import (
    KEPT_WEIGHTS,
    RESUME_CHECKPOINT,
    Callback,
    EarlyStopping,
    FitResult,
    LogEpoch,
    TrainConfig,
    TrainingDiverged,
    evaluate,
    fit,
    predict,
)
from .losses import balanced_class_weights, create_criterion
from .optim import create_optimizer, create_scheduler
from .seed import seed_everything

__all__ = [
    "KEPT_WEIGHTS",
    "RESUME_CHECKPOINT",
    "Callback",
    "EarlyStopping",
    "FitResult",
    "LogEpoch",
    "TrainConfig",
    "TrainingDiverged",
    "balanced_class_weights",
    "create_criterion",
    "create_optimizer",
    "create_scheduler",
    "evaluate",
    "fit",
    "predict",
    "seed_everything",
]
