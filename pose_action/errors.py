"""Errors the command line turns into one line and an exit code."""

from __future__ import annotations

import os
from collections.abc import Callable

# Exit codes of every command (documented in the README).
EXIT_OK = 0
EXIT_USAGE = 2  # bad usage or bad input: one line on stderr, nothing written half-way
EXIT_PARTIAL = 3  # a batch finished, but some items failed (see its manifest/report)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: finished outputs are kept, a rerun resumes

MAX_MESSAGE = 1000  # characters of one error line
# Unicode's explicit direction controls: they make a printed name read differently from what it is.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class InputError(ValueError):
    """Bad user input: a file or option the user can fix. The message names the file and problem."""


def one_line(text: object) -> str:
    """`text` as one printable line: line breaks and other control characters (which a hostile
    file name could use to forge output or drive the terminal) become spaces or '?'."""
    cleaned = []
    for character in str(text):
        if character in "\n\r\t\v\f":
            cleaned.append(" ")
        elif ord(character) < 32 or 127 <= ord(character) < 160 or 0xD800 <= ord(character) <= 0xDFFF \
                or character in BIDI_CONTROLS:
            cleaned.append("?")  # control characters, bytes that were not UTF-8 in a file name, text reversal
        else:
            cleaned.append(character)
    line = " ".join("".join(cleaned).split())
    return line if len(line) <= MAX_MESSAGE else line[:MAX_MESSAGE - 3] + "..."


def describe_os_error(error: OSError, path: str | os.PathLike | None = None) -> str:
    """'<path>: <reason>' for an OSError (disk full, read-only, no permission, ...)."""
    where = path if path is not None else (error.filename if error.filename is not None else "")
    reason = error.strerror or str(error) or type(error).__name__
    return f"{where}: {reason}" if str(where) else reason


def run_script(prog: str, work: Callable[[], object], interrupted: str = "interrupted") -> int:
    """How a script under scripts/ ends, as a command does: its result printed, bad input as one
    line (exit 2), Ctrl-C as one line saying what is kept (exit 130), never a traceback for either.

    The library's own loggers speak; TensorFlow's and h5py's only on errors.
    """
    import logging
    import sys

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("tensorflow", "absl", "h5py"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        result = work()
    except InputError as error:
        print(f"{prog}: error: {one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result is not None:
        print(result)
    return EXIT_OK
