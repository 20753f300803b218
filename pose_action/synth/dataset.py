"""Render a synthetic UCF50-style dataset: drawn actors performing actions, with exact joints.

OUT/<Class>/v_<Class>_gNN_cNN.mp4 (group = actor) and beside each video
v_<Class>_gNN_cNN.joints.csv: the drawn positions of the figure's joints (a crowd or pair clip also
v_<Class>_gNN_cNN.bystander.csv: the second person's), named like
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
from pose_action.synth.conditions import (
    CONDITIONS,
    NO_CONDITIONS,
    Bystander,
    ConditionRates,
    Conditions,
    Darkness,
    Exit,
    blend_poses,
    condition_rng,
    darken,
    draw_conditions,
    exit_state,
    far_placement,
    plan_bystander,
    plan_darkness,
    plan_exit,
    plan_partner,
    travel_yaw,
)
from pose_action.synth.figure import Body, View, draw_figure, mirror_points, project, skeleton
from pose_action.synth.motions import (
    ACTION_TABLE,
    ACTIONS,
    ALL_ACTIONS,
    BACKGROUND_CLASS,
    PASSING,
    SMALL_SHARE,
    Action,
    Crossing,
    background_variant,
    plan_crossing,
    stand,
    walk,
)
from pose_action.synth.scenes import (
    SHAKE_MARGIN,
    draw_occluder,
    hsv_color,
    jitter_color,
    keyed_rng,
    make_background,
    pick_color,
)
from pose_action.video import write_video

log = logging.getLogger(__name__)

DEFAULT_SIZE = (320, 240)
DEFAULT_FPS = 25.0
DEFAULT_SECONDS = 2.0
DEFAULT_OCCLUSION_RATE = 0.15
JOINTS_SUFFIX = ".joints.csv"
BYSTANDER_SUFFIX = ".bystander.csv"  # a crowd or pair clip's second person, drawn joints as in the joints CSV
CONDITIONS_FILE = "conditions.csv"  # at the dataset root: which conditions each clip got
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
    size = lambda value, spread=0.06: value * rng.uniform(1 - spread, 1 + spread)
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
    first, second, third, fourth = (float(p) for p in rng.uniform(0, 2 * np.pi, 4))
    kind = ("box", "pole")[rng.integers(2)]
    occluder = (kind, float(rng.uniform(-1, 1)), float(rng.uniform(0.6, 1.0)))
    return Performance(
        speed=rng.uniform(0.8, 1.25), phase=rng.uniform(0, 2 * np.pi), amplitude=rng.uniform(0.8, 1.05),
        mirrored=bool(rng.random() < 0.3), yaw=rng.uniform(-20, 20), shake=rng.uniform(0.0, 1.5),
        shake_phases=(first, second, third, fourth), occluder=occluder)


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
    conditions: Conditions = Conditions()
    exit: Exit | None = None
    darkness: Darkness | None = None
    bystander: Bystander | None = None
    crossing: Crossing | None = None  # locomotion classes (Action.travel > 0): the path across the frame
    empty: bool = False  # a background clip of the empty scene: nobody is drawn


def _check_request(action: str, size: tuple[int, int], fps: float, seconds: float) -> None:
    if action not in ACTION_TABLE:
        raise InputError(f"unknown action {action!r} (choose from {', '.join(ALL_ACTIONS)})")
    width, height = size
    if width < 64 or height < 64:
        raise InputError(f"--size {width}x{height} is too small (at least 64x64)")
    if not fps > 0 or not math.isfinite(fps):
        raise InputError(f"--fps must be positive, got {fps}")
    if not seconds > 0 or not math.isfinite(seconds):
        raise InputError(f"--seconds must be positive, got {seconds}")


def plan_clip(action: str, *, actor: int, clip: int, seed: int, size: tuple[int, int],
              occlusion: bool = False, conditions: Conditions = Conditions(),
              seconds: float = DEFAULT_SECONDS) -> ClipPlan:
    """Decide everything about a clip before drawing it: who, where, how, in which scene,
    and under which real-footage conditions (each with its own keyed generator, so a clip
    without conditions is drawn exactly as before they existed)."""
    spec = ACTION_TABLE[action]
    variant = background_variant(actor, clip) if action == BACKGROUND_CLASS else None
    if variant == "passing":
        spec = PASSING
    cast = make_actor(seed, actor)
    performance = make_performance(seed, actor, clip, spec.motion_key)
    width, height = size
    details = lambda name: condition_rng(seed, actor, clip, spec.motion_key, name)
    # a locomotion clip is often of a small, far person, whatever the conditions asked for
    small = spec.travel > 0 and details("small").random() < SMALL_SHARE
    if conditions.far or small:
        height_fraction, x_fraction, ground_fraction = far_placement(details("far"), size, cast.body,
                                                                     cast.horizon_fraction)
        cast = replace(cast, height_fraction=height_fraction, x_fraction=x_fraction, ground_fraction=ground_fraction)
    scale = cast.height_fraction * min(height, 1.1 * width) / cast.body.standing_height()
    ground = cast.ground_fraction * height
    view = View(x=cast.x_fraction * width, y=ground, scale=scale, yaw=performance.yaw, pitch=cast.camera_pitch)
    crossing = None
    if spec.travel > 0:
        crossing = plan_crossing(details("crossing"), spec.travel, performance.speed,
                                 scale * cast.body.standing_height(), width, seconds)
        view = replace(view, x=crossing.middle_x, yaw=crossing.yaw)
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
    # a crossing enters and leaves by itself: no separate exit walk
    exit_plan = plan_exit(details("exit"), view.x, scale, width, seconds) if conditions.exit and not crossing else None
    darkness = plan_darkness(details("dark")) if conditions.dark else None
    bystander = None
    if conditions.pair:  # the close partner takes the place of a crowd's bystander
        rng = details("pair")
        bystander = plan_partner(rng, random_body(rng), size, view, cast.height_fraction)
    elif conditions.crowd:
        rng = details("crowd")
        bystander = plan_bystander(rng, random_body(rng), size, view, cast.height_fraction,
                                   cast.horizon_fraction, seconds)
    return ClipPlan(spec, cast, performance, view, background, (width, height), occlusion,
                    conditions, exit_plan, darkness, bystander, crossing, empty=variant == "empty")


def _shake(performance: Performance, time: float) -> tuple[int, int]:
    a, b, c, d = performance.shake_phases
    dx = performance.shake * (math.sin(2 * math.pi * 1.3 * time + a) + 0.5 * math.sin(2 * math.pi * 3.1 * time + b))
    dy = performance.shake * (math.sin(2 * math.pi * 1.7 * time + c) + 0.5 * math.sin(2 * math.pi * 2.9 * time + d))
    limit = SHAKE_MARGIN
    return max(-limit, min(limit, round(dx))), max(-limit, min(limit, round(dy)))


def _shadow(frame: np.ndarray, background: np.ndarray, view: View, dx: int, dy: int) -> None:
    """The figure's shadow on the floor: the background under its feet, darker."""
    row = min(max(int(view.y) + SHAKE_MARGIN, 0), background.shape[0] - 1)
    column = min(max(int(view.x) + SHAKE_MARGIN, 0), background.shape[1] - 1)
    color = tuple(int(c) for c in background[row, column] * 0.6)
    cv2.ellipse(frame, (int(view.x - dx), int(view.y - dy)), (int(0.2 * view.scale), int(0.03 * view.scale)),
                0, 0, 360, color, -1, cv2.LINE_AA)


def _in_frame(pixels: np.ndarray, scale: float, width: int, height: int) -> bool:
    """Whether any part of a figure (its points, padded by a limb's width) shows in the frame."""
    pad = 0.15 * scale
    xs, ys = pixels[:, 0], pixels[:, 1]
    return bool(np.nanmax(xs) > -pad and np.nanmin(xs) < width + pad
                and np.nanmax(ys) > -pad and np.nanmin(ys) < height + pad)


def _draw_bystander(frame: np.ndarray, bystander: Bystander, background: np.ndarray, time: float,
                    dx: int, dy: int) -> np.ndarray:
    """The other person of a `crowd` or `pair` clip (standing about, walking across, or close
    beside the actor); its projected points."""
    phase = bystander.phase + 2 * math.pi * bystander.frequency * time
    pose = (walk if bystander.walking else stand)(phase, 1.0, bystander.body)
    view = replace(bystander.view, x=bystander.view.x + bystander.velocity * time)
    pixels = project(skeleton(bystander.body, pose), view, offset=(-dx, -dy))
    if _in_frame(pixels, view.scale, frame.shape[1], frame.shape[0]):
        _shadow(frame, background, view, dx, dy)
        draw_figure(frame, pixels, bystander.body, view.scale)
    return pixels


def _record(joints: np.ndarray, index: int, pixels: np.ndarray, width: int, height: int) -> None:
    """Store one figure's drawn joints of frame `index`; joints out of the frame are NaN, drawn 0."""
    drawn = np.array([name in DRAWN_LANDMARKS for name in LANDMARK_NAMES])
    # Pixel centres sit at integer coordinates in OpenCV, at +0.5 in MediaPipe's [0, 1].
    joints[index, drawn, X] = (pixels[:NUM_LANDMARKS][drawn, 0] + 0.5) / width
    joints[index, drawn, Y] = (pixels[:NUM_LANDMARKS][drawn, 1] + 0.5) / height
    joints[index, drawn, DRAWN] = 1.0
    outside = ~((joints[index, :, X] >= 0) & (joints[index, :, X] < 1)
                & (joints[index, :, Y] >= 0) & (joints[index, :, Y] < 1)) & drawn
    joints[index, outside] = (np.nan, np.nan, 0.0)


def render_plan(plan: ClipPlan, *, fps: float, seconds: float) -> tuple[list[np.ndarray], np.ndarray]:
    """Draw every frame of a planned clip; returns BGR frames and (frames, 33, 3) joints.

    Joints outside the frame (an actor walking in or out) are not drawn: NaN, drawn = 0."""
    frames, joints, _ = render_scene(plan, fps=fps, seconds=seconds)
    return frames, joints


def render_scene(plan: ClipPlan, *, fps: float,
                 seconds: float) -> tuple[list[np.ndarray], np.ndarray, np.ndarray | None]:
    """render_plan, plus the bystander's (frames, 33, 3) joints of a crowd clip (None without one):
    the true identity of every drawn joint."""
    width, height = plan.size
    count = max(1, int(round(seconds * fps)))
    performance, body, view = plan.performance, plan.actor.body, plan.view
    frequency = plan.action.frequency * performance.speed
    frames: list[np.ndarray] = []
    joints = np.full((count, NUM_LANDMARKS, 3), np.nan, dtype=np.float32)
    other = None if plan.bystander is None else np.full_like(joints, np.nan)
    noise = np.random.default_rng(plan.darkness.noise_seed) if plan.darkness is not None else None
    for index in range(count):
        time = index / fps
        phase = performance.phase + 2 * math.pi * frequency * time
        pose = plan.action.motion(phase, performance.amplitude, body)
        if plan.action.prop is not None:
            pose = replace(pose, prop_length=plan.action.prop_length)
        actor_view = view if plan.crossing is None else replace(view, x=plan.crossing.x(time))
        if plan.exit is not None:
            x, weight = exit_state(plan.exit, index / count, view.x, view.scale, width)
            pose = blend_poses(pose, walk(2 * math.pi * plan.exit.gait_frequency * time, 1.0, body), weight)
            actor_view = replace(view, x=x, yaw=(1 - weight) * view.yaw + weight * travel_yaw(plan.exit))
        points = skeleton(body, pose)
        if performance.mirrored:
            points = mirror_points(points)
        dx, dy = _shake(performance, time)
        frame = plan.background[SHAKE_MARGIN + dy:SHAKE_MARGIN + dy + height,
                                SHAKE_MARGIN + dx:SHAKE_MARGIN + dx + width].copy()
        # Farther figures (feet higher in the frame) are painted first.
        bystander = plan.bystander
        bystander_behind = bystander is not None and bystander.view.y <= view.y
        if bystander is not None and bystander_behind:
            assert other is not None  # made above whenever the plan has a bystander
            _record(other, index, _draw_bystander(frame, bystander, plan.background, time, dx, dy), width, height)
        pixels = project(points, actor_view, offset=(-dx, -dy))
        if not plan.empty and _in_frame(pixels, view.scale, width, height):
            _shadow(frame, plan.background, actor_view, dx, dy)
            draw_figure(frame, pixels, body, view.scale, plan.action.prop)
        if bystander is not None and not bystander_behind:
            assert other is not None  # made above whenever the plan has a bystander
            _record(other, index, _draw_bystander(frame, bystander, plan.background, time, dx, dy), width, height)
        if plan.occlusion and performance.occluder is not None:
            draw_occluder(frame, performance.occluder, view.x - dx, view.y - dy, view.scale)
        if plan.darkness is not None:
            assert noise is not None  # made above whenever the plan has darkness
            frame = darken(frame, plan.darkness, noise)
        frames.append(frame)
        if not plan.empty:
            _record(joints, index, pixels, width, height)
    return frames, joints, other


def render_frames(action: str, *, actor: int = 0, clip: int = 0, seed: int = 0,
                  size: tuple[int, int] = DEFAULT_SIZE, fps: float = DEFAULT_FPS,
                  seconds: float = DEFAULT_SECONDS, occlusion: bool = False,
                  conditions: Conditions = Conditions()) -> tuple[list[np.ndarray], np.ndarray]:
    """BGR frames of one clip and its ground truth (frames, 33, 3): x, y (image-normalized,
    like MediaPipe) and 1 where the joint is drawn; NaN (drawn 0) for joints the figure lacks
    or that are out of the frame."""
    _check_request(action, size, fps, seconds)
    plan = plan_clip(action, actor=actor, clip=clip, seed=seed, size=size, occlusion=occlusion,
                     conditions=conditions, seconds=seconds)
    return render_plan(plan, fps=fps, seconds=seconds)


def joints_path(video_path: str | os.PathLike) -> Path:
    """v_X_g01_c01.mp4 -> v_X_g01_c01.joints.csv (not a video, so dataset discovery skips it)."""
    video_path = Path(video_path)
    return video_path.with_name(video_path.stem + JOINTS_SUFFIX)


def bystander_path(video_path: str | os.PathLike) -> Path:
    """v_X_g01_c01.mp4 -> v_X_g01_c01.bystander.csv: the second person of a crowd clip."""
    video_path = Path(video_path)
    return video_path.with_name(video_path.stem + BYSTANDER_SUFFIX)


def joints_table(joints: np.ndarray) -> pd.DataFrame:
    """`frame`, then `<name>_x`, `<name>_y` for every joint the figure has; empty cells where
    the joint is not drawn (out of the frame)."""
    columns: dict[str, np.ndarray] = {"frame": np.arange(len(joints))}
    for index, name in enumerate(LANDMARK_NAMES):
        if name not in DRAWN_LANDMARKS:
            continue
        columns[f"{name}_x"] = joints[:, index, X]
        columns[f"{name}_y"] = joints[:, index, Y]
    return pd.DataFrame(columns)


def read_joints(path: str | os.PathLike) -> np.ndarray:
    """(frames, 33, 3) from a joints CSV (a video path finds the CSV beside it)."""
    path = Path(path)
    if not path.name.endswith((JOINTS_SUFFIX, BYSTANDER_SUFFIX)):
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
            joints[:, index, DRAWN] = np.isfinite(joints[:, index, X])
    return joints


def write_clip(path: str | os.PathLike, action: str, *, actor: int = 0, clip: int = 0, seed: int = 0,
               size: tuple[int, int] = DEFAULT_SIZE, fps: float = DEFAULT_FPS,
               seconds: float = DEFAULT_SECONDS, occlusion: bool = False,
               conditions: Conditions = Conditions()) -> Path:
    """Write one video and its joints CSV beside it (both atomically; the CSV first, so a video
    on disk always has its ground truth); a crowd clip also gets its bystander's joints
    (<stem>.bystander.csv, the same format), so every drawn joint's person is known."""
    path = Path(path)
    _check_request(action, size, fps, seconds)
    plan = plan_clip(action, actor=actor, clip=clip, seed=seed, size=size, occlusion=occlusion,
                     conditions=conditions, seconds=seconds)
    frames, joints, other = render_scene(plan, fps=fps, seconds=seconds)
    if other is not None:
        with atomic_path(bystander_path(path), suffix=".csv") as tmp:
            joints_table(other).to_csv(tmp, index=False, float_format="%.6f")
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


def conditions_path(out: str | os.PathLike) -> Path:
    return Path(out) / CONDITIONS_FILE


def read_conditions(out: str | os.PathLike) -> pd.DataFrame:
    """OUT/conditions.csv: `clip` (`<Class>/<stem>`, the key of extract's outputs), then 0/1 for
    each condition; indexed by clip. A clip without a row (or a dataset without the file:
    rendered with no condition asked for) has none of them, and a file written before a
    condition existed reads 0 for it."""
    path = conditions_path(out)
    columns = ["clip", *CONDITIONS]
    if not path.is_file():
        return pd.DataFrame(columns=columns).set_index("clip")
    table = pd.read_csv(path, dtype={"clip": str})
    for later in ("pair",):  # conditions added after the first datasets were rendered
        if later not in table.columns:
            table[later] = 0
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise InputError(f"{path}: missing columns {', '.join(missing)}")
    return table[columns].set_index("clip")


def _write_conditions(out: Path, rows: dict[str, Conditions]) -> None:
    """OUT/conditions.csv, rewritten only when it changes (a finished rerun rewrites nothing)."""
    table = pd.DataFrame.from_dict(
        {key: {name: int(getattr(conditions, name)) for name in CONDITIONS} for key, conditions in rows.items()},
        orient="index", columns=list(CONDITIONS)).rename_axis("clip").sort_index()
    text = table.to_csv()
    path = conditions_path(out)
    if not path.is_file() or path.read_text() != text:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".csv") as tmp:
            tmp.write_text(text)


def write_dataset(out: str | os.PathLike, *, classes: Iterable[str] | None = None, actors: int = 3,
                  clips: int = 2, seed: int = 0, size: tuple[int, int] = DEFAULT_SIZE,
                  fps: float = DEFAULT_FPS, seconds: float = DEFAULT_SECONDS,
                  occlusion_rate: float = DEFAULT_OCCLUSION_RATE, conditions: ConditionRates = NO_CONDITIONS,
                  progress: bool = True) -> list[Path]:
    """Render OUT/<Class>/v_<Class>_gNN_cNN.mp4 (+ .joints.csv); existing clips are kept (resumable).

    With any condition rate above 0 (or an OUT/conditions.csv already there), OUT/conditions.csv
    records which conditions each clip got. It is written before the clips, so an interrupted
    run leaves no clip without its row; a kept clip keeps its row, or none if it had none.
    With the default rates nothing but the clips is written, exactly as before conditions existed."""
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
    if out.is_dir():  # a class folder spelt another way is one folder on macOS and Windows
        existing = {folder.name.casefold(): folder.name for folder in out.iterdir() if folder.is_dir()}
        for action in chosen:
            if existing.get(action.casefold(), action) != action:
                raise InputError(f"{out / existing[action.casefold()]} and {out / action}: class folders whose names "
                                 "differ only by case are one folder on macOS and Windows: choose another OUT")
    check_writable(out)
    recorded = read_conditions(out)
    rows = {str(key): Conditions(**{name: bool(row[name]) for name in CONDITIONS}) for key, row in recorded.iterrows()}
    jobs: list[tuple[str, int, int, Path, Conditions | None]] = []  # conditions None: a kept clip
    for action in chosen:
        for actor in range(actors):
            for clip in range(clips):
                path = out / action / clip_name(action, actor, clip)
                key = f"{action}/{path.stem}"
                if path.is_file() and joints_path(path).is_file():
                    rows.setdefault(key, Conditions())  # drawn before, with none if it has no row
                    jobs.append((action, actor, clip, path, None))
                    continue
                rows[key] = draw_conditions(seed, actor, clip, ACTION_TABLE[action].motion_key, conditions)
                if ACTION_TABLE[action].travel > 0:  # a crossing enters and leaves by itself (plan_clip)
                    rows[key] = replace(rows[key], exit=False)
                jobs.append((action, actor, clip, path, rows[key]))
    if conditions != NO_CONDITIONS or conditions_path(out).is_file():
        _write_conditions(out, rows)
    skipped = 0
    for action, actor, clip, path, clip_conditions in tqdm(jobs, desc="synth", unit="clip", disable=not progress):
        if clip_conditions is None:
            skipped += 1
            continue
        write_clip(path, action, actor=actor, clip=clip, seed=seed, size=size, fps=fps, seconds=seconds,
                   occlusion=occluded(seed, actor, clip, action, occlusion_rate), conditions=clip_conditions)
    if skipped:
        log.info("kept %d existing clips", skipped)
    return [path for _, _, _, path, _ in jobs]
