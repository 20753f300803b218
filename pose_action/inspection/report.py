"""The whole-extraction report of `inspect FEATURES`: every landmark CSV summarized and joined with
the manifest, per video (worst first) and per class; and a CSV's context (fps, frame size) from it.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from pose_action.errors import InputError
from pose_action.extraction.manifest import read_table
from pose_action.files import atomic_path
from pose_action.inspection.summary import DEFAULT_MIN_DETECTION_RATE, format_number, problem_of, summarize
from pose_action.landmarks import BODY_PARTS, LandmarkSequence, fps_from_timestamps, read_csv, to_sequence
from pose_action.layout import FeaturesLayout, clip_of_landmarks
from pose_action.video import DEFAULT_FPS

log = logging.getLogger(__name__)

# The frame size assumed for a CSV whose manifest records none (a lone CSV): x and y are
# fractions of the frame, so jitter and renders need some size; the output says so.
STAND_IN_SIZE = (640, 480)


# Problems, worst first: the report sorts by this order, then by detection rate.
PROBLEMS: tuple[str, ...] = ("failed", "unreadable", "missing csv", "no pose", "low detection", "")


# --- manifest and features folder --------------------------------------------------------

def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """manifest.csv with a `key` ("<Class>/<clip>") for every row; errors name the file.

    A torn last line (an extraction still appending) is skipped and a rerun's later row wins,
    exactly as extraction itself reads it.
    """
    table = read_table(path)
    for column in ("error", "note"):  # manifests from older or other tools may lack them
        if column not in table.columns:
            table[column] = ""
    return table


def manifest_row_for(csv_path: str | os.PathLike) -> dict | None:
    """The manifest row of FEATURES/landmarks/<Class>/<clip>.csv, or None outside that layout."""
    found = clip_of_landmarks(csv_path)
    if found is None or not found[0].manifest.is_file():
        return None
    layout, key = found
    try:
        table = read_manifest(layout.manifest)
    except InputError as error:
        log.warning("ignoring %s", error)
        return None
    rows = table[table["key"] == key]
    return rows.iloc[-1].to_dict() if len(rows) else None


def _positive(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _video_of(table: pd.DataFrame, manifest_row: dict) -> tuple[dict, bool]:
    """to_sequence's fps, width and height for a CSV, and whether the frame size is recorded.

    The manifest's values when it has them; else the fps the CSV's timestamps imply and the
    STAND_IN_SIZE frame (x and y are fractions of a frame size nobody wrote down).
    """
    fps = _positive(manifest_row.get("fps")) or fps_from_timestamps(table) or DEFAULT_FPS
    width, height = _positive(manifest_row.get("width")), _positive(manifest_row.get("height"))
    known = bool(width and height)
    width, height = (int(width), int(height)) if width and height else STAND_IN_SIZE
    return {"fps": fps, "width": width, "height": height}, known


def load_with_context(csv_path: str | os.PathLike) -> LandmarkSequence:
    """Load a CSV with the fps and frame size its manifest records (a log line says when it has none)."""
    table = read_csv(csv_path)
    video, known = _video_of(table, manifest_row_for(csv_path) or {})
    if not known:
        log.info("%s: no manifest row records the video's frame size; measuring as if %dx%d", csv_path,
                 *STAND_IN_SIZE)
    return to_sequence(table, **video)


@dataclass
class FeaturesReport:
    """An extraction's inspection: one row per video (worst first) and one per class."""

    videos: pd.DataFrame
    classes: pd.DataFrame
    unreadable: int = 0  # CSVs that failed validation
    notes: list[str] = field(default_factory=list)

    @property
    def missing(self) -> int:
        """Videos the manifest lists as extracted whose landmark CSV is not there."""
        return int((self.videos["problem"] == "missing csv").sum())

    @property
    def failed(self) -> pd.DataFrame:
        return self.videos[self.videos["problem"] == "failed"]


def _video_row(key: str, label: str, csv_path: Path, manifest_row: dict,
               min_detection_rate: float) -> dict:
    row = {"key": key, "label": label, "status": manifest_row.get("status", ""),
           "video": manifest_row.get("video", ""), "error": manifest_row.get("error", ""),
           "note": manifest_row.get("note", "")}
    try:
        table = read_csv(csv_path)
        sequence = to_sequence(table, **_video_of(table, manifest_row)[0])
    except InputError as error:
        row.update(problem="unreadable", error=str(error))
        return row
    summary = summarize(sequence)
    row.update(summary.as_row())
    row.update(_tracks_of(manifest_row))
    row["problem"] = problem_of(summary, min_detection_rate)
    return row


def _tracks_of(manifest_row: dict) -> dict:
    """People tracked in the clip (extract --max-people > 1), NaN when it was extracted with one."""
    values = {}
    for column in TRACK_COLUMNS:
        try:
            value = manifest_row.get(column)
            values[column] = math.nan if value is None else float(value)
        except (TypeError, ValueError):
            values[column] = math.nan
    return values


def _sort_worst_first(videos: pd.DataFrame) -> pd.DataFrame:
    rank = videos["problem"].map({p: i for i, p in enumerate(PROBLEMS)})
    return (videos.assign(_rank=rank, _jitter=-videos["jitter"])
            .sort_values(["_rank", "detection_rate", "_jitter", "key"], na_position="first")
            .drop(columns=["_rank", "_jitter"]).reset_index(drop=True))


def _class_table(videos: pd.DataFrame) -> pd.DataFrame:
    groups = videos.groupby("label", sort=True)
    visibility = [c for c in videos.columns if c.startswith("visibility_")]
    classes = pd.DataFrame({
        "videos": groups.size(),
        "failed": groups["problem"].apply(lambda p: int((p == "failed").sum())),
        "flagged": groups["problem"].apply(lambda p: int(p.isin(PROBLEMS[1:-1]).sum())),
        "frames": groups["frames"].sum().astype(int),
        "frames_with_pose": groups["frames_with_pose"].sum().astype(int),
    })
    classes["detection_rate"] = classes["frames_with_pose"] / classes["frames"].where(classes["frames"] > 0)
    for column in visibility + ["jitter", "duration_s"]:
        classes[column] = groups[column].mean()
    classes = classes.reset_index()
    return classes.sort_values(["detection_rate", "label"], na_position="first").reset_index(drop=True)


VIDEO_COLUMNS: tuple[str, ...] = (
    "key", "label", "problem", "status", "frames", "frames_with_pose", "detection_rate",
    "longest_gap", *(f"visibility_{part}" for part in BODY_PARTS), "jitter", "duration_s",
    "tracks", "switches_repaired", "video", "error", "note")
TRACK_COLUMNS: tuple[str, ...] = ("tracks", "switches_repaired")


def inspect_features(root: str | os.PathLike, *,
                     min_detection_rate: float = DEFAULT_MIN_DETECTION_RATE,
                     quiet: bool = False) -> FeaturesReport:
    """Summarize every landmark CSV of an extraction, joined with its manifest.

    A CSV that fails validation is reported as 'unreadable' (the rest is still inspected);
    manifest rows with status 'failed', or 'ok' without a CSV, are listed with their errors.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such file or folder")
    folder, csvs = FeaturesLayout(root).landmark_csvs()
    manifest_path = FeaturesLayout(root).manifest
    manifest = read_manifest(manifest_path) if manifest_path.is_file() else None
    if not csvs and manifest is None:
        raise InputError(f"{root}: no landmark CSVs (expected {FeaturesLayout(root).landmarks('<Class>/<clip>')})")
    by_key = {} if manifest is None else {
        row["key"]: row for row in manifest.to_dict("records")}
    rows = []
    seen = set()
    for csv_path in tqdm(csvs, desc="inspect", unit="video", disable=quiet):
        relative = csv_path.relative_to(folder).with_suffix("")
        key = relative.as_posix()
        seen.add(key)
        manifest_row = by_key.get(key, {})
        label = str(manifest_row.get("label", relative.parts[0] if len(relative.parts) > 1 else ""))
        rows.append(_video_row(key, label, csv_path, manifest_row, min_detection_rate))
    for key, manifest_row in by_key.items():
        if key in seen:
            continue
        status = str(manifest_row.get("status", ""))
        problem = {"failed": "failed", "no_pose": "no pose"}.get(status, "missing csv")
        rows.append({"key": key, "label": str(manifest_row["label"]), "status": status,
                     "problem": problem, "video": manifest_row.get("video", ""),
                     "error": manifest_row.get("error", ""), "note": manifest_row.get("note", ""),
                     "frames_with_pose": 0 if problem == "no pose" else math.nan})
    videos = pd.DataFrame(rows).reindex(columns=list(VIDEO_COLUMNS))
    videos["problem"] = videos["problem"].fillna("")
    videos["status"] = videos["status"].fillna("")
    for column in ("error", "note"):
        videos[column] = videos[column].fillna("")
    videos = _sort_worst_first(videos)
    notes = [] if manifest is not None else [
        f"{manifest_path}: not found; failed videos are not listed, and jitter is measured as if every "
        f"video were {STAND_IN_SIZE[0]}x{STAND_IN_SIZE[1]}"]
    return FeaturesReport(videos=videos, classes=_class_table(videos),
                          unreadable=int((videos["problem"] == "unreadable").sum()), notes=notes)


def write_report(report: FeaturesReport, path: str | os.PathLike) -> tuple[Path, Path]:
    """Write the per-video table to `path` and the per-class table beside it (`*_classes.csv`)."""
    path = Path(path)
    classes_path = path.with_name(f"{path.stem}_classes{path.suffix or '.csv'}")
    with atomic_path(path) as tmp:
        report.videos.to_csv(tmp, index=False, float_format="%.4g")
    with atomic_path(classes_path) as tmp:
        report.classes.to_csv(tmp, index=False, float_format="%.4g")
    return path, classes_path


_COUNT_COLUMNS = frozenset({"videos", "failed", "flagged", "frames", "frames_with_pose", "longest_gap", *TRACK_COLUMNS})


def _formatter(column: str):
    if column in _COUNT_COLUMNS:
        return lambda value: "-" if not math.isfinite(value) else f"{int(value)}"
    if column == "detection_rate":
        return lambda value: "-" if not math.isfinite(value) else f"{value:.0%}"
    digits = 3 if column == "jitter" else 2
    return lambda value: format_number(value, digits)


def _format_table(table: pd.DataFrame) -> str:
    """Fixed-width text of a report table: counts as integers, rates in %, '-' for unknown."""
    numeric = [c for c in table.columns if table[c].dtype.kind in "fiu"]
    formatters = {c.replace("visibility_", "vis_"): _formatter(c) for c in numeric}
    shown = table.rename(columns=lambda c: c.replace("visibility_", "vis_"))
    return shown.to_string(index=False, formatters=formatters, na_rep="-")


def format_report(report: FeaturesReport, limit: int = 20) -> str:
    """Per-class table, the worst videos (all when limit is 0), and the failed ones with errors."""
    videos = report.videos
    counts = videos["problem"].value_counts()
    flagged = ", ".join(f"{counts[p]} {p}" for p in PROBLEMS[:-1] if p in counts) or "none"
    parts = [f"{len(videos)} videos in {len(report.classes)} classes; problems: {flagged}", "",
             "per class (worst detection rate first):", _format_table(report.classes), ""]
    columns = ["key", "problem", "frames", "frames_with_pose", "detection_rate", "longest_gap",
               *(f"visibility_{part}" for part in BODY_PARTS), "jitter", "duration_s"]
    if videos.reindex(columns=list(TRACK_COLUMNS)).notna().any().any():  # extracted with --max-people > 1
        columns += list(TRACK_COLUMNS)
    shown = videos.drop(videos[videos["problem"] == "failed"].index)[columns]
    title = "per video (worst first)"
    if limit and len(shown) > limit:
        title += f", first {limit} of {len(shown)}; all are in the report CSV"
        shown = shown.head(limit)
    parts += [title + ":", _format_table(shown)]
    failed = report.failed
    if len(failed):
        parts += ["", f"failed in extraction ({len(failed)}):"]
        parts += [f"  {row.key}: {row.error or 'no error recorded'}" for row in failed.itertuples()]
    parts += [f"note: {note}" for note in report.notes]
    return "\n".join(parts)
