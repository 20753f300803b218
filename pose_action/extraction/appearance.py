"""Scene context of a clip: small RGB thumbnails of frames spread uniformly over it.

Extraction decodes each video once, and a container's frame count can be missing or wrong
(truncated files), so the frames are chosen while the video streams by: `FrameSampler`
keeps a regular grid of the processed frames in bounded memory (halving the grid when it
fills) and picks the final frames from it when the clip ends. Training (`extract`) and
inference (`recognizer`) make thumbnails with the same `thumbnail` function.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import cv2
import numpy as np

from pose_action.errors import InputError
from pose_action.files import atomic_path
from pose_action.landmarks import REDO_HINT

# The grid holds up to this many times the wanted number of frames: exact uniform picks for
# clips of up to 4 x N processed frames, and within a quarter of the spacing beyond.
GRID_FACTOR = 4


def thumbnail(frame_bgr: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB of the whole frame, squashed to a square.

    Squashing (not cropping) keeps everything at the frame's edges, where an arm or a ball
    often is; INTER_AREA averages pixels, so small thumbnails do not alias.
    """
    if frame_bgr.ndim == 2:
        frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
    small = cv2.resize(frame_bgr, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2RGB)


@dataclass(frozen=True)
class SampledFrames:
    """The frames a sampler picked: source frame indices and one image stack per size."""

    frame_index: np.ndarray  # (N,) int64, increasing
    images: dict[int, np.ndarray]  # size -> (N, size, size, 3) uint8 RGB


class FrameSampler:
    """Picks up to `count` frames spread uniformly over a stream of unknown length.

    Offer every processed frame in order. The sampler keeps every `step`-th one (as
    thumbnails at each of `sizes`, never the full frame) plus the latest; when more than
    GRID_FACTOR * count are kept it drops every other one and doubles `step`. Memory stays
    bounded by the count and the sizes, whatever the clip's length, and the result does not
    depend on the container's (possibly wrong) frame count.
    """

    def __init__(self, count: int, sizes: Sequence[int]) -> None:
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        self.count = count
        self.sizes = tuple(dict.fromkeys(int(size) for size in sizes))
        self.capacity = GRID_FACTOR * count
        self.step = 1
        self.offered = 0
        self._kept: list[tuple[int, int, dict[int, np.ndarray]]] = []  # (position, frame index, images)
        self._latest: tuple[int, int, np.ndarray] | None = None  # (position, frame index, BGR frame)

    def offer(self, frame_index: int, frame_bgr: np.ndarray) -> None:
        position = self.offered
        self.offered += 1
        self._latest = (position, frame_index, frame_bgr)
        if position % self.step:
            return
        self._kept.append((position, frame_index, self._resize(frame_bgr)))
        if len(self._kept) > self.capacity:
            self.step *= 2
            self._kept = [entry for entry in self._kept if entry[0] % self.step == 0]

    def _resize(self, frame_bgr: np.ndarray) -> dict[int, np.ndarray]:
        return {size: thumbnail(frame_bgr, size) for size in self.sizes}

    def result(self) -> SampledFrames:
        """The picked frames; empty arrays when nothing was offered."""
        candidates = list(self._kept)
        if self._latest is not None and (not candidates or candidates[-1][0] != self._latest[0]):
            position, latest_index, frame = self._latest
            candidates.append((position, latest_index, self._resize(frame)))
        if len(candidates) > self.count:
            picks = np.round(np.linspace(0, len(candidates) - 1, self.count)).astype(int)
            candidates = [candidates[i] for i in picks]
        frame_index = np.array([entry[1] for entry in candidates], dtype=np.int64)
        images = {size: (np.stack([entry[2][size] for entry in candidates]) if candidates
                         else np.zeros((0, size, size, 3), dtype=np.uint8))
                  for size in self.sizes}
        return SampledFrames(frame_index=frame_index, images=images)


# The arrays in a clip's .npz file, by appearance kind; `frame_index` (N,) says which source frames they show.
STORED_ARRAYS = {"thumbs": "thumbs", "embeddings": "vectors"}


def write_thumbnails(path: str | os.PathLike, thumbs: np.ndarray, frame_index: np.ndarray) -> None:
    """A clip's thumbnails: `thumbs` (N, S, S, 3) uint8 RGB, `frame_index` (N,) int64."""
    with atomic_path(path) as tmp:
        np.savez(tmp, thumbs=thumbs.astype(np.uint8), frame_index=frame_index.astype(np.int64))


def write_embeddings(path: str | os.PathLike, vectors: np.ndarray, frame_index: np.ndarray) -> None:
    """A clip's embeddings: `vectors` (N, D) float16, `frame_index` (N,) int64."""
    with atomic_path(path) as tmp:
        np.savez(tmp, vectors=vectors.astype(np.float16), frame_index=frame_index.astype(np.int64))


def read_appearance(path: str | os.PathLike, appearance: str) -> tuple[np.ndarray, np.ndarray]:
    """(frame_index (N,), values) of a clip's thumbnails ("thumbs") or embeddings ("embeddings") file."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise InputError(f"{path}: not a regular file, not a {appearance} file")
    with _reading(path, appearance):
        with np.load(path) as stored:
            return stored["frame_index"], stored[STORED_ARRAYS[appearance]]


@contextlib.contextmanager
def _reading(path: Path, appearance: str) -> Iterator[None]:
    """A missing or damaged appearance file becomes one line naming it (and how to redo it)."""
    try:
        yield
    except FileNotFoundError:
        raise InputError(f"{path}: missing {appearance} file "
                         "(re-run extract with the same options as the features used here)") from None
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise InputError(f"{path}: unreadable {appearance} file ({error}); {REDO_HINT}") from None


def _npy_header(member: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, Fortran order, dtype) of an .npy stream, which is left at its first data byte."""
    major, _ = np.lib.format.read_magic(member)
    read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
    return read_header(member)


def open_appearance(path: str | os.PathLike, appearance: str) -> tuple[np.ndarray, np.ndarray]:
    """read_appearance with the values memory-mapped, so a training step reads only the frames it uses.

    A clip stores tens of thumbnails and a model reads a few (FeatureConfig.scene_frames):
    reading all of them was a fifth of the loader's time. np.savez stores arrays uncompressed,
    so the array's bytes sit at a fixed offset in the file; anything else (compressed,
    empty) is read whole by read_appearance.
    """
    path = Path(path)
    name = f"{STORED_ARRAYS[appearance]}.npy"
    with _reading(path, appearance):
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(name)
            with archive.open("frame_index.npy") as member:
                frame_index = np.lib.format.read_array(member)
            with archive.open(info) as member:
                shape, fortran, dtype = _npy_header(member)
                header_bytes = member.tell()
        if info.compress_type != zipfile.ZIP_STORED or not int(np.prod(shape)):
            return read_appearance(path, appearance)
        with open(path, "rb") as handle:
            handle.seek(info.header_offset)
            local = handle.read(30)
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            raise ValueError("damaged zip entry")
        name_length, extra_length = struct.unpack("<HH", local[26:30])
        offset = info.header_offset + 30 + name_length + extra_length + header_bytes
        values = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(shape),
                           order="F" if fortran else "C")
        return frame_index, values


def stored_shapes(path: str | os.PathLike, appearance: str) -> tuple[tuple[int, ...], tuple[int, ...], np.dtype]:
    """(frame_index shape, values shape, values dtype) of a clip's .npz from its headers alone.

    Reads a few hundred bytes, not the pixels: cheap enough to check every file of a dataset
    before training starts. InputError names the file when it is missing, truncated (a zip
    without its directory), or lacks an array.
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        raise InputError(f"{path}: not a regular file, not a {appearance} file")
    shapes = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name in ("frame_index", STORED_ARRAYS[appearance]):
                with archive.open(f"{name}.npy") as member:
                    shape, _, dtype = _npy_header(member)
                    expected = member.tell() + int(np.prod(shape)) * dtype.itemsize
                    if archive.getinfo(f"{name}.npy").file_size != expected:
                        raise ValueError(f"{name} holds {archive.getinfo(f'{name}.npy').file_size} bytes, "
                                         f"its header says {expected}")
                    shapes[name] = (tuple(int(n) for n in shape), dtype)
    except FileNotFoundError:
        raise InputError(f"{path}: missing {appearance} file "
                         "(re-run extract with the same options as the features used here)") from None
    except KeyError as error:
        raise InputError(f"{path}: not a {appearance} file (no {error} array); {REDO_HINT}") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise InputError(f"{path}: unreadable {appearance} file ({error}: truncated or damaged?); "
                         f"{REDO_HINT}") from None
    values_shape, values_dtype = shapes[STORED_ARRAYS[appearance]]
    return shapes["frame_index"][0], values_shape, values_dtype


DESCRIPTOR_BINS = 4  # per channel of the joint colour histogram (4 ** 3 = 64 bins)
DESCRIPTOR_GRID = 4  # the thumbnail's mean colour in a GRID x GRID layout (where things are)
DESCRIPTOR_EDGES = 8  # bins of the gradient-orientation histogram (texture)


def thumbnail_descriptor(thumbs: np.ndarray) -> np.ndarray:
    """One classical vector per clip from its (N, S, S, 3) uint8 RGB thumbnails: no learning, no weights.

    The mean over frames of a joint colour histogram (64 bins), a coarse colour layout (4 x 4
    cells x 3 channels), a magnitude-weighted gradient-orientation histogram (texture, 8 bins),
    and how much the frames change (mean absolute difference of successive thumbnails, overall
    and per layout cell). The simple scene baseline a learned appearance stream must beat.
    """
    frames = np.asarray(thumbs, dtype=np.float32)
    if frames.ndim != 4 or frames.shape[0] == 0 or frames.shape[-1] != 3:
        raise InputError(f"thumbnail_descriptor needs (N, S, S, 3) thumbnails, got shape {frames.shape}")
    count, size = frames.shape[0], frames.shape[1]
    codes = np.minimum((frames * DESCRIPTOR_BINS / 256.0).astype(np.int64), DESCRIPTOR_BINS - 1)
    joint = (codes[..., 0] * DESCRIPTOR_BINS + codes[..., 1]) * DESCRIPTOR_BINS + codes[..., 2]
    counts = np.stack([np.bincount(frame.ravel(), minlength=DESCRIPTOR_BINS ** 3) for frame in joint])
    colour = counts / float(size * size)
    cell = max(size // DESCRIPTOR_GRID, 1)
    layout = frames[:, :cell * DESCRIPTOR_GRID, :cell * DESCRIPTOR_GRID].reshape(
        count, DESCRIPTOR_GRID, cell, DESCRIPTOR_GRID, cell, 3).mean(axis=(2, 4)).reshape(count, -1) / 255.0
    gray = frames.mean(axis=-1)
    gy, gx = np.gradient(gray, axis=(1, 2))
    magnitude, angle = np.hypot(gx, gy), np.mod(np.arctan2(gy, gx), np.pi)
    orientation = np.minimum((angle / np.pi * DESCRIPTOR_EDGES).astype(np.int64), DESCRIPTOR_EDGES - 1)
    texture = np.stack([np.bincount(o.ravel(), weights=m.ravel(), minlength=DESCRIPTOR_EDGES)
                        for o, m in zip(orientation, magnitude)])
    texture = texture / np.maximum(texture.sum(axis=1, keepdims=True), 1e-6)
    if count > 1:
        change = np.abs(np.diff(gray, axis=0)) / 255.0
        cells = change[:, :cell * DESCRIPTOR_GRID, :cell * DESCRIPTOR_GRID].reshape(
            count - 1, DESCRIPTOR_GRID, cell, DESCRIPTOR_GRID, cell).mean(axis=(2, 4)).reshape(count - 1, -1)
        motion = np.concatenate([[change.mean()], cells.mean(axis=0)])
    else:
        motion = np.zeros(1 + DESCRIPTOR_GRID ** 2)
    return np.concatenate([colour.mean(axis=0), layout.mean(axis=0), layout.std(axis=0), texture.mean(axis=0),
                           motion]).astype(np.float32)
