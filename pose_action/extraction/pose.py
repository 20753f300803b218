"""The MediaPipe Tasks PoseLandmarker: model lookup and per-frame landmarks as arrays."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from functools import cache
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from pose_action.errors import InputError
from pose_action.landmarks import CHANNELS, NUM_LANDMARKS

log = logging.getLogger(__name__)

MODEL_NAMES = ("lite", "full", "heavy")
MODEL_URL = ("https://storage.googleapis.com/mediapipe-models/pose_landmarker/"
             "pose_landmarker_{name}/float16/1/pose_landmarker_{name}.task")
MODEL_DIR_ENV = "POSE_ACTION_MODEL_DIR"


@cache
def vision():
    """Import mediapipe's vision tasks without importing TensorFlow.

    mediapipe imports `tensorflow.tools.docs` when TensorFlow is installed (for its API docs
    only); that costs 2 s and hundreds of MB per process and would drag TensorFlow into the
    TensorFlow-free runtime. Hiding TensorFlow during that one import makes mediapipe use
    its own fallback; TensorFlow stays importable afterwards.
    """
    hide = "tensorflow" not in sys.modules
    if hide:
        sys.modules["tensorflow"] = None  # type: ignore[assignment]
    try:
        from mediapipe.tasks.python import vision as mp_vision
    finally:
        if hide:
            del sys.modules["tensorflow"]
    return mp_vision


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pose_action" / "models"


def vendored_lite_model() -> Path:
    return Path(str(resources.files("pose_action") / "assets" / "pose_landmarker_lite.task"))


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_model(spec: str = "lite") -> Path:
    """Find the .task file for `lite|full|heavy|PATH`.

    lite ships inside the package. full and heavy are looked up in $POSE_ACTION_MODEL_DIR,
    then the user cache, then downloaded from Google's model storage into the cache.
    """
    if spec not in MODEL_NAMES:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise InputError(f"{spec}: pose model not found (use lite, full, heavy or a .task file)")
        if not zipfile.is_zipfile(path):  # checked here, once, not by every worker on every video
            raise InputError(f"{spec}: not a MediaPipe pose model (a .task file is a zip bundle)")
        return path
    filename = f"pose_landmarker_{spec}.task"
    candidates = []
    if os.environ.get(MODEL_DIR_ENV):
        candidates.append(Path(os.environ[MODEL_DIR_ENV]) / filename)
    if spec == "lite":
        candidates.append(vendored_lite_model())
    candidates.append(user_cache_dir() / filename)
    for candidate in candidates:
        if candidate.is_file():
            _check_recorded_hash(candidate)
            return candidate
    return download_model(spec, user_cache_dir() / filename)


def _check_recorded_hash(path: Path) -> None:
    """A downloaded model records its SHA-256 beside it; a file that changed since is refused."""
    recorded = path.with_suffix(".task.sha256")
    if recorded.is_file() and recorded.read_text().split()[0] != file_sha256(path):
        raise InputError(f"{path}: SHA-256 differs from the one recorded at download "
                         f"({recorded}); delete both files to download again")


def download_model(name: str, destination: Path) -> Path:
    """Download an official bundle; offline, say where to put the file instead."""
    url = MODEL_URL.format(name=name)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(".task.part")
    log.info("downloading %s from %s", destination.name, url)
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError) as error:
        partial.unlink(missing_ok=True)
        raise InputError(
            f"cannot download the {name} pose model ({getattr(error, 'reason', error)}); "
            f"put {destination.name} in ${MODEL_DIR_ENV} or {destination.parent}, "
            f"or pass --pose-model PATH") from None
    if not zipfile.is_zipfile(partial):  # a .task is a zip bundle; an error page is not
        partial.unlink(missing_ok=True)
        raise InputError(f"{url}: download is not a MediaPipe model bundle")
    destination.with_suffix(".task.sha256").write_text(f"{file_sha256(partial)}  {url}\n")
    os.replace(partial, destination)
    return destination


class PoseEstimator:
    """One PoseLandmarker in VIDEO mode for one video: timestamps must strictly increase.

    Use it as a context manager (or call close()): left to the garbage collector at
    interpreter exit, mediapipe prints a TypeError traceback from __del__.
    """

    def __init__(self, model_path: str | os.PathLike, *, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, num_poses: int = 1) -> None:
        mp_vision = vision()
        import mediapipe
        from mediapipe.tasks.python import BaseOptions

        options = mp_vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model_path)),
            running_mode=mp_vision.RunningMode.VIDEO,
            num_poses=int(num_poses),
            min_pose_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        try:
            self._landmarker = mp_vision.PoseLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as error:
            raise InputError(f"{model_path}: not a usable pose model ({error})") from None
        self._image_type = mediapipe.Image
        self._image_format = mediapipe.ImageFormat.SRGB

    def detect(self, frame_bgr: np.ndarray, timestamp_ms: int) -> np.ndarray | None:
        """(33, 8) float32 landmarks (x, y, z, visibility, presence, wx, wy, wz), or None.

        With num_poses > 1 this is MediaPipe's first pose, which may be a different person from
        one frame to the next: use detect_all and extraction.tracking instead."""
        people = self.detect_all(frame_bgr, timestamp_ms, limit=1)
        return people[0] if people else None

    def detect_all(self, frame_bgr: np.ndarray, timestamp_ms: int,
                   limit: int | None = None) -> list[np.ndarray]:
        """Every pose found (up to num_poses), each (33, 8) float32, in MediaPipe's order."""
        rgb = np.ascontiguousarray(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))
        result = self._landmarker.detect_for_video(
            self._image_type(image_format=self._image_format, data=rgb), int(timestamp_ms))
        people = []
        for image_points, world_points in list(zip(result.pose_landmarks, result.pose_world_landmarks))[:limit]:
            out = np.empty((NUM_LANDMARKS, len(CHANNELS)), dtype=np.float32)
            for i, (image_point, world_point) in enumerate(zip(image_points, world_points)):
                out[i] = (image_point.x, image_point.y, image_point.z, image_point.visibility,
                          image_point.presence, world_point.x, world_point.y, world_point.z)
            people.append(out)
        return people

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def __enter__(self) -> "PoseEstimator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
