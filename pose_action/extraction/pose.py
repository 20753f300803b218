"""The MediaPipe Tasks PoseLandmarker: model lookup and per-frame landmarks as arrays."""

from __future__ import annotations

import functools
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


def _landmarker(model_path: str | os.PathLike, num_poses: int, video: bool,
                min_detection_confidence: float, min_tracking_confidence: float):
    """A MediaPipe PoseLandmarker in VIDEO (tracking) or IMAGE (detector on every call) mode."""
    mp_vision = vision()
    from mediapipe.tasks.python import BaseOptions

    options = mp_vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model_path)),
        running_mode=mp_vision.RunningMode.VIDEO if video else mp_vision.RunningMode.IMAGE,
        num_poses=int(num_poses),
        min_pose_detection_confidence=min_detection_confidence,
        min_tracking_confidence=min_tracking_confidence,
    )
    try:
        return mp_vision.PoseLandmarker.create_from_options(options)
    except (RuntimeError, ValueError) as error:
        raise InputError(f"{model_path}: not a usable pose model ({error})") from None


def _mp_image(frame_bgr: np.ndarray):
    import mediapipe

    rgb = np.ascontiguousarray(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))
    return mediapipe.Image(image_format=mediapipe.ImageFormat.SRGB, data=rgb)


def _poses(result, limit: int | None = None) -> list[np.ndarray]:
    """Each pose of a PoseLandmarkerResult as (33, 8) float32, in MediaPipe's order."""
    people = []
    for image_points, world_points in list(zip(result.pose_landmarks, result.pose_world_landmarks))[:limit]:
        out = np.empty((NUM_LANDMARKS, len(CHANNELS)), dtype=np.float32)
        for i, (image_point, world_point) in enumerate(zip(image_points, world_points)):
            out[i] = (image_point.x, image_point.y, image_point.z, image_point.visibility,
                      image_point.presence, world_point.x, world_point.y, world_point.z)
        people.append(out)
    return people


class PoseEstimator:
    """One PoseLandmarker in VIDEO mode for one video: timestamps must strictly increase.

    Use it as a context manager (or call close()): left to the garbage collector at
    interpreter exit, mediapipe prints a TypeError traceback from __del__.
    """

    def __init__(self, model_path: str | os.PathLike, *, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, num_poses: int = 1) -> None:
        self._landmarker = _landmarker(model_path, num_poses, True, min_detection_confidence,
                                       min_tracking_confidence)

    def detect(self, frame_bgr: np.ndarray, timestamp_ms: int) -> np.ndarray | None:
        """(33, 8) float32 landmarks (x, y, z, visibility, presence, wx, wy, wz), or None.

        With num_poses > 1 this is MediaPipe's first pose, which may be a different person from
        one frame to the next: use detect_all and extraction.tracking instead."""
        people = self.detect_all(frame_bgr, timestamp_ms, limit=1)
        return people[0] if people else None

    def detect_all(self, frame_bgr: np.ndarray, timestamp_ms: int,
                   limit: int | None = None) -> list[np.ndarray]:
        """Every pose found (up to num_poses), each (33, 8) float32, in MediaPipe's order."""
        return _poses(self._landmarker.detect_for_video(_mp_image(frame_bgr), int(timestamp_ms)), limit)

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def __enter__(self) -> "PoseEstimator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PeopleFinder:
    """Up to `max_people` poses a frame at close to the cost of one where one person is seen.

    MediaPipe's VIDEO-mode landmarker skips its person detector only while it tracks as many
    poses as it was asked for (`num_poses`); asked for 2 with one person in view, it runs the
    detector on every frame, which doubles the cost (measured: 12 ms a frame for num_poses=1,
    25 ms for 2 on a 640x480 one-person clip; the detector costs about what the landmark model
    does). So the finder keeps two paths, each with its own landmarker for the whole clip:

    - one: a num_poses=1 VIDEO landmarker on every frame (exactly what --max-people 1 runs),
      and every `scout_every`-th frame a scout: a num_poses=max_people IMAGE-mode landmarker
      (the detector on the whole frame, landmarks for each person found);
    - many: from the frame where the scout finds somebody besides the person the one-path
      follows, a num_poses=max_people VIDEO landmarker (today's --max-people N) on every frame,
      starting on that very frame (its detector then sees what the scout saw), until it has
      seen at most one person for `hold` frames in a row; then the one-path resumes.

    A paused landmarker resumes where it stopped (its last region of interest), which keeps a
    person that its detector alone would not find (a fresh landmarker lost them on the
    Kinetics arm-wrestling clip). On a clip where the scout never sees a second person the
    poses equal --max-people 1's. `scout_every=0` runs the many-pose landmarker on every
    frame (no scout). The extraction's values are `extraction.job.SCOUT_EVERY` and `SCOUT_HOLD`.
    """

    def __init__(self, model_path: str | os.PathLike, *, max_people: int, scout_every: int, hold: int,
                 aspect: float = 4 / 3, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5) -> None:
        self._make = functools.partial(_landmarker, model_path, min_detection_confidence=min_detection_confidence,
                                       min_tracking_confidence=min_tracking_confidence)
        self.max_people, self.scout_every, self.hold, self.aspect = int(max_people), int(scout_every), int(hold), aspect
        self.scouting = self.scout_every > 0 and self.max_people > 1
        self._one = self._make(1, True) if self.scouting else None
        self._scout = self._make(self.max_people, False) if self.scouting else None
        self._many = None if self.scouting else self._make(self.max_people, True)
        self.many = not self.scouting  # which path runs now
        self._row = self._quiet = 0
        self.frames_many = 0  # processed frames that ran the many-pose landmarker (the cost: see above)
        self.scouted = 0

    def detect_all(self, frame_bgr: np.ndarray, timestamp_ms: int) -> list[np.ndarray]:
        """Every pose found in this frame (up to max_people), each (33, 8) float32."""
        image, row, stamp = _mp_image(frame_bgr), self._row, int(timestamp_ms)
        self._row += 1
        if self.many:
            self.frames_many += 1
            people = _poses(self._many.detect_for_video(image, stamp))
            self._quiet = self._quiet + 1 if len(people) <= 1 else 0
            if self.scouting and self._quiet >= self.hold:
                self.many = False
            return people
        people = _poses(self._one.detect_for_video(image, stamp))
        if row % self.scout_every:
            return people
        self.scouted += 1
        others = self._others(people, _poses(self._scout.detect(image)))
        if not others:
            return people
        if self._many is None:
            self._many = self._make(self.max_people, True)
        self.many, self._quiet = True, 0
        self.frames_many += 1
        tracked = _poses(self._many.detect_for_video(image, stamp))
        return tracked if len(tracked) > len(people) else (people + others)[:self.max_people]

    def _others(self, tracked: list[np.ndarray], found: list[np.ndarray]) -> list[np.ndarray]:
        """The scout's poses of people other than the tracked one: those whose torso centre is
        more than half a torso from it (nearer, it is the same person, found again)."""
        from pose_action.extraction.tracking import body_geometry

        if not tracked:
            return found if len(found) > 1 else []  # the one-path runs its own detector while it sees nobody
        centre, size, _ = body_geometry(tracked[0], self.aspect)
        return [pose for pose in found
                if float(np.linalg.norm(body_geometry(pose, self.aspect)[0] - centre)) > 0.5 * size]

    def close(self) -> None:
        for landmarker in (self._one, self._scout, self._many):
            if landmarker is not None:
                landmarker.close()
        self._one = self._scout = self._many = None

    def __enter__(self) -> "PeopleFinder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
