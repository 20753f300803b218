"""Motion of a clip: dense optical flow between consecutive processed frames, one small vector per frame.

Pose sees nothing when the skeleton is missing (a runner crossing the frame, a small person
far away, a dark room, blurred fast swings); flow still does. Each processed frame and the
one before it are shrunk to MOTION_SIDE pixels on the long side, grey, and OpenCV's DIS flow
(ULTRAFAST preset, finest pyramid level 1) runs between them. The flow field becomes
`motion_vector`: per cell of a GRID x GRID grid, a magnitude-weighted histogram of flow
directions in BINS bins, then the whole frame's mean dx, dy. Displacements are in percent of
the small frame's long side per processed frame, so the vector does not depend on the
video's resolution. Bin k holds directions around k * 45 degrees counter-clockwise from
"right" as a viewer sees it (bin 0 right, 2 up, 4 left, 6 down); dy > 0 is downwards (image
rows). A clip's first frame has no predecessor: its vector is zeros.

Extraction (`extract --motion`) and inference (the Recognizer) both run `MotionEncoder`,
one per video or stream, so a model sees the same vectors live as in training.
Measured choice (README, "Motion stream"): DIS costs ~0.1-0.2 ms a frame
at 96 px, Farneback ~0.7-1.3 ms; shrinking the decoded frame dominates (0.4 ms at 640x480,
2.7 ms at 1920x1080), all far below pose detection.
"""

from __future__ import annotations

import functools
import os
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np

from pose_action.errors import InputError
from pose_action.files import atomic_path
from pose_action.landmarks import REDO_HINT

MOTION_SIDE = 96  # long side of the grey copies the flow runs on
GRID = 3  # cells per side
BINS = 8  # direction bins per cell
MOTION_DIM = GRID * GRID * BINS + 2  # histograms, then mean dx, dy
FINEST_SCALE = 1  # DIS pyramid level the flow stops at (the preset's 2 is 1/4 resolution: too coarse at 96 px)
ALGORITHM = "DIS ultrafast"


def motion_config() -> dict:
    """What extract_config.json records about motion (a change means other vectors)."""
    return {"algorithm": ALGORITHM, "finest_scale": FINEST_SCALE, "side": MOTION_SIDE, "grid": GRID,
            "bins": BINS, "dim": MOTION_DIM, "units": "percent of the small frame's long side per processed frame"}


def small_grey(frame_bgr: np.ndarray, side: int = MOTION_SIDE) -> np.ndarray:
    """The frame shrunk (INTER_AREA, aspect kept) to `side` pixels on its long side, grey uint8."""
    height, width = frame_bgr.shape[:2]
    scale = side / max(height, width)
    size = (max(8, int(round(width * scale))), max(8, int(round(height * scale))))
    small = cv2.resize(frame_bgr, size, interpolation=cv2.INTER_AREA)
    return small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)


@functools.lru_cache(maxsize=8)
def _grid_cells(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) grid cell of every pixel, row-major from the top-left, and each cell's pixel count (per frame size)."""
    rows = np.minimum(np.arange(height) * GRID // height, GRID - 1)
    cols = np.minimum(np.arange(width) * GRID // width, GRID - 1)
    cell = rows[:, None] * GRID + cols[None, :]
    return cell, np.bincount(cell.ravel(), minlength=GRID * GRID).astype(np.float64)


def motion_vector(flow: np.ndarray) -> np.ndarray:
    """(MOTION_DIM,) float32 summary of a (H, W, 2) flow field in pixels of a frame whose long side is H or W.

    Each cell's histogram bin is the mean over the cell's pixels of the flow magnitude of the
    pixels pointing that way, so a bin's value is the cell's motion in that direction and a
    still scene gives zeros.
    """
    height, width = flow.shape[:2]
    flow = flow.astype(np.float32) * (100.0 / max(height, width))
    dx, dy = flow[..., 0], flow[..., 1]
    magnitude = np.hypot(dx, dy)
    angle = np.arctan2(-dy, dx)  # counter-clockwise as seen, 0 = right
    bins = np.round(angle / (2 * np.pi / BINS)).astype(np.int64) % BINS
    cell, pixels = _grid_cells(height, width)
    histogram = np.bincount((cell * BINS + bins).ravel(), weights=magnitude.ravel(), minlength=GRID * GRID * BINS)
    histogram = histogram.reshape(GRID * GRID, BINS) / np.maximum(pixels, 1.0)[:, None]
    return np.concatenate([histogram.ravel(), [dx.mean(), dy.mean()]]).astype(np.float32)


def mirror_motion(vectors: np.ndarray) -> np.ndarray:
    """(..., MOTION_DIM) vectors of the horizontally mirrored frames: grid columns and directions swapped,
    dx negated."""
    vectors = np.asarray(vectors)
    cells = vectors[..., :GRID * GRID * BINS].reshape(*vectors.shape[:-1], GRID, GRID, BINS)
    mirrored = cells[..., ::-1, :][..., (BINS // 2 - np.arange(BINS)) % BINS]  # direction a -> 180 deg - a
    means = vectors[..., GRID * GRID * BINS:] * np.array([-1.0, 1.0], dtype=vectors.dtype)
    return np.concatenate([mirrored.reshape(*vectors.shape[:-1], -1), means], axis=-1).astype(vectors.dtype)


class MotionEncoder:
    """Motion vectors of one video's or stream's processed frames, in order (keeps the previous frame).

    The one function extraction and inference share: `encode(frame)` for each processed
    frame gives that frame's vector (zeros for the first).
    """

    def __init__(self) -> None:
        self.flow = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self.flow.setFinestScale(FINEST_SCALE)
        self.previous: np.ndarray | None = None

    def encode(self, frame_bgr: np.ndarray) -> np.ndarray:
        grey = small_grey(frame_bgr)
        previous, self.previous = self.previous, grey
        if previous is None or previous.shape != grey.shape:  # the first frame (or a resized stream)
            return np.zeros(MOTION_DIM, dtype=np.float32)
        flow = self.flow.calc(previous, grey, None)  # type: ignore[call-overload]  # None: OpenCV allocates the flow; stubs want an array
        return motion_vector(flow)


def write_motion(path: str | os.PathLike, vectors: np.ndarray, frame_index: np.ndarray) -> None:
    """A clip's motion: `vectors` (N, MOTION_DIM) float32, `frame_index` (N,) int64 (every processed frame)."""
    with atomic_path(path) as tmp:
        np.savez(tmp, vectors=np.asarray(vectors, dtype=np.float32),
                 frame_index=np.asarray(frame_index, dtype=np.int64))


def read_motion(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(frame_index (N,), vectors (N, D)) of a clip's motion file; InputError naming it otherwise."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise InputError(f"{path}: not a regular file, not a motion file")
    try:
        with np.load(path) as stored:
            frame_index, vectors = stored["frame_index"], stored["vectors"]
    except FileNotFoundError:
        raise InputError(f"{path}: missing motion file (run `pose-action extract ... --motion` on this "
                         "folder: it adds only the motion files)") from None
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise InputError(f"{path}: unreadable motion file ({error}); {REDO_HINT}") from None
    if vectors.ndim != 2 or frame_index.shape != (len(vectors),) or not len(vectors):
        raise InputError(f"{path}: motion vectors of shape {vectors.shape} for {frame_index.shape} frame numbers")
    return frame_index, vectors.astype(np.float32)
