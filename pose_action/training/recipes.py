"""How each model is trained: optimizer, schedule, regularization and model selection.

Small real datasets (a few dozen clips from a dozen people) decide what works here. Early
stopping on a validation set of a dozen clips picks an epoch by noise (seen: best epoch 1
of 11), and the validation groups are taken away from training. So the default recipe
trains a fixed number of epochs with a cosine-decaying learning rate, and the saved model
is the average of the weights of its last epochs (which smooths out the last epochs' noise
without looking at any held-out clip). Label smoothing keeps the model from becoming sure
of itself on a handful of training people.

The `keypoints` baseline keeps the "MediaPipe + LSTM" tutorials' recipe: 30 frames of raw
keypoints, Adam at 1e-3, plain cross-entropy, no augmentation, no class weights, the last
epoch's weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from pose_action.errors import InputError
from pose_action.features import FeatureConfig

SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class Recipe:
    """One model's training recipe; TrainOptions fields left as None take these values."""

    frames: int = FeatureConfig.frames  # T: frames sampled uniformly over each clip
    pose_features: str = FeatureConfig.pose_features  # how a frame's landmarks become its pose vector
    # what the body pose vectors carry of how fast and where the body moves (features.LOCOMOTION_KINDS);
    # models without body pose vectors (raw keypoints, no pose) get none whatever this says
    locomotion: str = "none"
    epochs: int = 60
    learning_rate: float = 3e-3
    schedule: str = "cosine"  # cosine: decays to 1% of learning_rate over the run; constant
    weight_decay: float = 1e-4  # AdamW's decoupled weight decay (0: plain Adam)
    label_smoothing: float = 0.1
    average_last: int = 10  # the saved weights are the mean of the last N epochs' (0 or 1: the last epoch's)
    patience: int = 0  # > 0: early stopping on validation loss, restoring the best epoch (replaces averaging)
    val_fraction: float = 0.0  # share of training groups held out to monitor (and, with patience, to stop)
    augment: bool = True
    class_weights: bool = True  # every class weighs the same in the loss, however many clips it has

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise InputError(f"--frames must be at least 2, got {self.frames}")
        if self.epochs < 1:
            raise InputError(f"--epochs must be at least 1, got {self.epochs}")
        if self.learning_rate <= 0:
            raise InputError(f"learning rate must be > 0, got {self.learning_rate}")
        if self.schedule not in SCHEDULES:
            raise InputError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.weight_decay < 0 or not 0.0 <= self.label_smoothing < 1.0:
            raise InputError("weight decay must be >= 0 and label smoothing in [0, 1)")
        if self.average_last < 0 or self.patience < 0:
            raise InputError("--average-last and --patience must be >= 0")
        if not 0.0 <= self.val_fraction < 1.0:
            raise InputError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")

    def to_dict(self) -> dict:
        return asdict(self)

    def with_overrides(self, **overrides: Any) -> Recipe:  # values of each field's own type (CLI options)
        """This recipe with the given fields replaced; None means "keep the recipe's value"."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise InputError(f"unknown recipe settings {unknown}; known: {sorted(known)}")
        return replace(self, **{name: value for name, value in overrides.items() if value is not None})


DEFAULT_RECIPE = Recipe()
RECIPES: dict[str, Recipe] = {
    # The tutorials train far longer (2000 epochs); 200 is where their loss has long flattened
    # on sets of this size, at a tenth of the time.
    "keypoints": Recipe(frames=30, pose_features="raw", epochs=200, learning_rate=1e-3, schedule="constant",
                        weight_decay=0.0, label_smoothing=0.0, average_last=0, augment=False, class_weights=False),
    # The LRCN tutorials read 20 frames of 64x64; it trains with the default recipe here, which
    # makes it a stronger baseline than their early stopping on a random validation split.
    "lrcn": Recipe(frames=20),
    # The window's speed and cadence lift the skeleton-only model on every real set (docs/benchmarks.md,
    # "Speed and place"); fusion's pose-only head alone reads them (models.DEFAULT_PARAMS fused_locomotion,
    # where every head reading them costs clips): within a seed's noise of none over the sets of actions
    # in place (0.7 clips fewer pooled), 7 clips of 80 ahead where people walk, jog and run.
    "pose": Recipe(locomotion="speed"),
    "fusion": Recipe(locomotion="speed"),
}


def recipe_for(model: str) -> Recipe:
    """The recipe model `model` trains with unless told otherwise."""
    return RECIPES.get(model, DEFAULT_RECIPE)
