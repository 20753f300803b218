"""Shared fixtures: real videos from ../shared/videos (skipped when absent), quiet native logs."""

from __future__ import annotations

from pathlib import Path

import pytest

import pose_action  # noqa: F401  (its import turns the native logs down before a test module loads TensorFlow)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_VIDEOS = SHARED / "videos"
SHARED_MODELS = SHARED / "models"


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    """../shared/videos, or skip: the real-video tests need the shared folder beside the checkout."""
    if not (SHARED_VIDEOS / "ud810_ps7").is_dir():
        pytest.skip("../shared/videos is not present")
    return SHARED_VIDEOS


@pytest.fixture(scope="session")
def shared_models() -> Path:
    if not (SHARED_MODELS / "pose_landmarker_full.task").is_file():
        pytest.skip("../shared/models is not present")
    return SHARED_MODELS


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """The tiny run that `demo --quick` makes (inference_fixture), built once and shared by the inference tests."""
    from inference_fixture import make_tiny_run

    return make_tiny_run(tmp_path_factory.getbasetemp() / "tiny_run")


@pytest.fixture(scope="session")
def tiny_two_clips(tiny, tmp_path_factory):
    """The tiny run's videos and features with a second clip per actor and class (18 clips): a copy of
    tiny's folders, then `synth --clips 2` and `extract` resume, so only the 9 new clips are drawn and
    extracted. Enough clips for a held-out actor to show whether a model learned the actions."""
    import shutil

    from pose_action.cli import main
    from pose_action.demo import QUICK

    base = tmp_path_factory.getbasetemp() / "tiny_two_clips"
    videos, features = base / "videos", base / "features"
    if not (features / "manifest.csv").is_file():
        shutil.copytree(tiny.videos, videos)
        shutil.copytree(tiny.features, features)
        assert main(["synth", str(videos), "--classes", *QUICK.classes, "--actors", str(QUICK.actors), "--clips", "2",
                     "--seconds", str(QUICK.seconds), "--fps", str(QUICK.fps), "--seed", str(QUICK.seed),
                     "--quiet"]) == 0
        assert main(["extract", str(videos), "--out", str(features), "--thumb-size", str(QUICK.thumb_size),
                     "--thumb-frames", str(QUICK.thumb_frames), "--workers", "1", "--quiet"]) == 0
    return features


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under root (symlinks not followed) with its kind, size, mtime and content hash."""
    state = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        state[str(path.relative_to(root))] = (info.st_mode, info.st_size, info.st_mtime_ns, hash(content))
    return state
