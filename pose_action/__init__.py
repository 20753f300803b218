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
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The one place the native libraries' start-up chatter is turned down (read when they load).
NATIVE_LOG_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "GLOG_minloglevel": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}


def quiet_native_logs() -> None:
    """Turn TensorFlow's and MediaPipe's C++ logging down, unless the user chose a level."""
    for name, value in NATIVE_LOG_ENV.items():
        os.environ.setdefault(name, value)


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
__all__ = ["NATIVE_LOG_ENV", "__version__", "quiet_native_logs", *_EXPORTS]

if TYPE_CHECKING:
    from pose_action.errors import InputError
    from pose_action.features import FeatureConfig, build_features
    from pose_action.inference.recognizer import Prediction, Recognizer, VideoResult
    from pose_action.runs import Run, load_run


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pose_action' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
