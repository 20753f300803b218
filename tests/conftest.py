"""Shared fixtures: real videos from ../shared/videos (skipped when absent), quiet native logs."""

from __future__ import annotations

import fcntl
import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import pose_action  # noqa: F401  (its import turns the native logs down before a test module loads TensorFlow)
from pose_action.cli import GC_THRESHOLDS

gc.set_threshold(*GC_THRESHOLDS)  # as in a command's process: the test modules import TensorFlow at collection

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_VIDEOS = SHARED / "videos"
SHARED_MODELS = SHARED / "models"


def pytest_collection_finish(session) -> None:
    """Every test module is imported (TensorFlow, Keras, MediaPipe with them): their hundreds of thousands
    of objects live as long as the process, so Python's full collections need not scan them again (the
    suite's models and traces grow the heap to a million objects; each full collection took 0.3-0.6 s)."""
    gc.collect()
    gc.freeze()


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


CRASH_ENV = "POSE_ACTION_TEST_CRASH_ON"  # read by tests/crash_hook/sitecustomize.py


@pytest.fixture
def arm_worker_crash(monkeypatch):
    """Call it with a text: extraction workers started afterwards segfault on the videos whose file
    name holds it (tests/crash_hook); `monkeypatch.delenv(CRASH_ENV)` disarms it for later workers.
    Local workers are forked from this process's forkserver: it is stopped when the hook is armed and
    after the test, so the next one starts with the hook loaded, and the one after it without."""
    from multiprocessing import forkserver

    def arm(marker: str) -> None:
        paths = [str(Path(__file__).parent / "crash_hook"), os.environ.get("PYTHONPATH", "")]
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path for path in paths if path))
        monkeypatch.setenv(CRASH_ENV, marker)
        forkserver._forkserver._stop()

    yield arm
    forkserver._forkserver._stop()


def session_base(tmp_path_factory) -> Path:
    """The temp folder every process of this test session sees: with `pytest -n N` (pytest-xdist)
    each worker has its own base temp folder inside one shared parent, so a session fixture built
    there is built once, not once per worker."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def built_once(base: Path, name: str) -> Iterator[Path]:
    """Hold an exclusive lock while `base/name` is built or checked: another worker waits, then reuses it."""
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield base / name
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """The tiny run that `demo --quick` makes (inference_fixture), built once and shared by the inference tests."""
    from inference_fixture import make_tiny_run

    with built_once(session_base(tmp_path_factory), "tiny_run") as base:
        return make_tiny_run(base)


@pytest.fixture(scope="session")
def tiny_two_clips(tiny, tmp_path_factory):
    """The tiny run's videos and features with a second clip per actor and class (18 clips): a copy of
    tiny's folders, then `synth --clips 2` and `extract` resume, so only the 9 new clips are drawn and
    extracted. Enough clips for a held-out actor to show whether a model learned the actions."""
    import shutil

    from pose_action.cli import main
    from pose_action.demo import QUICK

    with built_once(session_base(tmp_path_factory), "tiny_two_clips") as base:
        videos, features = base / "videos", base / "features"
        if not (features / "manifest.csv").is_file():
            shutil.copytree(tiny.videos, videos, dirs_exist_ok=True)
            shutil.copytree(tiny.features, features, dirs_exist_ok=True)
            assert main(["synth", str(videos), "--classes", *QUICK.classes, "--actors", str(QUICK.actors),
                         "--clips", "2", "--seconds", str(QUICK.seconds), "--fps", str(QUICK.fps),
                         "--seed", str(QUICK.seed), "--quiet"]) == 0
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
