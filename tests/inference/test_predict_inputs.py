"""predict and live as a careless or hostile user meets them (issue 12): folders, URLs, damaged models and
output names are one line and exit 2 before any work; the terminal shows the program's lines, not the native
libraries' chatter (unless --verbose)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pose_action.cli import main

REPO = Path(__file__).resolve().parents[2]
# What MediaPipe, LiteRT, TensorFlow and glog print from C++ (never the program's own lines).
NATIVE_CHATTER = re.compile(r"^(INFO: |WARNING: \[|[IWE]\d{4} |.*\.(cc|h):\d+\]|.*XNNPACK|.*Sparsity tensors)")


def _error_line(capsys) -> str:
    error = capsys.readouterr().err.strip()
    assert error.splitlines() == [error], error
    return error


def test_predict_on_a_folder_says_so(tiny, tmp_path, capsys):
    assert main(["predict", str(tiny.run), str(tiny.videos)]) == 2
    assert f"{tiny.videos}: is a folder, not a video file" in _error_line(capsys)


def test_predict_on_a_url_points_to_live(tiny, capsys):
    assert main(["predict", str(tiny.run), "http://example.com/clip.mp4"]) == 2
    error = _error_line(capsys)
    assert "http://example.com/clip.mp4: predict reads video files, not URLs" in error  # not mangled to http:/
    assert "live" in error and "--camera URL" in error


def test_a_truncated_model_is_called_damaged_not_missing(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny.run, run)
    (run / "model.tflite").unlink()
    data = (run / "model.keras").read_bytes()
    (run / "model.keras").write_bytes(data[: len(data) // 2])
    assert main(["predict", str(run), str(tiny.clip())]) == 2
    error = _error_line(capsys)
    assert "model.keras: not a Keras model file (truncated or damaged" in error and "not found" not in error


@pytest.mark.parametrize("out, message", [
    ("annotated.txt", "--out writes videos: give a name ending in .avi, .mkv, .mov, .mp4"),
    ("folder.mp4", "exists and is not a file"),
    ("/proc/annotated.mp4", "/proc: cannot write here"),
    ("/dev/null", "--out writes videos"),
])
def test_predict_checks_its_output_before_predicting(tiny, tmp_path, capsys, out, message):
    (tmp_path / "folder.mp4").mkdir()
    unreadable = tmp_path / "clip.mp4"
    unreadable.write_bytes(b"not a video")  # reading a frame of it would fail with another message
    out = out if out.startswith("/") else str(tmp_path / out)
    assert main(["predict", str(tiny.run), str(unreadable), "--out", out]) == 2
    assert message in _error_line(capsys)  # the output was refused before a frame was read
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "folder.mp4"]


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                   **(env or {})}
    return subprocess.run([sys.executable, "-m", "pose_action", *args], capture_output=True, text=True, timeout=120,
                          env=environment)


def test_predict_keeps_the_terminal_clean_and_verbose_shows_the_native_messages(tiny, tmp_path):
    out = tmp_path / "annotated.mp4"
    quiet = _run("predict", str(tiny.run), str(tiny.clip()), "--out", str(out))
    assert quiet.returncode == 0, quiet.stderr
    chatter = [line for line in quiet.stderr.splitlines() if NATIVE_CHATTER.match(line)]
    assert not chatter, chatter
    assert [line.split(" (")[0] for line in quiet.stderr.strip().splitlines()] == [f"wrote {out}"], quiet.stderr
    assert "tflite" in quiet.stdout
    verbose = _run("predict", str(tiny.run), str(tiny.clip()), "--verbose")
    assert verbose.returncode == 0
    assert any(NATIVE_CHATTER.match(line) for line in verbose.stderr.splitlines()), verbose.stderr


def test_live_without_a_display_is_one_clean_line(tiny):
    completed = _run("live", str(tiny.run), "--camera", str(tiny.long_video),
                     env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [completed.stderr.strip()], completed.stderr
    assert "no display" in completed.stderr


@pytest.mark.parametrize("section, values, message", [
    ("sampling", {"fps": 0}, "'extraction.sampling.fps' must be a positive number"),
    ("sampling", {"stride": "two"}, "'extraction.sampling.stride' must be a whole number"),
    ("thumbnails", {"frames": -5}, "'extraction.thumbnails.frames' must be a whole number"),
    ("pose", {"min_detection_confidence": "high"}, "'extraction.pose.min_detection_confidence' must be between"),
])
def test_a_damaged_run_config_is_named_before_the_video_is_read(tiny, tmp_path, capsys, section, values, message):
    import json

    run = tmp_path / "run"
    shutil.copytree(tiny.run, run)
    config = json.loads((run / "config.json").read_text())
    config["extraction"].setdefault(section, {}).update(values)
    (run / "config.json").write_text(json.dumps(config))
    assert main(["predict", str(run), str(tiny.clip())]) == 2
    assert f"{run / 'config.json'}: {message}" in _error_line(capsys)


def test_predict_never_writes_over_its_own_video(tiny, tmp_path, capsys):
    video = tmp_path / "clip.mp4"
    shutil.copy(tiny.clip(), video)
    before = video.read_bytes()
    assert main(["predict", str(tiny.run), str(video), "--out", str(tmp_path / "." / "clip.mp4")]) == 2
    assert "--out would replace the video being recognized" in _error_line(capsys)
    assert video.read_bytes() == before
