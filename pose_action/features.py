"""The ONE feature function: landmarks (+ appearance) of a clip or window -> model inputs.

Training, evaluation, prediction (files and webcam) and export all call `build_features`,
so the arrays a model sees in training are the arrays it sees on a laptop. A run's
`config.json` stores the `FeatureConfig`; inference rebuilds it from there, never from flags.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import numpy as np

from pose_action.catalog import THUMBNAILS_INPUT
from pose_action.errors import InputError
from pose_action.extraction.appearance import open_appearance
from pose_action.extraction.motion import MOTION_DIM, read_motion
from pose_action.extraction.settings import THUMB_SIZE
from pose_action.landmarks import (
    INDEX,
    NUM_LANDMARKS,
    VISIBILITY,
    WORLD,
    XY,
    XYZ,
    LandmarkSequence,
    X,
    Z,
    detected_rows,
    load_sequence,
)
from pose_action.layout import FeaturesLayout
from pose_action.people import read_second_track

LEFT_HIP, RIGHT_HIP = INDEX["left_hip"], INDEX["right_hip"]
LEFT_SHOULDER, RIGHT_SHOULDER = INDEX["left_shoulder"], INDEX["right_shoulder"]
LEFT_ANKLE, RIGHT_ANKLE = INDEX["left_ankle"], INDEX["right_ankle"]
APPEARANCE_KINDS = ("none", "thumbs", "embeddings")
# How a frame's landmarks become its pose vector (FeatureConfig.pose_features):
#   body        bone directions, joint angles, visibility and root motion of 15 body joints,
#               landmarks below the visibility gate zeroed; + velocities, presence (default)
#   normalized  all 33 landmarks hip-centred and torso-scaled (x, y, z, visibility) + root
#               + velocities: the first release's features
#   raw         x, y, z, visibility of all 33 landmarks as MediaPipe gives them, zeros where no
#               pose: the "MediaPipe + LSTM" tutorials' input (the `keypoints` baseline)
POSE_FEATURES = ("body", "normalized", "raw")
# locomotion_vectors (FeatureConfig.locomotion "full"): how fast and where the body moves, in body
#   units: root velocity x, y, speed, known; the window's steady velocity x, y, speed, known; ankle
#   spread x, y and its change; cadence; place across the frame, room to the nearest side edge,
#   speed toward that edge; presence change (see locomotion_vectors)
LOCOMOTION_CHANNELS = 16
# FeatureConfig.locomotion, what of them the pose vectors carry:
#   none   nothing (runs made before it existed)
#   speed  the window's steady velocity x, y, speed, known and its cadence (SPEED_CHANNELS): how
#          fast the body travels, read robustly over the whole window, nothing of where it is
#   full   all LOCOMOTION_CHANNELS (per-frame velocity, stride, place in the frame, entering, leaving)
LOCOMOTION_KINDS = ("none", "speed", "full")
SPEED_CHANNELS = (4, 5, 6, 7, 11)  # of locomotion_vectors' channels
SPEED_UNIT = 4.0  # torso lengths per second a velocity channel of 1 stands for (a brisk walk across the frame)
MAX_SPEED = 24.0  # torso lengths per second: faster is a detection jump, not a runner (clipped)
MAX_VELOCITY_GAP_S = 0.75  # no frame velocity between poses further apart than this (a gap, not a step)
MIN_SPAN_S = 0.3  # the window's steady velocity and cadence need poses spread over at least this
EDGE_ROOM = 5.0  # torso lengths: room to the frame edge beyond this counts as "far from the edge"
STRIDE_HYSTERESIS = 0.15  # torso lengths the ankles must pass each other by to count a step
WINDOW_POSES = 128  # the window's speed and cadence read at most this many of its poses (evenly spread)
# second_person_vectors: torso-centre offset x, y; its frame-to-frame change x, y; log relative torso size; presence
SECOND_PERSON_CHANNELS = 6
# A training-time distortion of the sampled landmarks: (points (T, 33, C), aspect, rng) -> points
Augment = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]

# The body joints the `body` features describe: face points and fingers are left out (many,
# noisy, and rarely what tells one action from another); ears keep the head's direction.
BODY_JOINTS: tuple[int, ...] = tuple(INDEX[name] for name in (
    "nose", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"))
# Bones as (from, to): their image-plane directions say where limbs point relative to gravity
# (the image's vertical) whatever the person's size and position.
BONES: tuple[tuple[int, int], ...] = tuple((INDEX[a], INDEX[b]) for a, b in (
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"), ("left_shoulder", "right_shoulder"),
    ("left_hip", "right_hip"), ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip")))
# Joint angles (a, b, c) at b, as cosines of the 3D world-landmark bones: elbows, shoulders, hips, knees.
ANGLES: tuple[tuple[int, int, int], ...] = tuple((INDEX[a], INDEX[b], INDEX[c]) for a, b, c in (
    ("left_shoulder", "left_elbow", "left_wrist"), ("right_shoulder", "right_elbow", "right_wrist"),
    ("left_hip", "left_shoulder", "left_elbow"), ("right_hip", "right_shoulder", "right_elbow"),
    ("left_shoulder", "left_hip", "left_knee"), ("right_shoulder", "right_hip", "right_knee"),
    ("left_hip", "left_knee", "left_ankle"), ("right_hip", "right_knee", "right_ankle")))

# the same as index arrays, so a clip's bones and angles are computed at once (the loader's main cost)
BONE_ENDS = (np.array([start for start, _ in BONES]), np.array([end for _, end in BONES]))
ANGLE_JOINTS = tuple(np.array(column) for column in zip(*ANGLES))


@dataclass(frozen=True)
class FeatureConfig:
    """Everything needed to rebuild a model's input; saved in the run's config.json."""

    frames: int = 32  # T: frames sampled uniformly over the whole clip
    pose_features: str = "body"  # body | normalized | raw (see POSE_FEATURES)
    visibility_gate: float = 0.5  # body: landmarks MediaPipe sees less than this are zeroed (unknown, not guessed)
    velocities: bool = True  # add frame-to-frame motion of the pose vector (body, normalized)
    max_gap: int = 3  # runs of up to this many sampled frames without a pose are interpolated
    appearance: str = "thumbs"  # none | thumbs | embeddings
    thumb_size: int = THUMB_SIZE  # side of the square RGB thumbnails
    # frames of the T the appearance stream sees, spread evenly (each stands for T / scene_frames
    # pose frames); None = every frame. Scene context changes slowly, and the thumbnail CNN
    # is most of a fusion model's cost: 8 of 32 cuts it fourfold.
    scene_frames: int | None = None
    backbone: str | None = None  # embeddings only: the frozen CNN (mobilenet_v3_small, ...)
    motion: bool = False  # optical-flow vectors of the sampled frames as input "motion" (extract --motion)
    # the second most important person, relative to the main actor, appended to each pose vector
    # (second_person_vectors; needs the people files of extract --max-people 2)
    second_person: bool = False
    # what the pose vectors carry of how fast and where the body moves (LOCOMOTION_KINDS); a bare
    # config has none, as runs made before it existed; the training recipe chooses (Recipe.locomotion)
    locomotion: str = "none"

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise InputError(f"frames (T) must be at least 2, got {self.frames}")
        if self.appearance not in APPEARANCE_KINDS:
            raise InputError(f"appearance must be one of {APPEARANCE_KINDS}, got {self.appearance!r}")
        if self.appearance == "embeddings" and not self.backbone:
            raise InputError("appearance 'embeddings' needs a backbone (e.g. mobilenet_v3_small)")
        if self.pose_features not in POSE_FEATURES:
            raise InputError(f"pose_features must be one of {POSE_FEATURES}, got {self.pose_features!r}")
        if not 0.0 <= self.visibility_gate < 1.0:
            raise InputError(f"visibility_gate must be in [0, 1), got {self.visibility_gate}")
        if self.scene_frames is not None and self.scene_frames < 1:
            raise InputError(f"scene_frames must be at least 1, got {self.scene_frames}")
        if self.locomotion not in LOCOMOTION_KINDS:
            raise InputError(f"locomotion must be one of {LOCOMOTION_KINDS}, got {self.locomotion!r}")
        if self.locomotion != "none" and self.pose_features == "raw":
            raise InputError("locomotion features need pose_features body or normalized, not raw "
                             "(the tutorials' keypoints stay as MediaPipe gives them)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> FeatureConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise InputError(f"feature config has unknown keys {sorted(unknown)} "
                             "(made by a newer pose_action?)")
        return cls(**values)  # keys an older run lacks: runs.migrate_config fills them first

    @property
    def scene_steps(self) -> int:
        """How many appearance frames the model reads (at most T)."""
        return min(self.scene_frames or self.frames, self.frames)

    def scene_groups(self) -> np.ndarray:
        """(T,) which appearance frame each of the T frames shares: frame t uses floor(t * A / T)."""
        return (np.arange(self.frames) * self.scene_steps) // self.frames

    @property
    def pose_dim(self) -> int:
        """Size of the "pose" input: one person's vector, and with second_person the other's and its place."""
        one = self.person_dim
        return one + (one + SECOND_PERSON_CHANNELS if self.second_person else 0)

    @property
    def person_dim(self) -> int:
        """Size of one person's pose vector (pose_vectors)."""
        if self.pose_features == "raw":  # x, y, z, visibility per landmark
            return NUM_LANDMARKS * 4
        locomotion = locomotion_dim(self.locomotion)
        if self.pose_features == "normalized":
            # per landmark x, y, z + visibility; root (hip) x, y; velocities of positions and root
            static, motion = NUM_LANDMARKS * 4 + 2, NUM_LANDMARKS * 3 + 2
            return static + (motion if self.velocities else 0) + locomotion
        # body: bone directions (x, y) + torso direction, angle cosines, joint visibility, root x, y;
        # the same again as velocities; then presence and the clip's share of frames with a pose
        static = len(BONES) * 2 + 2 + len(ANGLES) + len(BODY_JOINTS) + 2
        return static * (2 if self.velocities else 1) + 2 + locomotion

    @property
    def motion_dim(self) -> int:
        return MOTION_DIM


def locomotion_dim(kind: str) -> int:
    """How many channels locomotion `kind` (LOCOMOTION_KINDS) adds to one person's pose vector."""
    return {"none": 0, "speed": len(SPEED_CHANNELS), "full": LOCOMOTION_CHANNELS}[kind]


def locomotion_columns(config: FeatureConfig) -> list[int]:
    """Columns of the "pose" input (pose_dim) that hold locomotion channels: each person's last ones."""
    count = locomotion_dim(config.locomotion) if config.pose_features != "raw" else 0
    if not count:
        return []
    one = config.person_dim
    return [person * one + one - count + channel
            for person in range(2 if config.second_person else 1) for channel in range(count)]


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


def torso_scale(torso: np.ndarray, valid: np.ndarray) -> float:
    """The window's median torso length over its valid frames (1 when there is none): a person's
    unit of length that bending or a single bad frame does not change."""
    scale = float(np.median(torso[valid])) if valid.any() else 1.0
    return scale if np.isfinite(scale) and scale >= 1e-6 else 1.0


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
    scale = torso_scale(torso, valid)
    centred = (xyz - hip[:, None, :]) / scale
    root = hip[:, XY] - (hip[valid][:, XY].mean(axis=0) if valid.any() else 0.0)
    root = root / scale
    parts = [centred.reshape(len(points), -1), visibility, root]
    if velocities:
        parts.append(frame_deltas(np.concatenate([centred.reshape(len(points), -1), root], axis=1), valid))
    features = np.concatenate(parts, axis=1)
    features[~valid] = 0.0
    return np.nan_to_num(features).astype(np.float32)


def frame_deltas(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(T, F) frame-to-frame change; 0 at the first frame and across a frame without a pose."""
    delta = np.zeros_like(values)
    delta[1:] = values[1:] - values[:-1]
    delta[1:][~(valid[1:] & valid[:-1])] = 0.0
    return delta


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Unit vectors along the last axis; zero vectors (and NaN) stay zero."""
    vectors = np.nan_to_num(vectors)
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.where(norm > 1e-6, vectors / np.maximum(norm, 1e-6), 0.0)


def body_pose(points: np.ndarray, usable: np.ndarray, present: np.ndarray, aspect: float, gate: float,
              velocities: bool) -> np.ndarray:
    """Per frame: where each limb points, how each joint bends, what is seen, and how the body moves.

    Built for footage of people the model never saw: bone directions and joint angles do not
    depend on the person's size, build, position or distance to the camera; a landmark that
    MediaPipe sees with visibility below `gate` (off-screen, hidden) is zeroed instead of
    trusted, so a half-visible person gives half a pose, never a guessed one. Directions are
    in the image plane (x scaled to square units), so up and down keep their meaning (gravity);
    angles use MediaPipe's 3D world landmarks, which are less foreshortened. Root motion is the
    hip midpoint relative to its window mean, in torso lengths. The last two channels are the
    frame's presence (1 = a pose, measured or filled) and the share of the window's real frames
    that have one, so a model knows how much of the clip had a person. Padding stays all zero.
    """
    valid = usable > 0
    xy = np.nan_to_num(points[:, :, XY].astype(np.float64))
    xy[:, :, 0] *= aspect
    world = np.nan_to_num(points[:, :, WORLD].astype(np.float64))
    visibility = np.nan_to_num(points[:, :, VISIBILITY].astype(np.float64))
    seen = (visibility >= gate).astype(np.float64)
    start, end = BONE_ENDS
    bones = _unit(xy[:, end] - xy[:, start]) * (seen[:, start] * seen[:, end])[:, :, None]  # (T, bones, 2)
    hip = (xy[:, LEFT_HIP] + xy[:, RIGHT_HIP]) / 2.0
    shoulder = (xy[:, LEFT_SHOULDER] + xy[:, RIGHT_SHOULDER]) / 2.0
    torso_seen = seen[:, [LEFT_HIP, RIGHT_HIP, LEFT_SHOULDER, RIGHT_SHOULDER]].max(axis=1)
    torso_direction = _unit(shoulder - hip) * torso_seen[:, None]
    a, b, c = ANGLE_JOINTS
    angles = ((_unit(world[:, a] - world[:, b]) * _unit(world[:, c] - world[:, b])).sum(axis=-1)
              * seen[:, a] * seen[:, b] * seen[:, c])  # (T, angles)
    torso = np.linalg.norm(shoulder - hip, axis=1)
    scale = torso_scale(torso, valid)
    root = (hip - (hip[valid].mean(axis=0) if valid.any() else 0.0)) / scale
    static = np.concatenate([bones.reshape(len(points), -1), torso_direction, angles,
                             visibility[:, list(BODY_JOINTS)], root], axis=1)
    static[~valid] = 0.0
    parts = [static, frame_deltas(static, valid)] if velocities else [static]
    real = present > 0
    share = valid.sum() / real.sum() if real.any() else 0.0
    parts += [valid.astype(np.float64)[:, None], (real * share).astype(np.float64)[:, None]]
    return np.nan_to_num(np.concatenate(parts, axis=1)).astype(np.float32)


def raw_pose(points: np.ndarray, present: np.ndarray) -> np.ndarray:
    """The tutorials' input: x, y, z, visibility of the 33 landmarks as given, zeros where no pose."""
    raw = np.nan_to_num(points[:, :, :VISIBILITY + 1].reshape(len(points), -1))
    raw[present == 0] = 0.0
    return raw.astype(np.float32)


def pose_vectors(points: np.ndarray, present: np.ndarray, aspect: float, config: FeatureConfig,
                 seconds: np.ndarray | None = None, window: WindowMotion | None = None) -> np.ndarray:
    """(T, person_dim) pose vectors of T sampled frames ((T, 33, 8) landmarks, NaN where no pose).

    `seconds` (T,) is when each sampled frame was filmed (sample_seconds); the locomotion
    channels need it, so that speeds are per second whatever the frame rate and clip length."""
    if config.pose_features == "raw":
        return raw_pose(points, present)
    points, usable = fill_gaps(points, config.max_gap)
    usable = usable * present  # padding is never filled from a neighbouring pose
    if config.pose_features == "normalized":
        vectors = normalize_pose(points, usable, aspect, config.velocities)
    else:
        vectors = body_pose(points, usable, present, aspect, config.visibility_gate, config.velocities)
    if config.locomotion == "none":
        return vectors
    if seconds is None:
        raise InputError("locomotion features need the time of every sampled frame")
    moving = locomotion_vectors(points, usable, present, aspect, seconds, config.visibility_gate, window)
    if config.locomotion == "speed":
        moving = moving[:, SPEED_CHANNELS]
    return np.concatenate([vectors, moving], axis=1)


def sample_seconds(sequence: LandmarkSequence, rows: np.ndarray) -> np.ndarray:
    """(T,) when each sampled row was filmed, in seconds: the video's timestamps (they follow a
    variable frame rate, an extraction stride and a live camera's clock), else frame / fps
    where the timestamps do not increase."""
    if not len(sequence):
        return np.arange(len(rows), dtype=np.float64) / sequence.fps
    stamps = np.asarray(sequence.timestamp_ms, dtype=np.float64) / 1000.0
    if len(stamps) == 1 or np.all(np.diff(stamps) > 0):
        return stamps[rows]
    return np.asarray(sequence.frame, dtype=np.float64)[rows] / sequence.fps


def _pair_rates(values: np.ndarray, seconds: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `rows` (frames with a pose, in order): the mean rate of change of `values` (T, D)
    per second over the steps to its neighbours, and whether it has one. A step longer than
    MAX_VELOCITY_GAP_S is a gap: no rate across it (never a jump divided by one frame's time)."""
    rates = np.zeros((len(rows), values.shape[1]))
    count = np.zeros(len(rows))
    if len(rows) >= 2:
        dt = np.diff(seconds[rows])
        ok = (dt > 1e-6) & (dt <= MAX_VELOCITY_GAP_S)
        step = np.diff(values[rows], axis=0) / np.where(ok, dt, 1.0)[:, None]
        step[~ok] = 0.0
        rates[1:] += step
        rates[:-1] += step
        count[1:] += ok
        count[:-1] += ok
    known = count > 0
    rates[known] /= count[known][:, None]
    return rates, known


def steady_velocity(root: np.ndarray, seconds: np.ndarray, rows: np.ndarray) -> np.ndarray | None:
    """The window's steady velocity of `root` (T, 2) over the frames `rows`: the median of the
    slopes between every two of them at least MIN_SPAN_S / 3 apart (Theil-Sen), so a few bad
    detections and long gaps do not move it. None when the poses span less than MIN_SPAN_S."""
    if len(rows) < 2 or seconds[rows[-1]] - seconds[rows[0]] < MIN_SPAN_S:
        return None
    first, second = np.triu_indices(len(rows), 1)
    dt = seconds[rows[second]] - seconds[rows[first]]
    keep = dt >= MIN_SPAN_S / 3
    if not keep.any():
        return None
    slopes = (root[rows[second]] - root[rows[first]])[keep] / dt[keep][:, None]
    return np.median(slopes, axis=0)


def cadence(spread: np.ndarray, seconds: np.ndarray, rows: np.ndarray) -> float | None:
    """Steps per second: how often the ankles pass each other (the sign of their horizontal
    spread flips by more than STRIDE_HYSTERESIS), over the time the rows cover without gaps.
    None when they cover less than MIN_SPAN_S. Frames sampled sparser than a step undercount."""
    if len(rows) < 3:
        return None
    dt = np.diff(seconds[rows])
    covered = float(dt[dt <= MAX_VELOCITY_GAP_S].sum())
    if covered < MIN_SPAN_S:
        return None
    steps, side = 0, 0
    for value in spread[rows]:
        if abs(value) < STRIDE_HYSTERESIS:
            continue
        now = 1 if value > 0 else -1
        steps += int(side != 0 and now != side)
        side = now
    return steps / covered


@dataclass(frozen=True)
class WindowMotion:
    """How fast a clip's (or live window's) person moves, read from every frame with a pose, not
    only the T sampled ones: MediaPipe finds a walker in 15-40% of frames, and a runner crosses
    the frame in under a second, so the T sampled frames may hold two poses or none while the
    whole window holds ten. None where the poses span too little time."""

    speed: float | None  # torso lengths per second (steady_velocity's magnitude)
    cadence: float | None  # steps per second (cadence)


def window_motion(sequence: LandmarkSequence, rows: np.ndarray, gate: float) -> WindowMotion:
    """WindowMotion of the sequence's frames from the first to the last sampled row. Magnitudes
    only, so a mirrored training clip (augmented after sampling) keeps its meaning."""
    if not len(sequence):
        return WindowMotion(None, None)
    span = np.arange(int(rows.min()), int(rows.max()) + 1)
    found = span[detected_rows(sequence.data[span])]
    if len(found) > WINDOW_POSES:
        found = found[np.round(np.linspace(0, len(found) - 1, WINDOW_POSES)).astype(np.int64)]
    if len(found) < 2:
        return WindowMotion(None, None)
    seconds = sample_seconds(sequence, found)
    points = sequence.data[found]
    xy = points[:, :, XY].astype(np.float64)
    xy[:, :, 0] *= sequence.aspect
    shoulder = (xy[:, LEFT_SHOULDER] + xy[:, RIGHT_SHOULDER]) / 2.0
    hip = (xy[:, LEFT_HIP] + xy[:, RIGHT_HIP]) / 2.0
    valid = np.isfinite(shoulder).all(axis=1) & np.isfinite(hip).all(axis=1)
    scale = torso_scale(np.linalg.norm(shoulder - hip, axis=1), valid)
    root = np.nan_to_num((shoulder + hip) / 2.0) / scale
    steady = steady_velocity(root, seconds, np.flatnonzero(valid))
    visibility = np.nan_to_num(points[:, :, VISIBILITY].astype(np.float64))
    ankles = valid & (visibility[:, LEFT_ANKLE] >= gate) & (visibility[:, RIGHT_ANKLE] >= gate)
    spread = np.nan_to_num(xy[:, LEFT_ANKLE, 0] - xy[:, RIGHT_ANKLE, 0]) / scale
    speed = None if steady is None else min(float(np.linalg.norm(steady)), MAX_SPEED)
    return WindowMotion(speed, cadence(spread, seconds, np.flatnonzero(ankles)))


def locomotion_vectors(points: np.ndarray, usable: np.ndarray, present: np.ndarray, aspect: float,
                       seconds: np.ndarray, gate: float, window: WindowMotion | None = None) -> np.ndarray:
    """(T, LOCOMOTION_CHANNELS): how fast and where the body moves, in body units per second.

    What tells walking from jogging from running, whatever the distance to the camera and the
    frame rate: the root (torso centre: the mean of shoulders and hips) moves so many torso
    lengths (the window's median) per second, measured on the frames' real times. Channels:
      0-3   root velocity x, y and speed (/ SPEED_UNIT), 1 where known: the mean over the steps to
            the neighbouring poses, none across a gap longer than MAX_VELOCITY_GAP_S
      4-7   the window's steady velocity x, y (Theil-Sen, steady_velocity, over the sampled frames), its
            speed and 1 where known (from `window`, every frame of the window with a pose, when
            given: window_motion); on every real frame, so clips with few poses still carry it
      8-10  ankle spread |x|, |y| (torso lengths) and how fast it changes (/ SPEED_UNIT): the stride
      11    cadence (steps per second / 4, cadence; from `window` when given), on every real frame
      12-14 place: root x across the frame (-1 left edge .. 1 right edge), room to the nearest side
            edge (torso lengths / EDGE_ROOM, at most 1), speed toward that edge (/ SPEED_UNIT:
            > 0 leaving, < 0 entering)
      15    presence change: +1 where the pose appears, -1 where it is lost
    Speeds are clipped at MAX_SPEED (a detection that jumps to another place is not a sprint).
    Zeros where there is no pose (per-frame channels) and on padding (all).
    """
    count = len(points)
    real = present > 0
    xy = points[:, :, XY].astype(np.float64)
    xy[:, :, 0] *= aspect  # square units: frame heights
    shoulder = (xy[:, LEFT_SHOULDER] + xy[:, RIGHT_SHOULDER]) / 2.0
    hip = (xy[:, LEFT_HIP] + xy[:, RIGHT_HIP]) / 2.0
    valid = (usable > 0) & np.isfinite(shoulder).all(axis=1) & np.isfinite(hip).all(axis=1)
    scale = torso_scale(np.linalg.norm(shoulder - hip, axis=1), valid)
    root = np.nan_to_num((shoulder + hip) / 2.0) / scale  # torso lengths
    rows = np.flatnonzero(valid)
    out = np.zeros((count, LOCOMOTION_CHANNELS))

    rates, known = _pair_rates(root, seconds, rows)
    velocity = np.clip(rates, -MAX_SPEED, MAX_SPEED)
    out[rows, 0:2] = velocity / SPEED_UNIT
    out[rows, 2] = np.linalg.norm(velocity, axis=1) / SPEED_UNIT
    out[rows, 3] = known

    steady = steady_velocity(root, seconds, rows)
    if steady is not None:
        steady = np.clip(steady, -MAX_SPEED, MAX_SPEED)
        out[real, 4:6] = steady / SPEED_UNIT
    speed = window.speed if window is not None else (None if steady is None else float(np.linalg.norm(steady)))
    if speed is not None:
        out[real, 6] = speed / SPEED_UNIT
        out[real, 7] = 1.0

    visibility = np.nan_to_num(points[:, :, VISIBILITY].astype(np.float64))
    ankles = valid & (visibility[:, LEFT_ANKLE] >= gate) & (visibility[:, RIGHT_ANKLE] >= gate)
    ankle_rows = np.flatnonzero(ankles)
    spread = np.nan_to_num(xy[:, LEFT_ANKLE] - xy[:, RIGHT_ANKLE]) / scale
    out[ankle_rows, 8:10] = np.abs(spread[ankle_rows])
    stride_rates, _ = _pair_rates(np.linalg.norm(spread, axis=1)[:, None], seconds, ankle_rows)
    out[ankle_rows, 10] = np.clip(np.abs(stride_rates[:, 0]), 0.0, MAX_SPEED) / SPEED_UNIT
    steps = window.cadence if window is not None else cadence(spread[:, 0], seconds, ankle_rows)
    if steps is not None:
        out[real, 11] = steps / 4.0

    centre_x = np.nan_to_num(points[:, [LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP], X].astype(np.float64)
                             ).mean(axis=1)
    out[rows, 12] = 2.0 * centre_x[rows] - 1.0
    room = np.minimum(centre_x, 1.0 - centre_x) * aspect / scale  # frame heights -> torso lengths
    out[rows, 13] = np.clip(room[rows], 0.0, EDGE_ROOM) / EDGE_ROOM
    side = np.where(centre_x < 0.5, -1.0, 1.0)
    heading = np.where(known, velocity[:, 0], steady[0] if steady is not None else 0.0)
    out[rows, 14] = side[rows] * heading / SPEED_UNIT
    change = np.zeros(count)
    change[1:] = valid[1:].astype(np.float64) - valid[:-1]
    out[real, 15] = change[real]
    out[~real] = 0.0
    return np.nan_to_num(out).astype(np.float32)


def nearest_rows(wanted: np.ndarray, available: np.ndarray) -> np.ndarray:
    """For each wanted source-frame number, the row of the closest stored frame."""
    order = np.argsort(available)
    sorted_frames = available[order]
    right = np.clip(np.searchsorted(sorted_frames, wanted), 0, len(sorted_frames) - 1)
    left = np.clip(right - 1, 0, len(sorted_frames) - 1)
    closer_left = np.abs(wanted - sorted_frames[left]) <= np.abs(sorted_frames[right] - wanted)
    return order[np.where(closer_left, left, right)]


def scene_positions(present: np.ndarray, config: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Which of the T sampled frames gives each appearance frame, and whether it is a real frame.

    Appearance frame k stands for the sampled frames of its group (FeatureConfig.scene_groups);
    it is the real frame of the group nearest the group's middle, so padding at the end of a
    short clip is never shown while a real frame of the group exists.
    """
    groups = config.scene_groups()
    positions = np.zeros(config.scene_steps, dtype=np.int64)
    valid = np.zeros(config.scene_steps, dtype=np.float32)
    for group in range(config.scene_steps):
        members = np.flatnonzero(groups == group)
        real = members[present[members] > 0]
        candidates = real if len(real) else members
        middle = (members[0] + members[-1]) / 2.0
        positions[group] = candidates[np.argmin(np.abs(candidates - middle))]
        valid[group] = 1.0 if len(real) else 0.0
    return positions, valid


def scene_frame_numbers(sequence: LandmarkSequence, config: FeatureConfig) -> np.ndarray:
    """The source frame numbers whose appearance build_features reads (no jitter): inference
    embeds only these."""
    rows, present = sample_indices(len(sequence), config.frames)
    if not len(sequence):
        return np.zeros(0, dtype=np.int64)
    positions, _ = scene_positions(present, config)
    return sequence.frame[rows[positions]]


def build_features(sequence: LandmarkSequence, config: FeatureConfig, *,
                   appearance: tuple[np.ndarray, np.ndarray] | None = None, jitter: float = 0.0,
                   rng: np.random.Generator | None = None, augment: Augment | None = None,
                   motion: tuple[np.ndarray, np.ndarray] | None = None,
                   second: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Model inputs for one clip (training) or one window of frames (inference).

    `appearance` is (frame_index (N,), values (N, ...)): thumbnails (N, S, S, 3) uint8 or
    embeddings (N, D); each sampled frame takes the stored frame nearest to it. Returns
    `pose` (T, pose_dim) float32, `mask` (T,) float32 (1 = real frame, 0 = padding or a
    long gap) and, when configured, `frames` (A, S, S, 3) uint8 or `embeddings` (A, D) float32,
    A = config.scene_steps appearance frames (scene_positions), zeros where there is only padding,
    and `motion` (T, MOTION_DIM) float32 from `motion` = (frame_index (N,), vectors (N, D)) like appearance.
    `jitter` (training only) moves each sampled frame randomly inside its segment; `augment`
    (training only) distorts the sampled frames' landmarks (points, aspect, rng) -> points.
    With config.second_person, `second` = (frame_index (N,), poses (N, 33, C)) of the second most
    important person where seen (people.second_track; empty: nobody else) and each pose vector
    gains second_person_vectors; `augment` gives that person the same distortion as the main actor.
    """
    rows, present = sample_indices(len(sequence), config.frames, jitter, rng)
    seconds = sample_seconds(sequence, rows)
    if len(sequence):
        points = sequence.data[rows]
        frame_numbers = sequence.frame[rows]
    else:
        points = np.full((config.frames, NUM_LANDMARKS, sequence.data.shape[-1]), np.nan, np.float32)
        frame_numbers = np.zeros(config.frames, dtype=np.int64)
    other = sampled_second(second, frame_numbers, points.shape) if config.second_person else None
    if augment is not None:
        rng = rng or np.random.default_rng()
        twin = copy.deepcopy(rng) if other is not None else None  # the same draws: one mirror, one rotation
        points = augment(points, sequence.aspect, rng)
        if other is not None:
            assert twin is not None  # made above whenever there is a second person
            other = augment(other, sequence.aspect, twin)
    points[present == 0] = np.nan  # padding counts as missing, never as a pose
    window = window_motion(sequence, rows, config.visibility_gate) if config.locomotion != "none" else None
    pose = pose_vectors(points, present, sequence.aspect, config, seconds, window)
    if other is not None:
        other[present == 0] = np.nan
        pose = np.concatenate([pose, second_person_vectors(points, other, present, sequence.aspect, config,
                                                           seconds)], axis=1)
    features: dict[str, np.ndarray] = {"pose": pose, "mask": present.astype(np.float32)}
    if config.appearance != "none":
        if appearance is None:
            raise InputError(f"this model needs {config.appearance} for every clip, but none were given")
        stored_index, values = appearance
        positions, valid = scene_positions(present, config)
        picked = values[nearest_rows(frame_numbers[positions], np.asarray(stored_index))]
        picked[valid == 0] = 0
        if config.appearance == "thumbs":
            features[THUMBNAILS_INPUT] = picked.astype(np.uint8)
        else:
            features["embeddings"] = picked.astype(np.float32)
    if config.motion:
        features["motion"] = sampled_motion(motion, frame_numbers, present)
    return features


def sampled_motion(motion: tuple[np.ndarray, np.ndarray] | None, frame_numbers: np.ndarray,
                   present: np.ndarray) -> np.ndarray:
    """(T, MOTION_DIM) float32: the motion vector of the stored frame nearest each sampled frame, zeros at padding."""
    if motion is None:
        raise InputError("this model needs motion vectors for every clip (extract --motion), but none were given")
    stored_index, vectors = motion
    if vectors.ndim != 2 or vectors.shape[1] != MOTION_DIM:
        raise InputError(f"motion vectors of shape {vectors.shape}, this pose_action makes (N, {MOTION_DIM}) "
                         "(re-run extract --motion)")
    picked = np.asarray(vectors, dtype=np.float32)[nearest_rows(frame_numbers, np.asarray(stored_index))]
    picked[present == 0] = 0.0
    return picked


def load_clip_sequence(layout: FeaturesLayout, key: str, *, fps: float, width: int, height: int) -> LandmarkSequence:
    """The landmarks of one extracted clip `<Class>/<clip>`, with its video's rate and size (manifest.csv)."""
    return load_sequence(layout.landmarks(key), fps=fps, width=width, height=height)


def clip_features(layout: FeaturesLayout, key: str, config: FeatureConfig, sequence: LandmarkSequence, *,
                  jitter: float = 0.0, rng: np.random.Generator | None = None,
                  augment: Augment | None = None) -> dict[str, np.ndarray]:
    """Model inputs of one extracted clip `<Class>/<clip>` (training and evaluation path).

    `sequence` is the clip's landmarks (load_clip_sequence; training keeps them in memory
    across epochs, and augments them); its thumbnails or embeddings are read here.
    """
    path = layout.appearance(key, config.appearance, config.backbone)
    appearance = open_appearance(path, config.appearance) if path is not None else None
    motion = read_motion(layout.motion(key)) if config.motion else None
    second = read_second_track(layout.people(key)) if config.second_person else None
    return build_features(sequence, config, appearance=appearance, jitter=jitter, rng=rng, augment=augment,
                          motion=motion, second=second)


def sampled_second(second: tuple[np.ndarray, np.ndarray] | None, frame_numbers: np.ndarray,
                   shape: tuple[int, ...]) -> np.ndarray:
    """(T, 33, C) poses of the second person at the sampled source frames; NaN where not seen there."""
    if second is None:
        raise InputError("this run was trained with --second-person: it needs the other people of every frame "
                         "(the people files of extract --max-people 2), but none were given")
    stored_frames, poses = second
    other = np.full(shape, np.nan, dtype=np.float32)
    if len(stored_frames):
        stored_frames = np.asarray(stored_frames)
        rows = nearest_rows(frame_numbers, stored_frames)
        seen = stored_frames[rows] == frame_numbers  # the very frame, never a neighbour's pose
        other[seen] = np.asarray(poses, dtype=np.float32)[rows[seen]][:, :, :shape[-1]]
    return other


def _torso(points: np.ndarray, aspect: float) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2) torso centre (mean of shoulders and hips, x in frame heights) and (T,) torso length."""
    xy = points[:, :, XY].astype(np.float64) * np.array([aspect, 1.0])
    shoulder = (xy[:, LEFT_SHOULDER] + xy[:, RIGHT_SHOULDER]) / 2.0
    hip = (xy[:, LEFT_HIP] + xy[:, RIGHT_HIP]) / 2.0
    return (shoulder + hip) / 2.0, np.linalg.norm(shoulder - hip, axis=1)


def second_person_vectors(main: np.ndarray, other: np.ndarray, present: np.ndarray, aspect: float,
                          config: FeatureConfig, seconds: np.ndarray | None = None) -> np.ndarray:
    """(T, person_dim + 6): the second person's pose vector, then where it is relative to the main actor.

    The pose vector is pose_vectors of its own landmarks: the same normalization the main actor
    gets (its own torso scale and centre), so it says what that person does. Then, in the main
    actor's frame: the offset of its torso centre from the main actor's (image axes, x scaled by
    the aspect ratio, in main-actor torso lengths: the median over the window, as body_pose
    scales), the offset's frame-to-frame change (approaching, backing off), log(its torso length /
    the main actor's) (nearer or farther), and presence (1 = both people there, measured or
    gap-filled). All zeros where either person is missing: presence 0, nothing guessed.
    Mirroring both people flips the offset's x, as it should.
    """
    pose = pose_vectors(other, present, aspect, config, seconds)
    main_filled, main_usable = fill_gaps(main, config.max_gap)
    other_filled, other_usable = fill_gaps(other, config.max_gap)
    both = (main_usable * other_usable * present) > 0
    main_centre, main_torso = _torso(main_filled, aspect)
    other_centre, other_torso = _torso(other_filled, aspect)
    both &= np.isfinite(main_centre).all(axis=1) & np.isfinite(other_centre).all(axis=1)
    usable_main = (main_usable * present > 0) & np.isfinite(main_torso)
    scale = torso_scale(main_torso, usable_main)
    offset = np.where(both[:, None], (other_centre - main_centre) / scale, 0.0)
    size = np.where(both, np.log(np.clip(np.nan_to_num(other_torso, nan=scale) / scale, 0.05, 20.0)), 0.0)
    place = np.concatenate([offset, frame_deltas(offset, both), size[:, None], both[:, None].astype(np.float64)],
                           axis=1)
    pose = pose.copy()
    pose[~(other_usable * present > 0)] = 0.0
    return np.concatenate([pose, np.nan_to_num(place).astype(np.float32)], axis=1)
