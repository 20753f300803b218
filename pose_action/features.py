"""The ONE feature function: landmarks (+ appearance) of a clip or window -> model inputs.

Training, evaluation, prediction (files and webcam) and export all call `build_features`,
so the arrays a model sees in training are the arrays it sees on a laptop. A run's
`config.json` stores the `FeatureConfig`; inference rebuilds it from there, never from flags.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from pose_action.errors import InputError
from pose_action.extraction.appearance import read_appearance
from pose_action.landmarks import (INDEX, NUM_LANDMARKS, VISIBILITY, X, XY, XYZ, Z, LandmarkSequence, detected_rows,
                                   load_sequence)
from pose_action.layout import FeaturesLayout

LEFT_HIP, RIGHT_HIP = INDEX["left_hip"], INDEX["right_hip"]
LEFT_SHOULDER, RIGHT_SHOULDER = INDEX["left_shoulder"], INDEX["right_shoulder"]
APPEARANCE_KINDS = ("none", "thumbs", "embeddings")


@dataclass(frozen=True)
class FeatureConfig:
    """Everything needed to rebuild a model's input; saved in the run's config.json."""

    frames: int = 32  # T: frames sampled uniformly over the whole clip
    velocities: bool = True  # add frame-to-frame motion of the normalized pose
    max_gap: int = 3  # runs of up to this many sampled frames without a pose are interpolated
    appearance: str = "thumbs"  # none | thumbs | embeddings
    thumb_size: int = 64  # side of the square RGB thumbnails
    backbone: str | None = None  # embeddings only: the frozen CNN (mobilenet_v3_small, ...)

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise InputError(f"frames (T) must be at least 2, got {self.frames}")
        if self.appearance not in APPEARANCE_KINDS:
            raise InputError(f"appearance must be one of {APPEARANCE_KINDS}, got {self.appearance!r}")
        if self.appearance == "embeddings" and not self.backbone:
            raise InputError("appearance 'embeddings' needs a backbone (e.g. mobilenet_v3_small)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "FeatureConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise InputError(f"feature config has unknown keys {sorted(unknown)} "
                             "(made by a newer pose_action?)")
        return cls(**values)

    @property
    def pose_dim(self) -> int:
        # per landmark x, y, z + visibility; root (hip) x, y; the same again as velocities
        static = NUM_LANDMARKS * 4 + 2
        motion = NUM_LANDMARKS * 3 + 2
        return static + (motion if self.velocities else 0)


def sample_indices(available: int, frames: int, jitter: float = 0.0,
                   rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """T row indices spread uniformly over the whole clip (not its first T), and a validity mask.

    Each index is the centre of one of T equal segments; `jitter` (0..1) moves it randomly
    inside its segment (temporal augmentation). Clips shorter than T keep every row and pad
    the end with masked repeats of the last row.
    """
    if available <= 0:
        return np.zeros(frames, dtype=np.int64), np.zeros(frames, dtype=np.float32)
    if available < frames:
        indices = np.minimum(np.arange(frames), available - 1)
        return indices.astype(np.int64), (np.arange(frames) < available).astype(np.float32)
    segment = available / frames
    offsets = np.full(frames, 0.5)
    if jitter > 0.0:
        rng = rng or np.random.default_rng()
        offsets = offsets + rng.uniform(-0.5, 0.5, frames) * jitter
    indices = np.clip(np.floor((np.arange(frames) + offsets) * segment), 0, available - 1)
    return indices.astype(np.int64), np.ones(frames, dtype=np.float32)


def fill_gaps(points: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate runs of <= max_gap missing frames; return (points, 1 = usable / 0 = masked).

    Interior gaps are interpolated linearly between the poses on both sides; a short gap at
    either end takes the nearest pose. Longer gaps stay NaN and are masked.
    """
    detected = detected_rows(points)
    filled = points.copy()
    count = len(points)
    start = 0
    while start < count:
        if detected[start]:
            start += 1
            continue
        end = start
        while end < count and not detected[end]:
            end += 1
        length = end - start  # missing rows [start, end)
        before, after = start - 1, end
        if length <= max_gap and (before >= 0 or after < count):
            if before >= 0 and after < count:
                weights = (np.arange(1, length + 1) / (length + 1))[:, None, None]
                filled[start:end] = points[before] * (1 - weights) + points[after] * weights
            else:
                filled[start:end] = points[before if before >= 0 else after]
        start = end
    return filled, detected_rows(filled).astype(np.float32)


def normalize_pose(points: np.ndarray, usable: np.ndarray, aspect: float, velocities: bool) -> np.ndarray:
    """Hip-centred, torso-scaled pose vectors: position and distance to the camera drop out.

    x (and z) are multiplied by width/height so that image units are square. The scale is the median
    torso length (shoulder midpoint to hip midpoint) over the window, so bending does not
    rescale single frames. Root motion (hip midpoint relative to its window mean) is kept,
    so jumps stay visible after centring.
    """
    xyz = points[:, :, XYZ].astype(np.float64)
    xyz[:, :, X] *= aspect
    xyz[:, :, Z] *= aspect  # MediaPipe's z uses roughly the scale of x
    visibility = np.nan_to_num(points[:, :, VISIBILITY].astype(np.float64))
    valid = usable > 0
    hip = (xyz[:, LEFT_HIP] + xyz[:, RIGHT_HIP]) / 2.0
    shoulder = (xyz[:, LEFT_SHOULDER] + xyz[:, RIGHT_SHOULDER]) / 2.0
    torso = np.linalg.norm((shoulder - hip)[:, XY], axis=1)
    scale = float(np.median(torso[valid])) if valid.any() else 1.0
    if not np.isfinite(scale) or scale < 1e-6:
        scale = 1.0
    centred = (xyz - hip[:, None, :]) / scale
    root = hip[:, XY] - (hip[valid][:, XY].mean(axis=0) if valid.any() else 0.0)
    root = root / scale
    parts = [centred.reshape(len(points), -1), visibility, root]
    if velocities:
        motion = np.concatenate([centred.reshape(len(points), -1), root], axis=1)
        delta = np.zeros_like(motion)
        delta[1:] = motion[1:] - motion[:-1]
        delta[1:][~(valid[1:] & valid[:-1])] = 0.0  # no motion across a masked frame
        parts.append(delta)
    features = np.concatenate(parts, axis=1)
    features[~valid] = 0.0
    return np.nan_to_num(features).astype(np.float32)


def nearest_rows(wanted: np.ndarray, available: np.ndarray) -> np.ndarray:
    """For each wanted source-frame number, the row of the closest stored frame."""
    order = np.argsort(available)
    sorted_frames = available[order]
    right = np.clip(np.searchsorted(sorted_frames, wanted), 0, len(sorted_frames) - 1)
    left = np.clip(right - 1, 0, len(sorted_frames) - 1)
    closer_left = np.abs(wanted - sorted_frames[left]) <= np.abs(sorted_frames[right] - wanted)
    return order[np.where(closer_left, left, right)]


def build_features(sequence: LandmarkSequence, config: FeatureConfig, *,
                   appearance: tuple[np.ndarray, np.ndarray] | None = None, jitter: float = 0.0,
                   rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """Model inputs for one clip (training) or one window of frames (inference).

    `appearance` is (frame_index (N,), values (N, ...)): thumbnails (N, S, S, 3) uint8 or
    embeddings (N, D); each sampled frame takes the stored frame nearest to it. Returns
    `pose` (T, pose_dim) float32, `mask` (T,) float32 (1 = real frame, 0 = padding or a
    long gap) and, when configured, `frames` (T, S, S, 3) uint8 or `embeddings` (T, D) float32.
    `jitter` (training only) moves each sampled frame randomly inside its segment.
    """
    rows, present = sample_indices(len(sequence), config.frames, jitter, rng)
    if len(sequence):
        points = sequence.data[rows]
        frame_numbers = sequence.frame[rows]
    else:
        points = np.full((config.frames, NUM_LANDMARKS, sequence.data.shape[-1]), np.nan, np.float32)
        frame_numbers = np.zeros(config.frames, dtype=np.int64)
    points[present == 0] = np.nan  # padding counts as missing, never as a pose
    points, usable = fill_gaps(points, config.max_gap)
    usable = usable * present  # padding is never filled from a neighbouring pose
    pose = normalize_pose(points, usable, sequence.aspect, config.velocities)
    features: dict[str, np.ndarray] = {"pose": pose, "mask": present.astype(np.float32)}
    if config.appearance != "none":
        if appearance is None:
            raise InputError(f"this model needs {config.appearance} for every clip, but none were given")
        stored_index, values = appearance
        picked = values[nearest_rows(frame_numbers, np.asarray(stored_index))]
        picked[present == 0] = 0
        if config.appearance == "thumbs":
            features["frames"] = picked.astype(np.uint8)
        else:
            features["embeddings"] = picked.astype(np.float32)
    return features


def load_clip_sequence(layout: FeaturesLayout, key: str, *, fps: float, width: int, height: int) -> LandmarkSequence:
    """The landmarks of one extracted clip `<Class>/<clip>`, with its video's rate and size (manifest.csv)."""
    return load_sequence(layout.landmarks(key), fps=fps, width=width, height=height)


def clip_features(layout: FeaturesLayout, key: str, config: FeatureConfig, sequence: LandmarkSequence, *,
                  jitter: float = 0.0, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """Model inputs of one extracted clip `<Class>/<clip>` (training and evaluation path).

    `sequence` is the clip's landmarks (load_clip_sequence; training keeps them in memory
    across epochs, and augments them); its thumbnails or embeddings are read here.
    """
    path = layout.appearance(key, config.appearance, config.backbone)
    appearance = read_appearance(path, config.appearance) if path is not None else None
    return build_features(sequence, config, appearance=appearance, jitter=jitter, rng=rng)
