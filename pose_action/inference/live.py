"""Live recognition: camera (or file / URL) frames through a Recognizer, shown in a window with the
skeleton, the current label and frames per second. q or Esc (or closing the window) stops it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from pose_action.errors import InputError
from pose_action.inference.annotate import draw_overlay
from pose_action.inference.recognizer import Recognizer

log = logging.getLogger(__name__)

WINDOW_TITLE = "pose-action live (q to quit)"
FALLBACK_CAMERA_FPS = 30.0
QUIT_KEYS = (ord("q"), ord("Q"), 27)


CAMERA_SOURCES = "a camera number (0, 1, ...), a camera device (/dev/video0), a video file or a stream URL"


def camera_source(text: str) -> int | str:
    """A camera number ("0") or a file path / URL."""
    return int(text) if text.strip().lstrip("-").isdigit() else text


def open_camera(source: int | str) -> cv2.VideoCapture:
    """An opened capture, or InputError naming the camera (no camera, busy, or no permission)."""
    if isinstance(source, str) and "://" not in source and not Path(source).exists():
        raise InputError(f"{source}: no such camera or video file")
    quiet = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # its multi-line probing noise
    try:
        capture = cv2.VideoCapture(source)
    finally:
        cv2.utils.logging.setLogLevel(quiet)
    if not capture.isOpened():
        capture.release()
        if isinstance(source, int):
            raise InputError(f"camera {source}: cannot be opened (no camera found, it is in use, or access is denied)")
        if "://" in source:
            raise InputError(f"{source}: this stream cannot be opened (unreachable, or a protocol OpenCV does not "
                             f"read); --camera reads {CAMERA_SOURCES}")
        raise InputError(f"{source}: cannot be opened as a camera or video; --camera reads {CAMERA_SOURCES}")
    return capture


def check_display() -> None:
    """OpenCV aborts the process when it cannot reach a display: fail with one line instead."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise InputError("no display: `live` needs a desktop session to show its window "
                         "(set DISPLAY, or use `pose-action predict RUN VIDEO --out annotated.mp4`)")


def camera_fps(capture: cv2.VideoCapture) -> float:
    fps = capture.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and 1.0 <= fps <= 240.0 else FALLBACK_CAMERA_FPS


def run_live(recognizer: Recognizer, capture: cv2.VideoCapture,
             show: Callable[[np.ndarray], bool], *, max_frames: int | None = None) -> int:
    """Read, recognize and show frames until `show` returns False or the source ends; returns frames seen.

    Timestamps come from the wall clock (strictly increasing, as MediaPipe's VIDEO mode needs).
    """
    recognizer.reset(camera_fps(capture))
    start = time.monotonic()
    last_timestamp = -1
    rate = 0.0  # frames per second, exponential moving average
    previous = None
    count = 0
    while max_frames is None or count < max_frames:
        ok, frame = capture.read()
        if not ok or frame is None:
            break
        now = time.monotonic()
        timestamp = max(last_timestamp + 1, int((now - start) * 1000))
        last_timestamp = timestamp
        prediction = recognizer.update(frame, timestamp)
        if previous is not None and now > previous:
            rate = 1.0 / (now - previous) if rate == 0.0 else 0.9 * rate + 0.1 / (now - previous)
        previous = now
        count += 1
        record = recognizer.last_record
        people = (dict(zip(record.tracks, record.people)) if record is not None else {}) \
            if recognizer.max_people > 1 else None
        if not show(draw_overlay(frame, recognizer.last_landmarks, prediction, extra=f"{rate:.0f} fps",
                                 people=people, main=record.main if record is not None else None)):
            break
    return count


def show_in_window(frame: np.ndarray) -> bool:
    cv2.imshow(WINDOW_TITLE, frame)
    key = cv2.waitKey(1) & 0xFF
    if key in QUIT_KEYS:
        return False
    return cv2.getWindowProperty(WINDOW_TITLE, cv2.WND_PROP_VISIBLE) >= 1


def show_live(recognizer: Recognizer, source: int | str) -> int:
    """Recognize a camera (or a video file or URL) in a window until q, Esc or the end; returns frames seen."""
    capture = open_camera(source)
    try:
        check_display()
        frames = run_live(recognizer, capture, show_in_window)
        cv2.destroyAllWindows()
    finally:
        capture.release()
    return frames
