"""Frozen CNN embeddings of frames (computed once at extraction, read by rgb/fusion models).

A Keras application without its classifier (`include_top=False`, global average pooling),
frozen: one vector per frame. Weights: `imagenet` (Keras downloads them on first use into
~/.keras/models/; offline, a clear InputError says which file to put there), `none` (random
init: for tests and plumbing) or a PATH to a .weights.h5/.h5/.keras file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from pose_action.catalog import BACKBONE_SPECS, BACKBONES
from pose_action.errors import InputError

INPUT_SIZE = 224  # what the ImageNet weights were trained at


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights (KERAS_HOME, default ~/.keras)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def _build(backbone: str, weights: str | None):
    import keras

    spec = BACKBONE_SPECS[backbone]
    constructor: Callable = getattr(keras.applications, spec.constructor)
    return constructor(input_shape=(INPUT_SIZE, INPUT_SIZE, 3), include_top=False, weights=weights, pooling="avg")


def _load(backbone: str, weights: str):
    """The frozen feature extractor, or an InputError the user can act on."""
    spec = BACKBONE_SPECS[backbone]
    if weights == "none":
        return _build(backbone, None)
    if weights == "imagenet":
        try:
            return _build(backbone, "imagenet")
        except Exception as error:  # Keras raises a bare Exception when the download fails
            first_line = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
            raise InputError(
                f"cannot get the ImageNet weights of {backbone} ({first_line}). Offline? Copy "
                f"{spec.weights_file} (Keras' no-top ImageNet weights of {spec.constructor}) into "
                f"{keras_cache_dir()}/, or pass a weights file (--embed-weights PATH), or "
                "--embed-weights none (random weights: plumbing only)") from None
    path = Path(weights).expanduser()
    if not path.is_file():
        raise InputError(f"{path}: embedding weights not found (use imagenet, none or a weights file)")
    if path.suffix == ".keras":
        import keras

        try:
            model = keras.saving.load_model(path, compile=False)
        except (ValueError, OSError, TypeError) as error:
            raise InputError(f"{path}: cannot load the model ({str(error).splitlines()[0][:200]})") from None
        if len(model.output_shape) != 2 or tuple(model.input_shape[1:]) != (INPUT_SIZE, INPUT_SIZE, 3):
            raise InputError(f"{path}: expected a (N, {INPUT_SIZE}, {INPUT_SIZE}, 3) -> (N, D) model, got "
                             f"{model.input_shape} -> {model.output_shape}")
        return model
    try:
        return _build(backbone, str(path))
    except (ValueError, OSError, KeyError) as error:
        raise InputError(f"{path}: not {backbone} no-top weights ({str(error).splitlines()[0][:200]})") from None


class Embedder:
    """frames (N, H, W, 3) uint8 RGB -> (N, D) float32, with a frozen Keras application."""

    def __init__(self, backbone: str, weights: str = "imagenet", batch_size: int = 32) -> None:
        if backbone not in BACKBONE_SPECS:
            raise InputError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
        self.backbone = backbone
        self.weights = weights
        self.batch_size = batch_size
        self.model = _load(backbone, weights)
        self.model.trainable = False
        self.input_size = INPUT_SIZE
        self.dim = int(self.model.output_shape[-1])
        self._scale = BACKBONE_SPECS[backbone].scale

    def _prepare(self, frames_rgb: np.ndarray) -> np.ndarray:
        frames_rgb = np.asarray(frames_rgb)
        if frames_rgb.ndim != 4 or frames_rgb.shape[-1] != 3:
            raise InputError(f"expected frames of shape (N, H, W, 3), got {frames_rgb.shape}")
        if frames_rgb.shape[1:3] != (self.input_size, self.input_size):
            frames_rgb = np.stack([cv2.resize(frame, (self.input_size, self.input_size),
                                              interpolation=cv2.INTER_AREA) for frame in frames_rgb])
        values = frames_rgb.astype(np.float32)
        return values / 127.5 - 1.0 if self._scale == "-1-1" else values

    def embed(self, frames_rgb: np.ndarray) -> np.ndarray:
        """One vector per frame; frames of any size are resized to the backbone's input."""
        if len(frames_rgb) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        values = self._prepare(frames_rgb)
        vectors = [np.asarray(self.model(values[start:start + self.batch_size], training=False))
                   for start in range(0, len(values), self.batch_size)]
        return np.concatenate(vectors).astype(np.float32)
