"""Training: built-in architectures, the training loop and adversarial attacks.

``build_model`` makes a classifier (a small built-in or any ``module:callable``),
``train_classifier`` trains and evaluates it epoch by epoch, and ``attack`` /
``evaluate_robustness`` measure its loss and accuracy under FGSM and PGD.
"""

from .architectures import build_model, last_hidden_layer, list_models
from .attacks import RobustnessResult, attack, evaluate_robustness
from .loop import TrainResult, as_model_input, evaluate, train_classifier

__all__ = [
    "build_model", "list_models", "last_hidden_layer",
    "TrainResult", "train_classifier", "evaluate", "as_model_input",
    "RobustnessResult", "attack", "evaluate_robustness",
]
