"""Used as a library, the Recognizer is as quiet as the commands: a script that loads the exported
run on LiteRT, predicts a clip and closes it writes nothing of the native runtimes' INFO chatter
(`Created TensorFlow Lite XNNPACK delegate`, MediaPipe's `DestroyAccelerator` at close) to stderr;
after restore_native_logs() (what `--verbose` does) that chatter comes through again."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from pose_action import NATIVE_LOG_ENV

SCRIPT = textwrap.dedent("""
    import sys
    import pose_action
    from pose_action import Recognizer

    if sys.argv[3] == "verbose":
        pose_action.restore_native_logs()
    recognizer = Recognizer.load(sys.argv[1], backend="tflite")
    print(recognizer.predict_video(sys.argv[2]).label)
    recognizer.close()
""")


def _run_script(tiny, mode: str) -> subprocess.CompletedProcess:
    # a fresh user's environment: no native log level chosen (the test process's import of pose_action set them)
    env = {name: value for name, value in os.environ.items() if name not in NATIVE_LOG_ENV}
    return subprocess.run([sys.executable, "-c", SCRIPT, str(tiny.run), str(tiny.clip()), mode],
                          capture_output=True, text=True, timeout=300, env=env)


def _native_info(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("INFO:") or "DestroyAccelerator" in line]


@pytest.fixture(scope="module")
def exported(tiny):
    assert (tiny.run / "model.tflite").is_file()
    return tiny


def test_a_script_using_the_recognizer_prints_no_native_info_lines(exported):
    completed = _run_script(exported, "quiet")
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert len(completed.stdout.split()) == 1, completed.stdout  # the prediction, and nothing else
    assert _native_info(completed.stderr) == [], completed.stderr[-2000:]


def test_restore_native_logs_lets_the_native_chatter_through(exported):
    """The other side of the quiet test: the chatter exists, and a user who asks for it gets it."""
    completed = _run_script(exported, "verbose")
    assert completed.returncode == 0, completed.stderr[-2000:]
    lines = _native_info(completed.stderr)
    assert any("XNNPACK delegate" in line for line in lines), completed.stderr[-2000:]
    assert any("DestroyAccelerator" in line for line in lines), completed.stderr[-2000:]
