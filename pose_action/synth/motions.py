"""The synthetic actions: each motion maps a phase to a Pose of the drawn figure.

Two classes of a scene pair (TennisSwing / BaseballSwing) share one motion and differ only
in scene and prop, so a pose-only model cannot tell them apart and a fusion model can.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pose_action.synth.figure import Body, Pose, limb_direction, reach

Limbs = dict[str, Any]  # Pose limb field -> unit direction, spread into Pose(...) beside its float angles

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
    arms: Limbs = {}
    for side, name in ((+1, "left"), (-1, "right")):
        target = np.array([side * (0.018 + 0.2 * apart), -0.2, -0.27])
        upper, fore = reach(body, side, target, pole=np.array([side * 1.0, 0.6, 0.2]))
        arms[f"{name}_upper_arm"], arms[f"{name}_forearm"] = upper, fore
    return Pose(**arms)


def jumping_jack(phase: float, amplitude: float, body: Body) -> Pose:
    out = _cycle(phase) * amplitude
    arms: Limbs = {f"{n}_upper_arm": limb_direction(12 + 152 * out, 5, s) for s, n in ((+1, "left"), (-1, "right"))}
    arms.update({f"{n}_forearm": limb_direction(16 + 158 * out, 5, s) for s, n in ((+1, "left"), (-1, "right"))})
    legs: Limbs = {f"{n}_{part}": limb_direction(3 + 13 * out, 0, s)
            for s, n in ((+1, "left"), (-1, "right")) for part in ("thigh", "shin")}
    return Pose(**arms, **legs, lift=0.045 * amplitude * abs(math.sin(phase)))


def squat(phase: float, amplitude: float, body: Body) -> Pose:
    down = _cycle(phase) * amplitude
    limbs: Limbs = {}
    for side, name in ((+1, "left"), (-1, "right")):
        limbs[f"{name}_thigh"] = limb_direction(5 + 80 * down, 55, side)
        limbs[f"{name}_shin"] = limb_direction(4 + 32 * down, -100, side)
        limbs[f"{name}_upper_arm"] = limb_direction(12 + 70 * down, 75, side)
        limbs[f"{name}_forearm"] = limb_direction(16 + 72 * down, 80, side)
    return Pose(**limbs, torso_pitch=28 * down, head_pitch=-20 * down)


def arms_raise(phase: float, amplitude: float, body: Body) -> Pose:
    up = _cycle(phase) * amplitude
    limbs: Limbs = {}
    for side, name in ((+1, "left"), (-1, "right")):
        limbs[f"{name}_upper_arm"] = limb_direction(10 + 160 * up, 35, side)
        limbs[f"{name}_forearm"] = limb_direction(12 + 162 * up, 35, side)
    return Pose(**limbs)


def punch(phase: float, amplitude: float, body: Body) -> Pose:
    """Alternating straight punches from a guard, in a boxer's stance turned a little from
    the camera (so the arms are not foreshortened to nothing): left first, then right."""
    extension = {+1: max(0.0, math.sin(phase)) ** 0.6, -1: max(0.0, -math.sin(phase)) ** 0.6}
    limbs: Limbs = {}
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
    limbs: Limbs = {}
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
    limbs: Limbs = {}
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
    limbs: Limbs = {}
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


# ----------------------------------------------------------------------------- gaits
# An actor walking into or out of the frame, a bystander, and the locomotion classes.

def walk(phase: float, amplitude: float, body: Body) -> Pose:
    """A walking gait in place (the caller moves the figure): legs swing front and back,
    the knee bends on the back swing, arms swing opposite to the legs."""
    limbs: Limbs = {}
    for side, name in ((+1, "left"), (-1, "right")):
        swing = side * math.sin(phase) * amplitude  # +1: this leg forward
        knee = max(0.0, -side * math.cos(phase)) * amplitude  # bent while the leg swings through
        limbs[f"{name}_thigh"] = limb_direction(24 * swing + 12 * knee, 90, side)
        limbs[f"{name}_shin"] = limb_direction(24 * swing - 30 * knee, 90, side)
        limbs[f"{name}_upper_arm"] = limb_direction(-20 * swing, 90, side)
        limbs[f"{name}_forearm"] = limb_direction(-20 * swing + 18, 90, side)
    return Pose(**limbs, lift=0.01 * abs(math.sin(2 * phase)))


def run_gait(phase: float, amplitude: float, body: Body) -> Pose:
    """A jogging or running gait in place (the caller moves the figure): longer leg swings than
    walking, the knee folded high on the swing through, elbows bent and pumping, the torso
    leaning into the run and the body in the air between steps. Jog and Run share it: their
    speed across the frame and their cadence tell them apart, as in footage."""
    limbs: Limbs = {}
    for side, name in ((+1, "left"), (-1, "right")):
        swing = side * math.sin(phase) * amplitude  # +1: this leg forward
        knee = max(0.0, -side * math.cos(phase)) * amplitude  # folded while the leg swings through
        limbs[f"{name}_thigh"] = limb_direction(38 * swing + 22 * knee, 90, side)
        limbs[f"{name}_shin"] = limb_direction(30 * swing - 75 * knee, 90, side)
        limbs[f"{name}_upper_arm"] = limb_direction(-35 * swing, 90, side)
        limbs[f"{name}_forearm"] = limb_direction(-30 * swing + 75, 90, side)
    return Pose(**limbs, torso_pitch=9.0 * amplitude, lift=0.045 * amplitude * abs(math.sin(phase)))


def stand(phase: float, amplitude: float, body: Body) -> Pose:
    """Standing about: arms hanging, a slow sway of the body and head."""
    sway = math.sin(phase) * amplitude
    limbs: Limbs = {}
    for side, name in ((+1, "left"), (-1, "right")):
        limbs[f"{name}_upper_arm"] = limb_direction(8 + 3 * side * sway, 10, side)
        limbs[f"{name}_forearm"] = limb_direction(14 + 4 * side * sway, 40, side)
    return Pose(**limbs, torso_roll=2.5 * sway, head_yaw=12 * sway, head_roll=-2 * sway)


@dataclass(frozen=True)
class Action:
    motion: Motion
    frequency: float  # cycles per second at normal speed
    motion_key: str  # classes sharing it share their joint trajectories (scene pairs)
    scene: str | None = None  # None: the actor's own background
    prop: str | None = None
    prop_length: float = 0.0
    # locomotion: body heights per second across the frame at normal speed (0: in place). The
    # clip's speed factor scales it with the cadence, so a faster performer also steps faster.
    travel: float = 0.0


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
    # Locomotion across the frame (rendered only when asked for: LOCOMOTION). Speeds as people
    # move (a walk ~1.4 m/s, a jog ~3, a run ~5, for a 1.75 m person); with the clip's speed
    # factor (0.8-1.25) walk 0.6-1.0, jog 1.4-2.1, run 2.2-3.5 body heights per second, while
    # jog and run cadences overlap: speed is what tells them apart.
    "Walk": Action(walk, 0.9, "walk", travel=0.8),
    "Jog": Action(run_gait, 1.3, "jog", travel=1.7),
    "Run": Action(run_gait, 1.5, "run", travel=2.8),
}
# Classes that move across the frame: not in the default dataset (ACTIONS), rendered with --classes.
LOCOMOTION: tuple[str, ...] = ("Walk", "Jog", "Run")
# "No action" clips for a run's background class (rendered only with --classes background): an
# idle actor standing about, the empty scene, or someone walking past; which one a clip is
# goes round with actor + clip (BACKGROUND_VARIANTS), so every actor's clips mix them.
BACKGROUND_CLASS = "background"
BACKGROUND_VARIANTS: tuple[str, ...] = ("idle", "empty", "passing")
ACTION_TABLE[BACKGROUND_CLASS] = Action(stand, 0.2, "background")
PASSING = Action(walk, 0.9, "background", travel=0.8)  # the "passing" variant's walk across the frame
# The default classes of `pose-action synth` and the demo: everything performed in place.
ACTIONS: tuple[str, ...] = tuple(name for name in ACTION_TABLE if name not in (*LOCOMOTION, BACKGROUND_CLASS))
ALL_ACTIONS: tuple[str, ...] = tuple(ACTION_TABLE)  # what --classes may name


def background_variant(actor: int, clip: int) -> str:
    """Which "no action" clip a background class's (actor, clip) is: idle, empty or passing."""
    return BACKGROUND_VARIANTS[(actor + clip) % len(BACKGROUND_VARIANTS)]


# Same body motion, different scene and prop: pose alone cannot tell them apart.
SCENE_PAIRS: tuple[tuple[str, str], ...] = (("TennisSwing", "BaseballSwing"),)



# ----------------------------------------------------------------------------- crossing the frame

SMALL_SHARE = 0.35  # of locomotion clips: the person is small and far (far_placement), as often in footage
CROSSING_YAW = (55.0, 90.0)  # degrees a walker turns from the camera toward where it goes (90: profile)


@dataclass(frozen=True)
class Crossing:
    """A locomotion clip's path: the figure's feet at x = middle_x + velocity * (t - middle_time)
    pixels, t in seconds, so it may enter, cross and leave the frame within the clip."""

    velocity: float  # pixels per second, > 0 toward image right
    middle_x: float  # pixels: where the feet are at middle_time
    middle_time: float  # seconds
    yaw: float  # degrees: facing where it goes

    def x(self, time: float) -> float:
        return self.middle_x + self.velocity * (time - self.middle_time)


def plan_crossing(rng: np.random.Generator, travel: float, speed: float, pixels_per_height: float, width: int,
                  seconds: float) -> Crossing:
    """Where a person moving at `travel` x `speed` body heights per second crosses the frame:
    in frame at some moment between a quarter and three quarters of the clip, somewhere in the
    middle half of the frame; fast or near people leave (or enter) within the clip."""
    direction = -1.0 if rng.random() < 0.5 else 1.0
    velocity = direction * travel * speed * pixels_per_height
    middle_time = float(rng.uniform(0.25, 0.75)) * seconds
    middle_x = float(rng.uniform(0.25, 0.75)) * width
    return Crossing(float(velocity), middle_x, middle_time, yaw=float(-direction * rng.uniform(*CROSSING_YAW)))
