"""`pose-action demo`: the whole flow end to end in a test-sized configuration."""

from __future__ import annotations

import json
import re
import shutil

from pose_action.cli import main
from pose_action.video import probe, read_frames

from inference_fixture import TinyRun

# What MediaPipe, LiteRT, TensorFlow and glog print from C++ (never the program's own lines).
NATIVE_CHATTER = re.compile(r"^(INFO: |WARNING: \[|[IWE]\d{4} |.*\.(cc|h):\d+\]|.*XNNPACK|.*Sparsity tensors)", re.M)


def test_demo_quick_runs_end_to_end_and_reruns(tiny, tmp_path, capfd):
    # The fixture ran every step once; the command reruns on a copy of its folder (the tiny run
    # itself is shared by other tests): videos and features are kept (resumed), the model is
    # trained, evaluated, exported and used again.
    shutil.copytree(tiny.base, tmp_path / "demo", symlinks=True)
    tiny = TinyRun(base=tmp_path / "demo", videos=tmp_path / "demo" / tiny.videos.name,
                   features=tmp_path / "demo" / tiny.features.name, run=tmp_path / "demo" / tiny.run.name,
                   long_video=tiny.long_video)
    manifest_before = (tiny.features / "manifest.csv").read_text()
    assert main(["demo", "--out", str(tiny.base), "--quick", "--quiet"]) == 0
    captured = capfd.readouterr()  # file descriptors 1 and 2: what a terminal would show
    summary = captured.out
    assert not NATIVE_CHATTER.findall(captured.err), captured.err  # issue 12: a clean terminal
    assert "accuracy" in summary and "macro F1" in summary
    for path in (tiny.videos, tiny.features, tiny.run, tiny.run / "model.tflite", tiny.base / "prediction.mp4"):
        assert str(path) in summary and path.exists()
    assert (tiny.features / "manifest.csv").read_text() == manifest_before  # nothing re-extracted
    metrics = json.loads((tiny.run / "metrics.json").read_text())
    right = [item["predicted"] == item["label"] for item in metrics["predictions"]]
    assert metrics["n_test"] == len(right) == 3 and metrics["accuracy"] == sum(right) / 3
    assert sorted(p.name for p in tiny.videos.iterdir()) == ["JumpingJack", "Squat", "Wave"]
    predicted_line = next(line for line in summary.splitlines() if "predicted" in line)
    clip = predicted_line.split()[1]
    assert probe(tiny.base / "prediction.mp4").frame_count == sum(1 for _ in read_frames(clip))
