"""pose_action: recognize human actions in videos from pose landmarks fused with scene context.

The few names a script needs are importable from here without loading TensorFlow:

    from pose_action import Recognizer
    with Recognizer.load("runs/my_run", backend="tflite") as recognizer:
        print(recognizer.predict_video("clip.mp4").label)

Importing the package sets the native libraries' log levels (TensorFlow, MediaPipe's glog) to
warnings and errors only, unless the environment already sets them: used as a library,
pose_action is as quiet as its commands.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

__version__ = "0.1.0"

# The one place the native libraries' start-up chatter is turned down (read when they load).
NATIVE_LOG_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "GLOG_minloglevel": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}


_quieted: set[str] = set()  # the variables quiet_native_logs set (the user had not)


def quiet_native_logs() -> None:
    """Turn TensorFlow's and MediaPipe's C++ logging down, unless the user chose a level."""
    for name, value in NATIVE_LOG_ENV.items():
        if name not in os.environ:
            os.environ[name] = value
            _quieted.add(name)


def restore_native_logs() -> None:
    """Undo quiet_native_logs (`--verbose`: the native libraries' own messages are wanted)."""
    for name in _quieted:
        os.environ.pop(name, None)
    _quieted.clear()


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
           "__version__", "build_features", "load_run", "quiet_native_logs", "restore_native_logs"]

def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pose_action' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
