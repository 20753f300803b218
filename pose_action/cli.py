"""The `pose-action` command: a thin dispatcher over pose_action.commands, one module per command.

Each command module has `add_arguments(parser)` and `run(args) -> exit code`; the work
functions it calls are importable without the CLI. Only the chosen command's module is
imported, so `pose-action --help` and TensorFlow-free commands stay fast and never load TensorFlow.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import faulthandler
import gc
import importlib
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from typing import NoReturn

from pose_action import __version__, quiet_native_logs, restore_native_logs
from pose_action.catalog import MODEL_NAMES
from pose_action.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    InputError,
    describe_os_error,
    one_line,
)

# name: one-line help; the command lives in pose_action.commands.<name>
COMMANDS: dict[str, str] = {
    "synth": "render a synthetic UCF50-style dataset of drawn actors",
    "extract": "videos -> landmark CSVs, thumbnails and a manifest (resumable)",
    "inspect": "summarize, plot or render landmark CSVs",
    "train": f"train an action model ({', '.join(MODEL_NAMES)})",
    "evaluate": "evaluate a trained run on its test split",
    "predict": "recognize the action in a video file",
    "live": "recognize actions from a webcam",
    "export": "export a run to TFLite for the TensorFlow-free runtime",
    "demo": "the whole flow on the built-in synthetic dataset",
}

EPILOG = f"""exit codes: {EXIT_OK} success; {EXIT_USAGE} usage or input error (one line on stderr);
{EXIT_PARTIAL} a batch finished but some items failed (see its manifest); {EXIT_INTERRUPTED} interrupted.
Run `pose-action COMMAND --help` for a command's options."""
VERBOSE = "--verbose"
# Python's collector thresholds in a command's own process (default 700, 10, 10). Importing TensorFlow
# makes ~400k objects that live as long as the process, and at the default the collector rescans the
# growing heap over and over meanwhile: `import keras` took 4.8 s with it, 4.1-4.2 s with these, 3.95 s
# with the collector off. Cyclic garbage waits for 10,000 new objects instead of 700: a few MB at most.
GC_THRESHOLDS = (10_000, 10, 10)
# What Ctrl-C leaves, said after it; a command module whose outputs differ says so in its own INTERRUPTED.
INTERRUPTED = "interrupted; finished outputs are kept and a rerun resumes"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


@contextlib.contextmanager
def native_stderr_silenced(restore: bool = True) -> Iterator[None]:
    """Send what native libraries write to file descriptor 2 to /dev/null; Python's own stderr
    (our messages, logging, progress bars, warnings) keeps going to the terminal.

    MediaPipe, LiteRT, TensorFlow and OpenCV write start-up chatter straight to fd 2 from C++
    (`INFO: Created TensorFlow Lite XNNPACK delegate`, `W0000 ... inference_runner_litert.cc`,
    ...), which no Python setting reaches. `--verbose` leaves fd 2 alone. With `restore=False`
    (the real process) fd 2 stays silenced through interpreter shutdown, where the libraries
    say goodbye too.
    """
    try:
        sys.stderr.flush()
        python_on_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # replaced by a test harness: it has its own file
        python_on_fd2 = False
    try:
        saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no fd 2 at all (a daemon): nothing to protect
        yield
        return
    original = sys.stderr
    if python_on_fd2:
        sys.stderr = open(os.dup(saved), "w", buffering=1, encoding=getattr(original, "encoding", None) or "utf-8",
                          errors="backslashreplace")
        _retarget_handlers(original, sys.stderr)
    os.dup2(null, 2)
    os.close(null)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        if restore:
            os.dup2(saved, 2)
            if python_on_fd2:
                replacement, sys.stderr = sys.stderr, original
                _retarget_handlers(replacement, original)
                replacement.close()
        os.close(saved)


def _retarget_handlers(old: object, new: object) -> None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is old:
            handler.setStream(new)


class _Interrupts:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt once; while the command cleans up after it, more are ignored.

    A second signal during the clean-up (Ctrl-C twice, a scheduler's INT then TERM) raised again in
    the middle of a `finally` block or a destructor: "Exception ignored in ... KeyboardInterrupt"
    and a traceback, with half the clean-up skipped. Now the first signal interrupts; signals in
    the next GRACE_SECONDS are dropped (the first is still unwinding), and once the command has
    caught it (`shutting_down`) every further one is. A signal well after the first still
    interrupts, should something have swallowed the first.
    """

    GRACE_SECONDS = 3.0

    def __init__(self) -> None:
        self.first: float | None = None
        self.shutting_down = False

    def __call__(self, signum, frame) -> None:
        now = time.monotonic()
        if self.shutting_down or (self.first is not None and now - self.first < self.GRACE_SECONDS):
            return
        self.first = now
        raise KeyboardInterrupt


_interrupts: _Interrupts | None = None  # the running command's handler (None outside `sigterm_interrupts`)


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (kill, a scheduler's timeout) ends a command like Ctrl-C: cleanly, outputs kept, exit 130;
    a second signal while it cleans up is harmless (`_Interrupts`)."""
    global _interrupts
    handler = _Interrupts()
    previous = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    outer, _interrupts = _interrupts, handler
    try:
        yield
    finally:
        _interrupts = outer
        for signum, before in previous.items():
            signal.signal(signum, before)


def _shutting_down() -> None:
    """The command caught its interrupt: from now on signals are ignored (it only reports and ends)."""
    if _interrupts is not None:
        _interrupts.shutting_down = True


def _top_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="pose-action",
        description="Recognize human actions in videos from pose landmarks fused with scene context.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pose-action {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def command_parser(name: str) -> argparse.ArgumentParser:
    """The full parser of one command (imports only that command's module)."""
    module = importlib.import_module(f"pose_action.commands.{name}")
    parser = OneLineParser(
        prog=f"pose-action {name}", description=(module.__doc__ or COMMANDS[name]).strip(),
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(parser)
    parser.add_argument(VERBOSE, action="store_true",
                        help="show the native libraries' messages (MediaPipe, LiteRT, TensorFlow), debug "
                             "logging, and the traceback of an unexpected error")
    parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code and never raises (but SystemExit from --help and usage errors).

    Every failure is one line on stderr: InputError and OSError (a path and the reason: disk
    full, read-only, no permission) exit 2, as does an unexpected error (its traceback with
    --verbose); Ctrl-C and SIGTERM exit 130. Called as the process itself (`argv` None), it
    does not return: the process ends at once with the command's code (`_end_process`).
    """
    as_process = argv is None
    if as_process:  # a Python caller's own collector settings stay as they are
        gc.set_threshold(*GC_THRESHOLDS)
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = VERBOSE in argv[:argv.index("--")] if "--" in argv else VERBOSE in argv
    if verbose:
        restore_native_logs()
    else:
        quiet_native_logs()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("tensorflow", "absl", "distributed", "h5py"):  # tracing/retracing chatter
        logging.getLogger(noisy).setLevel(logging.ERROR)
    if not argv or argv[0] not in COMMANDS:
        top = _top_parser()
        if not argv:
            top.print_help()
            return EXIT_USAGE
        top.parse_args(argv)  # prints help/version, or a usage error naming the bad command
        return EXIT_USAGE
    name = argv[0]
    silenced = contextlib.nullcontext() if verbose else native_stderr_silenced(restore=not as_process)
    with silenced, sigterm_interrupts():
        code = _run_command(name, argv[1:], verbose)
        if as_process:
            _end_process(code)
    return code


def _end_process(code: int) -> None:
    """End the command's process now, with its exit code.

    Every output is written and closed by then (atomic writes, `with` blocks). The exit
    handlers still run (TensorFlow deletes its temp files in them), but the interpreter's
    teardown does not: it waits for every thread and runs TensorFlow's and MediaPipe's
    destructors, seconds long, noisy, and after an error it could wait forever on a loader
    thread. Signals are ignored from here (a Ctrl-C now must not turn a finished command's
    exit code into a signal's), and a watchdog ends the process should an exit handler hang.
    """
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signum, signal.SIG_IGN)
    with contextlib.suppress(Exception):
        faulthandler.dump_traceback_later(EXIT_HANDLERS_SECONDS, exit=True, file=open(os.devnull, "w"))
    _flush()
    atexit._run_exitfuncs()  # logging, multiprocessing and TensorFlow's own clean-up
    _flush()
    os._exit(code)


EXIT_HANDLERS_SECONDS = 60


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe (`| head`) has nothing left to receive
            stream.flush()


# Optional dependencies and the extra that installs each (anything else comes with [train]).
EXTRAS = {"dask": "distributed", "distributed": "distributed", "ai_edge_litert": "lite"}


def _run_command(name: str, argv: list[str], verbose: bool) -> int:
    prefix = f"pose-action {name}: error:"
    try:
        parser = command_parser(name)
        args = parser.parse_args(argv)
        if verbose:
            logging.getLogger("pose_action").setLevel(logging.DEBUG)
        return int(args._run(args) or EXIT_OK)
    except InputError as error:
        message = str(error)
    except KeyboardInterrupt:
        _shutting_down()
        module = sys.modules.get(f"pose_action.commands.{name}")
        print(f"pose-action {name}: {getattr(module, 'INTERRUPTED', INTERRUPTED)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of our output stopped (`| head`): it wanted no more, nothing to say
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as error:  # an output location that is full, read-only or not ours
        message = describe_os_error(error)
    except MemoryError:
        message = "out of memory (try fewer --workers, a smaller --batch-size, or smaller inputs)"
    except ModuleNotFoundError as error:
        top = (error.name or "").split(".")[0]
        if top == "pose_action":
            message = "this command is not available in this version"
        else:
            extra = EXTRAS.get(top, "train")
            message = f"missing dependency {top!r} (install with: pip install 'pose-action[{extra}]')"
    except Exception as error:  # a bug or an input nobody foresaw: still one line, never a hang
        if verbose:
            traceback.print_exc()
        first = (str(error).strip().splitlines() or [""])[0]
        hint = "" if verbose else f" (run with {VERBOSE} for the traceback)"
        message = f"unexpected {type(error).__name__}: {first}{hint}"
    print(f"{prefix} {one_line(message)}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
