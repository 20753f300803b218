"""The people file: every tracked person of a clip, beside its landmark CSV (`extract --max-people N > 1`).

One row per person per processed frame where that person was found: `frame` (source frame
index, as in the landmark CSV), `track` (0, 1, ...: tracks numbered by importance, 0 is the
main actor), `is_main` (1 for the main actor's rows: the rows the landmark CSV holds), then
the landmark CSV's 264 landmark columns. Rows are sorted by frame, then track. A frame where
nobody was found has no row.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pose_action.errors import InputError
from pose_action.files import atomic_path
from pose_action.landmarks import CHANNELS, CSV_FLOAT_FORMAT, LANDMARK_COLUMNS, NUM_LANDMARKS

if TYPE_CHECKING:  # pandas is imported by the functions that use it: live inference and one-person
    import pandas as pd  # extraction never do, and start ~0.25 s sooner without it

PEOPLE_COLUMNS: tuple[str, ...] = ("frame", "track", "is_main") + LANDMARK_COLUMNS


def people_table(frames: np.ndarray, people: list[list[np.ndarray]],
                 track_ids: list[list[int]]) -> pd.DataFrame:
    """The rows of the file from each processed frame's poses and their track numbers."""
    import pandas as pd
    rows, meta = [], []
    for frame, poses, tracks in zip(frames, people, track_ids):
        for track, points in sorted(zip(tracks, poses), key=lambda pair: pair[0]):
            meta.append((int(frame), int(track), int(track == 0)))
            rows.append(np.asarray(points, dtype=np.float32).reshape(-1))
    values = np.array(rows, dtype=np.float32).reshape(len(rows), len(LANDMARK_COLUMNS))
    head = pd.DataFrame(np.array(meta, dtype=np.int64).reshape(len(meta), 3), columns=["frame", "track", "is_main"])
    return pd.concat([head, pd.DataFrame(values, columns=list(LANDMARK_COLUMNS))], axis=1)


def write_people(path: str | os.PathLike, table: pd.DataFrame) -> None:
    """Write atomically, with the landmark CSV's number format."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format=CSV_FLOAT_FORMAT)


def read_people(path: str | os.PathLike) -> pd.DataFrame:
    """Read a people file; InputError naming the file when it is missing or not one."""
    import pandas as pd
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (extract with --max-people 2 or more writes it)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as error:
        raise InputError(f"{path}: not a readable people file ({error})") from None
    missing = [column for column in PEOPLE_COLUMNS if column not in table.columns]
    if missing:
        raise InputError(f"{path}: not a people file: missing column {missing[0]!r}")
    return table


def check_people_frames(path: str | os.PathLike, people_frames: Iterable[int], clip_frames: Iterable[int],
                        landmarks: str | os.PathLike | None = None) -> None:
    """A people file belongs to its clip: every frame it names is one of the clip's processed frames.

    A people file copied from another clip (or left from another extraction) would put other people,
    at other times, into this clip's features: refused, naming both files."""
    clip = {int(frame) for frame in clip_frames}
    stray = sorted({int(frame) for frame in people_frames} - clip)
    if stray:
        where = f" of {landmarks}" if landmarks else ""
        raise InputError(f"{path}: names frame {stray[0]} ({len(stray)} frames in all) that is not a processed "
                         f"frame{where}: it belongs to another clip or extraction; extract this clip again")


def people_frames(path: str | os.PathLike) -> np.ndarray:
    """The `frame` column of a people file (the rest is not parsed); InputError naming the file if unreadable."""
    import pandas as pd
    try:
        return pd.read_csv(path, usecols=["frame"])["frame"].to_numpy()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (extract with --max-people 2 or more writes it)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as error:
        raise InputError(f"{path}: not a readable people file ({error})") from None


def track_array(table: pd.DataFrame, frames: np.ndarray, track: int) -> np.ndarray:
    """(len(frames), 33, 8) float32 of one track at these source frames; NaN where it is absent."""
    out = np.full((len(frames), NUM_LANDMARKS, len(CHANNELS)), np.nan, dtype=np.float32)
    rows = table[table["track"] == track]
    where = {int(frame): position for position, frame in enumerate(frames)}
    for frame, values in zip(rows["frame"].to_numpy(), rows[list(LANDMARK_COLUMNS)].to_numpy(dtype=np.float32)):
        if int(frame) in where:
            out[where[int(frame)]] = values.reshape(NUM_LANDMARKS, len(CHANNELS))
    return out


def nobody() -> tuple[np.ndarray, np.ndarray]:
    """(frame (0,), poses (0, 33, 8)): a second person who is never seen."""
    return np.zeros(0, dtype=np.int64), np.zeros((0, NUM_LANDMARKS, len(CHANNELS)), dtype=np.float32)


def second_track(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The second most important person of a people table: (frame (N,), poses (N, 33, 8)) where seen.

    "Second most important" is the highest main-actor score (extraction.tracking) among the
    tracks other than the main actor's. Tracks are numbered by that score (0 = the main actor,
    the rows with is_main = 1), so it is the lowest-numbered other track. A table of one person
    gives empty arrays: the clip has no second person.
    """
    main = set(table.loc[table["is_main"] == 1, "track"].tolist()) or {0}
    others = sorted(set(table["track"].tolist()) - main)
    if not others:
        return nobody()
    rows = table[table["track"] == others[0]]
    points = rows[list(LANDMARK_COLUMNS)].to_numpy(dtype=np.float32).reshape(len(rows), NUM_LANDMARKS, len(CHANNELS))
    return rows["frame"].to_numpy(dtype=np.int64), points


@functools.lru_cache(maxsize=512)
def _cached_second_track(path: str, modified_ns: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    frames, points = second_track(read_people(path))
    frames.flags.writeable = False  # shared between epochs and loader threads
    points.flags.writeable = False
    return frames, points


def read_second_track(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """second_track of a people file, parsed once per file version (training reads it every epoch).

    Only the second person's rows are kept (~1 KB a frame), for at most 512 files."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (extract with --max-people 2 or more writes it)") from None
    return _cached_second_track(str(path), stat.st_mtime_ns, stat.st_size)
