"""Real-footage conditions for synthetic clips: far, exit, dark, crowd, pair.

Real videos differ from the default drawn actor, who stands large and centred in a lit
scene: people stand far from the camera (`far`), walk into or out of the frame (`exit`),
rooms are dark (`dark`), other people are about (`crowd`), or a second person stands close,
turned to the actor, the two bodies overlapping (`pair`, as in two-person actions). Each condition is drawn per
clip with its own rate and its own keyed generator, so turning one on changes no random
draw of the default clip: with every rate 0 the frames are byte-identical to before.
Conditions are keyed by the motion, like occluders, so the two classes of a scene pair
get the same conditions and the same joints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np

from pose_action.errors import InputError
from pose_action.synth.figure import Body, Pose, View
from pose_action.synth.scenes import keyed_rng

CONDITIONS: tuple[str, ...] = ("far", "exit", "dark", "crowd", "pair")


@dataclass(frozen=True)
class Conditions:
    """Which conditions one clip has."""

    far: bool = False
    exit: bool = False
    dark: bool = False
    crowd: bool = False
    pair: bool = False

    def names(self) -> tuple[str, ...]:
        return tuple(name for name in CONDITIONS if getattr(self, name))


@dataclass(frozen=True)
class ConditionRates:
    """Share of a dataset's clips that get each condition (independently of each other)."""

    far: float = 0.0
    exit: float = 0.0
    dark: float = 0.0
    crowd: float = 0.0
    pair: float = 0.0

    def __post_init__(self) -> None:
        for name in CONDITIONS:
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise InputError(f"--{name} must be between 0 and 1, got {rate}")


NO_CONDITIONS = ConditionRates()
# `--conditions real`: about a third of the clips get each condition, so some clips get two or
# more and about a fifth get none, a mix like footage filmed outside a studio.
PRESETS: dict[str, ConditionRates] = {
    "none": NO_CONDITIONS,
    "real": ConditionRates(far=0.35, exit=0.3, dark=0.3, crowd=0.3),
}


def preset(name: str, **overrides: float | None) -> ConditionRates:
    """A named preset with some rates replaced (None keeps the preset's)."""
    if name not in PRESETS:
        raise InputError(f"unknown --conditions {name!r} (choose from {', '.join(PRESETS)})")
    return replace(PRESETS[name], **{key: value for key, value in overrides.items() if value is not None})


def draw_conditions(seed: int, actor: int, clip: int, motion_key: str, rates: ConditionRates) -> Conditions:
    """The conditions of one dataset clip: one keyed draw per condition, so raising one rate
    never changes which clips get another."""
    return Conditions(**{name: bool(keyed_rng(seed, actor, clip, motion_key, "condition", name).random()
                                    < getattr(rates, name)) for name in CONDITIONS})


def condition_rng(seed: int, actor: int, clip: int, motion_key: str, name: str) -> np.random.Generator:
    """The generator of one condition's details (where, how dark, who else)."""
    return keyed_rng(seed, actor, clip, motion_key, "condition-details", name)


# ----------------------------------------------------------------------------- far

FAR_HEIGHT = (0.15, 0.35)  # standing height / frame height
REACH_ABOVE = 0.3  # raised hands and jumps go this far (body units) above the crown
HALF_REACH = 0.55  # arms out, props and turns stay within this (body units) of the feet, sideways


def far_placement(rng: np.random.Generator, size: tuple[int, int], body: Body,
                  horizon_fraction: float) -> tuple[float, float, float]:
    """(height_fraction, x_fraction, ground_fraction) of an actor far from the camera: small,
    anywhere across the frame, feet on the floor below the horizon, every joint in frame."""
    width, height = size
    height_fraction = float(rng.uniform(*FAR_HEIGHT))
    scale = height_fraction * min(height, 1.1 * width) / body.standing_height()
    top_room = (body.standing_height() + REACH_ABOVE) * scale + 2
    lowest = max(top_room / height, horizon_fraction + 0.03)
    ground_fraction = float(rng.uniform(min(lowest, 0.96), 0.96))
    side_room = min(HALF_REACH * scale + 2, 0.45 * width) / width
    x_fraction = float(rng.uniform(side_room, 1.0 - side_room))
    return height_fraction, x_fraction, ground_fraction


# ----------------------------------------------------------------------------- exit

WALK_SPEED = (0.9, 1.8)  # body heights per second: a walk to a jog
STROLL_SPEED = (0.4, 0.9)  # a bystander ambling across
TURN_SHARE = 0.3  # of the walk spent turning between the action and the walk
OFF_FRAME = 0.7  # body units beyond the frame edge: nothing of the figure shows


@dataclass(frozen=True)
class Exit:
    """The actor walks in from an edge (`entering`) or out of the frame, during [start, end]
    (fractions of the clip); out of frame before an entrance or after an exit."""

    entering: bool
    side: int  # -1 the left edge, +1 the right edge
    start: float
    end: float
    gait_frequency: float  # walking cycles (two steps) per second


def plan_exit(rng: np.random.Generator, home_x: float, scale: float, width: int, seconds: float) -> Exit:
    """A walk between `home_x` (where the action is performed) and beyond a frame edge.

    Whatever the clip length, at least a fifth of the clip has nobody in frame and at least
    a fifth shows the action: the walk's speed gives way before those shares do."""
    entering = bool(rng.random() < 0.5)
    side = -1 if rng.random() < 0.5 else 1
    edge = width + OFF_FRAME * scale if side > 0 else -OFF_FRAME * scale
    speed = rng.uniform(*WALK_SPEED) * scale  # pixels per second
    empty = rng.uniform(0.2, 0.35)
    walk = min(max(abs(edge - home_x) / speed / seconds, 0.15), 0.45)
    start, end = 1.0 - empty - walk, 1.0 - empty  # leaving; an entrance is the same, reversed in time
    if entering:
        start, end = empty, empty + walk
    return Exit(entering, side, float(start), float(end), gait_frequency=float(0.55 * speed / scale + 0.3))


def exit_state(walk: Exit, share: float, home_x: float, scale: float, width: int) -> tuple[float, float]:
    """(x of the feet in pixels, walking weight 0..1) at `share` of the clip."""
    edge = width + OFF_FRAME * scale if walk.side > 0 else -OFF_FRAME * scale
    along = (share - walk.start) / max(walk.end - walk.start, 1e-9)  # 0..1 through the walk
    if walk.entering:
        along = 1.0 - along  # 1 at the edge, 0 home: an entrance is an exit played backward
    along = min(max(along, 0.0), 1.0)
    turn = min(1.0, along / TURN_SHARE) if along > 0 else 0.0
    weight = turn * turn * (3 - 2 * turn)  # smoothstep: turn from the action into the walk
    return home_x + (edge - home_x) * along, weight


def travel_yaw(walk: Exit) -> float:
    """Yaw of a figure facing where it walks, three-quarter on (a profile is rarer in footage)."""
    heading = -walk.side if walk.entering else walk.side  # +1: toward image right
    return -70.0 * heading


def blend_poses(first: Pose, second: Pose, weight: float) -> Pose:
    """`first` moved `weight` of the way toward `second`: angles linearly, limb directions
    along the shorter arc (renormalized). The prop stays as in `first` (held while walking)."""
    if weight <= 0.0:
        return first
    values = {}
    for field in fields(Pose):
        a, b = getattr(first, field.name), getattr(second, field.name)
        if field.name in ("prop_direction", "prop_length"):
            values[field.name] = a
        elif isinstance(a, np.ndarray):
            mixed = (1.0 - weight) * a + weight * b
            values[field.name] = mixed / max(float(np.linalg.norm(mixed)), 1e-9)
        else:
            values[field.name] = (1.0 - weight) * a + weight * b
    return Pose(**values)


# ----------------------------------------------------------------------------- dark

@dataclass(frozen=True)
class Darkness:
    """A dim room filmed by a camera at high gain: dark, flat, noisy, tinted by the lamp."""

    brightness: float  # gain on the lit frame
    contrast: float  # 1 = unchanged; lower pulls every pixel toward the frame's mean
    noise: float  # sensor noise, grey levels (standard deviation)
    tint: tuple[float, float, float]  # BGR gains: tungsten warm or screen blue
    noise_seed: int


def plan_darkness(rng: np.random.Generator) -> Darkness:
    warm = rng.random() < 0.6
    tint = (0.75, 0.95, 1.1) if warm else (1.1, 0.95, 0.85)
    return Darkness(brightness=float(rng.uniform(0.2, 0.4)), contrast=float(rng.uniform(0.5, 0.75)),
                    noise=float(rng.uniform(3.0, 7.0)), tint=tint, noise_seed=int(rng.integers(2**31)))


def darken(frame: np.ndarray, darkness: Darkness, rng: np.random.Generator) -> np.ndarray:
    """The lit BGR frame as the dim room would show it (fresh noise from `rng` every frame)."""
    lit = frame.astype(np.float32)
    mean = float(lit.mean())
    flat = (lit - mean) * darkness.contrast + mean
    dim = flat * darkness.brightness * np.asarray(darkness.tint, dtype=np.float32)
    luma = rng.normal(0.0, darkness.noise, frame.shape[:2]).astype(np.float32)[..., None]
    chroma = rng.normal(0.0, 0.5 * darkness.noise, frame.shape).astype(np.float32)
    return np.clip(dim + luma + chroma + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- crowd

@dataclass(frozen=True)
class Bystander:
    """A second person who does something else: stands about at the side or walks across."""

    body: Body
    view: View  # where the bystander is at the start of the clip
    walking: bool
    velocity: float  # pixels per second across the frame (0 when standing)
    phase: float
    frequency: float  # cycles per second of the sway or the gait


def plan_bystander(rng: np.random.Generator, body: Body, size: tuple[int, int], actor_view: View,
                   actor_height: float, horizon_fraction: float, seconds: float) -> Bystander:
    """Somebody else in the scene. Beside a normal-size actor, the bystander stands farther
    back (smaller); beside a far actor, anywhere from as far to much nearer."""
    width, height = size
    if actor_height >= FAR_HEIGHT[1]:
        height_fraction = actor_height * rng.uniform(0.55, 0.85)
    else:
        height_fraction = rng.uniform(actor_height, 0.6)
    scale = height_fraction * min(height, 1.1 * width) / body.standing_height()
    top_room = (body.standing_height() + 0.1) * scale + 2
    lowest = max(top_room / height, horizon_fraction + 0.03)
    # Smaller than the actor means farther back: feet higher in the frame than the actor's.
    highest = 0.96 if height_fraction > actor_height else min(0.96, actor_view.y / height - 0.02)
    ground = rng.uniform(min(lowest, highest), highest) * height
    walking = bool(rng.random() < 0.5)
    half = HALF_REACH * scale
    if walking:
        # A stroll, in frame for most of the clip: the middle of the path lies in the frame.
        direction = -1 if rng.random() < 0.5 else 1
        velocity = direction * rng.uniform(*STROLL_SPEED) * scale
        x = rng.uniform(half, width - half) - velocity * seconds / 2
        yaw = -70.0 * direction
    else:
        # Stand on the other half of the frame from the actor, clear of its arms.
        lower, upper = half, width - half
        if actor_view.x < width / 2:
            lower = max(lower, actor_view.x + HALF_REACH * actor_view.scale + half)
        else:
            upper = min(upper, actor_view.x - HALF_REACH * actor_view.scale - half)
        x = rng.uniform(lower, upper) if upper > lower else (lower + upper) / 2
        velocity = 0.0
        yaw = rng.uniform(-40, 40)
    view = View(x=float(x), y=float(ground), scale=float(scale), yaw=float(yaw), pitch=actor_view.pitch)
    frequency = 0.55 * abs(velocity) / scale + 0.3 if walking else rng.uniform(0.2, 0.4)
    return Bystander(body, view, walking, float(velocity), float(rng.uniform(0, 2 * math.pi)), float(frequency))


# ----------------------------------------------------------------------------- pair

PAIR_SPACING = (0.1, 0.35)  # between the two people's feet, in standing heights: bodies overlap below ~0.25


def plan_partner(rng: np.random.Generator, body: Body, size: tuple[int, int], actor_view: View,
                 actor_height: float) -> Bystander:
    """A second person close to the actor, about as large, turned toward it: the two figures
    overlap in the image as in two-person actions (the partner is drawn behind the actor)."""
    width, height = size
    scale = actor_height * rng.uniform(0.9, 1.1) * min(height, 1.1 * width) / body.standing_height()
    spacing = rng.uniform(*PAIR_SPACING) * actor_view.scale * body.standing_height()
    half = HALF_REACH * scale
    side = -1 if rng.random() < 0.5 else 1
    if not half <= actor_view.x + side * spacing <= width - half:
        side = -side  # no room on that side: stand on the other
    x = float(np.clip(actor_view.x + side * spacing, half, width - half))
    # yaw -70 turns a figure to face +x (as a bystander walking right); the partner faces the actor
    view = View(x=x, y=actor_view.y, scale=float(scale), yaw=float(70.0 * side + rng.uniform(-10, 10)),
                pitch=actor_view.pitch)
    return Bystander(body, view, False, 0.0, float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0.2, 0.4)))
