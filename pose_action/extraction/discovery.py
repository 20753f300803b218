"""Finding labelled videos: class folders give labels, file names give groups (actor/scene)."""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pose_action.errors import InputError
from pose_action.files import case_clash, escaped_name, name_problem, portability_problem

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


@dataclass(frozen=True)
class BadName:
    """A video whose file name cannot become an output name: recorded as failed, the others go on."""

    path: Path
    label: str
    key: str  # "<label>/<escaped stem>": a plain, printable key for its manifest row
    reason: str


@dataclass
class Discovery:
    items: list[VideoItem]
    ignored: int = 0  # hidden or non-video files skipped
    ungrouped: list[str] = field(default_factory=list)  # keys whose name had no group
    bad_names: list[BadName] = field(default_factory=list)  # failed before any work (see BadName)


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
    bad_names: list[BadName] = []
    ignored = 0
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    outputs = [folder for folder in class_dirs if _is_our_output(folder)]
    for folder in outputs:  # a run or features folder written among the videos is not a class
        log.info("%s: a pose-action run or features folder, not a class: skipped", _printable(folder))
        class_dirs.remove(folder)
    clash = case_clash(folder.name for folder in class_dirs)
    if clash:
        raise InputError(f"{_printable(root / clash[0])} and {_printable(root / clash[1])}: class folders whose "
                         "names differ only by case are one folder on macOS and Windows: merge or rename one")
    for class_dir in class_dirs:
        _check_name(class_dir, class_dir.name, "class folder name")
        for path in _files_under(class_dir):
            relative = path.relative_to(class_dir).parts
            if any(part.startswith(".") for part in relative) or not is_video(path):
                ignored += 1
                continue
            _check_portable(path, path.stem, "file name")
            problem = next((f"{what} {problem}" for what, problem in
                            [*(("folder name", name_problem(part)) for part in relative[:-1]),
                             ("file name", name_problem(path.stem))] if problem), None)
            if problem:  # this video fails; the others go on
                bad_names.append(BadName(path, class_dir.name, f"{class_dir.name}/{escaped_name(path.stem)}",
                                         f"{problem}; rename it (it becomes an output file name)"))
                continue
            items.append(_item(path, class_dir.name, None, pattern, ungrouped))
    ignored += sum(1 for p in root.iterdir() if p.is_file())
    if not items and bad_names:
        raise InputError(f"{_printable(bad_names[0].path)}: {bad_names[0].reason}")
    if not items:
        raise InputError(f"{root}: no videos found (expected {root}/<Class>/<clip>.avi; "
                         f"extensions {', '.join(sorted(VIDEO_EXTENSIONS))})")
    _check_unique(items)
    return Discovery(items=items, ignored=ignored, ungrouped=ungrouped, bad_names=bad_names)


def _is_our_output(folder: Path) -> bool:
    """A run (config.json of the run format, or cv.json) or a features folder (extract_config.json)."""
    from pose_action.layout import CONFIG_FILE

    if (folder / "cv.json").is_file() or (folder / CONFIG_FILE).is_file():
        return True
    try:
        with open(folder / "config.json", encoding="utf-8") as handle:
            return '"format": "pose_action.run/' in handle.read(4096)
    except (OSError, UnicodeDecodeError):
        return False


def _check_name(path: Path, name: str, what: str) -> None:
    problem = name_problem(name)
    if problem:
        raise InputError(f"{_printable(path)}: {what} {problem}; rename it (it becomes an output file name)")
    _check_portable(path, name, what)


def _check_portable(path: Path, name: str, what: str) -> None:
    problem = portability_problem(name)
    if problem:
        raise InputError(f"{_printable(path)}: {what} {problem}; rename it")


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
    lines: dict[str, int] = {}  # key -> the list's line that named it
    labels: dict[str, tuple[str, int]] = {}  # casefolded label -> (label, line)
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
                problem = (name_problem(path.stem) or _text_problem(row["path"]) or portability_problem(path.stem)
                           or portability_problem(label))
                if problem:
                    what = f"label {label!r}" if portability_problem(label) else f"video {row['path']!r}: file name"
                    raise InputError(f"{csv_path}: line {line}: {what} {problem}")
                first = labels.setdefault(label.casefold(), (label, line))
                if first[0] != label:
                    raise InputError(f"{csv_path}: line {line}: label {label!r} and {first[0]!r} (line {first[1]}) "
                                     "differ only by case: one folder on macOS and Windows; use one spelling")
                if not path.is_absolute():
                    path = csv_path.parent / path
                group = row.get("group") if isinstance(row.get("group"), str) else None
                item = _item(path, label, group or None, pattern, ungrouped)
                earlier = lines.get(item.key.casefold())
                if earlier is not None:
                    raise InputError(f"{csv_path}: line {line} repeats line {earlier} (both are {item.key!r} once "
                                     "extracted, case aside): remove or rename one")
                lines[item.key.casefold()] = line
                items.append(item)
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
    """Two videos whose outputs would be one file: the same key, or keys that differ only by case (one file
    on macOS and Windows, where a features folder may be copied)."""
    seen: dict[str, VideoItem] = {}
    for item in items:
        other = seen.get(item.key.casefold())
        if other is not None:
            case = "" if other.key == item.key else " on macOS and Windows (names that differ only by case)"
            raise InputError(f"{_printable(item.path)} and {_printable(other.path)} would share outputs "
                             f"{other.key!r}{case}: rename one")
        seen[item.key.casefold()] = item
