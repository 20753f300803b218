"""pose_action: recognize human actions in videos from pose landmarks fused with scene context.

The few names a script needs are importable from here without loading TensorFlow:

    from pose_action import Recognizer
    with Recognizer.load("runs/my_run", backend="tflite") as recognizer:
        print(recognizer.predict_video("clip.mp4").label)

Importing the package sets the native libraries' log levels (TensorFlow, MediaPipe's glog) to
warnings and errors only, unless the environment already sets them; what LiteRT prints from
C++ regardless (`INFO: Created TensorFlow Lite XNNPACK delegate`, `DestroyAccelerator`, ...)
is kept off stderr around the calls that print it (native_stderr_quieted): used as a library,
pose_action is as quiet as its commands. restore_native_logs() lets all of it through again.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

__version__ = "0.1.0"

# The one place the native libraries' start-up chatter is turned down (read when they load).
NATIVE_LOG_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "GLOG_minloglevel": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}


_quieted: set[str] = set()  # the variables quiet_native_logs set (the user had not)
_native_quiet = False  # between quiet_native_logs() and restore_native_logs()


def quiet_native_logs() -> None:
    """Turn TensorFlow's and MediaPipe's C++ logging down, unless the user chose a level."""
    global _native_quiet
    _native_quiet = True
    for name, value in NATIVE_LOG_ENV.items():
        if name not in os.environ:
            os.environ[name] = value
            _quieted.add(name)


def restore_native_logs() -> None:
    """Undo quiet_native_logs (`--verbose`: the native libraries' own messages are wanted)."""
    global _native_quiet
    _native_quiet = False
    for name in _quieted:
        os.environ.pop(name, None)
    _quieted.clear()


_fd2_lock = threading.Lock()
_fd2_depth = 0  # blocks inside native_stderr_quieted (any thread)
_fd2_saved: int | None = None  # the real fd 2 while they run


@contextlib.contextmanager
def native_stderr_quieted() -> Iterator[None]:
    """While native logs are quiet, send file descriptor 2 to /dev/null for the block.

    For the few native calls that log from C++ with no setting to stop them: LiteRT's
    interpreter and MediaPipe's landmarkers print INFO lines when made and when destroyed.
    Keep the block short: Python's own stderr shares fd 2 and is muted inside it too. Blocks
    may nest and overlap across threads (the first in redirects, the last out restores).
    """
    global _fd2_depth, _fd2_saved
    if not _native_quiet:
        yield
        return
    with _fd2_lock:
        if _fd2_depth == 0:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                sys.stderr.flush()
            with contextlib.suppress(OSError):  # no fd 2 at all (a daemon): nothing to quiet
                null = os.open(os.devnull, os.O_WRONLY)
                try:
                    _fd2_saved = os.dup(2)
                    os.dup2(null, 2)
                finally:
                    os.close(null)
        _fd2_depth += 1
    try:
        yield
    finally:
        with _fd2_lock:
            _fd2_depth -= 1
            if _fd2_depth == 0 and _fd2_saved is not None:
                os.dup2(_fd2_saved, 2)
                os.close(_fd2_saved)
                _fd2_saved = None


quiet_native_logs()

# public name -> the module that defines it (imported on first use, so `import pose_action` stays light)
_EXPORTS = {
    "Recognizer": "pose_action.inference.recognizer",
    "VideoResult": "pose_action.inference.recognizer",
    "Prediction": "pose_action.inference.recognizer",
    "load_run": "pose_action.runs",
    "Run": "pose_action.runs",
    "FeatureConfig": "pose_action.features",
    "build_features": "pose_action.features",
    "InputError": "pose_action.errors",
}
__all__ = ["NATIVE_LOG_ENV", "FeatureConfig", "InputError", "Prediction", "Recognizer", "Run", "VideoResult",
           "__version__", "build_features", "load_run", "native_stderr_quieted", "quiet_native_logs",
           "restore_native_logs"]

def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pose_action' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
