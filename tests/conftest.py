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


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under root (symlinks not followed) with its kind, size, mtime and content hash."""
    state = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        state[str(path.relative_to(root))] = (info.st_mode, info.st_size, info.st_mtime_ns, hash(content))
    return state
