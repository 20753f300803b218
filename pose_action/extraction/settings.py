"""What an extraction depends on: `ExtractSettings` (its `config()` is FEATURES/extract_config.json),
`make_settings` that checks every option up front, and the constants extraction and inference share.

Free of NumPy, OpenCV and MediaPipe at import: the extract command starts its workers first,
and their start-up then overlaps the parent's (see pool.WorkerPool).
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
from dataclasses import dataclass
from pathlib import Path

from pose_action import __version__
from pose_action.catalog import BACKBONES
from pose_action.errors import InputError

EXTRACTOR_VERSION = 1  # bump when the outputs change for the same settings
MAX_PEOPLE = 10  # each pose costs a landmark pass per frame; a crowd beyond this is not an action's actors
# --max-people N > 1 (extraction.pose.PeopleFinder): look for more people every SCOUT_EVERY processed
# frames while one is tracked; track N from then on until pose.SCOUT_HOLD frames in a row show at most one.
SCOUT_EVERY = 8  # measured: README "Several people: the cost"
THUMB_SIZE = 64  # side of the square thumbnails (--thumb-size; FeatureConfig.thumb_size)
THUMB_FRAMES = 64  # thumbnails kept per clip (--thumb-frames)
MAX_THUMB_SIZE = 1024  # thumbnails are scene context (THUMB_SIZE px by default); a huge size only exhausts memory


def check_max_people(max_people: int) -> None:
    """`--max-people N` within 1..MAX_PEOPLE: extract, predict and live share the bound."""
    if not 1 <= max_people <= MAX_PEOPLE:
        raise InputError(f"--max-people must be between 1 and {MAX_PEOPLE}, got {max_people}")


@dataclass(frozen=True)
class ExtractSettings:
    """Everything a worker needs to process a video; picklable, and its config() is what
    the outputs depend on (so two runs with equal configs make identical files)."""

    model_path: Path
    model_name: str = "lite"  # as given: lite | full | heavy | a path
    model_sha256: str = ""
    target_fps: float | None = None  # --fps: process about this many frames per second
    stride: int | None = None  # --stride: process every stride-th frame
    thumb_size: int = THUMB_SIZE
    thumb_frames: int = THUMB_FRAMES
    embed: str | None = None  # backbone name, or None: no embeddings
    embed_weights: str = "imagenet"  # imagenet | none | a weights file
    embed_weights_sha256: str | None = None
    embed_input_size: int | None = None  # the backbone's square input, as the Embedder says
    embed_dim: int | None = None
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    max_people: int = 1  # --max-people: poses asked of the landmarker; above 1, people are tracked
    scout_every: int = SCOUT_EVERY  # --scout-every: with max_people > 1 (extraction.pose.PeopleFinder); 0: no scout
    motion: bool = False  # --motion: optical-flow vectors of every processed frame
    zoom: bool = True  # --no-zoom turns it off: a second look in a crop where nobody was found (pose.PoseEstimator)
    exposure: bool = True  # --no-exposure turns it off: underexposed frames stretched for the landmarker
    # Not a setting of the outputs (not in config()): this job only adds the motion file of a
    # video already extracted with the same settings without motion (no pose, CSV untouched).
    motion_only: bool = False

    def config(self) -> dict:
        """The settings that shape the outputs (no paths: the model is named by its hash).

        With one person (the default) there is no "people" entry, and "motion" appears only
        with --motion, so the config (and its id) of a folder made before either existed is
        unchanged and old folders resume.
        """
        return self.base_config() | ({"motion": _motion_config()} if self.motion else {})

    def base_config(self) -> dict:
        """config() without motion: a folder made with these settings can gain motion files alone."""
        from pose_action.extraction import pose  # the finder's values: one place
        from pose_action.extraction.tracking import DEFAULT_MAX_GAP  # NumPy: imported after the workers started

        # Without the scout the entry is the one of folders made before it existed (same outputs, same id).
        scout = {} if self.scout_every <= 0 else {
            "scout_every": self.scout_every, "scout_hold": pose.SCOUT_HOLD,
            "search": "num_poses=1 VIDEO landmarker every frame; a num_poses=1 IMAGE landmarker on the frame "
                      "with the people found masked (grey shape), again until none more, every scout_every-th "
                      "frame (at min_detection_confidence while nobody else is about, else at the finder's) "
                      "and every frame while a person found is missing; on a square crop around each "
                      "other person's last pose on every frame; a person counts once found confirm frames "
                      "in a row; dropped after scout_hold frames unseen; their numbers are tracking hints",
            "finder": {"min_detection_confidence": pose.FINDER_CONFIDENCE,
                       "min_presence_confidence": pose.FINDER_CONFIDENCE, "confirm": pose.FINDER_CONFIRM,
                       "mask": pose.MASK_SHAPE, "mask_margin": pose.MASK_MARGIN, "crop_scale": pose.CROP_SCALE,
                       "follow_step": pose.FOLLOW_STEP}}
        # Without the zoom and the exposure (--no-zoom --no-exposure) the entry is the one of folders
        # made before they existed.
        zoom = {} if not self.zoom or self.max_people > 1 else {"zoom": {
            "search": "where the VIDEO landmarker finds nobody, a num_poses=1 IMAGE landmarker (at "
                      "min_detection_confidence) on a square crop around the last pose for hold frames after "
                      "it was lost, else around where the frame differs from its running background "
                      "(grey, about grey_width px wide); the crop's side is scale times the region's "
                      "longer side, at least min_share of the frame's shorter side; none where the region "
                      "is wider than whole_share of it",
            "scale": pose.ZOOM_SCALE, "min_share": pose.ZOOM_MIN, "hold": pose.ZOOM_HOLD,
            "whole_share": pose.ZOOM_WHOLE, "grey_width": pose.GREY_WIDTH}}
        exposure = {} if not self.exposure or self.max_people > 1 else {"exposure": {
            "stretch": "where the 99th percentile of the frame's grey (about grey_width px wide) is below "
                       "dim, the landmarker sees the frame stretched from its 1st to 99th percentile to 0-255",
            "dim": pose.EXPOSURE_DIM, "grey_width": pose.GREY_WIDTH}}
        people = {} if self.max_people <= 1 else {"people": {
            "max_people": self.max_people, "tracking": "extraction.tracking (linear_sum_assignment)",
            "max_gap": DEFAULT_MAX_GAP, "main_actor": "highest track score", "file": "people/<Class>/<clip>.csv",
            **scout}}
        return {
            "extractor_version": EXTRACTOR_VERSION,
            "pose_model": {"name": self.model_name, "file": self.model_path.name,
                           "sha256": self.model_sha256},
            "pose": {"running_mode": "VIDEO", "landmarker": "one per video",
                     "min_detection_confidence": self.min_detection_confidence,
                     "min_tracking_confidence": self.min_tracking_confidence, **zoom, **exposure},
            "sampling": {"fps": self.target_fps, "stride": self.stride},
            "thumbnails": {"size": self.thumb_size, "frames": self.thumb_frames,
                           "resize": "whole frame squashed to a square, INTER_AREA, RGB",
                           "choice": "uniform over the processed frames"},
            "embeddings": None if self.embed is None else {
                "backbone": self.embed, "weights": self.embed_weights,
                "weights_sha256": self.embed_weights_sha256, "input_size": self.embed_input_size,
                "dim": self.embed_dim, "dtype": "float16"},
            **people,
        }

    @property
    def config_id(self) -> str:
        return _config_id(self.config())

    @property
    def base_config_id(self) -> str:
        """The config_id of these settings without motion."""
        return _config_id(self.base_config())


def _config_id(config: dict) -> str:
    text = json.dumps(config, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _motion_config() -> dict:
    from pose_action.extraction.motion import motion_config  # OpenCV: imported where used (see above)

    return motion_config()


def make_settings(pose_model: str = "lite", *, target_fps: float | None = None,
                  stride: int | None = None, thumb_size: int = THUMB_SIZE, thumb_frames: int = THUMB_FRAMES,
                  embed: str | None = None, embed_weights: str = "imagenet", max_people: int = 1,
                  motion: bool = False, scout_every: int = SCOUT_EVERY,
                  zoom: bool = ExtractSettings.zoom, exposure: bool = ExtractSettings.exposure) -> ExtractSettings:
    """Resolve the pose model (and weights file) and check every option up front, so a bad
    option stops the run with one line before any video is touched."""
    from pose_action.extraction.pose import POSE_MODELS, file_sha256, resolve_model
    from pose_action.video import stride_for

    stride_for(25.0, target_fps, stride)  # raises InputError for bad --fps/--stride
    if not 8 <= thumb_size <= MAX_THUMB_SIZE:
        raise InputError(f"--thumb-size must be between 8 and {MAX_THUMB_SIZE} pixels, got {thumb_size}")
    check_max_people(max_people)
    if scout_every < 0:
        raise InputError(f"--scout-every must be 0 (no scout) or more, got {scout_every}")
    if thumb_frames < 1:
        raise InputError(f"--thumb-frames must be at least 1, got {thumb_frames}")
    if embed is not None and embed not in BACKBONES:
        raise InputError(f"--embed must be one of {', '.join(BACKBONES)}, got {embed!r}")
    weights_sha = None
    if embed is not None and embed_weights not in ("imagenet", "none"):
        weights_path = Path(embed_weights).expanduser()
        if not weights_path.is_file():
            raise InputError(f"{embed_weights}: embedding weights not found "
                             f"(use imagenet, none or a weights file)")
        embed_weights, weights_sha = str(weights_path.resolve()), file_sha256(weights_path)
    model_path = resolve_model(pose_model)
    input_size = dim = None
    if embed is not None:  # load it once here: a missing download is a usage error, not N failures
        embedder = load_embedder(embed, embed_weights)
        input_size, dim = int(embedder.input_size), int(embedder.dim)
    return ExtractSettings(
        model_path=model_path, model_name=pose_model if pose_model in POSE_MODELS
        else model_path.name, model_sha256=file_sha256(model_path), target_fps=target_fps,
        stride=stride, thumb_size=thumb_size, thumb_frames=thumb_frames, embed=embed,
        embed_weights=embed_weights, embed_weights_sha256=weights_sha,
        embed_input_size=input_size, embed_dim=dim, max_people=max_people, motion=motion,
        scout_every=scout_every, zoom=zoom, exposure=exposure)


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version(), "pose_action": __version__}
    for package in ("mediapipe", "opencv-contrib-python", "numpy", "pandas"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


@functools.cache
def load_embedder(backbone: str, weights: str):
    """One Embedder per worker process: building a CNN costs seconds, a video far less."""
    from pose_action.extraction.embeddings import Embedder  # imports TensorFlow: only with --embed

    return Embedder(backbone, weights)
