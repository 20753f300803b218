"""The MediaPipe Tasks PoseLandmarker: model lookup and per-frame landmarks as arrays."""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pose_action import native_stderr_quieted
from pose_action.errors import InputError
from pose_action.extraction.tracking import DEFAULT_MAX_GAP
from pose_action.landmarks import CHANNELS, NUM_LANDMARKS

log = logging.getLogger(__name__)

POSE_MODELS = ("lite", "full", "heavy")
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
        sys.modules["tensorflow"] = None
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
    if spec not in POSE_MODELS:
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


# The people finder of --max-people N > 1 (PeopleFinder): values chosen on the mmaction2 two-person
# clips (docs/benchmarks.md, "Several people").
FINDER_CONFIDENCE = 0.15  # detection and presence confidence of its IMAGE-mode landmarker (0.5: the tracker's)
FINDER_CONFIRM = 3  # frames in a row a person it found must be found in (at a consistent place) before they count
# The grey shape over a found person: "hull", the convex hull of their landmarks, or "box", their bounding box;
# grown by MASK_MARGIN of the bounding box per side. The hull leaves more of a person beside or behind them
# (two in 2+ poses of the NTU two-person frames: 81% with the hull, 74% with the box).
MASK_SHAPE = "hull"
MASK_MARGIN = 0.15
FOLLOW_STEP = 1.0  # torsos a person's centre may move between frames and still be the person followed
CROP_SCALE = 1.5  # the square searched around a person's last pose: this times the pose's longer side
# Frames a person found stays unseen before the finder drops them (`hold`): a track's own gap, so a
# second person hidden for a moment is found again before their track ends.
SCOUT_HOLD = DEFAULT_MAX_GAP


# The zoom of the one-person landmarker (PoseEstimator(zoom=True), extract's default): where it finds
# nobody, it looks again in a square crop, so that a small, far person fills the detector's input.
# Values chosen on drawn far actors (frames with a pose 52% -> 69%; docs/benchmarks.md, "Zoom and exposure").
ZOOM_SCALE = 2.5  # the crop's side: this times the longer side of the last pose (or of the moving region)
ZOOM_MIN = 0.5  # ... and at least this share of the frame's shorter side
ZOOM_HOLD = DEFAULT_MAX_GAP  # frames the last pose is looked around after it was lost; then where the frame moves
ZOOM_WHOLE = 0.7  # a moving region wider or taller than this share of the shorter side: the camera moves
GREY_WIDTH = 160  # the moving region and the exposure are judged on the frame in grey, about this wide
# The exposure of the one-person landmarker (PoseEstimator(exposure=True), extract's default): a frame
# whose bright end (99th percentile of grey, on the frame sampled down to about GREY_WIDTH) is below
# EXPOSURE_DIM is underexposed, and the landmarker sees it stretched from its 1st to 99th percentile to
# the full range (drawn dark actors: frames with a pose 37% -> 76%). A dark room with a lamp or a
# window in view is not underexposed, and is left as it is.
EXPOSURE_DIM = 100


def _landmarker(model_path: str | os.PathLike, num_poses: int, video: bool,
                min_detection_confidence: float, min_tracking_confidence: float,
                min_presence_confidence: float = 0.5):
    """A MediaPipe PoseLandmarker in VIDEO (tracking) or IMAGE (detector on every call) mode."""
    mp_vision = vision()
    from mediapipe.tasks.python import BaseOptions

    options = mp_vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model_path)),
        running_mode=mp_vision.RunningMode.VIDEO if video else mp_vision.RunningMode.IMAGE,
        num_poses=int(num_poses),
        min_pose_detection_confidence=min_detection_confidence,
        min_tracking_confidence=min_tracking_confidence,
        min_pose_presence_confidence=min_presence_confidence,
    )
    try:
        with native_stderr_quieted():  # LiteRT's INFO lines as it makes each model's runtime
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
                 min_tracking_confidence: float = 0.5, num_poses: int = 1, zoom: bool = False,
                 exposure: bool = False) -> None:
        self._landmarker = _landmarker(model_path, num_poses, True, min_detection_confidence,
                                       min_tracking_confidence)
        self._zoom = _Zoom(model_path, min_detection_confidence) if zoom and num_poses == 1 else None
        self._exposure = exposure

    def detect(self, frame_bgr: np.ndarray, timestamp_ms: int) -> np.ndarray | None:
        """(33, 8) float32 landmarks (x, y, z, visibility, presence, wx, wy, wz), or None.

        With num_poses > 1 this is MediaPipe's first pose, which may be a different person from
        one frame to the next: use detect_all and extraction.tracking instead."""
        people = self.detect_all(frame_bgr, timestamp_ms, limit=1)
        return people[0] if people else None

    def detect_all(self, frame_bgr: np.ndarray, timestamp_ms: int,
                   limit: int | None = None) -> list[np.ndarray]:
        """Every pose found (up to num_poses), each (33, 8) float32, in MediaPipe's order."""
        grey = small_grey(frame_bgr) if self._zoom is not None or self._exposure else None
        if self._exposure:
            assert grey is not None
            frame_bgr = exposed(frame_bgr, grey)
        people = _poses(self._landmarker.detect_for_video(_mp_image(frame_bgr), int(timestamp_ms)), limit)
        if self._zoom is not None:
            assert grey is not None
            people = self._zoom.after(frame_bgr, grey, people)
        return people

    def close(self) -> None:
        if self._zoom is not None:
            self._zoom.close()
        if self._landmarker is not None:
            with native_stderr_quieted():  # LiteRT's "INFO: ... DestroyAccelerator"
                self._landmarker.close()
            self._landmarker = None

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def small_grey(frame_bgr: np.ndarray) -> np.ndarray:
    """The frame in grey, sampled down to about GREY_WIDTH pixels wide (every n-th pixel: cheap)."""
    step = max(1, round(frame_bgr.shape[1] / GREY_WIDTH))
    return cv2.cvtColor(np.ascontiguousarray(frame_bgr[::step, ::step]), cv2.COLOR_BGR2GRAY)


def exposed(frame_bgr: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """The frame stretched to the full range where it is underexposed (EXPOSURE_DIM), else itself."""
    low, high = np.percentile(grey, [1, 99])
    if high >= EXPOSURE_DIM:
        return frame_bgr
    table = ((np.arange(256) - low) * 255 / max(float(high - low), 8.0)).clip(0, 255).astype(np.uint8)
    return cv2.LUT(frame_bgr, table)


def _moving(background: np.ndarray, grey: np.ndarray, step: float) -> tuple[float, float, float, float] | None:
    """(x0, y0, x1, y1) whole-frame pixels around where the blurred small grey frame differs from its
    running background (`step`: whole-frame pixels per small pixel), or None."""
    difference = cv2.absdiff(background, grey)
    moved = (difference > max(6.0, 4.0 * float(np.median(difference)) + 4.0)).astype(np.uint8)
    ys, xs = np.nonzero(cv2.morphologyEx(moved, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)))
    if len(xs) < 20:
        return None
    (x0, x1), (y0, y1) = np.percentile(xs, [2, 98]), np.percentile(ys, [2, 98])
    return float(x0) * step, float(y0) * step, float(x1 + 1) * step, float(y1 + 1) * step


class _Zoom:
    """A second look where the VIDEO landmarker found nobody: an IMAGE landmarker on a square crop
    around the last pose (for ZOOM_HOLD frames after it was lost), else around where the frame
    moves against a running background. MediaPipe's detector sees the frame at 224 px, where a
    person under about a quarter of the frame's height is lost although plainly in view."""

    def __init__(self, model_path: str | os.PathLike, confidence: float) -> None:
        self._model_path, self._confidence = model_path, confidence
        self._landmarker: Any = None  # a PoseLandmarker in IMAGE mode, made at the first second look
        self._last: np.ndarray | None = None
        self._unseen = ZOOM_HOLD + 1
        self._background: np.ndarray | None = None

    def after(self, frame_bgr: np.ndarray, grey: np.ndarray, people: list[np.ndarray]) -> list[np.ndarray]:
        """`people` as found, or the pose a second look finds; keeps the background up to date.
        `grey` is small_grey(frame_bgr)."""
        background = self._background
        blurred = cv2.GaussianBlur(grey, (5, 5), 0).astype(np.float32)
        self._background = blurred if background is None else cv2.addWeighted(background, 0.9, blurred, 0.1, 0)
        if not people:
            crop = self._crop(frame_bgr, lambda: None if background is None else _moving(
                background, blurred, frame_bgr.shape[1] / grey.shape[1]))
            if crop is not None:
                if self._landmarker is None:
                    self._landmarker = _landmarker(self._model_path, 1, False, self._confidence, 0.5,
                                                   self._confidence)
                found = _poses(self._landmarker.detect(_mp_image(crop[0])), 1)
                height, width = frame_bgr.shape[:2]
                people = [_from_crop(found[0], crop[1], width, height)] if found else []
        self._last, self._unseen = (people[0], 0) if people else (self._last, self._unseen + 1)
        return people

    def _crop(self, frame_bgr: np.ndarray, moving: Callable[[], tuple[float, float, float, float] | None]
              ) -> tuple[np.ndarray, tuple[float, float, float]] | None:
        """The square to look in: around the last pose while it is recent, else around moving()
        (only then worked out), or None."""
        height, width = frame_bgr.shape[:2]
        if self._last is not None and self._unseen < ZOOM_HOLD:
            xs, ys = self._last[:, 0] * width, self._last[:, 1] * height
            region: tuple[float, float, float, float] | None = (
                float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
        else:
            region = moving()
        if region is None:
            return None
        x0, y0, x1, y1 = region
        side = max(x1 - x0, y1 - y0)
        if not np.isfinite(side) or side > ZOOM_WHOLE * min(width, height):
            return None  # the whole frame moves (or the person already fills it): no smaller place to look
        half = max(ZOOM_SCALE * side, ZOOM_MIN * min(width, height)) / 2
        return _square(frame_bgr, (x0 + x1) / 2, (y0 + y1) / 2, half)

    def close(self) -> None:
        if self._landmarker is not None:
            with native_stderr_quieted():
                self._landmarker.close()
            self._landmarker = None


def pose_box(pose: np.ndarray, width: int, height: int, margin: float = MASK_MARGIN) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) pixels: a pose's landmark bounding box plus `margin` of its size per side, in the frame."""
    xs, ys = pose[:, 0] * width, pose[:, 1] * height
    left, right, top, bottom = float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())
    dx, dy = (right - left) * margin, (bottom - top) * margin
    return (int(max(0.0, left - dx)), int(max(0.0, top - dy)),
            int(min(float(width), right + dx + 1)), int(min(float(height), bottom + dy + 1)))


def masked(frame_bgr: np.ndarray, poses: list[np.ndarray], margin: float = MASK_MARGIN) -> np.ndarray:
    """A copy of the frame with a grey shape (MASK_SHAPE) over each pose: the detector then finds somebody else."""
    if not poses:
        return frame_bgr
    out = frame_bgr.copy()
    height, width = out.shape[:2]
    for pose in poses:
        if MASK_SHAPE == "hull":
            xy = pose[:, :2] * np.array([width, height])
            centre = (xy.min(axis=0) + xy.max(axis=0)) / 2
            hull = cv2.convexHull(((xy - centre) * (1 + 2 * margin) + centre).astype(np.int32))
            cv2.fillConvexPoly(out, hull, (128, 128, 128))
            continue
        x0, y0, x1, y1 = pose_box(pose, width, height, margin)
        out[y0:y1, x0:x1] = 128
    return out


def _square_crop(frame_bgr: np.ndarray, pose: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]] | None:
    """The square around a pose's last position (CROP_SCALE times its longer side; grey beyond the
    frame, so a person cut off by the frame edge is whole in the crop) and (x0, y0, side) in pixels."""
    height, width = frame_bgr.shape[:2]
    xs, ys = pose[:, 0] * width, pose[:, 1] * height
    half = CROP_SCALE / 2 * max(float(np.ptp(xs)), float(np.ptp(ys)))
    if not np.isfinite(half) or half < 8:
        return None
    return _square(frame_bgr, float(xs.min() + xs.max()) / 2, float(ys.min() + ys.max()) / 2,
                   min(half, 2.0 * max(width, height)))


def _square(frame_bgr: np.ndarray, cx: float, cy: float, half: float) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The square of side 2 * half centred on (cx, cy) pixels, grey beyond the frame, and (x0, y0, side)."""
    height, width = frame_bgr.shape[:2]
    x0, y0 = int(round(cx - half)), int(round(cy - half))
    side = int(round(2 * half))
    top, bottom, left, right = max(0, -y0), max(0, y0 + side - height), max(0, -x0), max(0, x0 + side - width)
    padded = (cv2.copyMakeBorder(frame_bgr, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(128, 128, 128))
              if top or bottom or left or right else frame_bgr)
    top, left = y0 + top, x0 + left
    return np.ascontiguousarray(padded[top:top + side, left:left + side]), (float(x0), float(y0), float(side))


def _from_crop(pose: np.ndarray, placement: tuple[float, float, float], width: int, height: int) -> np.ndarray:
    """A pose found in a square crop, in the whole frame's normalized coordinates (z scaled as x)."""
    x0, y0, side = placement
    out = pose.copy()
    out[:, 0] = (pose[:, 0] * side + x0) / width
    out[:, 1] = (pose[:, 1] * side + y0) / height
    out[:, 2] = pose[:, 2] * side / width
    return out


@dataclass
class _Candidate:
    """A person the finder follows besides the one-pose landmarker's: last pose, frames found in a row."""

    pose: np.ndarray
    row: int
    ident: int
    hits: int = 1

    @property
    def confirmed(self) -> bool:
        return self.hits >= FINDER_CONFIRM


class PeopleFinder:
    """Up to `max_people` poses a frame, at close to the cost of one where one person is seen.

    MediaPipe's VIDEO-mode landmarker, once it tracks a person, stops looking for others (and
    asked for N poses with one person in view, it runs its detector on every frame: twice the
    cost). So the finder runs:

    - a num_poses=1 VIDEO landmarker on every frame: exactly what --max-people 1 runs (the same
      poses, where nobody else is found);
    - every `scout_every`-th frame a scout: an IMAGE-mode landmarker on the frame with a grey
      shape over the person already found (MASK_SHAPE, grown by MASK_MARGIN), again until nobody
      more is found or max_people are; at min_detection_confidence while nobody else is about
      (cheap: the detector alone), at the low FINDER_CONFIDENCE once somebody is;
    - for each other person found: on the following frames, the IMAGE landmarker on a square
      crop around their last pose (others masked; grey beyond the frame edge), which finds a
      person the whole-frame detector misses (small, cut off, overlapping); while a person found
      so far is missing, the masked whole-frame search runs on every frame; and while the
      VIDEO landmarker has lost its person, a crop around that person's last pose.

    A person found at low confidence counts only once found FINDER_CONFIRM frames in a row at a
    consistent place (within FOLLOW_STEP torsos of the last pose, its torso size kept): noise is
    not followed. A person unseen for `hold` frames is dropped; with nobody besides the VIDEO
    landmarker's person, only the scout runs.
    `scout_every=0` is the finder before this one: a num_poses=max_people VIDEO landmarker on
    every frame (the config of folders made with it). The extraction's values are
    `extraction.settings.SCOUT_EVERY` and `SCOUT_HOLD` above.
    """

    def __init__(self, model_path: str | os.PathLike, *, max_people: int, scout_every: int, hold: int,
                 aspect: float = 4 / 3, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, finder_confidence: float | None = None) -> None:
        self.max_people, self.scout_every, self.hold, self.aspect = int(max_people), int(scout_every), int(hold), aspect
        self.scouting = self.scout_every > 0 and self.max_people > 1
        video_poses = 1 if self.scouting else self.max_people
        self._video = _landmarker(model_path, video_poses, True, min_detection_confidence, min_tracking_confidence)
        finder_confidence = FINDER_CONFIDENCE if finder_confidence is None else finder_confidence
        # made when first needed: on a clip where nobody else is found it never is (one landmarker less to build)
        self._image = None
        self._make_image = functools.partial(_landmarker, model_path, 1, False, finder_confidence, finder_confidence,
                                             finder_confidence) if self.scouting else None
        # Alone, the scout searches at the VIDEO landmarker's confidence: at the low one its detector
        # finds something in most frames and the landmark model runs (measured 1.5x a tracked frame's
        # cost, against 1.1x); once somebody else is about, every search is at the low confidence.
        self._scout = (_landmarker(model_path, 1, False, min_detection_confidence, min_tracking_confidence,
                                   min_detection_confidence)
                       if self.scouting and min_detection_confidence > finder_confidence else None)
        self._row = 0
        self._others: list[_Candidate] = []
        self._last: np.ndarray | None = None  # the VIDEO landmarker's pose in the previous frame
        self._idents = 0
        self._video_ident = -1
        # Who each pose of the last detect_all is to the finder: the same number in two frames is
        # the same person followed (by the VIDEO landmarker or a crop); for tracking.Tracker's hints.
        self.idents: list[int] = []
        self.searches = 0  # IMAGE-mode landmarker calls (whole frame or crop): the finder's extra cost

    def detect_all(self, frame_bgr: np.ndarray, timestamp_ms: int) -> list[np.ndarray]:
        """Every pose found in this frame (up to max_people), each (33, 8) float32; the VIDEO
        landmarker's pose first."""
        row = self._row
        self._row += 1
        people = _poses(self._video.detect_for_video(_mp_image(frame_bgr), int(timestamp_ms)))
        if not self.scouting:
            self.idents = [-1] * len(people)
            return people
        if not people and self._last is not None and any(c.confirmed for c in self._others):
            # the VIDEO landmarker lost its person while somebody else is about: follow them by crops
            self._others.insert(0, _Candidate(self._last, row - 1, self._video_ident, FINDER_CONFIRM))
        if people and self._last is None:
            self._video_ident = self._new_ident()  # found anew: perhaps somebody else
        self._last = people[0] if people else None
        taken = list(people)
        kept = []
        for candidate in self._others:
            if self._same(candidate.pose, taken):
                continue  # found already: the VIDEO landmarker's person again, or a duplicate
            found = self._in_crop(frame_bgr, candidate.pose, taken)
            if found is not None:
                candidate.pose, candidate.row, candidate.hits = found, row, candidate.hits + 1
                taken.append(found)
            if candidate.row == row or (candidate.confirmed and row - candidate.row <= self.hold):
                kept.append(candidate)  # a candidate not found again is noise; a confirmed person waits `hold` frames
        missing = any(c.row != row for c in kept)  # a confirmed person not found this frame
        self._others = kept
        if row % self.scout_every == 0 or missing or (kept and len(taken) < self.max_people):
            for pose in self._search(frame_bgr, taken, self._scout if self._scout is not None and not kept
                                     else self._image_landmarker()):
                taken.append(pose)
                match = next((c for c in kept if c.row != row and self._same(pose, [c.pose])), None)
                if match is None:
                    self._others.append(_Candidate(pose, row, self._new_ident()))
                else:
                    match.pose, match.row, match.hits = pose, row, match.hits + 1
        shown = [c for c in self._others if c.row == row and c.confirmed][:self.max_people - len(people)]
        self.idents = [self._video_ident] * len(people) + [c.ident for c in shown]
        return people + [c.pose for c in shown]

    def _new_ident(self) -> int:
        self._idents += 1
        return self._idents

    def _same(self, pose: np.ndarray, others: list[np.ndarray], within: float = 0.5) -> bool:
        """Whether a pose is one of `others` found again: its torso centre within `within` torsos of theirs."""
        from pose_action.extraction.tracking import body_geometry

        centre, size, _ = body_geometry(pose, self.aspect)
        for other in others:
            other_centre, other_size, _ = body_geometry(other, self.aspect)
            if float(np.linalg.norm(centre - other_centre)) < within * max(size, other_size):
                return True
        return False

    def _follows(self, pose: np.ndarray, last: np.ndarray) -> bool:
        """Whether a pose found in a crop continues the person last seen as `last`: its torso centre
        within FOLLOW_STEP torsos, its torso no more than 1.5 times larger or smaller (tracking's gate)."""
        from pose_action.extraction.tracking import SCALE_GATE, SCALE_WEIGHT, body_geometry

        centre, size, _ = body_geometry(pose, self.aspect)
        last_centre, last_size, _ = body_geometry(last, self.aspect)
        return (float(np.linalg.norm(centre - last_centre)) < FOLLOW_STEP * max(size, last_size)
                and SCALE_WEIGHT * abs(math.log(size / last_size)) <= SCALE_GATE)

    def _in_crop(self, frame_bgr: np.ndarray, last: np.ndarray, taken: list[np.ndarray]) -> np.ndarray | None:
        """The person whose last pose was `last`, found in a crop around it (the others masked), or None."""
        if self._same(last, taken):
            return None  # found already (by the VIDEO landmarker or another crop)
        crop = _square_crop(masked(frame_bgr, taken), last)
        if crop is None:
            return None
        self.searches += 1
        poses = _poses(self._image_landmarker().detect(_mp_image(crop[0])))
        if not poses:
            return None
        height, width = frame_bgr.shape[:2]
        pose = _from_crop(poses[0], crop[1], width, height)
        return None if self._same(pose, taken) or not self._follows(pose, last) else pose

    def _search(self, frame_bgr: np.ndarray, taken: list[np.ndarray], landmarker) -> list[np.ndarray]:
        """People in the whole frame besides `taken`: detect, paint a grey box over them, detect again."""
        if landmarker is None:
            raise RuntimeError("PeopleFinder is closed or does not scout")
        found: list[np.ndarray] = []
        while len(taken) + len(found) < self.max_people:
            self.searches += 1
            poses = _poses(landmarker.detect(_mp_image(masked(frame_bgr, taken + found))))
            if not poses or self._same(poses[0], taken + found):
                break
            found.append(poses[0])
        return found

    def _image_landmarker(self):
        """The low-confidence IMAGE-mode landmarker, made at the first call."""
        if self._image is None:
            if self._make_image is None:
                raise RuntimeError("PeopleFinder is closed or does not scout")
            self._image = self._make_image()
        return self._image

    def close(self) -> None:
        for landmarker in {id(each): each for each in (self._video, self._image, self._scout)}.values():
            if landmarker is not None:
                with native_stderr_quieted():  # LiteRT's "INFO: ... DestroyAccelerator"
                    landmarker.close()
        self._video = self._image = self._scout = self._make_image = None

    def __enter__(self) -> PeopleFinder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
