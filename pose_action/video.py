"""Reading and writing video files through OpenCV, robust to the containers found in the wild."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pose_action.errors import InputError
from pose_action.files import atomic_path

# Used when a container reports no usable frame rate (0, NaN or absurd values).
DEFAULT_FPS = 25.0


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float  # DEFAULT_FPS when the container has none; see fps_known
    fps_known: bool
    frame_count: int  # as the container reports it; may be 0 or wrong for broken files
    width: int
    height: int


def probe(path: str | os.PathLike) -> VideoInfo:
    """Open a video and read its header; InputError names the file when it cannot be a video."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InputError(f"{path}: cannot be opened as a video (unknown or corrupt format)")
        return _info(path, capture)
    finally:
        capture.release()


def _info(path: Path, capture: cv2.VideoCapture) -> VideoInfo:
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps_known = bool(fps and math.isfinite(fps) and 1.0 <= fps <= 1000.0)
    return VideoInfo(
        path=path,
        fps=float(fps) if fps_known else DEFAULT_FPS,
        fps_known=fps_known,
        frame_count=max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)),
        width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
        height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
    )


def timestamp_ms(frame_index: int, fps: float) -> int:
    """Milliseconds of a frame; strictly increasing in the index for any fps up to 1000."""
    return int(round(frame_index * 1000.0 / fps))


def stride_for(fps: float, target_fps: float | None, stride: int | None) -> int:
    """Frames to step so that about `target_fps` frames per second are processed."""
    if target_fps is not None and stride is not None:
        raise InputError("give either --fps or --stride, not both")
    if stride is not None:
        if stride < 1:
            raise InputError(f"--stride must be at least 1, got {stride}")
        return stride
    if target_fps is not None:
        if target_fps <= 0:
            raise InputError(f"--fps must be positive, got {target_fps}")
        return max(1, int(round(fps / target_fps)))
    return 1


def read_frames(path: str | os.PathLike, stride: int = 1, info: VideoInfo | None = None,
                ) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield (source frame index, timestamp ms, BGR frame) for every `stride`-th frame.

    Stops quietly at the first frame that does not decode, so a truncated file gives the
    frames before the damage. Grayscale sources come out as 3-channel BGR (OpenCV converts).
    """
    path = Path(path)
    info = info or probe(path)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise InputError(f"{path}: cannot be opened as a video")
    try:
        index = 0
        while True:
            if index % stride == 0:
                ok, frame = capture.read()
                if not ok or frame is None:
                    return
                if frame.ndim == 2:
                    frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
                yield index, timestamp_ms(index, info.fps), frame
            elif not capture.grab():  # skip without decoding to pixels
                return
            index += 1
    finally:
        capture.release()


def fourcc_for(path: str | os.PathLike) -> str:
    """A codec that OpenCV's pip wheels can write for this extension."""
    suffix = Path(path).suffix.lower()
    return {".avi": "MJPG", ".mp4": "mp4v", ".mov": "mp4v", ".mkv": "MJPG"}.get(suffix, "mp4v")


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float) -> int:
    """Write BGR frames to a video atomically; returns the number of frames written."""
    path = Path(path)
    count = 0
    with atomic_path(path) as tmp:
        writer = None
        try:
            for frame in frames:
                if writer is None:
                    height, width = frame.shape[:2]
                    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc_for(path)),
                                             float(fps), (width, height))
                    if not writer.isOpened():
                        raise InputError(f"{path}: OpenCV cannot write this video format")
                writer.write(frame)
                count += 1
        finally:
            if writer is not None:
                writer.release()
        if count == 0:
            raise InputError(f"{path}: no frames to write")
    return count
