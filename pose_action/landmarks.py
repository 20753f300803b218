"""The landmark CSV: one schema, read and written in one place, and the sequence object behind it.

A CSV has one row per processed frame: `frame` (source frame index), `timestamp_ms`,
`pose_detected`, then for each of MediaPipe's 33 pose landmarks (in MediaPipe's order)
`<name>_x, _y, _z, _visibility, _presence` (image-normalized) and `<name>_wx, _wy, _wz`
(world metres, hip-centred). Cells are empty where no pose was found.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, overload

import numpy as np

from pose_action.errors import InputError
from pose_action.files import atomic_path

if TYPE_CHECKING:  # pandas is imported by the functions that use it: live inference and one-person
    import pandas as pd  # extraction never do, and start ~0.25 s sooner without it

# MediaPipe's PoseLandmark enum, lower-cased, in its order (tests check it against the enum;
# spelled out here so reading a CSV does not import mediapipe).
LANDMARK_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
NUM_LANDMARKS = len(LANDMARK_NAMES)
INDEX = {name: i for i, name in enumerate(LANDMARK_NAMES)}

IMAGE_CHANNELS: tuple[str, ...] = ("x", "y", "z", "visibility", "presence")
WORLD_CHANNELS: tuple[str, ...] = ("wx", "wy", "wz")
CHANNELS: tuple[str, ...] = IMAGE_CHANNELS + WORLD_CHANNELS
# The channels by name: index the last axis of a (..., 33, 8) landmark array with these, never with bare numbers.
X, Y, Z, VISIBILITY, PRESENCE, WX, WY, WZ = (
    CHANNELS.index(name) for name in ("x", "y", "z", "visibility", "presence", "wx", "wy", "wz"))
XY = slice(X, Y + 1)  # image-normalized position (0..1 across width and height)
XYZ = slice(X, Z + 1)
IMAGE = slice(X, PRESENCE + 1)  # x, y, z, visibility, presence
WORLD = slice(WX, WZ + 1)  # metres, hip-centred
META_COLUMNS: tuple[str, ...] = ("frame", "timestamp_ms", "pose_detected")
LANDMARK_COLUMNS: tuple[str, ...] = tuple(f"{n}_{c}" for n in LANDMARK_NAMES for c in CHANNELS)
COLUMNS: tuple[str, ...] = META_COLUMNS + LANDMARK_COLUMNS


def _twin(name: str) -> str:
    for side, other in (("left", "right"), ("right", "left")):
        if side in name:
            return name.replace(side, other)
    return name


# Index of each landmark's left/right twin: a horizontal flip swaps them.
MIRROR: tuple[int, ...] = tuple(INDEX[_twin(n)] for n in LANDMARK_NAMES)

# Body parts for summaries (inspect) and drawing colours.
BODY_PARTS: dict[str, tuple[int, ...]] = {
    "face": tuple(range(0, 11)),
    "arms": tuple(INDEX[n] for n in LANDMARK_NAMES if any(
        k in n for k in ("elbow", "wrist", "pinky", "index", "thumb")) and "foot" not in n),
    "torso": tuple(INDEX[n] for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")),
    "legs": tuple(INDEX[n] for n in LANDMARK_NAMES if any(
        k in n for k in ("knee", "ankle", "heel", "foot_index"))),
}

# Skeleton edges, as MediaPipe's POSE_CONNECTIONS.
CONNECTIONS: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
)


def detected_rows(points: np.ndarray) -> np.ndarray:
    """(T,) bool of a (T, 33, C) landmark array: rows with a pose (a missing pose is all NaN)."""
    return ~np.isnan(points[:, :, X]).all(axis=1)


@dataclass(frozen=True)
class LandmarkSequence:
    """Pose landmarks of one video over its processed frames, with the video's frame rate and size.

    `data` is (frames, 33, 8), channels named by X, Y, Z, VISIBILITY, PRESENCE (image-normalized)
    and WX, WY, WZ (world metres); rows where `detected` is False are NaN, never zeros, so a
    missing pose is never mistaken for a pose at the image corner. fps, width and height are
    always known (from the video, or from the manifest row of an extracted clip): x and y are
    fractions of the width and height, so the frame's aspect ratio is part of their meaning.
    """

    frame: np.ndarray  # (T,) int64, source frame index
    timestamp_ms: np.ndarray  # (T,) int64, strictly increasing
    data: np.ndarray  # (T, 33, 8) float32, NaN where not detected
    fps: float
    width: int
    height: int

    def __post_init__(self) -> None:
        try:
            sound = self.fps > 0 and math.isfinite(self.fps) and self.width >= 1 and self.height >= 1
        except TypeError:
            sound = False
        if not sound:
            raise InputError(f"a landmark sequence needs its video's frame rate and frame size, got "
                             f"fps={self.fps!r}, width={self.width!r}, height={self.height!r}")

    @property
    def detected(self) -> np.ndarray:
        """(T,) bool: a pose was found in this frame."""
        return detected_rows(self.data)

    @property
    def xy(self) -> np.ndarray:
        """(T, 33, 2): image-normalized x, y."""
        return self.data[:, :, XY]

    @property
    def visibility(self) -> np.ndarray:
        """(T, 33): MediaPipe's visibility of each landmark."""
        return self.data[:, :, VISIBILITY]

    @property
    def image(self) -> np.ndarray:
        """(T, 33, 5): x, y, z, visibility, presence."""
        return self.data[:, :, IMAGE]

    @property
    def world(self) -> np.ndarray:
        """(T, 33, 3): world coordinates in metres."""
        return self.data[:, :, WORLD]

    @property
    def aspect(self) -> float:
        """width / height: what makes image-normalized x and y the same unit."""
        return self.width / self.height

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def from_frames(cls, frames: list[tuple[int, int, np.ndarray | None]], *, fps: float, width: int,
                    height: int) -> LandmarkSequence:
        """Build from (frame index, timestamp ms, (33, 8) landmarks or None) per processed frame."""
        data = np.full((len(frames), NUM_LANDMARKS, len(CHANNELS)), np.nan, dtype=np.float32)
        for row, (_, _, landmarks) in enumerate(frames):
            if landmarks is not None:
                data[row] = landmarks
        return cls(
            frame=np.array([f[0] for f in frames], dtype=np.int64),
            timestamp_ms=np.array([f[1] for f in frames], dtype=np.int64),
            data=data, fps=fps, width=width, height=height,
        )

    def to_dataframe(self) -> pd.DataFrame:
        import pandas as pd
        table = pd.DataFrame(self.data.reshape(len(self), -1), columns=list(LANDMARK_COLUMNS))
        table.insert(0, "pose_detected", self.detected.astype(np.int8))
        table.insert(0, "timestamp_ms", self.timestamp_ms)
        table.insert(0, "frame", self.frame)
        return table


# Landmarks are stored with 6 significant digits (far below the model's pixel accuracy).
CSV_FLOAT_FORMAT = "%.6g"


def write_csv(path: str | os.PathLike, sequence: LandmarkSequence) -> None:
    """Write atomically: a crash mid-write leaves the old file or none, never half a CSV.

    The text is what pandas' to_csv writes for `to_dataframe()` (missing values empty), formatted
    a row at a time: pandas formats each of the 264 values per frame on its own, about 6x slower.
    """
    row_format = ",".join(["%d"] * len(META_COLUMNS) + [CSV_FLOAT_FORMAT] * len(LANDMARK_COLUMNS))
    values = sequence.data.reshape(len(sequence), -1).astype(np.float64).tolist()
    rows = zip(sequence.frame.tolist(), sequence.timestamp_ms.tolist(), sequence.detected.tolist(), values)
    lines = [",".join(COLUMNS)]
    lines += [(row_format % (frame, timestamp, detected, *row)).replace("nan", "")
              for frame, timestamp, detected, row in rows]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")


@overload
def as_stored(landmarks: np.ndarray) -> np.ndarray: ...
@overload
def as_stored(landmarks: None) -> None: ...
@overload
def as_stored(landmarks: np.ndarray | None) -> np.ndarray | None: ...
def as_stored(landmarks: np.ndarray | None) -> np.ndarray | None:
    """The landmarks exactly as write_csv stores them and training reads them back.

    Live inference rounds its landmarks with this, so its features are bit-identical to the
    features built from extracted files: a model never sees a different number for a frame.
    """
    if landmarks is None:
        return None
    stored = [float(CSV_FLOAT_FORMAT % value) for value in landmarks.ravel().tolist()]
    return np.array(stored, dtype=np.float64).astype(np.float32).reshape(landmarks.shape)


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a landmark CSV and check it against the schema; errors name the file and the problem."""
    import pandas as pd
    path = Path(path)
    if path.exists() and not path.is_file():  # a folder, a FIFO or /dev/zero: never read (it may not end)
        raise InputError(f"{path}: not a regular file, not a landmark CSV")
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file, not a landmark CSV") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OverflowError) as error:
        raise InputError(f"{path}: not a readable CSV ({error})") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a landmark CSV") from None
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})") from None
    validate(table, path)
    return table


# No landmark of a real frame is a million frame widths (or metres) away; beyond, values overflow training.
MAX_ABS_VALUE = 1e6
REDO_HINT = "rerun `pose-action extract` with the same options to redo that video"


def check_complete(path: str | os.PathLike) -> None:
    """A landmark CSV exists and ends with a whole line (a cut-off copy does not): a cheap check
    of a whole dataset before training, and of finished videos before extraction skips them.
    Its values are checked (`validate`) when it is read."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise InputError(f"{path}: not a regular file, not a landmark CSV")
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() == 0:
                raise InputError(f"{path}: empty file, not a landmark CSV; {REDO_HINT}")
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                raise InputError(f"{path}: the last row is cut off (a truncated copy?); {REDO_HINT}")
    except FileNotFoundError:
        raise InputError(f"{path}: missing landmark CSV; {REDO_HINT}") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a landmark CSV") from None
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})") from None


def validate(table: pd.DataFrame, path: str | os.PathLike = "<table>") -> None:
    """Raise InputError naming the file, the row and the column of the first problem.

    Checked: every column present and numeric; `frame` whole numbers >= 0, strictly increasing
    (no duplicated or reordered rows); `timestamp_ms` finite and strictly increasing;
    `pose_detected` 0 or 1; landmark values finite and within ±MAX_ABS_VALUE; and
    rows complete: a row with a pose has every landmark cell, a row without one has none
    (a torn or hand-edited row). Rows are numbered from 1, the first row after the header.
    """
    import pandas as pd
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        unknown = [c for c in table.columns if c not in COLUMNS]
        hint = f" (unexpected: {', '.join(map(str, unknown[:3]))})" if unknown else ""
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise InputError(f"{path}: missing column {missing[0]!r}{more}{hint}")
    if len(table) == 0:
        raise InputError(f"{path}: no rows (no frame was processed)")
    kinds = {column: dtype.kind for column, dtype in table.dtypes.items()}  # one pass: 267 columns
    for column in COLUMNS:
        if kinds[column] not in "iuf":  # booleans, text and dates are not landmark values
            bad = pd.to_numeric(table[column], errors="coerce").isna() & table[column].notna()
            row = int(np.argmax(bad.to_numpy()))
            raise InputError(
                f"{path}: non-numeric value {table[column].iloc[row]!r} in column {column!r} "
                f"(row {row + 1})")
    for column in META_COLUMNS:
        if table[column].isna().any():
            row = int(np.argmax(table[column].isna().to_numpy()))
            raise InputError(f"{path}: empty cell in column {column!r} (row {row + 1}; a torn row?)")
    _check_frames(table, path)
    detected = table["pose_detected"].to_numpy(dtype=np.float64)
    if not np.isin(detected, (0, 1)).all():
        row = int(np.argmax(~np.isin(detected, (0, 1))))
        found = table["pose_detected"].iloc[row]
        raise InputError(f"{path}: pose_detected must be 0 or 1, got {found} (row {row + 1})")
    _check_landmark_values(table, detected == 1, path)


def _first(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def _check_frames(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """frame: whole numbers >= 0 that increase; timestamp_ms: finite and strictly increasing."""
    for column in ("frame", "timestamp_ms"):
        values = table[column].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values) | (np.abs(values) > 2.0**53)
        if column == "frame":
            bad |= (values < 0) | (values != np.round(values))
        if bad.any():
            row = _first(bad)
            kind = "a whole number >= 0" if column == "frame" else "a finite number"
            raise InputError(f"{path}: {column} must be {kind}, got {table[column].iloc[row]} (row {row + 1})")
    frames = table["frame"].to_numpy(dtype=np.float64)
    steps = np.diff(frames)
    if (steps <= 0).any():
        row = _first(steps <= 0) + 1
        what = "is repeated" if steps[row - 1] == 0 else "goes back"
        raise InputError(f"{path}: frame {what}: {int(frames[row - 1])} then {int(frames[row])} at row {row + 1} "
                         "(frames must increase: a duplicated or out-of-order row)")
    times = table["timestamp_ms"].to_numpy(dtype=np.float64).astype(np.int64)
    steps = np.diff(times)
    if (steps <= 0).any():
        row = _first(steps <= 0) + 1
        raise InputError(
            f"{path}: timestamps must increase, but timestamp_ms goes from "
            f"{table['timestamp_ms'].iloc[row - 1]} to {table['timestamp_ms'].iloc[row]} at row {row + 1}")


def _check_landmark_values(table: pd.DataFrame, detected: np.ndarray, path: str | os.PathLike) -> None:
    """Finite values (float32, as training reads them) in every row with a pose; empty cells in the others."""
    values = _columns(table, LANDMARK_COLUMNS, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        stored = values.astype(np.float32)
    empty = np.isnan(values)
    infinite = ~empty & ~np.isfinite(stored)
    if infinite.any():
        row, column = np.argwhere(infinite)[0]
        raise InputError(f"{path}: non-finite value {values[row, column]} in column "
                         f"{LANDMARK_COLUMNS[column]!r} (row {row + 1})")
    with np.errstate(invalid="ignore"):
        absurd = ~empty & (np.abs(values) > MAX_ABS_VALUE)
    if absurd.any():
        row, column = np.argwhere(absurd)[0]
        raise InputError(f"{path}: value {values[row, column]:g} in column {LANDMARK_COLUMNS[column]!r} (row "
                         f"{row + 1}) is out of range (landmarks are fractions of the frame or metres)")
    torn = detected[:, None] & empty
    if torn.any():
        row, column = np.argwhere(torn)[0]
        raise InputError(f"{path}: row {row + 1} has pose_detected 1 but no value in column "
                         f"{LANDMARK_COLUMNS[column]!r} (a torn or partial row)")
    stray = ~detected[:, None] & ~empty
    if stray.any():
        row, column = np.argwhere(stray)[0]
        raise InputError(f"{path}: row {row + 1} has pose_detected 0 but a value in column "
                         f"{LANDMARK_COLUMNS[column]!r} (cells must be empty without a pose)")


def to_array(table: pd.DataFrame, channels: tuple[str, ...] = CHANNELS) -> np.ndarray:
    """(frames, 33, len(channels)) float32 array of the chosen channels; NaN where no pose."""
    columns = [f"{n}_{c}" for n in LANDMARK_NAMES for c in channels]
    values = _columns(table, columns, np.float32)
    return values.reshape(len(table), NUM_LANDMARKS, len(channels))


def _columns(table: pd.DataFrame, columns: Sequence[str], dtype: type) -> np.ndarray:
    """These columns as one array: the whole table converted once and sliced, several times faster
    than pandas' selection of 264 named columns (every clip is read this way, every epoch)."""
    positions = table.columns.get_indexer(columns)
    if (positions < 0).any():
        raise KeyError(f"not in the table: {[columns[int(i)] for i in np.flatnonzero(positions < 0)][:3]}")
    return table.to_numpy(dtype=dtype)[:, positions]


def to_sequence(table: pd.DataFrame, *, fps: float, width: int, height: int) -> LandmarkSequence:
    """A validated landmark table (read_csv) as a LandmarkSequence of a video with this rate and size."""
    return LandmarkSequence(
        frame=table["frame"].to_numpy(dtype=np.int64),
        timestamp_ms=table["timestamp_ms"].to_numpy(dtype=np.int64),
        data=to_array(table), fps=fps, width=width, height=height,
    )


def load_sequence(path: str | os.PathLike, *, fps: float, width: int, height: int) -> LandmarkSequence:
    """Read and validate a landmark CSV of a video with this frame rate and size."""
    return to_sequence(read_csv(path), fps=fps, width=width, height=height)


def fps_from_timestamps(table: pd.DataFrame) -> float | None:
    """The frame rate a CSV's frame numbers and timestamps imply (timestamp = frame / fps), or None for one frame."""
    frames, times = table["frame"].to_numpy(), table["timestamp_ms"].to_numpy()
    if len(frames) < 2 or frames[-1] <= frames[0] or times[-1] <= times[0]:
        return None
    return 1000.0 * float(frames[-1] - frames[0]) / float(times[-1] - times[0])
