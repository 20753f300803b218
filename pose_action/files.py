"""Atomic writes (a killed process never leaves a truncated file that a later run takes as done) and JSON files."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pose_action.errors import BIDI_CONTROLS, InputError, describe_os_error


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it onto `path` only if the block succeeds.

    The temp file keeps the final suffix (writers such as np.save and cv2.VideoWriter
    choose the format from it) and lives in the same folder, so the rename is atomic (and
    replaces a symlink at `path` rather than writing through it). An OSError while writing
    (disk full, read-only, no permission) becomes an InputError naming `path`.
    """
    path = Path(path)
    final_suffix = path.suffix if suffix is None else suffix
    if path.exists() and not path.is_file():  # a folder, or /dev/null: never replaced by a file
        raise InputError(f"{path}: exists and is not a regular file; choose a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Hidden (dot) name: dataset discovery and globbing readers skip it if a crash leaves it.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:100]}.", suffix=f".tmp{final_suffix}", dir=path.parent)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes it private; give it normal rights
    except OSError as error:
        raise InputError(describe_os_error(error, error.filename or path.parent)) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as error:
        # Named by the output, unless the error is about another file (an input read in the block).
        own = error.filename is None or os.fspath(error.filename) in (tmp, os.fspath(path))
        raise InputError(describe_os_error(error, path if own else error.filename)) from None
    finally:
        with contextlib.suppress(OSError):
            tmp_path.unlink(missing_ok=True)


def check_writable(folder: str | os.PathLike) -> Path:
    """Create `folder` (with its parents) and prove a file can be made in it, before long work starts.

    InputError names the folder and the reason (read-only, no permission, not a folder), so a
    bad output location stops a command in its first second, not after an hour of training.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise InputError(f"{folder}: cannot write here ({error.strerror or error})") from None
    return folder


MAX_NAME_BYTES = 240  # a file name may have 255 bytes; room for ".csv" and the like


def name_problem(name: str) -> str | None:
    """Why `name` (a class label or a file stem from input) cannot be one component of an output path, or None.

    Such names become `FEATURES/landmarks/<label>/<stem>.csv`: a separator, `..` or an absolute
    path would write outside the output folder; control characters (a newline) would break the
    one-line-per-video manifest and the terminal; a leading dot hides the file from readers.
    """
    if not name or not name.strip():
        return "is empty"
    if name in (".", ".."):
        return f"is {name!r}"
    if "/" in name or "\\" in name:
        return "holds a path separator"
    if name.startswith("."):
        return "starts with a dot (hidden)"
    if any(ord(c) < 32 or 127 <= ord(c) < 160 or c in BIDI_CONTROLS for c in name):
        return "holds a control character (newline, tab, escape, text direction...)"
    if any(0xD800 <= ord(c) <= 0xDFFF for c in name):
        return "is not valid UTF-8"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes"
    return None


def current_umask() -> int:
    """The process umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike, values: Any) -> None:
    """Indented JSON, written atomically."""
    write_text_atomic(path, json.dumps(values, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file; InputError naming the file when it is missing or not JSON."""
    path = Path(path)
    if path.exists() and not path.is_file():  # a folder, a FIFO, /dev/zero: never read
        raise InputError(f"{path}: not a regular file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise InputError(f"{path}: not valid JSON ({type(error).__name__}: {error})") from None
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})") from None
