"""Drawing pose skeletons: on blank canvases, on the source video, into MP4 or GIF files.

One `draw_skeleton` serves every command that shows landmarks (inspect renders and overlays,
predict's annotated video), so a skeleton looks the same everywhere: the person's left side
orange, right side blue, the midline white. Left/right colours make swapped sides visible.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from pose_action.errors import InputError
from pose_action.files import atomic_path
from pose_action.landmarks import CONNECTIONS, LANDMARK_NAMES, NUM_LANDMARKS, VISIBILITY, XY, LandmarkSequence
from pose_action.video import DEFAULT_FPS, probe, read_frames, write_video

# BGR colours.
LEFT_COLOR = (0, 140, 255)  # orange
RIGHT_COLOR = (255, 160, 0)  # blue
MIDLINE_COLOR = (255, 255, 255)  # white
OUTLINE_COLOR = (0, 0, 0)
CANVAS_COLOR = (40, 40, 40)
TEXT_COLOR = (255, 255, 255)

# Any coordinate further than this many frame sizes outside the image is clipped before drawing
# (OpenCV needs ints it can rasterize; MediaPipe extrapolates off-screen joints freely).
_CLIP_NORMALIZED = 4.0


def _side(name: str) -> str:
    return "left" if name.startswith("left") or name == "mouth_left" else (
        "right" if name.startswith("right") or name == "mouth_right" else "mid")


# Side of each landmark: decides its colour.
SIDES: tuple[str, ...] = tuple(_side(name) for name in LANDMARK_NAMES)
_SIDE_COLORS = {"left": LEFT_COLOR, "right": RIGHT_COLOR, "mid": MIDLINE_COLOR}


def _edge_color(start: int, end: int) -> tuple[int, int, int]:
    side = SIDES[start] if SIDES[start] == SIDES[end] else "mid"
    return _SIDE_COLORS[side]


def line_width_for(frame_shape: tuple[int, ...]) -> int:
    """Line width that stays visible from thumbnails up to 1080p."""
    return max(1, round(min(frame_shape[:2]) / 160))


def draw_skeleton(frame_bgr: np.ndarray, points: np.ndarray, visibility: np.ndarray | None = None,
                  *, color: tuple[int, int, int] | None = None, min_visibility: float = 0.5,
                  ) -> np.ndarray:
    """Draw one pose onto `frame_bgr` in place and return it.

    `points` is (33, >=2) with image-normalized x, y in its first two columns (MediaPipe's
    convention: 0..1 across the width and height). Landmarks that are NaN, or whose
    `visibility` is below `min_visibility`, are left out with their edges, so a guessed
    joint is never drawn as if it were seen. `color` paints everything one colour
    (default: left orange, right blue, midline white).
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] != NUM_LANDMARKS or points.shape[1] < 2:
        raise ValueError(f"points must be ({NUM_LANDMARKS}, >=2), got {points.shape}")
    height, width = frame_bgr.shape[:2]
    xy = np.clip(points[:, XY], -_CLIP_NORMALIZED, 1.0 + _CLIP_NORMALIZED) * (width, height)
    shown = np.isfinite(xy).all(axis=1)
    if visibility is not None:
        visibility = np.asarray(visibility, dtype=np.float64)
        shown &= np.nan_to_num(visibility, nan=-1.0) >= min_visibility
    pixels = np.round(np.nan_to_num(xy)).astype(np.int32)
    line_width = line_width_for(frame_bgr.shape)
    for start, end in CONNECTIONS:
        if shown[start] and shown[end]:
            cv2.line(frame_bgr, tuple(pixels[start]), tuple(pixels[end]),
                     color or _edge_color(start, end), line_width, cv2.LINE_AA)
    radius = line_width + 1
    for index in np.flatnonzero(shown):
        center = tuple(pixels[index])
        cv2.circle(frame_bgr, center, radius + 1, OUTLINE_COLOR, -1, cv2.LINE_AA)
        cv2.circle(frame_bgr, center, radius, color or _SIDE_COLORS[SIDES[index]], -1, cv2.LINE_AA)
    return frame_bgr


# One colour per tracked person (BGR), by track id: saturated hues far from each other and from the
# one-person side colours' white midline, so two skeletons that overlap stay apart.
TRACK_COLORS: tuple[tuple[int, int, int], ...] = (
    (60, 220, 60),    # green
    (255, 60, 255),   # magenta
    (0, 230, 255),    # yellow
    (255, 255, 0),    # cyan
    (60, 60, 255),    # red
    (255, 120, 60),   # blue
    (140, 60, 200),   # purple-pink
    (0, 140, 255),    # orange
)


def track_color(track: int) -> tuple[int, int, int]:
    """The colour of a track id: the same person keeps the same colour in every frame."""
    return TRACK_COLORS[int(track) % len(TRACK_COLORS)]


def draw_people(frame_bgr: np.ndarray, people: dict[int, np.ndarray], main: int | None = None,
                main_text: str | None = None, *, min_visibility: float = 0.5,
                tags: bool = True) -> np.ndarray:
    """Every tracked person {track id: (33, >=4) landmarks} in its track's colour, in place.

    Each person gets a tag above the head in its colour: "main" (plus `main_text`, e.g. the
    predicted action) for the main actor, "track N" for the others (`tags=False`: only the
    main actor's). The main actor is drawn last, on top.
    """
    order = sorted(people, key=lambda track: (track == main, track))
    for track in order:
        points = np.asarray(people[track])
        draw_skeleton(frame_bgr, points[:, XY], points[:, VISIBILITY] if points.shape[1] > VISIBILITY else None,
                      color=track_color(track), min_visibility=min_visibility)
    for track in order:
        if track == main:
            text = "main" + (f": {main_text}" if main_text else "")
        elif tags:
            text = f"track {track}"
        else:
            continue
        anchor = _tag_anchor(frame_bgr, np.asarray(people[track]), min_visibility)
        if anchor is not None:
            _put_label(frame_bgr, text, anchor, track_color(track))
    return frame_bgr


def _tag_anchor(frame_bgr: np.ndarray, points: np.ndarray, min_visibility: float) -> tuple[int, int] | None:
    """Where a person's tag goes: above its highest shown joint, kept inside the frame."""
    height, width = frame_bgr.shape[:2]
    xy = points[:, XY].astype(np.float64)
    shown = np.isfinite(xy).all(axis=1)
    if points.shape[1] > VISIBILITY:
        shown &= np.nan_to_num(points[:, VISIBILITY].astype(np.float64), nan=-1.0) >= min_visibility
    shown &= (xy[:, 0] > -0.1) & (xy[:, 0] < 1.1) & (xy[:, 1] > -0.1) & (xy[:, 1] < 1.1)
    if not shown.any():
        return None
    _, _, line_height = _text_style(frame_bgr)
    x = float(np.clip(np.median(xy[shown, 0]) * width - line_height, 4, max(4, width - 6 * line_height)))
    y = float(np.clip(xy[shown, 1].min() * height - line_height // 2, line_height, height - 4))
    return int(x), int(y)


def _text_style(frame_bgr: np.ndarray) -> tuple[float, int, int]:
    """(font scale, thickness, line height) readable from 160x120 up to 1080p."""
    scale = max(0.35, min(frame_bgr.shape[:2]) / 800)
    return scale, max(1, round(scale * 1.6)), int(30 * scale) + 6


def _put_label(frame_bgr: np.ndarray, text: str, origin: tuple[int, int],
               color: tuple[int, int, int]) -> int:
    """Text on a dark box (readable on any background); returns the x just after the box."""
    scale, thickness, _ = _text_style(frame_bgr)
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(2, thickness * 2)
    x, y = origin
    cv2.rectangle(frame_bgr, (x - pad, y - height - pad), (x + width + pad, y + baseline + pad // 2),
                  OUTLINE_COLOR, -1)
    cv2.putText(frame_bgr, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thickness, cv2.LINE_AA)
    return x + width + 2 * pad + pad


def draw_caption(frame_bgr: np.ndarray, text: str, *, row: int = 0,
                 color: tuple[int, int, int] = TEXT_COLOR) -> np.ndarray:
    """Write a line of text at the top-left (row 0, 1, ...) on a dark box, in place."""
    _, _, line_height = _text_style(frame_bgr)
    _put_label(frame_bgr, text, (line_height // 2, line_height * (row + 1)), color)
    return frame_bgr


def draw_side_legend(frame_bgr: np.ndarray) -> np.ndarray:
    """'left' and 'right' in their skeleton colours at the bottom-left, in place."""
    _, _, line_height = _text_style(frame_bgr)
    x, y = line_height // 2, frame_bgr.shape[0] - line_height // 2
    x = _put_label(frame_bgr, "left", (x, y), LEFT_COLOR)
    _put_label(frame_bgr, "right", (x, y), RIGHT_COLOR)
    return frame_bgr


def _annotate(frame_bgr: np.ndarray, sequence: LandmarkSequence, row: int,
              min_visibility: float) -> np.ndarray:
    """Skeleton, 'frame N  t s', a 'no pose' warning and a colour legend: each frame says what it is."""
    draw_skeleton(frame_bgr, sequence.xy[row], sequence.visibility[row],
                  min_visibility=min_visibility)
    seconds = sequence.timestamp_ms[row] / 1000.0
    draw_caption(frame_bgr, f"frame {sequence.frame[row]}  {seconds:.2f} s")
    if not sequence.detected[row]:
        draw_caption(frame_bgr, "no pose", row=1, color=(80, 80, 255))
    draw_side_legend(frame_bgr)
    return frame_bgr


def render_skeleton_frames(sequence: LandmarkSequence, size: tuple[int, int] = (640, 480), *,
                           min_visibility: float = 0.5) -> Iterator[np.ndarray]:
    """One BGR frame of `size` (width, height) per CSV row: the skeleton on a dark canvas.

    Use the source video's size (or at least its aspect ratio): the landmarks are normalized
    per axis, so another aspect ratio stretches the person.
    """
    width, height = size
    if width < 16 or height < 16:
        raise InputError(f"render size must be at least 16x16, got {width}x{height}")
    for row in range(len(sequence)):
        canvas = np.full((height, width, 3), CANVAS_COLOR, dtype=np.uint8)
        yield _annotate(canvas, sequence, row, min_visibility)


def _source_stride(frames: np.ndarray) -> int:
    """Largest step that still reaches every CSV frame: decode only what the CSV used."""
    return max(1, math.gcd(*(int(f) for f in frames))) if len(frames) else 1


def overlay_frames(sequence: LandmarkSequence, video_path: str | os.PathLike, *,
                   min_visibility: float = 0.5) -> Iterator[np.ndarray]:
    """The source video's frames that the CSV rows name (by `frame`), each with its skeleton.

    Yields exactly one frame per CSV row, in order; a CSV frame beyond the video's end is an
    InputError (the CSV does not belong to this video, or the video was cut).
    """
    video_path = Path(video_path)
    info = probe(video_path)
    wanted = sequence.frame
    if (np.diff(wanted) <= 0).any():
        raise InputError("the landmark CSV's frame numbers do not increase; cannot match them "
                         f"to {video_path}")
    row = 0
    for index, _, frame in read_frames(video_path, stride=_source_stride(wanted), info=info):
        if row >= len(wanted):
            return
        if wanted[row] == index:
            yield _annotate(frame, sequence, row, min_visibility)
            row += 1
    if row < len(wanted):
        raise InputError(f"{video_path}: video ends before frame {wanted[row]} of the landmark CSV "
                         f"(is it the video the CSV was extracted from?)")


def write_gif(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float) -> int:
    """Write BGR frames as a looping GIF atomically; returns the number of frames given.

    GIF stores delays in 1/100 s, so the rate is rounded; Pillow merges a frame identical to
    the previous one into it (longer delay), which keeps the playback time right.
    """
    from PIL import Image

    # Fast octree quantization per frame: several times faster than Pillow's default median
    # cut, and palette images take a third of the memory while all frames are held.
    images = [Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).quantize(
        256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE) for frame in frames]
    if not images:
        raise InputError(f"{path}: no frames to write")
    duration_ms = max(10, round(1000.0 / fps / 10) * 10)
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=duration_ms, loop=0)
    return len(images)


def write_animation(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float) -> int:
    """Write frames as a GIF (.gif) or a video (any other suffix OpenCV writes); returns the count."""
    if Path(path).suffix.lower() == ".gif":
        return write_gif(path, frames, fps)
    return write_video(path, frames, fps)


def playback_fps(sequence: LandmarkSequence) -> float:
    """Frames per second that replays the processed rows in real time (from their timestamps)."""
    if len(sequence) < 2:
        return DEFAULT_FPS
    step_ms = float(np.median(np.diff(sequence.timestamp_ms)))
    return 1000.0 / step_ms if step_ms > 0 else DEFAULT_FPS
