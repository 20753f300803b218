"""Reading and writing video files through OpenCV, robust to the containers found in the wild."""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from pose_action.errors import InputError
from pose_action.files import atomic_path

# Used when a container reports no usable frame rate (0, NaN or absurd values).
DEFAULT_FPS = 25.0
Entry = TypeVar("Entry")  # one item of the iterator `prefetched` reads ahead


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
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a video file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file" if path.exists() else f"{path}: no such file")
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
        if not (target_fps > 0 and math.isfinite(target_fps)):
            raise InputError(f"--fps must be a positive number, got {target_fps}")
        return max(1, int(round(fps / target_fps)))
    return 1


# Frames larger than this (longest side, pixels) are scaled down as soon as they are decoded:
# the pose model sees 256x256 and thumbnails are tiny, while an 8192x8192 frame holds 200 MB.
MAX_FRAME_SIDE = 1920


def read_frames(path: str | os.PathLike, stride: int = 1, info: VideoInfo | None = None,
                max_side: int | None = MAX_FRAME_SIDE) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield (source frame index, timestamp ms, BGR frame) for every `stride`-th frame.

    Stops quietly at the first frame that does not decode, so a truncated file gives the
    frames before the damage. Grayscale sources come out as 3-channel BGR (OpenCV converts).
    Timestamps are the container's when they are sane (a variable-frame-rate video's frames
    are not evenly spaced), else index / fps (`FrameClock`). Frames whose longest side is above
    `max_side` are scaled down (aspect kept) before anything else holds them.
    """
    path = Path(path)
    info = info or probe(path)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise InputError(f"{path}: cannot be opened as a video")
    clock = FrameClock(info.fps)
    try:
        index = 0
        while True:
            if index % stride == 0:
                ok, frame = capture.read()
                if not ok or frame is None:
                    return
                if frame.ndim == 2:
                    frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
                stamp = clock.timestamp(index, capture.get(cv2.CAP_PROP_POS_MSEC))
                yield index, stamp, scaled_down(frame, max_side)
            elif not capture.grab():  # skip without decoding to pixels
                return
            index += 1
    finally:
        capture.release()


def scaled_down(frame: np.ndarray, max_side: int | None) -> np.ndarray:
    """The frame with its longest side at most `max_side` (INTER_AREA, aspect kept); small frames as they are."""
    height, width = frame.shape[:2]
    if not max_side or max(height, width) <= max_side:
        return frame
    scale = max_side / max(height, width)
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


class FrameClock:
    """Timestamps of decoded frames: the container's when sane, else index / fps.

    A variable-frame-rate video's frames are not evenly spaced, so index / (average fps) can be
    far off (frame 30 at 1610 ms instead of 600 ms). The container's timestamps (relative to the
    first frame) are used while they are finite and strictly increasing; where they agree with
    index / fps to within a millisecond (any constant-rate video) that value is kept, so such
    videos get exactly the timestamps they always had. From the first bad one on, timestamps
    continue at 1000 / fps per frame.
    """

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.trusted = True
        self.first: float | None = None
        self.last: tuple[int, int] | None = None  # (index, timestamp) of the previous frame

    def timestamp(self, index: int, container_ms: float | None) -> int:
        nominal = timestamp_ms(index, self.fps)
        stamp = None
        if self.trusted and container_ms is not None and math.isfinite(container_ms) and container_ms >= 0:
            if self.first is None:
                self.first = container_ms
            stamp = int(round(container_ms - self.first))
            if abs(stamp - nominal) <= 1:
                stamp = nominal
            if self.last is not None and stamp <= self.last[1]:
                stamp = None
        if stamp is None:
            self.trusted = False
            if self.last is None:
                stamp = nominal
            else:
                previous_index, previous = self.last
                stamp = max(previous + 1, previous + int(round((index - previous_index) * 1000.0 / self.fps)))
        self.last = (index, stamp)
        return stamp


# The containers write_video makes, and a codec OpenCV's pip wheels can write into each.
VIDEO_CODECS = {".avi": "MJPG", ".mp4": "mp4v", ".mov": "mp4v", ".mkv": "MJPG"}


def fourcc_for(path: str | os.PathLike) -> str:
    """A codec that OpenCV's pip wheels can write for this extension."""
    return VIDEO_CODECS.get(Path(path).suffix.lower(), "mp4v")


def check_video_output(path: str | os.PathLike, option: str = "--out") -> Path:
    """Before any work: the output is a video file name write_video can make, in a folder that can be written."""
    from pose_action.files import check_writable

    path = Path(path)
    if path.suffix.lower() not in VIDEO_CODECS:
        raise InputError(f"{path}: {option} writes videos: give a name ending in "
                         f"{', '.join(sorted(VIDEO_CODECS))}")
    if path.exists() and not path.is_file():
        raise InputError(f"{path}: exists and is not a file")
    check_writable(path.parent)
    return path


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float) -> int:
    """Write BGR frames to a video atomically; returns the number of frames written.

    cv2.VideoWriter reports no write error (a full disk or the file-size limit leaves an MP4 with
    no index or an AVI with a few frames), so the file is read back before it is renamed into
    place: it must open and hold every frame written, else InputError and nothing is left.
    """
    path = Path(path)
    count = 0
    with atomic_path(path) as tmp:
        writer = None
        try:
            for frame in frames:
                if writer is None:
                    height, width = frame.shape[:2]
                    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*fourcc_for(path)),
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
        readable = readable_frames(tmp)
        if readable != count:
            raise InputError(f"{path}: the video could not be written whole ({readable} of {count} frames read "
                             "back: disk full or file-size limit?); nothing was written")
    return count


def readable_frames(path: str | os.PathLike) -> int:
    """Frames a video file really holds (demuxed one by one, not the header's count); 0 if it does not open."""
    if not Path(path).is_file() or Path(path).stat().st_size == 0:
        return 0
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return 0
        count = 0
        while capture.grab():
            count += 1
        return count
    finally:
        capture.release()


def prefetched(frames: Iterator[Entry], depth: int = 4,
               also: Callable[[Entry], None] | None = None) -> Iterator[Entry]:
    """Decode ahead in a thread while the caller runs pose detection.

    OpenCV's decoder and MediaPipe's graph both release the GIL, so with a spare core the
    decoding of the next frames (and `also(entry)`, called in that thread for every entry
    in order) is hidden behind detection of this one. At most `depth` frames wait in
    memory; an error in decoding or in `also` is raised in the caller.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item: object) -> bool:
        """Queue `item` unless the consumer has stopped; whether it was queued."""
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        outcome: object = end
        try:
            for entry in frames:
                if also is not None:
                    also(entry)
                if not put(entry):
                    break
        except BaseException as error:  # handed to the consumer, raised there
            outcome = error
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()  # releases the capture even when the consumer stopped early
        put(outcome)

    thread = threading.Thread(target=produce, name="decode", daemon=True)
    thread.start()
    try:
        while True:
            entry = buffer.get()
            if entry is end:
                return
            if isinstance(entry, BaseException):
                raise entry
            yield entry
    finally:
        stop.set()
        thread.join()
