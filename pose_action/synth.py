"""Render a synthetic UCF50-style dataset: drawn actors performing actions, with exact joints.

OUT/<Class>/v_<Class>_gNN_cNN.mp4 (group = actor) and beside each video
v_<Class>_gNN_cNN.joints.csv: the drawn positions of the figure's joints, named like
MediaPipe's landmarks, image-normalized. The real pose model finds these figures, so the
whole flow (extract, train, predict) runs on a laptop with no dataset downloaded, and
tests get labelled videos with known ground truth. The same seed gives the same frames.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from pose_action.errors import InputError
from pose_action.figure import (
    Body, Pose, View, draw_figure, limb_direction, mirror_points, project, reach, skeleton)
from pose_action.files import atomic_path
from pose_action.landmarks import LANDMARK_NAMES, NUM_LANDMARKS
from pose_action.video import write_video

log = logging.getLogger(__name__)

DEFAULT_SIZE = (320, 240)
DEFAULT_FPS = 25.0
DEFAULT_SECONDS = 2.0
DEFAULT_OCCLUSION_RATE = 0.15
JOINTS_SUFFIX = ".joints.csv"
SHAKE_MARGIN = 4  # background pixels kept around the frame for camera shake

# Joints that exist on the drawn figure (all of MediaPipe's: face points, hands and feet are drawn).
DRAWN_LANDMARKS: tuple[str, ...] = LANDMARK_NAMES

Motion = Callable[[float, float, Body], Pose]


# ----------------------------------------------------------------------------- motions
# Each motion maps (phase in radians, amplitude ~1, body) to a Pose. A right-handed
# performance; clips may mirror it. Angles follow figure.limb_direction.

def _cycle(phase: float) -> float:
    """0 at phase 0, 1 at phase pi: a smooth out-and-back."""
    return 0.5 * (1.0 - math.cos(phase))


def wave(phase: float, amplitude: float, body: Body) -> Pose:
    return Pose(right_upper_arm=limb_direction(120, 15, -1),
                right_forearm=limb_direction(168 + 26 * amplitude * math.sin(phase), 10, -1),
                head_roll=3.0 * math.sin(phase))


def clap(phase: float, amplitude: float, body: Body) -> Pose:
    apart = _cycle(phase) * amplitude  # 0 = hands together
    arms = {}
    for side, name in ((+1, "left"), (-1, "right")):
        target = np.array([side * (0.018 + 0.2 * apart), -0.2, -0.27])
        upper, fore = reach(body, side, target, pole=np.array([side * 1.0, 0.6, 0.2]))
        arms[f"{name}_upper_arm"], arms[f"{name}_forearm"] = upper, fore
    return Pose(**arms)


def jumping_jack(phase: float, amplitude: float, body: Body) -> Pose:
    out = _cycle(phase) * amplitude
    arms = {f"{n}_upper_arm": limb_direction(12 + 152 * out, 5, s) for s, n in ((+1, "left"), (-1, "right"))}
    arms.update({f"{n}_forearm": limb_direction(16 + 158 * out, 5, s) for s, n in ((+1, "left"), (-1, "right"))})
    legs = {f"{n}_{part}": limb_direction(3 + 13 * out, 0, s)
            for s, n in ((+1, "left"), (-1, "right")) for part in ("thigh", "shin")}
    return Pose(**arms, **legs, lift=0.045 * amplitude * abs(math.sin(phase)))


def squat(phase: float, amplitude: float, body: Body) -> Pose:
    down = _cycle(phase) * amplitude
    limbs = {}
    for side, name in ((+1, "left"), (-1, "right")):
        limbs[f"{name}_thigh"] = limb_direction(5 + 80 * down, 55, side)
        limbs[f"{name}_shin"] = limb_direction(4 + 32 * down, -100, side)
        limbs[f"{name}_upper_arm"] = limb_direction(12 + 70 * down, 75, side)
        limbs[f"{name}_forearm"] = limb_direction(16 + 72 * down, 80, side)
    return Pose(**limbs, torso_pitch=28 * down, head_pitch=-20 * down)


def arms_raise(phase: float, amplitude: float, body: Body) -> Pose:
    up = _cycle(phase) * amplitude
    limbs = {}
    for side, name in ((+1, "left"), (-1, "right")):
        limbs[f"{name}_upper_arm"] = limb_direction(10 + 160 * up, 35, side)
        limbs[f"{name}_forearm"] = limb_direction(12 + 162 * up, 35, side)
    return Pose(**limbs)


def punch(phase: float, amplitude: float, body: Body) -> Pose:
    """Alternating straight punches from a guard, in a boxer's stance turned a little from
    the camera (so the arms are not foreshortened to nothing): left first, then right."""
    extension = {+1: max(0.0, math.sin(phase)) ** 0.6, -1: max(0.0, -math.sin(phase)) ** 0.6}
    limbs = {}
    for side, name in ((+1, "left"), (-1, "right")):
        guard = np.array([side * 0.1, -0.26, -0.14])  # fists below the chin, never over the face
        strike = np.array([side * 0.04, -0.3, -0.22 - 0.12 * amplitude])
        target = guard + (strike - guard) * extension[side]
        upper, fore = reach(body, side, target, pole=np.array([side * 0.8, 1.0, 0.2]))
        limbs[f"{name}_upper_arm"], limbs[f"{name}_forearm"] = upper, fore
        limbs[f"{name}_thigh"] = limb_direction(8, 10, side)
        limbs[f"{name}_shin"] = limb_direction(5, -20, side)
    twist = 18.0 * (extension[+1] - extension[-1])
    return Pose(**limbs, pelvis_yaw=-25.0, torso_yaw=twist, head_yaw=20.0 - 0.7 * twist)


def march(phase: float, amplitude: float, body: Body) -> Pose:
    limbs = {}
    for side, name in ((+1, "left"), (-1, "right")):
        knee_up = max(0.0, side * math.sin(phase)) * amplitude
        swing = -side * math.sin(phase) * amplitude  # arms swing opposite to the legs
        limbs[f"{name}_thigh"] = limb_direction(3 + 72 * knee_up, 80, side)
        limbs[f"{name}_shin"] = limb_direction(3 + 12 * knee_up, -90, side)
        limbs[f"{name}_upper_arm"] = limb_direction(6 + 32 * swing, 80, side)
        limbs[f"{name}_forearm"] = limb_direction(20 + 45 * swing, 85, side)
    return Pose(**limbs)


def bend_to_toes(phase: float, amplitude: float, body: Body) -> Pose:
    """Bend from the hips with the hands reaching down toward the toes, turned a little from
    the camera so that the bend shows instead of foreshortening away."""
    bend = _cycle(phase) * amplitude
    pitch = 65.0 * bend  # deeper bends put the head below the hips, where the pose model loses the figure
    limbs = {}
    for side, name in ((+1, "left"), (-1, "right")):
        # Arms hang toward the ground and reach a little forward, toward the toes.
        limbs[f"{name}_upper_arm"] = limb_direction(6 + 1.05 * pitch, 80, side)
        limbs[f"{name}_forearm"] = limb_direction(8 + 1.1 * pitch, 80, side)
        limbs[f"{name}_thigh"] = limb_direction(4 + 8 * bend, 0, side)
        limbs[f"{name}_shin"] = limb_direction(3 + 8 * bend, -40, side)
    return Pose(**limbs, pelvis_yaw=-15.0, torso_pitch=pitch, head_pitch=-0.6 * pitch, head_yaw=10.0 * bend)


def swing(phase: float, amplitude: float, body: Body) -> Pose:
    """A two-handed horizontal swing from a wind-up over the right shoulder to a follow-through
    over the left, and back. Tennis and baseball share it: only the scene and prop differ."""
    turn = -math.cos(phase) * amplitude  # -1 wind-up, +1 follow-through
    target = np.array([0.12 * turn, -0.16 - 0.1 * turn * turn, -0.28 + 0.14 * turn * turn])
    limbs = {}
    for side, name in ((+1, "left"), (-1, "right")):
        hand = target + np.array([0.0, -0.022 * side, 0.0])  # hands stacked on the grip
        limbs[f"{name}_upper_arm"], limbs[f"{name}_forearm"] = reach(
            body, side, hand, pole=np.array([side * 1.0, 0.8, 0.3]))
        limbs[f"{name}_thigh"] = limb_direction(9, 0, side)
        limbs[f"{name}_shin"] = limb_direction(7, 0, side)
    # The prop stays below head height on the sides, so it never hides the face.
    azimuth, elevation = math.radians(105 * turn), math.radians(10 + 35 * turn * turn)
    direction = np.array([math.sin(azimuth) * math.cos(elevation), -math.sin(elevation),
                          -math.cos(azimuth) * math.cos(elevation)])
    return Pose(**limbs, torso_yaw=35 * turn, pelvis_yaw=15 * turn, head_yaw=-25 * turn,
                prop_direction=direction, prop_length=0.4)


@dataclass(frozen=True)
class Action:
    motion: Motion
    frequency: float  # cycles per second at normal speed
    motion_key: str  # classes sharing it share their joint trajectories (scene pairs)
    scene: str | None = None  # None: the actor's own background
    prop: str | None = None
    prop_length: float = 0.0


ACTION_TABLE: dict[str, Action] = {
    "Wave": Action(wave, 1.6, "wave"),
    "Clap": Action(clap, 1.5, "clap"),
    "JumpingJack": Action(jumping_jack, 1.0, "jumping_jack"),
    "Squat": Action(squat, 0.55, "squat"),
    "ArmsRaise": Action(arms_raise, 0.5, "arms_raise"),
    "Punch": Action(punch, 0.9, "punch"),
    "March": Action(march, 0.9, "march"),
    "BendToToes": Action(bend_to_toes, 0.45, "bend_to_toes"),
    "TennisSwing": Action(swing, 0.6, "swing", scene="court", prop="racket", prop_length=0.4),
    "BaseballSwing": Action(swing, 0.6, "swing", scene="field", prop="bat", prop_length=0.5),
}
ACTIONS: tuple[str, ...] = tuple(ACTION_TABLE)
# Same body motion, different scene and prop: pose alone cannot tell them apart.
SCENE_PAIRS: tuple[tuple[str, str], ...] = (("TennisSwing", "BaseballSwing"),)


# ----------------------------------------------------------------------------- randomness

def _rng(*keys: int | str) -> np.random.Generator:
    """A generator keyed by stable values (strings hashed with CRC32, never Python's hash())."""
    return np.random.default_rng([zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys])


SKIN_TONES: tuple[tuple[int, int, int], ...] = (
    (196, 222, 250), (160, 195, 235), (125, 165, 215), (95, 135, 190), (65, 100, 150), (45, 70, 110))
HAIR_COLORS: tuple[tuple[int, int, int], ...] = (
    (20, 20, 25), (25, 40, 65), (40, 70, 110), (90, 160, 210), (40, 70, 160), (150, 150, 150))


def _hsv_color(rng: np.random.Generator, saturation: tuple[float, float],
               value: tuple[float, float]) -> tuple[int, int, int]:
    hsv = np.uint8([[[rng.integers(0, 180), rng.uniform(*saturation) * 255, rng.uniform(*value) * 255]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])  # type: ignore[return-value]


def _jitter(rng: np.random.Generator, color: tuple[int, int, int], amount: int) -> tuple[int, int, int]:
    shifted = (int(c + rng.integers(-amount, amount + 1)) for c in color)
    return tuple(max(0, min(255, c)) for c in shifted)  # type: ignore[return-value]


def color_distance(first: tuple[int, int, int], second: tuple[int, int, int]) -> float:
    """Perceptual (CIELAB) distance between two BGR colours."""
    lab = cv2.cvtColor(np.uint8([[first, second]]), cv2.COLOR_BGR2LAB).astype(np.float32)
    return float(np.linalg.norm(lab[0, 0] - lab[0, 1]))


def pick_color(rng: np.random.Generator, sample: Callable[[], tuple[int, int, int]],
               avoid: Iterable[tuple[int, int, int]], minimum: float = 45.0, tries: int = 40,
               ) -> tuple[int, int, int]:
    """A sampled colour that stands out from `avoid` (the best of `tries` if none does):
    a figure that melts into its background is not found by the pose model."""
    avoid = list(avoid)
    best, best_distance = None, -1.0
    for _ in range(tries):
        color = sample()
        distance = min((color_distance(color, other) for other in avoid), default=np.inf)
        if distance >= minimum:
            return color
        if distance > best_distance:
            best, best_distance = color, distance
    return best  # type: ignore[return-value]


def random_body(rng: np.random.Generator) -> Body:
    """Proportions and colours of one actor."""
    size = lambda value, spread=0.06: value * rng.uniform(1 - spread, 1 + spread)  # noqa: E731
    base = Body()
    skin = _jitter(rng, SKIN_TONES[rng.integers(len(SKIN_TONES))], 10)
    hair = pick_color(rng, lambda: _jitter(rng, HAIR_COLORS[rng.integers(len(HAIR_COLORS))], 10), [skin], 60.0)
    shirt = pick_color(rng, lambda: _hsv_color(rng, (0.35, 0.9), (0.35, 0.95)), [skin], 40.0)
    pants = pick_color(rng, lambda: _hsv_color(rng, (0.2, 0.7), (0.15, 0.55)), [shirt], 30.0)
    return Body(
        torso=size(base.torso), shoulder_half=size(base.shoulder_half, 0.1), hip_half=size(base.hip_half, 0.1),
        neck=size(base.neck, 0.15), head_width=size(base.head_width), head_height=size(base.head_height),
        upper_arm=size(base.upper_arm), forearm=size(base.forearm), hand=size(base.hand),
        thigh=size(base.thigh), shin=size(base.shin), ankle_height=base.ankle_height, foot=size(base.foot),
        limb_width=rng.uniform(0.85, 1.25),
        skin=skin, hair=hair, hair_long=bool(rng.random() < 0.35), shirt=shirt,
        sleeves=bool(rng.random() < 0.4), pants=pants,
        shoes=pick_color(rng, lambda: _hsv_color(rng, (0.0, 0.5), (0.1, 0.9)), [pants], 30.0),
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
    rng = _rng(seed, actor, "actor")
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
    rng = _rng(seed, actor, clip, motion_key, "clip")
    phases = tuple(float(p) for p in rng.uniform(0, 2 * np.pi, 4))
    kind = ("box", "pole")[rng.integers(2)]
    occluder = (kind, float(rng.uniform(-1, 1)), float(rng.uniform(0.6, 1.0)))
    return Performance(
        speed=rng.uniform(0.8, 1.25), phase=rng.uniform(0, 2 * np.pi), amplitude=rng.uniform(0.8, 1.05),
        mirrored=bool(rng.random() < 0.3), yaw=rng.uniform(-20, 20), shake=rng.uniform(0.0, 1.5),
        shake_phases=phases, occluder=occluder)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- scenes

def _noise(image: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    noisy = image.astype(np.int16) + rng.normal(0, amount, image.shape[:2])[..., None].astype(np.int16)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _vertical_gradient(image: np.ndarray, top: int, bottom: int, start: tuple, end: tuple) -> None:
    rows = max(1, bottom - top)
    weights = np.linspace(0, 1, rows)[:, None]
    image[top:bottom] = (np.array(start)[None, :] * (1 - weights) + np.array(end)[None, :] * weights)[:, None, :]


def make_background(kind: str, seed: int, width: int, height: int, horizon: int, ground: int,
                    upper_avoid: Iterable[tuple[int, int, int]] = (),
                    lower_avoid: Iterable[tuple[int, int, int]] = (), head: tuple[int, int] | None = None,
                    ) -> np.ndarray:
    """A static scene a little larger than the frame (camera shake crops it).

    Its main colours keep away from the actor's: walls and sky from `upper_avoid` (shirt,
    skin, hair), floors and grass from `lower_avoid` (trousers, shoes). And no edge
    crosses the rows `head` (top, bottom) where the head is: clutter right behind the head
    makes the pose model lose the figure or swap its left and right."""
    rng = _rng(seed, kind, "background")
    head_top, head_bottom = head if head is not None else (0, 0)

    def clear_of_head(row: int, size: int = 0) -> int:
        """Move a horizontal band [row, row + size) out of the head rows (above them if it fits)."""
        if row + size < head_top or row > head_bottom:
            return row
        above = head_top - size - 1
        return above if above >= height // 20 else head_bottom + 1

    upper_avoid, lower_avoid = list(upper_avoid), list(lower_avoid)
    pick = lambda sample, minimum=60.0: pick_color(rng, sample, upper_avoid, minimum)  # noqa: E731
    pick_floor = lambda sample, minimum=60.0: pick_color(rng, sample, lower_avoid, minimum)  # noqa: E731
    palette = lambda *colors, spread=15: lambda: _jitter(rng, colors[rng.integers(len(colors))], spread)  # noqa: E731
    image = np.zeros((height, width, 3), np.uint8)
    white = (245, 245, 245)
    if kind == "room":
        image[:horizon] = pick(lambda: _hsv_color(rng, (0.05, 0.35), (0.55, 0.9)))
        # Wood, tiles or carpet: floors are rarely as saturated as clothes.
        image[horizon:] = pick_floor(palette((60, 100, 150), (90, 140, 190), (120, 120, 120), (70, 80, 90),
                                       (150, 170, 190), (40, 60, 90), (170, 170, 160), spread=15))
        baseboard = _jitter(rng, (235, 235, 235), 15)
        cv2.rectangle(image, (0, horizon - max(2, height // 60)), (width, horizon), baseboard, -1)
        for _ in range(rng.integers(1, 3)):  # pictures and windows
            x0 = int(rng.uniform(0.0, 0.8) * width)
            w, h = int(rng.uniform(0.12, 0.25) * width), int(rng.uniform(0.2, 0.4) * height)
            y0 = int(horizon * rng.uniform(0.15, 0.45))
            y1 = min(y0 + h, horizon - 4)
            if y1 >= head_top and y0 <= head_bottom:  # edges at head height: hang it higher or lower
                y0 = clear_of_head(y0, y1 - y0)
                y1 = min(y0 + h, horizon - 4)
            if y1 - y0 < h // 2:
                continue  # no room on the wall
            cv2.rectangle(image, (x0, y0), (x0 + w, y1), (240, 240, 240), -1)
            cv2.rectangle(image, (x0 + 3, y0 + 3), (x0 + w - 3, y1 - 3),
                          pick(lambda: _hsv_color(rng, (0.2, 0.7), (0.5, 1.0)), 30.0), -1)
    elif kind == "park":
        _vertical_gradient(image, 0, horizon, (235, 190, 140), (250, 235, 220))
        grass = pick_floor(palette((60, 150, 80), (50, 120, 90), (70, 160, 120), spread=20))
        image[horizon:] = grass
        tree_color = pick(palette((40, 100, 40), (30, 80, 50), spread=20), 35.0)
        for _ in range(rng.integers(5, 12)):  # distant trees, kept low: clutter behind the head hides it
            x = int(rng.uniform(0, width))
            r = int(rng.uniform(0.03, 0.07) * height)
            r = max(2, min(r, (horizon - head_bottom) // 2))
            cv2.circle(image, (x, horizon - r // 2), r, tree_color, -1, cv2.LINE_AA)
        for _ in range(12):  # tufts of grass
            center = (int(rng.uniform(0, width)), int(rng.uniform(horizon, height)))
            tuft = tuple(int(c) for c in np.clip(np.array(grass) + rng.integers(-18, 19), 0, 255))
            cv2.ellipse(image, center, (int(rng.uniform(10, 40)), int(rng.uniform(3, 8))), 0, 0, 360,
                        tuft, -1, cv2.LINE_AA)
    elif kind == "gym":
        image[:horizon] = pick(palette((200, 205, 210), (170, 200, 220), (210, 190, 170), spread=20))
        stripe = pick(lambda: _hsv_color(rng, (0.5, 0.9), (0.4, 0.8)), 30.0)
        stripe_top = clear_of_head(int(horizon * 0.55), int(horizon * 0.07))
        cv2.rectangle(image, (0, stripe_top), (width, stripe_top + int(horizon * 0.07)), stripe, -1)
        floor = np.array(pick_floor(palette((80, 140, 190), (90, 160, 210), (60, 110, 160))))
        image[horizon:] = floor
        for y in range(horizon, height, max(4, height // 25)):  # floor boards
            cv2.line(image, (0, y), (width, y), tuple(int(c) for c in floor * 0.85), 1)
    elif kind == "court":
        image[:horizon] = pick(palette((40, 90, 40), (120, 60, 30), (60, 60, 60)))  # windbreak
        # hard court, grass, clay
        image[horizon:] = pick_floor(palette((150, 100, 40), (70, 130, 60), (60, 100, 190), spread=12))
        cv2.line(image, (0, horizon + 3), (width, horizon + 3), white, 2, cv2.LINE_AA)
        center = width // 2 + int(rng.uniform(-0.2, 0.2) * width)
        for offset in (-0.45, -0.3, 0.3, 0.45):
            top = (center + int(offset * width * 0.8), horizon + 3)
            cv2.line(image, top, (center + int(offset * width * 2.2), height), white, 2, cv2.LINE_AA)
        service = horizon + (ground - horizon) // 3
        half_court = int(0.3 * width)
        cv2.line(image, (center - half_court, service), (center + half_court, service), white, 2, cv2.LINE_AA)
        net_top = clear_of_head(horizon + (service - horizon) // 2 - height // 10, height // 10)
        net_bottom = net_top + height // 10
        for x in range(0, width, 4):
            cv2.line(image, (x, net_top), (x, net_bottom), (50, 50, 50), 1)
        for y in range(net_top, net_bottom, 4):
            cv2.line(image, (0, y), (width, y), (50, 50, 50), 1)
        cv2.line(image, (0, net_top), (width, net_top), white, 2)
    elif kind == "field":
        sky_bottom = clear_of_head(int(horizon * 0.55))
        _vertical_gradient(image, 0, sky_bottom, (230, 170, 110), (245, 220, 190))
        image[sky_bottom:horizon] = pick(palette((50, 80, 30), (40, 60, 20), (90, 60, 30), spread=12))  # outfield wall
        cv2.line(image, (0, sky_bottom), (width, sky_bottom), (40, 200, 230), 2)
        grass = np.array(pick_floor(palette((50, 140, 60), (60, 160, 90))))
        band = max(6, (height - horizon) // 5)
        for index, y in enumerate(range(horizon, height, band)):
            image[y:y + band] = np.clip(grass + (12 if index % 2 else -6), 0, 255)  # mowing stripes
        dirt = pick_floor(palette((80, 120, 170), (70, 110, 150), (100, 140, 190), spread=12))
        infield = (int(width * 0.7), height // 2 + (height - horizon) // 3)
        cv2.ellipse(image, (width // 2, height + height // 6), infield,
                    0, 180, 360, dirt, -1, cv2.LINE_AA)
        home = (width // 2 + int(rng.uniform(-0.25, 0.25) * width), ground + 3)
        for direction in (-1, 1):  # foul lines
            cv2.line(image, home, (home[0] + direction * width, home[1] - (height - horizon)), white, 2, cv2.LINE_AA)
        cv2.circle(image, home, 4, (250, 250, 250), -1, cv2.LINE_AA)
    else:
        raise ValueError(f"unknown background {kind!r}")
    return _noise(image, rng, 3.0)


def _draw_occluder(frame: np.ndarray, occluder: tuple[str, float, float], figure_x: float, ground: float,
                   scale: float) -> None:
    """A box in front of the legs or a pole in front of one side: partial occlusion."""
    kind, position, size = occluder
    if kind == "box":
        center = figure_x + position * 0.15 * scale
        half_width, box_height = 0.22 * scale * size, 0.22 * scale * size
        corners = (int(center - half_width), int(ground - box_height)), (int(center + half_width), int(ground + 4))
        cv2.rectangle(frame, *corners, (40, 90, 140), -1)
        cv2.rectangle(frame, *corners, (25, 60, 100), 2)
    else:
        x = int(figure_x + (0.04 + 0.14 * abs(position)) * scale * (1 if position >= 0 else -1))
        half = max(2, int(0.025 * scale * size))
        cv2.rectangle(frame, (x - half, 0), (x + half, frame.shape[0]), (110, 110, 120), -1)


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
            _draw_occluder(frame, performance.occluder, view.x - dx, view.y - dy, view.scale)
        frames.append(frame)
        # Pixel centres sit at integer coordinates in OpenCV, at +0.5 in MediaPipe's [0, 1].
        joints[index, drawn, 0] = (pixels[:NUM_LANDMARKS][drawn, 0] + 0.5) / width
        joints[index, drawn, 1] = (pixels[:NUM_LANDMARKS][drawn, 1] + 0.5) / height
        joints[index, drawn, 2] = 1.0
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
        if np.all(np.isnan(joints[:, index, 0])):
            continue
        columns[f"{name}_x"] = joints[:, index, 0]
        columns[f"{name}_y"] = joints[:, index, 1]
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
            joints[:, index, 0] = table[f"{name}_x"].to_numpy()
            joints[:, index, 1] = table[f"{name}_y"].to_numpy()
            joints[:, index, 2] = 1.0
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
    return bool(_rng(seed, actor, clip, ACTION_TABLE[action].motion_key, "occlusion").random() < rate)


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


# ----------------------------------------------------------------------------- command line

def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 320x240, got {text!r}") from None
    return width, height


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT", help="output folder (OUT/<Class>/v_<Class>_gNN_cNN.mp4)")
    parser.add_argument("--classes", nargs="+", choices=ACTIONS, metavar="CLASS",
                        help=f"classes to render (default: all): {', '.join(ACTIONS)}")
    parser.add_argument("--actors", type=int, default=3, help="actors (groups g01..) per class (default 3)")
    parser.add_argument("--clips", type=int, default=2, help="clips per actor and class (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same videos (default 0)")
    parser.add_argument("--size", type=parse_size, default=DEFAULT_SIZE, metavar="WxH",
                        help="frame size (default 320x240)")
    parser.add_argument("--fps", type=float, default=DEFAULT_FPS, help="frames per second (default 25)")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="clip length (default 2)")
    parser.add_argument("--occlusion", type=float, default=DEFAULT_OCCLUSION_RATE, metavar="RATE",
                        help=f"share of clips with a partial occluder (default {DEFAULT_OCCLUSION_RATE})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    paths = write_dataset(args.out, classes=args.classes, actors=args.actors, clips=args.clips,
                          seed=args.seed, size=args.size, fps=args.fps, seconds=args.seconds,
                          occlusion_rate=args.occlusion, progress=not args.quiet)
    classes = len({path.parent.name for path in paths})
    print(f"{len(paths)} clips of {classes} classes in {args.out}")
    return 0
