"""Finding labelled videos: class folders give labels, file names give groups (actor/scene)."""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pose_action.errors import InputError
from pose_action.files import name_problem

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset({".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg"})
# UCF50/UCF101 names: v_<Class>_g<group>_c<clip>; the group is the actor and scene.
DEFAULT_GROUP_PATTERN = r"_g(\d+)_c"


# Where a video's group came from (the manifest's group_from column).
GROUP_FROM_PATTERN = "pattern"  # --group-pattern matched the file name
GROUP_FROM_LIST = "list"  # the CSV video list's group column
GROUP_FROM_STEM = "stem"  # nothing matched: the clip is its own group (cannot protect a shared actor)


@dataclass(frozen=True)
class VideoItem:
    path: Path
    label: str
    group: str
    key: str  # "<label>/<stem>": where this video's outputs live under FEATURES/<kind>/
    group_from: str = GROUP_FROM_PATTERN


@dataclass
class Discovery:
    items: list[VideoItem]
    ignored: int = 0  # hidden or non-video files skipped
    ungrouped: list[str] = field(default_factory=list)  # keys whose name had no group


def group_of(name: str, pattern: re.Pattern[str]) -> str | None:
    match = pattern.search(name)
    if match is None:
        return None
    return match.group(1) if match.groups() else match.group(0)


def _compile(group_pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(group_pattern)
    except re.error as error:
        raise InputError(f"--group-pattern {group_pattern!r} is not a valid regex: {error}") from None


def _item(path: Path, label: str, group: str | None, pattern: re.Pattern[str],
          ungrouped: list[str]) -> VideoItem:
    key = f"{label}/{path.stem}"
    group_from = GROUP_FROM_LIST
    if group is None:
        group, group_from = group_of(path.name, pattern), GROUP_FROM_PATTERN
    if group is None:
        # Its own group: never split across train/test, but cannot protect a shared actor.
        ungrouped.append(key)
        group, group_from = path.stem, GROUP_FROM_STEM
    return VideoItem(path=path, label=label, group=group, key=key, group_from=group_from)


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith(".")


def discover(root: str | os.PathLike, group_pattern: str = DEFAULT_GROUP_PATTERN) -> Discovery:
    """Videos in ROOT/<Class>/ (or listed by a CSV file `path,label[,group]`).

    Sub-folders of a class are searched too, symlinked ones included (each real folder once).
    Labels and file names become output paths (`FEATURES/landmarks/<Class>/<clip>.csv`), so a
    name that could not be one plain path component (`files.name_problem`: separators, `..`,
    control characters such as a newline, bytes that are not UTF-8) stops the run with one
    line naming the file, before anything is written.
    """
    root = Path(root)
    pattern = _compile(group_pattern)
    if root.is_file() and root.suffix.lower() == ".csv":
        return read_list(root, pattern)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder (expected VIDEO_ROOT/<Class>/<clip>.avi or a CSV list)")
    items: list[VideoItem] = []
    ungrouped: list[str] = []
    ignored = 0
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        _check_name(class_dir, class_dir.name, "class folder name")
        for path in _files_under(class_dir):
            relative = path.relative_to(class_dir).parts
            if any(part.startswith(".") for part in relative) or not is_video(path):
                ignored += 1
                continue
            for part in relative[:-1]:
                _check_name(path, part, "folder name")
            _check_name(path, path.stem, "file name")
            items.append(_item(path, class_dir.name, None, pattern, ungrouped))
    ignored += sum(1 for p in root.iterdir() if p.is_file())
    if not items:
        raise InputError(f"{root}: no videos found (expected {root}/<Class>/<clip>.avi; "
                         f"extensions {', '.join(sorted(VIDEO_EXTENSIONS))})")
    _check_unique(items)
    return Discovery(items=items, ignored=ignored, ungrouped=ungrouped)


def _check_name(path: Path, name: str, what: str) -> None:
    problem = name_problem(name)
    if problem:
        raise InputError(f"{_printable(path)}: {what} {problem}; rename it (it becomes an output file name)")


def _printable(path: Path | str) -> str:
    """A path as text that can be printed and written (bytes that are not UTF-8 shown escaped)."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _files_under(folder: Path) -> list[Path]:
    """Every file below `folder`, sorted, following symlinked folders; a folder reached twice
    (a symlink loop, or two links to one place) is searched once."""
    seen: set[tuple[int, int]] = set()
    found: list[Path] = []
    for current, folders, files in os.walk(folder, followlinks=True):
        try:
            status = os.stat(current)
        except OSError:
            folders[:] = []
            continue
        if (status.st_dev, status.st_ino) in seen:
            folders[:] = []
            continue
        seen.add((status.st_dev, status.st_ino))
        found.extend(Path(current) / name for name in files)
    return sorted(found)


def read_list(csv_path: Path, pattern: re.Pattern[str]) -> Discovery:
    """A CSV with columns path,label[,group]; relative paths are relative to the CSV's folder.

    A label or file name that cannot be a plain path component stops the run with one line
    naming the list's line (a label `../../x` or `/etc` would otherwise write outside FEATURES).
    """
    items: list[VideoItem] = []
    ungrouped: list[str] = []
    try:
        with open(csv_path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"path", "label"} <= set(reader.fieldnames):
                raise InputError(f"{csv_path}: a video list needs the columns path,label[,group]")
            end = reader.line_num
            for row in reader:
                line, end = end + 1, reader.line_num  # where the row starts (a quoted cell may span lines)
                if not isinstance(row.get("path"), str) or not isinstance(row.get("label"), str) \
                        or not row["path"] or not row["label"]:
                    raise InputError(f"{csv_path}: line {line} has no path or no label")
                label, path = row["label"], Path(row["path"])
                problem = name_problem(label)
                if problem:
                    raise InputError(f"{csv_path}: line {line}: label {label!r} {problem} "
                                     "(labels become folder names inside --out)")
                problem = name_problem(path.stem) or _text_problem(row["path"])
                if problem:
                    raise InputError(f"{csv_path}: line {line}: video {row['path']!r}: file name {problem}")
                if not path.is_absolute():
                    path = csv_path.parent / path
                group = row.get("group") if isinstance(row.get("group"), str) else None
                items.append(_item(path, label, group or None, pattern, ungrouped))
    except UnicodeDecodeError:
        raise InputError(f"{csv_path}: not a UTF-8 text CSV (a video list needs path,label[,group])") from None
    except csv.Error as error:
        raise InputError(f"{csv_path}: not a readable CSV ({error})") from None
    except OSError as error:
        raise InputError(f"{csv_path}: cannot be read ({error.strerror or error})") from None
    if not items:
        raise InputError(f"{csv_path}: the video list is empty")
    _check_unique(items)
    return Discovery(items=items, ungrouped=ungrouped)


def _text_problem(text: str) -> str | None:
    """Why a whole path from a list cannot be recorded in the manifest (control characters), or None."""
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text):
        return "holds a control character (newline, tab, escape...)"
    return None


def _check_unique(items: list[VideoItem]) -> None:
    seen: dict[str, Path] = {}
    for item in items:
        if item.key in seen:
            raise InputError(f"{item.path} and {seen[item.key]} would share outputs "
                             f"{item.key!r}: rename one")
        seen[item.key] = item.path
