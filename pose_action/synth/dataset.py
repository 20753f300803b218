"""Render a synthetic UCF50-style dataset: drawn actors performing actions, with exact joints.

OUT/<Class>/v_<Class>_gNN_cNN.mp4 (group = actor) and beside each video
v_<Class>_gNN_cNN.joints.csv: the drawn positions of the figure's joints, named like
MediaPipe's landmarks, image-normalized. The real pose model finds these figures, so the
whole flow (extract, train, predict) runs on a laptop with no dataset downloaded, and
tests get labelled videos with known ground truth. The same seed gives the same frames.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from pose_action.errors import InputError
from pose_action.files import atomic_path, check_writable
from pose_action.landmarks import LANDMARK_NAMES, NUM_LANDMARKS, X, Y
from pose_action.synth.figure import Body, View, draw_figure, mirror_points, project, skeleton
from pose_action.synth.motions import ACTION_TABLE, ACTIONS, Action
from pose_action.synth.scenes import SHAKE_MARGIN, draw_occluder, hsv_color, jitter_color, keyed_rng, make_background, pick_color
from pose_action.video import write_video

log = logging.getLogger(__name__)

DEFAULT_SIZE = (320, 240)
DEFAULT_FPS = 25.0
DEFAULT_SECONDS = 2.0
DEFAULT_OCCLUSION_RATE = 0.15
JOINTS_SUFFIX = ".joints.csv"
DRAWN = 2  # ground-truth joints are (frames, 33, 3): X, Y as in landmarks, then 1 where the joint is drawn

# Joints that exist on the drawn figure (all of MediaPipe's: face points, hands and feet are drawn).
DRAWN_LANDMARKS: tuple[str, ...] = LANDMARK_NAMES


# ----------------------------------------------------------------------------- actors

SKIN_TONES: tuple[tuple[int, int, int], ...] = (
    (196, 222, 250), (160, 195, 235), (125, 165, 215), (95, 135, 190), (65, 100, 150), (45, 70, 110))
HAIR_COLORS: tuple[tuple[int, int, int], ...] = (
    (20, 20, 25), (25, 40, 65), (40, 70, 110), (90, 160, 210), (40, 70, 160), (150, 150, 150))


def random_body(rng: np.random.Generator) -> Body:
    """Proportions and colours of one actor."""
    size = lambda value, spread=0.06: value * rng.uniform(1 - spread, 1 + spread)  # noqa: E731
    base = Body()
    skin = jitter_color(rng, SKIN_TONES[rng.integers(len(SKIN_TONES))], 10)
    hair = pick_color(rng, lambda: jitter_color(rng, HAIR_COLORS[rng.integers(len(HAIR_COLORS))], 10), [skin], 60.0)
    shirt = pick_color(rng, lambda: hsv_color(rng, (0.35, 0.9), (0.35, 0.95)), [skin], 40.0)
    pants = pick_color(rng, lambda: hsv_color(rng, (0.2, 0.7), (0.15, 0.55)), [shirt], 30.0)
    return Body(
        torso=size(base.torso), shoulder_half=size(base.shoulder_half, 0.1), hip_half=size(base.hip_half, 0.1),
        neck=size(base.neck, 0.15), head_width=size(base.head_width), head_height=size(base.head_height),
        upper_arm=size(base.upper_arm), forearm=size(base.forearm), hand=size(base.hand),
        thigh=size(base.thigh), shin=size(base.shin), ankle_height=base.ankle_height, foot=size(base.foot),
        limb_width=rng.uniform(0.85, 1.25),
        skin=skin, hair=hair, hair_long=bool(rng.random() < 0.35), shirt=shirt,
        sleeves=bool(rng.random() < 0.4), pants=pants,
        shoes=pick_color(rng, lambda: hsv_color(rng, (0.0, 0.5), (0.1, 0.9)), [pants], 30.0),
    )


@dataclass(frozen=True)
class Actor:
    """Everything that stays the same across an actor's clips: the UCF50 'group'."""

    body: Body
    height_fraction: float  # standing height / frame height
    x_fraction: float  # where the feet are, across the frame
    ground_fraction: float  # where the feet are, down the frame
    camera_pitch: float
    horizon_fraction: float  # floor/wall line of the background
    background: str  # generic background kind for classes without a scene
    background_seed: int


def make_actor(seed: int, actor: int) -> Actor:
    rng = keyed_rng(seed, actor, "actor")
    return Actor(
        body=random_body(rng), height_fraction=rng.uniform(0.6, 0.7), x_fraction=rng.uniform(0.38, 0.62),
        ground_fraction=rng.uniform(0.91, 0.95), camera_pitch=rng.uniform(12.0, 20.0),
        horizon_fraction=rng.uniform(0.5, 0.68), background=("room", "park", "gym")[rng.integers(3)],
        background_seed=int(rng.integers(2**31)))


@dataclass(frozen=True)
class Performance:
    """Per-clip variation. Drawn from the motion key, so the classes of a scene pair get the
    same performance (and the same joints) for the same seed, actor and clip."""

    speed: float
    phase: float
    amplitude: float
    mirrored: bool  # performed left-handed
    yaw: float  # figure turned from the camera, degrees
    shake: float  # camera shake amplitude, pixels
    shake_phases: tuple[float, float, float, float]
    occluder: tuple[str, float, float] | None  # kind, position, size (fractions)


def make_performance(seed: int, actor: int, clip: int, motion_key: str) -> Performance:
    rng = keyed_rng(seed, actor, clip, motion_key, "clip")
    phases = tuple(float(p) for p in rng.uniform(0, 2 * np.pi, 4))
    kind = ("box", "pole")[rng.integers(2)]
    occluder = (kind, float(rng.uniform(-1, 1)), float(rng.uniform(0.6, 1.0)))
    return Performance(
        speed=rng.uniform(0.8, 1.25), phase=rng.uniform(0, 2 * np.pi), amplitude=rng.uniform(0.8, 1.05),
        mirrored=bool(rng.random() < 0.3), yaw=rng.uniform(-20, 20), shake=rng.uniform(0.0, 1.5),
        shake_phases=phases, occluder=occluder)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- rendering

@dataclass(frozen=True)
class ClipPlan:
    action: Action
    actor: Actor
    performance: Performance
    view: View
    background: np.ndarray  # (height + 2 margin, width + 2 margin, 3)
    size: tuple[int, int]
    occlusion: bool


def _check_request(action: str, size: tuple[int, int], fps: float, seconds: float) -> None:
    if action not in ACTION_TABLE:
        raise InputError(f"unknown action {action!r} (choose from {', '.join(ACTIONS)})")
    width, height = size
    if width < 64 or height < 64:
        raise InputError(f"--size {width}x{height} is too small (at least 64x64)")
    if not fps > 0 or not math.isfinite(fps):
        raise InputError(f"--fps must be positive, got {fps}")
    if not seconds > 0 or not math.isfinite(seconds):
        raise InputError(f"--seconds must be positive, got {seconds}")


def plan_clip(action: str, *, actor: int, clip: int, seed: int, size: tuple[int, int],
              occlusion: bool = False) -> ClipPlan:
    """Decide everything about a clip before drawing it: who, where, how, in which scene."""
    spec = ACTION_TABLE[action]
    cast = make_actor(seed, actor)
    performance = make_performance(seed, actor, clip, spec.motion_key)
    width, height = size
    scale = cast.height_fraction * min(height, 1.1 * width) / cast.body.standing_height()
    ground = cast.ground_fraction * height
    view = View(x=cast.x_fraction * width, y=ground, scale=scale, yaw=performance.yaw, pitch=cast.camera_pitch)
    margin = SHAKE_MARGIN
    kind = spec.scene or cast.background
    body = cast.body
    # Rows of the head when standing, with room for nods, bends and jumps.
    head_center = ground - scale * (body.standing_height() - 0.5 * body.head_height) + margin
    head_rows = (int(head_center - scale * body.head_height * 1.4), int(head_center + scale * body.head_height * 1.2))
    background = make_background(kind, cast.background_seed, width + 2 * margin, height + 2 * margin,
                                 horizon=int(cast.horizon_fraction * height) + margin, ground=int(ground) + margin,
                                 upper_avoid=(body.shirt, body.skin, body.hair),
                                 lower_avoid=(body.pants, body.shoes), head=head_rows)
    return ClipPlan(spec, cast, performance, view, background, (width, height), occlusion)


def _shake(performance: Performance, time: float) -> tuple[int, int]:
    a, b, c, d = performance.shake_phases
    dx = performance.shake * (math.sin(2 * math.pi * 1.3 * time + a) + 0.5 * math.sin(2 * math.pi * 3.1 * time + b))
    dy = performance.shake * (math.sin(2 * math.pi * 1.7 * time + c) + 0.5 * math.sin(2 * math.pi * 2.9 * time + d))
    limit = SHAKE_MARGIN
    return max(-limit, min(limit, round(dx))), max(-limit, min(limit, round(dy)))


def render_plan(plan: ClipPlan, *, fps: float, seconds: float) -> tuple[list[np.ndarray], np.ndarray]:
    """Draw every frame of a planned clip; returns BGR frames and (frames, 33, 3) joints."""
    width, height = plan.size
    count = max(1, int(round(seconds * fps)))
    performance, body, view = plan.performance, plan.actor.body, plan.view
    frequency = plan.action.frequency * performance.speed
    frames: list[np.ndarray] = []
    joints = np.full((count, NUM_LANDMARKS, 3), np.nan, dtype=np.float32)
    drawn = np.array([name in DRAWN_LANDMARKS for name in LANDMARK_NAMES])
    shadow_color = tuple(int(c) for c in plan.background[int(view.y) + SHAKE_MARGIN,
                                                          int(view.x) + SHAKE_MARGIN] * 0.6)
    for index in range(count):
        time = index / fps
        phase = performance.phase + 2 * math.pi * frequency * time
        pose = plan.action.motion(phase, performance.amplitude, body)
        if plan.action.prop is not None:
            pose = replace(pose, prop_length=plan.action.prop_length)
        points = skeleton(body, pose)
        if performance.mirrored:
            points = mirror_points(points)
        dx, dy = _shake(performance, time)
        frame = plan.background[SHAKE_MARGIN + dy:SHAKE_MARGIN + dy + height,
                                SHAKE_MARGIN + dx:SHAKE_MARGIN + dx + width].copy()
        pixels = project(points, view, offset=(-dx, -dy))
        cv2.ellipse(frame, (int(view.x - dx), int(view.y - dy)), (int(0.2 * view.scale), int(0.03 * view.scale)),
                    0, 0, 360, shadow_color, -1, cv2.LINE_AA)
        draw_figure(frame, pixels, body, view.scale, plan.action.prop)
        if plan.occlusion and performance.occluder is not None:
            draw_occluder(frame, performance.occluder, view.x - dx, view.y - dy, view.scale)
        frames.append(frame)
        # Pixel centres sit at integer coordinates in OpenCV, at +0.5 in MediaPipe's [0, 1].
        joints[index, drawn, X] = (pixels[:NUM_LANDMARKS][drawn, 0] + 0.5) / width
        joints[index, drawn, Y] = (pixels[:NUM_LANDMARKS][drawn, 1] + 0.5) / height
        joints[index, drawn, DRAWN] = 1.0
    return frames, joints


def render_frames(action: str, *, actor: int = 0, clip: int = 0, seed: int = 0,
                  size: tuple[int, int] = DEFAULT_SIZE, fps: float = DEFAULT_FPS,
                  seconds: float = DEFAULT_SECONDS, occlusion: bool = False,
                  ) -> tuple[list[np.ndarray], np.ndarray]:
    """BGR frames of one clip and its ground truth (frames, 33, 3): x, y (image-normalized,
    like MediaPipe) and 1 where the joint is drawn; NaN for joints the figure lacks."""
    _check_request(action, size, fps, seconds)
    plan = plan_clip(action, actor=actor, clip=clip, seed=seed, size=size, occlusion=occlusion)
    return render_plan(plan, fps=fps, seconds=seconds)


def joints_path(video_path: str | os.PathLike) -> Path:
    """v_X_g01_c01.mp4 -> v_X_g01_c01.joints.csv (not a video, so dataset discovery skips it)."""
    video_path = Path(video_path)
    return video_path.with_name(video_path.stem + JOINTS_SUFFIX)


def joints_table(joints: np.ndarray) -> pd.DataFrame:
    """`frame`, then `<name>_x`, `<name>_y` for every joint the figure has."""
    columns: dict[str, np.ndarray] = {"frame": np.arange(len(joints))}
    for index, name in enumerate(LANDMARK_NAMES):
        if np.all(np.isnan(joints[:, index, X])):
            continue
        columns[f"{name}_x"] = joints[:, index, X]
        columns[f"{name}_y"] = joints[:, index, Y]
    return pd.DataFrame(columns)


def read_joints(path: str | os.PathLike) -> np.ndarray:
    """(frames, 33, 3) from a joints CSV (a video path finds the CSV beside it)."""
    path = Path(path)
    if not path.name.endswith(JOINTS_SUFFIX):
        path = joints_path(path)
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    joints = np.full((len(table), NUM_LANDMARKS, 3), np.nan, dtype=np.float32)
    for index, name in enumerate(LANDMARK_NAMES):
        if f"{name}_x" in table.columns:
            joints[:, index, X] = table[f"{name}_x"].to_numpy()
            joints[:, index, Y] = table[f"{name}_y"].to_numpy()
            joints[:, index, DRAWN] = 1.0
    return joints


def write_clip(path: str | os.PathLike, action: str, *, actor: int = 0, clip: int = 0, seed: int = 0,
               size: tuple[int, int] = DEFAULT_SIZE, fps: float = DEFAULT_FPS,
               seconds: float = DEFAULT_SECONDS, occlusion: bool = False) -> Path:
    """Write one video and its joints CSV beside it (both atomically; the CSV first, so a video
    on disk always has its ground truth)."""
    path = Path(path)
    frames, joints = render_frames(action, actor=actor, clip=clip, seed=seed, size=size, fps=fps,
                                   seconds=seconds, occlusion=occlusion)
    with atomic_path(joints_path(path), suffix=".csv") as tmp:
        joints_table(joints).to_csv(tmp, index=False, float_format="%.6f")
    write_video(path, frames, fps)
    return path


def clip_name(action: str, actor: int, clip: int, extension: str = ".mp4") -> str:
    """UCF50 naming: actor 0 -> g01, clip 0 -> c01."""
    return f"v_{action}_g{actor + 1:02d}_c{clip + 1:02d}{extension}"


def occluded(seed: int, actor: int, clip: int, action: str, rate: float) -> bool:
    """Whether a dataset clip gets an occluder; scene pairs agree (keyed by the motion)."""
    return bool(keyed_rng(seed, actor, clip, ACTION_TABLE[action].motion_key, "occlusion").random() < rate)


def write_dataset(out: str | os.PathLike, *, classes: Iterable[str] | None = None, actors: int = 3,
                  clips: int = 2, seed: int = 0, size: tuple[int, int] = DEFAULT_SIZE,
                  fps: float = DEFAULT_FPS, seconds: float = DEFAULT_SECONDS,
                  occlusion_rate: float = DEFAULT_OCCLUSION_RATE, progress: bool = True) -> list[Path]:
    """Render OUT/<Class>/v_<Class>_gNN_cNN.mp4 (+ .joints.csv); existing clips are kept (resumable)."""
    from tqdm import tqdm

    chosen = list(ACTIONS if classes is None else classes)
    for action in chosen:
        _check_request(action, size, fps, seconds)
    if actors < 1 or clips < 1:
        raise InputError(f"--actors and --clips must be at least 1, got {actors} and {clips}")
    if not 0.0 <= occlusion_rate <= 1.0:
        raise InputError(f"--occlusion must be between 0 and 1, got {occlusion_rate}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    check_writable(out)
    jobs = [(action, actor, clip) for action in chosen for actor in range(actors) for clip in range(clips)]
    paths: list[Path] = []
    skipped = 0
    for action, actor, clip in tqdm(jobs, desc="synth", unit="clip", disable=not progress):
        path = out / action / clip_name(action, actor, clip)
        paths.append(path)
        if path.is_file() and joints_path(path).is_file():
            skipped += 1
            continue
        write_clip(path, action, actor=actor, clip=clip, seed=seed, size=size, fps=fps, seconds=seconds,
                   occlusion=occluded(seed, actor, clip, action, occlusion_rate))
    if skipped:
        log.info("kept %d existing clips", skipped)
    return paths
