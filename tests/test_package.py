"""The package's front door: the names a script imports, without TensorFlow."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin"}).stdout.strip()


def test_recognizer_imports_from_the_package_without_tensorflow():
    out = _run("import sys\nfrom pose_action import Recognizer, load_run, FeatureConfig\n"
               "print(Recognizer.__name__, load_run.__module__, FeatureConfig().thumb_size,"
               " 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    assert out.split() == ["Recognizer", "pose_action.runs", str(__import__("pose_action").FeatureConfig().thumb_size),
                           "False", "False"]


def test_importing_the_package_turns_native_logs_down_but_keeps_a_users_choice():
    out = _run("import os\nos.environ['GLOG_minloglevel'] = '0'\nimport pose_action\n"
               "print(os.environ['TF_CPP_MIN_LOG_LEVEL'], os.environ['GLOG_minloglevel'])")
    assert out.split() == ["2", "0"]


def test_an_unknown_name_is_an_attribute_error():
    out = _run("import pose_action\ntry:\n    pose_action.Nope\nexcept AttributeError:\n    print('AttributeError')")
    assert out == "AttributeError"
