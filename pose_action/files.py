"""Atomic writes (a killed process never leaves a truncated file that a later run takes as done) and JSON files."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
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
        _sync(tmp_path)  # a write error the OS held back (delayed allocation, NFS) surfaces now, not after the rename
        os.replace(tmp_path, path)
    except OSError as error:
        # Named by the output, unless the error is about another file (an input read in the block).
        own = error.filename is None or os.fspath(error.filename) in (tmp, os.fspath(path))
        raise InputError(describe_os_error(error, path if own else error.filename)) from None
    finally:
        with contextlib.suppress(OSError):
            tmp_path.unlink(missing_ok=True)


def _sync(path: Path) -> None:
    """Flush a finished temp file to the disk before it is renamed into place (a crash then leaves the old
    file or the whole new one, never an empty one)."""
    if not path.is_file():  # the block removed or replaced it (its own error comes first)
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


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


def check_apart(out: str | os.PathLike, inputs: Iterable[str | os.PathLike | None], option: str = "--out",
                *, containing: bool = True) -> None:
    """Refuse an output that is one of the command's inputs, lies inside an input folder or (with
    `containing`: an output folder that is replaced or filled) holds an input: writing it could replace
    or bury what the command reads. InputError names the option and the input."""
    target = Path(out).resolve()
    for source in inputs:
        if source is None:
            continue
        resolved = Path(source).resolve()
        if target == resolved:
            raise InputError(f"{out}: {option} is the input {source} itself; choose another {option}")
        if target.is_relative_to(resolved):
            raise InputError(f"{out}: {option} is inside the input folder {source}; choose another {option}")
        if containing and resolved.is_relative_to(target):
            raise InputError(f"{out}: {option} holds the input {source}; choose another {option}")


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


# Names Windows gives to devices, in any case and with any extension ("con.mp4" opens the console there).
WINDOWS_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)),
                              *(f"LPT{n}" for n in range(1, 10))})


def portability_problem(name: str) -> str | None:
    """Why `name` works here but not as a file name on Windows (a device name), or None."""
    if name.split(".")[0].strip().upper() in WINDOWS_RESERVED:
        return "is a device name Windows reserves (CON, PRN, AUX, NUL, COM1-9, LPT1-9), so the output could " \
               "not be copied there"
    return None


def case_clash(names: Iterable[str]) -> tuple[str, str] | None:
    """The first two of `names` that differ only by case (one file on macOS and Windows), or None."""
    seen: dict[str, str] = {}
    for name in names:
        folded = name.casefold()
        if folded in seen and seen[folded] != name:
            return seen[folded], name
        seen.setdefault(folded, name)
    return None


_ESCAPED = frozenset("/\\%")


def escaped_name(name: str) -> str:
    """`name` as a plain, printable path component: every character `name_problem` objects to (controls,
    separators, bytes that are not UTF-8, a leading dot) written as %XX of its UTF-8 bytes, '%' too."""
    out = []
    for index, character in enumerate(name):
        code = ord(character)
        bad = (code < 32 or 127 <= code < 160 or 0xD800 <= code <= 0xDFFF or character in BIDI_CONTROLS
               or character in _ESCAPED or (index == 0 and character == "."))
        if bad:
            out.append("".join(f"%{byte:02X}" for byte in character.encode("utf-8", "surrogateescape")))
        else:
            out.append(character)
    text = "".join(out) or "%00"
    while len(text.encode("utf-8")) > MAX_NAME_BYTES - 20:
        text = text[:-1]
    return text


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
