"""A drawn humanoid: a 3D skeleton posed by forward kinematics, projected and painted with OpenCV.

The skeleton's points are MediaPipe's 33 landmarks (same order, same names) plus a few
helper points (pelvis, neck, head, prop) that the drawing needs. Because every drawn part
is placed from these points, the projected landmarks ARE the ground truth of the picture.

Body frame: x = the figure's left (image right when it faces the camera), y = down,
z = away from the camera; the origin is on the ground between the feet, so y < 0 is up.
Lengths are in "body units": a standing figure is about 1.0 tall.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from pose_action.landmarks import INDEX, MIRROR, NUM_LANDMARKS

# Helper points after the 33 landmarks.
PELVIS = NUM_LANDMARKS
NECK = NUM_LANDMARKS + 1  # base of the neck, between the shoulders
HEAD = NUM_LANDMARKS + 2  # centre of the head ellipse
HEAD_TOP = NUM_LANDMARKS + 3
PROP_BASE = NUM_LANDMARKS + 4  # where the hands hold the prop
PROP_TIP = NUM_LANDMARKS + 5
PROP_SIDE = NUM_LANDMARKS + 6  # a point beside the tip: the plane of a racket's head
NUM_POINTS = NUM_LANDMARKS + 7

# Index of each point's left/right twin (helper points have none).
POINT_MIRROR: tuple[int, ...] = tuple(MIRROR) + tuple(range(NUM_LANDMARKS, NUM_POINTS))

SHIFT_BITS = 4  # OpenCV drawing with 1/16-pixel precision
SHIFT_SCALE = float(1 << SHIFT_BITS)

Color = tuple[int, int, int]  # BGR


@dataclass(frozen=True)
class Body:
    """One actor: proportions (body units) and colours. Symmetric, so a mirrored pose stays on-model."""

    torso: float = 0.30  # hip joints to shoulder line
    shoulder_half: float = 0.105
    hip_half: float = 0.075
    neck: float = 0.045
    head_width: float = 0.1
    head_height: float = 0.135
    upper_arm: float = 0.17
    forearm: float = 0.15
    hand: float = 0.085
    thigh: float = 0.245
    shin: float = 0.245
    ankle_height: float = 0.04
    foot: float = 0.13
    toe_out: float = 12.0  # degrees the feet turn outward
    limb_width: float = 1.0  # thickness factor
    skin: Color = (150, 180, 225)
    hair: Color = (30, 40, 60)
    hair_long: bool = False
    shirt: Color = (160, 80, 40)
    sleeves: bool = False  # long sleeves cover the forearms
    pants: Color = (60, 50, 40)
    shoes: Color = (40, 40, 40)

    def standing_height(self) -> float:
        """Sole to crown when standing straight: the unit the frame scale is based on."""
        return (self.ankle_height + self.shin + self.thigh + self.torso + self.neck
                + self.head_height)


@dataclass(frozen=True)
class Pose:
    """Joint angles and limb directions of one frame (degrees; limb directions are unit vectors).

    Arm directions are in the torso frame, leg directions in the pelvis frame, so bending
    or twisting the torso carries the arms with it.
    """

    pelvis_yaw: float = 0.0
    torso_pitch: float = 0.0  # forward bend, toward the camera
    torso_roll: float = 0.0  # side bend toward the figure's left
    torso_yaw: float = 0.0  # twist relative to the pelvis, turning the left shoulder back
    head_pitch: float = 0.0
    head_roll: float = 0.0
    head_yaw: float = 0.0
    left_upper_arm: np.ndarray = field(default_factory=lambda: limb_direction(8, 0, +1))
    left_forearm: np.ndarray = field(default_factory=lambda: limb_direction(10, 40, +1))
    right_upper_arm: np.ndarray = field(default_factory=lambda: limb_direction(8, 0, -1))
    right_forearm: np.ndarray = field(default_factory=lambda: limb_direction(10, 40, -1))
    left_thigh: np.ndarray = field(default_factory=lambda: limb_direction(4, 0, +1))
    left_shin: np.ndarray = field(default_factory=lambda: limb_direction(3, 0, +1))
    right_thigh: np.ndarray = field(default_factory=lambda: limb_direction(4, 0, -1))
    right_shin: np.ndarray = field(default_factory=lambda: limb_direction(3, 0, -1))
    lift: float = 0.0  # feet above the ground (jumps), body units
    prop_direction: np.ndarray | None = None  # torso frame; held in both hands when set
    prop_length: float = 0.0


def limb_direction(polar: float, azimuth: float, side: int) -> np.ndarray:
    """Unit vector of a limb: `polar` degrees up from hanging straight down, swung `azimuth`
    degrees from sideways-out (0) toward the front (90); side +1 = left limb, -1 = right.
    Polar above 180 crosses over the head toward the other side; negative polar with
    azimuth 90 points backward."""
    p, a = math.radians(polar), math.radians(azimuth)
    return np.array([side * math.sin(p) * math.cos(a), math.cos(p), -math.sin(p) * math.sin(a)])


def rotation_x(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rotation_y(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_z(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def torso_rotation(pose: Pose) -> np.ndarray:
    """Torso frame -> body frame."""
    # rotation_x(+) brings the shoulders toward the camera (-z); rotation_z(+) tilts them to +x.
    return (rotation_y(pose.pelvis_yaw + pose.torso_yaw) @ rotation_x(pose.torso_pitch)
            @ rotation_z(-pose.torso_roll))


def shoulder_position(body: Body, side: int) -> np.ndarray:
    """A shoulder in the torso frame (origin at the pelvis)."""
    return np.array([side * body.shoulder_half, -body.torso + 0.012, 0.0])


def reach(body: Body, side: int, target: np.ndarray, pole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-bone inverse kinematics: (upper arm, forearm) directions, torso frame, that put the
    wrist at `target` (torso frame) with the elbow bending toward `pole`. Out of reach, the
    arm points straight at the target."""
    shoulder = shoulder_position(body, side)
    to_target = np.asarray(target, dtype=float) - shoulder
    distance = float(np.linalg.norm(to_target))
    upper, lower = body.upper_arm, body.forearm
    axis = to_target / max(distance, 1e-9)
    distance = min(max(distance, abs(upper - lower) + 1e-4), upper + lower - 1e-4)
    along = (upper * upper - lower * lower + distance * distance) / (2.0 * distance)
    height = math.sqrt(max(upper * upper - along * along, 0.0))
    bend = np.asarray(pole, dtype=float) - np.dot(pole, axis) * axis
    bend /= max(float(np.linalg.norm(bend)), 1e-9)
    elbow = along * axis + height * bend
    wrist = distance * axis
    return elbow / upper, (wrist - elbow) / lower


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-9)


def _hand(points: np.ndarray, body: Body, side: int, elbow: int, wrist: int) -> None:
    """Index, pinky and thumb points of a mitten hand continuing the forearm."""
    direction = _unit(points[wrist] - points[elbow])
    forward = np.array([0.0, 0.0, -1.0])
    across = forward - np.dot(forward, direction) * direction  # thumb side of the palm
    if np.linalg.norm(across) < 0.2:  # forearm pointing at the camera: the thumb goes up
        up = np.array([0.0, -1.0, 0.0])
        across = up - np.dot(up, direction) * direction
    across = _unit(across)
    name = "left" if side > 0 else "right"
    points[INDEX[f"{name}_index"]] = points[wrist] + direction * body.hand * 0.9 + across * 0.012
    points[INDEX[f"{name}_pinky"]] = points[wrist] + direction * body.hand * 0.7 - across * 0.018
    points[INDEX[f"{name}_thumb"]] = points[wrist] + direction * body.hand * 0.45 + across * 0.03


def skeleton(body: Body, pose: Pose) -> np.ndarray:
    """(NUM_POINTS, 3) points in the body frame, feet on the ground (y = 0) unless lifted."""
    points = np.zeros((NUM_POINTS, 3))
    pelvis_rotation = rotation_y(pose.pelvis_yaw)
    torso = torso_rotation(pose)
    for side, name in ((+1, "left"), (-1, "right")):
        hip = pelvis_rotation @ np.array([side * body.hip_half, 0.0, 0.0])
        thigh = pose.left_thigh if side > 0 else pose.right_thigh
        shin = pose.left_shin if side > 0 else pose.right_shin
        knee = hip + pelvis_rotation @ thigh * body.thigh
        ankle = knee + pelvis_rotation @ shin * body.shin
        toe_out = side * body.toe_out  # toes turned out a little, so feet show in a front view
        foot_rotation = pelvis_rotation @ rotation_y(-toe_out)
        points[INDEX[f"{name}_hip"]] = hip
        points[INDEX[f"{name}_knee"]] = knee
        points[INDEX[f"{name}_ankle"]] = ankle
        points[INDEX[f"{name}_heel"]] = ankle + foot_rotation @ np.array([0.0, body.ankle_height, 0.03])
        points[INDEX[f"{name}_foot_index"]] = ankle + foot_rotation @ np.array(
            [0.0, body.ankle_height, 0.03 - body.foot])

        shoulder = torso @ shoulder_position(body, side)
        upper = pose.left_upper_arm if side > 0 else pose.right_upper_arm
        fore = pose.left_forearm if side > 0 else pose.right_forearm
        elbow = shoulder + torso @ upper * body.upper_arm
        wrist = elbow + torso @ fore * body.forearm
        points[INDEX[f"{name}_shoulder"]] = shoulder
        points[INDEX[f"{name}_elbow"]] = elbow
        points[INDEX[f"{name}_wrist"]] = wrist
        _hand(points, body, side, INDEX[f"{name}_elbow"], INDEX[f"{name}_wrist"])

    neck = torso @ np.array([0.0, -body.torso, 0.0])
    head_rotation = torso @ rotation_y(pose.head_yaw) @ rotation_x(pose.head_pitch) @ rotation_z(-pose.head_roll)
    head = neck + head_rotation @ np.array([0.0, -(body.neck + body.head_height * 0.5), 0.0])
    points[PELVIS] = 0.0
    points[NECK] = neck
    points[HEAD] = head
    points[HEAD_TOP] = head + head_rotation @ np.array([0.0, -body.head_height * 0.5, 0.0])
    half_width, half_height = body.head_width * 0.5, body.head_height * 0.5
    face = {  # head frame, relative to the head centre
        "nose": (0.0, 0.12, -1.05),
        "left_eye_inner": (0.16, -0.08, -0.95), "left_eye": (0.42, -0.08, -0.88),
        "left_eye_outer": (0.62, -0.08, -0.75),
        "right_eye_inner": (-0.16, -0.08, -0.95), "right_eye": (-0.42, -0.08, -0.88),
        "right_eye_outer": (-0.62, -0.08, -0.75),
        "left_ear": (1.0, 0.0, 0.1), "right_ear": (-1.0, 0.0, 0.1),
        "mouth_left": (0.3, 0.45, -0.85), "mouth_right": (-0.3, 0.45, -0.85),
    }
    for name, (x, y, z) in face.items():
        points[INDEX[name]] = head + head_rotation @ np.array([x * half_width, y * half_height, z * half_width])

    if pose.prop_direction is not None:
        grip = 0.5 * (points[INDEX["left_wrist"]] + points[INDEX["right_wrist"]])
        direction = _unit(torso @ pose.prop_direction)
        # The racket's face holds the vertical, so a horizontal racket shows its face.
        up = np.array([0.0, -1.0, 0.0])
        flat_side = up - np.dot(up, direction) * direction
        if np.linalg.norm(flat_side) < 0.1:  # prop pointing straight up or down
            flat_side = np.array([1.0, 0.0, 0.0])
        flat_side = _unit(flat_side)
        points[PROP_BASE] = grip
        points[PROP_TIP] = grip + direction * pose.prop_length
        points[PROP_SIDE] = points[PROP_TIP] + flat_side * 0.06  # half the width of a racket's head
    else:
        points[PROP_BASE:PROP_SIDE + 1] = np.nan

    # Stand on the ground: the lowest foot point touches y = 0, then jumps lift the body.
    feet = [INDEX[n] for n in ("left_heel", "right_heel", "left_foot_index", "right_foot_index")]
    points[:, 1] -= np.max(points[feet, 1]) + pose.lift
    return points


def mirror_points(points: np.ndarray) -> np.ndarray:
    """The same movement performed with the other side (a left-handed performance)."""
    mirrored = points[list(POINT_MIRROR)].copy()
    mirrored[:, 0] *= -1.0
    return mirrored


@dataclass(frozen=True)
class View:
    """Orthographic camera: figure turned by `yaw`, seen from `pitch` degrees above, `scale`
    pixels per body unit, ground point of the figure at pixel (x, y)."""

    x: float
    y: float
    scale: float
    yaw: float = 0.0
    pitch: float = 8.0

    def rotation(self) -> np.ndarray:
        return rotation_x(self.pitch) @ rotation_y(self.yaw)


def project(points: np.ndarray, view: View, offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """(N, 3) body-frame points -> (N, 3) pixel x, pixel y, depth (larger = farther)."""
    turned = points @ view.rotation().T
    out = np.empty_like(turned)
    out[:, 0] = view.x + offset[0] + view.scale * turned[:, 0]
    out[:, 1] = view.y + offset[1] + view.scale * turned[:, 1]
    out[:, 2] = turned[:, 2]
    return out


# ----------------------------------------------------------------------------- drawing

def _fixed(point) -> tuple[int, int]:
    return int(point[0] * SHIFT_SCALE + 0.5), int(point[1] * SHIFT_SCALE + 0.5)


def draw_capsule(image: np.ndarray, start, end, start_radius: float, end_radius: float, color: Color) -> None:
    """A flat-shaded tapered capsule (a limb): two discs joined by their outer tangents.

    Plain float arithmetic (no small numpy arrays): this runs ~20 times per frame."""
    x0, y0, x1, y1 = float(start[0]), float(start[1]), float(end[0]), float(end[1])
    cv2.circle(image, _fixed((x0, y0)), int(start_radius * SHIFT_SCALE + 0.5), color, -1, cv2.LINE_AA, SHIFT_BITS)
    cv2.circle(image, _fixed((x1, y1)), int(end_radius * SHIFT_SCALE + 0.5), color, -1, cv2.LINE_AA, SHIFT_BITS)
    dx, dy = x1 - x0, y1 - y0
    length = math.hypot(dx, dy)
    if length < 1e-6:
        return
    nx, ny = -dy / length * SHIFT_SCALE, dx / length * SHIFT_SCALE
    x0, y0, x1, y1 = x0 * SHIFT_SCALE, y0 * SHIFT_SCALE, x1 * SHIFT_SCALE, y1 * SHIFT_SCALE
    quad = np.array([[x0 + nx * start_radius, y0 + ny * start_radius], [x1 + nx * end_radius, y1 + ny * end_radius],
                     [x1 - nx * end_radius, y1 - ny * end_radius], [x0 - nx * start_radius, y0 - ny * start_radius]])
    cv2.fillConvexPoly(image, (quad + 0.5).astype(np.int32), color, cv2.LINE_AA, SHIFT_BITS)


def _polygon(image: np.ndarray, corners: np.ndarray, color: Color) -> None:
    hull = cv2.convexHull(np.round(corners[:, :2] * SHIFT_SCALE).astype(np.int32))
    cv2.fillConvexPoly(image, hull, color, cv2.LINE_AA, SHIFT_BITS)


def _ellipse(image: np.ndarray, center: np.ndarray, half_axes: tuple[float, float], angle: float,
             color: Color) -> None:
    axes = (max(1, int(round(half_axes[0] * SHIFT_SCALE))), max(1, int(round(half_axes[1] * SHIFT_SCALE))))
    cv2.ellipse(image, _fixed(center), axes, angle, 0, 360, color, -1, cv2.LINE_AA, SHIFT_BITS)


@functools.lru_cache(maxsize=1024)
def _shade(color: Color, factor: float) -> Color:
    blue, green, red = (int(min(255, max(0, c * factor))) for c in color)
    return blue, green, red


def _draw_leg(image: np.ndarray, p: np.ndarray, body: Body, name: str, scale: float) -> None:
    w = body.limb_width * scale
    hip, knee, ankle = p[INDEX[f"{name}_hip"]], p[INDEX[f"{name}_knee"]], p[INDEX[f"{name}_ankle"]]
    draw_capsule(image, p[INDEX[f"{name}_heel"]], p[INDEX[f"{name}_foot_index"]], 0.024 * w, 0.02 * w, body.shoes)
    draw_capsule(image, knee, ankle, 0.032 * w, 0.024 * w, body.pants)
    draw_capsule(image, hip, knee, 0.046 * w, 0.034 * w, body.pants)


def _draw_arm(image: np.ndarray, p: np.ndarray, body: Body, name: str, scale: float) -> None:
    w = body.limb_width * scale
    shoulder, elbow, wrist = (p[INDEX[f"{name}_{j}"]] for j in ("shoulder", "elbow", "wrist"))
    knuckles = 0.5 * (p[INDEX[f"{name}_index"]] + p[INDEX[f"{name}_pinky"]])
    # Sleeves a shade darker than the shirt, and a thin dark outline: an arm across the
    # chest stays visible instead of melting into a torso of the same colour.
    sleeve = _shade(body.shirt, 0.8)
    forearm_color = sleeve if body.sleeves else body.skin
    edge = max(1.0, 0.008 * scale)
    segments = ((shoulder, elbow, 0.034 * w, 0.027 * w, sleeve), (elbow, wrist, 0.026 * w, 0.019 * w, forearm_color),
                (wrist, knuckles, 0.02 * w, 0.022 * w, body.skin))
    for start, end, start_radius, end_radius, color in reversed(segments):
        draw_capsule(image, start, end, start_radius + edge, end_radius + edge, _shade(color, 0.55))
    draw_capsule(image, wrist, p[INDEX[f"{name}_thumb"]], 0.011 * w, 0.009 * w, body.skin)
    for start, end, start_radius, end_radius, color in reversed(segments):
        draw_capsule(image, start, end, start_radius, end_radius, color)


def _draw_torso(image: np.ndarray, p: np.ndarray, body: Body, scale: float) -> None:
    w = body.limb_width * scale
    left_shoulder, right_shoulder = p[INDEX["left_shoulder"]], p[INDEX["right_shoulder"]]
    left_hip, right_hip = p[INDEX["left_hip"]], p[INDEX["right_hip"]]
    if body.hair_long:  # falls behind the neck to the shoulders
        hair_width = body.head_width * 0.5 * scale
        draw_capsule(image, p[HEAD], p[NECK] + (p[HEAD] - p[NECK]) * 0.1, hair_width, hair_width * 0.9, body.hair)
    draw_capsule(image, p[NECK], p[HEAD], 0.024 * w, 0.024 * w, body.skin)
    widen = lambda a, b, amount: a + (a - b) * amount  # push a away from b
    waist_left = left_hip + (left_shoulder - left_hip) * 0.3
    waist_right = right_hip + (right_shoulder - right_hip) * 0.3
    below = (p[PELVIS] - 0.5 * (left_shoulder + right_shoulder)) * 0.15
    pants = np.array([widen(waist_left, waist_right, 0.3), widen(waist_right, waist_left, 0.3),
                      widen(right_hip, left_hip, 0.3) + below, widen(left_hip, right_hip, 0.3) + below])
    _polygon(image, pants, body.pants)
    shirt = np.array([widen(left_shoulder, right_shoulder, 0.1), widen(right_shoulder, left_shoulder, 0.1),
                      widen(waist_right, waist_left, 0.25), widen(waist_left, waist_right, 0.25)])
    _polygon(image, shirt, body.shirt)
    draw_capsule(image, left_shoulder, right_shoulder, 0.03 * w, 0.03 * w, body.shirt)
    if p[INDEX["nose"], 2] < p[HEAD, 2]:
        # A V neckline: only a figure facing the camera shows it (a front/back cue for the model).
        chest = p[NECK] + (0.5 * (left_hip + right_hip) - p[NECK]) * 0.2
        collar = np.array([p[NECK] + (left_shoulder - p[NECK]) * 0.35, chest,
                           p[NECK] + (right_shoulder - p[NECK]) * 0.35])
        _polygon(image, collar, body.skin)


def _draw_head(image: np.ndarray, p: np.ndarray, body: Body, scale: float) -> None:
    head, top = p[HEAD], p[HEAD_TOP]
    up = top[:2] - head[:2]
    angle = math.degrees(math.atan2(up[0], -up[1]))  # tilt of the head in the image
    half_height = max(float(np.hypot(*up)), body.head_height * 0.25 * scale)
    half_width = body.head_width * 0.5 * scale
    # A cap of hair behind the top of the head (long hair falls behind the neck: see
    # _draw_torso), ears, then the face on top.
    _ellipse(image, head[:2] + up * 0.3, (half_width * 1.08, half_height * 0.8), angle, body.hair)
    for ear in ("left_ear", "right_ear"):
        cv2.circle(image, _fixed(p[INDEX[ear]]), int(round(0.012 * scale * SHIFT_SCALE)),
                   _shade(body.skin, 0.9), -1, cv2.LINE_AA, SHIFT_BITS)
    _ellipse(image, head, (half_width, half_height), angle, body.skin)
    # Fringe: the top of the face covered by hair.
    fringe = head[:2] + up * 0.72
    _ellipse(image, fringe, (half_width * 0.95, half_height * 0.35), angle, body.hair)
    facing = p[INDEX["nose"], 2] < p[HEAD, 2]
    if not facing:
        return
    eye_radius = max(1.0, 0.012 * scale)
    brow_lift = (top[:2] - head[:2]) * 0.3
    for eye in ("left_eye", "right_eye"):
        center = p[INDEX[eye]]
        # White shows on both sides of the iris: it keeps the face readable on dark skin.
        _ellipse(image, center, (eye_radius * 1.4, eye_radius * 0.8), angle, (235, 235, 235))
        cv2.circle(image, _fixed(center), int(round(eye_radius * 0.6 * SHIFT_SCALE)), (40, 25, 20),
                   -1, cv2.LINE_AA, SHIFT_BITS)
    for inner, outer in (("left_eye_inner", "left_eye_outer"), ("right_eye_inner", "right_eye_outer")):
        cv2.line(image, _fixed(p[INDEX[inner], :2] + brow_lift), _fixed(p[INDEX[outer], :2] + brow_lift),
                 _shade(body.hair, 0.8), max(1, int(round(0.008 * scale))), cv2.LINE_AA, SHIFT_BITS)
    nose_top = 0.5 * (p[INDEX["left_eye_inner"]] + p[INDEX["right_eye_inner"]])
    cv2.line(image, _fixed(nose_top), _fixed(p[INDEX["nose"]]), _shade(body.skin, 0.7),
             max(1, int(round(0.008 * scale))), cv2.LINE_AA, SHIFT_BITS)
    cv2.line(image, _fixed(p[INDEX["mouth_left"]]), _fixed(p[INDEX["mouth_right"]]), (60, 50, 150),
             max(1, int(round(0.009 * scale))), cv2.LINE_AA, SHIFT_BITS)


def _draw_prop(image: np.ndarray, p: np.ndarray, prop: str, scale: float) -> None:
    base, tip, side = p[PROP_BASE], p[PROP_TIP], p[PROP_SIDE]
    if prop == "bat":
        draw_capsule(image, base, tip, 0.012 * scale, 0.028 * scale, (90, 150, 200))
        return
    if prop == "racket":
        neck = base + (tip - base) * 0.52
        draw_capsule(image, base, neck, 0.011 * scale, 0.008 * scale, (40, 40, 40))
        center = 0.5 * (neck + tip)
        along, across = (tip - neck) * 0.5, (side - tip) * 1.0
        angles = np.linspace(0.0, 2.0 * np.pi, 20, endpoint=False)
        rim = center[None, :] + np.cos(angles)[:, None] * along[None, :] + np.sin(angles)[:, None] * across[None, :]
        _polygon(image, rim, (70, 200, 200))
        outline = np.round(rim[:, :2] * SHIFT_SCALE).astype(np.int32)
        cv2.polylines(image, [outline], True, (40, 40, 160), max(1, int(round(0.012 * scale))),
                      cv2.LINE_AA, SHIFT_BITS)
        return
    raise ValueError(f"unknown prop {prop!r}")


def draw_figure(image: np.ndarray, pixels: np.ndarray, body: Body, scale: float,
                prop: str | None = None) -> None:
    """Paint the figure from its projected points (pixel x, pixel y, depth), far parts first."""
    parts: list[tuple[float, int, Callable[[], None]]] = []
    mean_depth = lambda *names: float(np.mean([pixels[INDEX[n], 2] for n in names]))
    torso_depth = float(np.mean(pixels[[INDEX["left_shoulder"], INDEX["right_shoulder"],
                                        INDEX["left_hip"], INDEX["right_hip"]], 2]))
    parts.append((torso_depth, 2, lambda: _draw_torso(image, pixels, body, scale)))
    parts.append((float(pixels[HEAD, 2]), 3, lambda: _draw_head(image, pixels, body, scale)))
    for name in ("left", "right"):
        # Legs sit behind the torso unless clearly lifted toward the camera.
        leg_depth = min(mean_depth(f"{name}_knee", f"{name}_ankle"), torso_depth) + 0.06
        parts.append((leg_depth, 0, functools.partial(_draw_leg, image, pixels, body, name, scale)))
        arm_depth = mean_depth(f"{name}_elbow", f"{name}_wrist") - 0.02
        parts.append((arm_depth, 4, functools.partial(_draw_arm, image, pixels, body, name, scale)))
    if prop is not None and not np.isnan(pixels[PROP_BASE, 0]):
        prop_depth = float(np.mean(pixels[[PROP_BASE, PROP_TIP], 2])) - 0.03
        parts.append((prop_depth, 5, lambda: _draw_prop(image, pixels, prop, scale)))
    for _, _, paint in sorted(parts, key=lambda part: (-part[0], part[1])):
        paint()
