"""Training-time augmentation, with every setting in one place (recorded in the run's config.json).

Augmentation touches training clips only, in NumPy before the model, so the saved model has
no training-only layers and inference stays deterministic. All randomness comes from the
generator the batch loader makes for each (seed, epoch, clip): a run is reproducible
whatever the order in which loader threads ask for batches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from pose_action.errors import InputError
from pose_action.landmarks import BODY_PARTS, INDEX, LANDMARK_NAMES, MIRROR, VISIBILITY, WORLD, WX, XY, X, Y


@dataclass(frozen=True)
class AugmentConfig:
    """How training clips are varied (TrainOptions.augmentation; None in a run: not augmented)."""

    temporal_jitter: float = 0.8  # 0..1: each sampled frame moves this far (in segments) inside its segment
    # probability that a clip is mirrored: its landmarks (x -> 1 - x, left and right swapped), thumbnails
    # and motion together, one decision per clip (clip_mirrored), so every stream sees the same scene
    flip: float = 0.5
    stretch: float = 0.1  # x and y stretched independently by up to ±this (uniform scale is normalized away)
    rotate_degrees: float = 10.0  # in-plane rotation up to ±this, about the image centre
    noise: float = 0.03  # landmark jitter: Gaussian, sigma this share of the torso length (world: of 0.5 m)
    drop_frames: float = 0.1  # up to this share of frames lose their pose (missed detections)
    partial_body: float = 0.6  # probability that the legs, the arms or one side are barely visible all clip
    thumb_shift: float = 0.1  # thumbnails shifted by up to this share of their side (edge-padded)

    def __post_init__(self) -> None:
        for name in ("temporal_jitter", "flip", "drop_frames", "partial_body"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"augmentation {name} must be between 0 and 1, got {getattr(self, name)}")
        for name in ("stretch", "rotate_degrees", "noise", "thumb_shift"):
            if getattr(self, name) < 0:
                raise InputError(f"augmentation {name} must be >= 0, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)


def mirror_points(points: np.ndarray) -> np.ndarray:
    """Horizontal flip of (T, 33, 8) landmarks: x -> 1 - x, world x negated, left/right swapped."""
    flipped = points[:, list(MIRROR)].copy()
    flipped[:, :, X] = 1.0 - flipped[:, :, X]
    flipped[:, :, WX] = -flipped[:, :, WX]
    return flipped


def clip_mirrored(rng: np.random.Generator, config: AugmentConfig) -> bool:
    """Whether this clip is mirrored: drawn once, then given to every stream's augmentation."""
    return bool(rng.random() < config.flip)


def augment_points(points: np.ndarray, aspect: float, rng: np.random.Generator, config: AugmentConfig, *,
                   mirrored: bool) -> np.ndarray:
    """The mirrored performance (when the clip is mirrored), then a small anisotropic stretch and
    rotation, then the failures of real footage (degrade_landmarks). (T, 33, C) landmarks, NaN where no pose.

    Training applies it to the T frames a clip is sampled to (build_features' `augment`), not
    to every frame of the clip: the same distortions at a fraction of the cost for long clips.
    The stretch is x vs y, like a change of camera aspect or body build. Rotation is about
    the image centre in square units (x scaled by the frame's aspect ratio).
    """
    points = mirror_points(points) if mirrored else points.copy()
    x = (points[:, :, X] - 0.5) * aspect
    y = points[:, :, Y] - 0.5
    angle = np.deg2rad(rng.uniform(-config.rotate_degrees, config.rotate_degrees))
    stretch_x, stretch_y = 1.0 + rng.uniform(-config.stretch, config.stretch, size=2)
    cos, sin = np.cos(angle), np.sin(angle)
    points[:, :, XY] = np.stack([(cos * x - sin * y) * stretch_x / aspect + 0.5,
                                 (sin * x + cos * y) * stretch_y + 0.5], axis=-1)
    return degrade_landmarks(points, rng, config)


# Body parts that real footage loses as a whole: legs below the frame edge or behind a bench,
# arms out of frame in a close-up, the far side of a person filmed from the side.
LOWER_BODY = tuple(INDEX[name] for name in LANDMARK_NAMES if any(part in name for part in (
    "hip", "knee", "ankle", "heel", "foot")))
ARMS = BODY_PARTS["arms"]
SIDES = tuple(tuple(INDEX[name] for name in LANDMARK_NAMES if name.startswith(side)) for side in ("left", "right"))


def degrade_landmarks(points: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """Make clean landmarks look like MediaPipe's on real footage: jitter, missed frames, unseen parts.

    A model trained on these cannot lean on a body part that new footage may not show (the
    `body` features zero landmarks below their visibility gate), and does not mistake
    detection noise for motion.
    """
    points = points.copy()
    if config.noise > 0:
        hip = points[:, [INDEX["left_hip"], INDEX["right_hip"]]][:, :, XY].mean(axis=1)
        shoulder = points[:, [INDEX["left_shoulder"], INDEX["right_shoulder"]]][:, :, XY].mean(axis=1)
        lengths = np.linalg.norm(shoulder - hip, axis=1)
        lengths = lengths[np.isfinite(lengths)]  # frames without a pose are NaN
        torso = float(np.median(lengths)) if len(lengths) else 0.0
        torso = torso if torso > 0 else 0.2
        points[:, :, XY] += rng.normal(0.0, config.noise * torso, size=points[:, :, XY].shape)
        points[:, :, WORLD] += rng.normal(0.0, config.noise * 0.5, size=points[:, :, WORLD].shape)
    if config.drop_frames > 0 and len(points):
        points[rng.random(len(points)) < config.drop_frames * rng.random()] = np.nan
    if config.partial_body > 0 and rng.random() < config.partial_body:
        hidden = (LOWER_BODY, ARMS, SIDES[int(rng.integers(2))])[int(rng.integers(3))]
        points[:, list(hidden), VISIBILITY] = rng.uniform(0.0, 0.3, size=(len(points), len(hidden)))
    return points


def augment_thumbnails(frames: np.ndarray, rng: np.random.Generator, config: AugmentConfig, *,
                       mirrored: bool) -> np.ndarray:
    """Flip a clip's (T, S, S, 3) thumbnails horizontally (when the clip is mirrored) and shift them, edge-padded.

    The same flip and shift for every frame of the clip, so the motion seen in the frames stays intact.
    """
    frames = frames[:, :, ::-1] if mirrored else frames
    size = frames.shape[1]
    limit = int(round(size * config.thumb_shift))
    if limit < 1:
        return np.ascontiguousarray(frames)
    dy, dx = rng.integers(-limit, limit + 1, size=2)
    padded = np.pad(frames, ((0, 0), (limit, limit), (limit, limit), (0, 0)), mode="edge")
    return np.ascontiguousarray(padded[:, limit + dy:limit + dy + size, limit + dx:limit + dx + size])
