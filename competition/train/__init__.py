"""Losses, optimizers/schedulers and the fit/evaluate/predict loop."""
from .loop import FitResult, TrainConfig, TrainingDiverged, evaluate, fit, predict
from .losses import CRITERIA, balanced_class_weights, create_criterion
from .optim import OPTIMIZERS, SCHEDULERS, create_optimizer, create_scheduler
from .seed import seed_everything

__all__ = ["CRITERIA", "FitResult", "OPTIMIZERS", "SCHEDULERS", "TrainConfig", "TrainingDiverged",
           "balanced_class_weights", "create_criterion", "create_optimizer", "create_scheduler", "evaluate",
           "fit", "predict", "seed_everything"]
