"""FEATURES/manifest.csv: one row per video, written as the run goes.

A long extraction must survive being killed, so every finished video's row is appended as
one line and flushed to disk (fsync) before the next is taken: a crash loses at most the
videos in flight. At the start of a run the file is compacted (one row per video, the last
one wins, a torn last line from a crash dropped) and at the end it is rewritten sorted by
key; both rewrites are atomic (temp file + rename). Plain `pandas.read_csv` reads it.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from pose_action.errors import InputError, describe_os_error
from pose_action.files import write_text_atomic

# The contract columns (DESIGN.md), then the ones extraction needs to resume and explain.
COLUMNS: tuple[str, ...] = (
    "video", "label", "group", "status", "frames_total", "frames_processed", "frames_with_pose",
    "fps", "width", "height", "seconds", "error",
    "key",  # "<Class>/<clip>": where the outputs live under FEATURES/<kind>/
    "config_id",  # the extraction settings that made the outputs (extract_config.json)
    "stride",  # every stride-th frame was processed
    "note",  # something worth knowing about a video that did not fail (truncated, no fps)
    "group_from",  # pattern (--group-pattern matched), list (the CSV list's column) or stem (its own group)
    "tracks",  # people tracked in the clip (--max-people > 1; empty with one person, and in older manifests)
    "switches_repaired",  # frames where MediaPipe's first pose changed person and tracking kept the main actor
)
STATUSES: tuple[str, ...] = ("ok", "no_pose", "failed")
NUMERIC_COLUMNS: tuple[str, ...] = (
    "frames_total", "frames_processed", "frames_with_pose", "fps", "width", "height", "seconds", "stride", "tracks",
    "switches_repaired")


# Names that must survive a write and a read exactly (the resume key, and what it is made of).
EXACT_COLUMNS = frozenset({"video", "label", "group", "key"})


def _one_line(value: object, exact: bool = False) -> str:
    """Cells never hold line breaks, so one row is one line and a torn line is detectable.

    Control characters become spaces; other cells also have runs of spaces collapsed, but
    names (`exact`) keep theirs, or a video named "a  b" would never match its row again.
    """
    if value is None:
        return ""
    if isinstance(value, float):
        value = f"{value:.6g}"
    text = "".join(" " if ord(character) < 32 or character == "\x7f" else character for character in str(value))
    # A path whose bytes are not UTF-8 (surrogates in Python) is written with those bytes escaped.
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text if exact else " ".join(text.split())


def format_row(row: dict) -> str:
    """One CSV line (with its newline) in COLUMNS order; unknown keys are an error."""
    unknown = set(row) - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown manifest columns: {sorted(unknown)}")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([_one_line(row.get(c), c in EXACT_COLUMNS) for c in COLUMNS])
    return buffer.getvalue()


def header() -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(COLUMNS)
    return buffer.getvalue()


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows): one row per key (the last wins), in file order; [] for a missing file.

    Tolerates what a crash can leave: a torn last line and repeated keys. Rows whose cell
    count does not match the header are skipped.
    """
    if not path.is_file():
        return [], []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})") from None
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]  # drop a torn last line
    try:
        lines = list(csv.reader(io.StringIO(text)))
    except csv.Error as error:
        raise InputError(f"{path}: not a readable manifest ({error})") from None
    if not lines:
        return [], []
    names = lines[0]
    rows: dict[str, dict[str, str]] = {}
    for cells in lines[1:]:
        if len(cells) != len(names):
            continue
        row = dict(zip(names, cells))
        key = row.get("key") or f"{row.get('label', '')}/{Path(row.get('video', '')).stem}"
        row["key"] = key
        rows.pop(key, None)  # re-insert: order follows the latest write
        rows[key] = row
    return names, list(rows.values())


def read_rows(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a manifest as strings, one per key (the last wins), in file order."""
    return _read(Path(path))[1]


def read_table(path: str | os.PathLike,
               required: tuple[str, ...] = ("video", "label", "status")) -> pd.DataFrame:
    """The manifest as a DataFrame for reports and training: the same rows as read_rows,
    numbers as numbers (NaN where empty), text columns as strings ("" where empty).

    Raises InputError naming the file when it has none of the required columns.
    """
    path = Path(path)
    names, rows = _read(path)
    missing = [column for column in required if column not in names]
    if missing:
        raise InputError(f"{path}: not a manifest: missing column {missing[0]!r}")
    table = pd.DataFrame(rows, columns=list(dict.fromkeys([*names, "key"])), dtype=str)
    for column in NUMERIC_COLUMNS:
        if column in table.columns:
            table[column] = pd.to_numeric(table[column], errors="coerce")
    return table


class ManifestWriter:
    """Appends one durable line per finished video; `close()` leaves it sorted by key.

    Opening rewrites the file atomically with `keep` (the rows still valid), so a row is
    never repeated and a torn line from an earlier crash is gone.
    """

    def __init__(self, path: str | os.PathLike, keep: Iterable[dict]) -> None:
        self.path = Path(path)
        self._rows: dict[str, dict] = {}
        for row in keep:
            self._rows[str(row["key"])] = {c: row.get(c, "") for c in COLUMNS}
        self._rewrite()
        try:
            self._handle = open(self.path, "a", encoding="utf-8", newline="")
        except OSError as error:
            raise InputError(describe_os_error(error, self.path)) from None

    def _rewrite(self) -> None:
        lines = [format_row(self._rows[key]) for key in sorted(self._rows)]
        write_text_atomic(self.path, header() + "".join(lines))

    def append(self, row: dict) -> None:
        """Record a finished video; on disk before this returns.

        The row is kept for the final rewrite before it is written: a Ctrl-C or SIGTERM that
        lands just after the fsync (when the row is already durable) must not let `close()`
        rewrite the file without it.
        """
        line = format_row(row)
        self._rows[str(row["key"])] = dict(row)
        try:
            self._handle.write(line)
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as error:  # disk full: the outputs are there, the rerun redoes this video
            raise InputError(describe_os_error(error, self.path)) from None

    @property
    def rows(self) -> list[dict]:
        return [self._rows[key] for key in sorted(self._rows)]

    def close(self) -> None:
        if self._handle.closed:
            return
        try:
            self._handle.close()
        except OSError as error:
            raise InputError(describe_os_error(error, self.path)) from None
        self._rewrite()

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
