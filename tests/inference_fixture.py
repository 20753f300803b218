"""A tiny trained run made by the real flow: `demo --quick` (synth -> extract -> train -> evaluate -> export).

Built once per test session under pytest's base temp folder and shared by the inference
tests (recognizer, export, predict, live, demo): 3 classes x 3 actors of 1.6 s clips at
320x240, T = 8 frames, 16 px thumbnails (12 kept per clip), 3 epochs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TinyRun:
    base: Path  # the demo's --out
    videos: Path  # VIDEO_ROOT/<Class>/<clip>.mp4
    features: Path  # extract's output
    run: Path  # train's output (model.keras, model.tflite, labels.json, config.json, ...)
    long_video: Path  # a 3 s clip: several sliding windows

    def clip(self, label: str = "JumpingJack") -> Path:
        return sorted((self.videos / label).glob("*.mp4"))[0]


def make_tiny_run(base: Path) -> TinyRun:
    """Make (or reuse, within one session) the tiny run under `base`."""
    from pose_action.demo import QUICK, run_demo
    from pose_action.synth.dataset import write_clip

    tiny = TinyRun(base=base, videos=base / "videos", features=base / "features", run=base / "run",
                   long_video=base / "long" / "jumping.mp4")
    if not (tiny.run / "model.tflite").is_file():
        run_demo(base, QUICK, progress=False)
    if not tiny.long_video.is_file():
        write_clip(tiny.long_video, "JumpingJack", actor=5, seed=1, seconds=3.0)
    return tiny
