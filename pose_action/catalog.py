"""The names a run can be made of: the models this package builds and the embedding backbones.

Plain data with no dependencies, so `pose-action train --help`, run checks and the
TensorFlow-free runtime can name them without importing TensorFlow. `training.models.BUILDERS`
and `extraction.embeddings` build exactly these (tests check it).
"""

from __future__ import annotations

from dataclasses import dataclass

# The thumbnails' model input and build_features key. Spelled "frames" because saved models
# (model.keras, model.tflite) name their input so; in code, `frames` alone means T (docs/design.md#names).
THUMBNAILS_INPUT = "frames"
# Model name -> the build_features arrays it reads, in order. "appearance" stands for the
# appearance stream of the feature config: THUMBNAILS_INPUT, "embeddings", or nothing.
MODEL_INPUTS: dict[str, tuple[str, ...]] = {
    "keypoints": ("pose",),  # the "MediaPipe + LSTM" tutorials' baseline (raw keypoints)
    "pose": ("pose", "mask"),
    "rgb": ("appearance", "mask"),
    "fusion": ("pose", "mask", "appearance"),
    "lrcn": (THUMBNAILS_INPUT, "mask"),
    "convlstm": (THUMBNAILS_INPUT, "mask"),
    "motion": ("motion", "mask"),  # optical flow only (extract --motion): for comparison
}
# Models that read the "motion" stream when a run asks for it (train --motion); `motion` always does.
MOTION_OPTIONAL: tuple[str, ...] = ("fusion",)
# Models whose pose vectors can carry the second most important person (train --second-person).
SECOND_PERSON_MODELS: tuple[str, ...] = ("pose", "fusion")
MODEL_NAMES: tuple[str, ...] = tuple(MODEL_INPUTS)
APPEARANCE_INPUTS: dict[str, tuple[str, ...]] = {"none": (), "thumbs": (THUMBNAILS_INPUT,),
                                                  "embeddings": ("embeddings",)}


def input_names(model: str, appearance: str, motion: bool = False) -> list[str]:
    """The build_features keys model `model` reads under a feature config's `appearance` kind (and motion)."""
    names: list[str] = []
    for name in MODEL_INPUTS[model]:
        names.extend(APPEARANCE_INPUTS[appearance] if name == "appearance" else (name,))
    if motion and model in MOTION_OPTIONAL:
        names.append("motion")
    return names


@dataclass(frozen=True)
class Backbone:
    """A frozen Keras application used for embeddings."""

    constructor: str  # keras.applications attribute
    weights_file: str  # the no-top ImageNet weights file Keras downloads
    scale: str  # "0-255": the model rescales itself; "-1-1": (x / 127.5) - 1 first


BACKBONE_SPECS: dict[str, Backbone] = {
    "mobilenet_v3_small": Backbone("MobileNetV3Small", "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
                                   "0-255"),
    "mobilenet_v2": Backbone("MobileNetV2", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
                             "-1-1"),
    "efficientnet_b0": Backbone("EfficientNetB0", "efficientnetb0_notop.h5", "0-255"),
}
BACKBONES: tuple[str, ...] = tuple(BACKBONE_SPECS)
