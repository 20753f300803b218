"""One video's extraction job: landmarks, thumbnails (and embeddings) and its manifest row.

`process_video` is a plain top-level function that loads what it needs itself, writes every
output atomically and never raises for a bad video, so any executor can run it: the local
worker processes (`pool`) or Dask workers (`dask`). `ExtractSettings` is everything a job
depends on; its `config()` is what FEATURES/extract_config.json records.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import json
import logging
import os
import platform
import queue
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pose_action import __version__
from pose_action.catalog import BACKBONES
from pose_action.errors import InputError
from pose_action.extraction.discovery import VideoItem
from pose_action.layout import FeaturesLayout

# OpenCV, NumPy, pandas and MediaPipe are imported where they are used, not here: the
# command spawns its workers first, and their imports then overlap the parent's (about a
# second of start-up saved per run; see pool.WorkerPool).
if TYPE_CHECKING:
    from pose_action.video import VideoInfo

log = logging.getLogger(__name__)
Entry = TypeVar("Entry")  # one item of the iterator `prefetched` reads ahead

EXTRACTOR_VERSION = 1  # bump when the outputs change for the same settings
MAX_PEOPLE = 10  # each pose costs a landmark pass per frame; a crowd beyond this is not an action's actors
# --max-people N > 1 (extraction.pose.PeopleFinder): look for more people every SCOUT_EVERY processed
# frames while one is tracked; track N from then on until SCOUT_HOLD frames in a row show at most one.
SCOUT_EVERY = 8  # measured: README "Several people: the cost"
# = tracking.DEFAULT_MAX_GAP: a second person hidden for a moment is found again before their track ends
SCOUT_HOLD = 12
MAX_THUMB_SIZE = 1024  # thumbnails are scene context (64 px by default); a huge size only exhausts memory
# Test hook: a worker whose video's file name contains this text crashes in native code.
CRASH_TEST_ENV = "POSE_ACTION_TEST_CRASH_ON"

# ----------------------------------------------------------------------------- settings


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
    thumb_size: int = 64
    thumb_frames: int = 64
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
            "scout_every": self.scout_every, "scout_hold": SCOUT_HOLD,
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
                     "min_tracking_confidence": self.min_tracking_confidence},
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
                  stride: int | None = None, thumb_size: int = 64, thumb_frames: int = 64,
                  embed: str | None = None, embed_weights: str = "imagenet", max_people: int = 1,
                  motion: bool = False, scout_every: int = SCOUT_EVERY) -> ExtractSettings:
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
        embedder = _load_embedder(embed, embed_weights)
        input_size, dim = int(embedder.input_size), int(embedder.dim)
    return ExtractSettings(
        model_path=model_path, model_name=pose_model if pose_model in POSE_MODELS
        else model_path.name, model_sha256=file_sha256(model_path), target_fps=target_fps,
        stride=stride, thumb_size=thumb_size, thumb_frames=thumb_frames, embed=embed,
        embed_weights=embed_weights, embed_weights_sha256=weights_sha,
        embed_input_size=input_size, embed_dim=dim, max_people=max_people, motion=motion,
        scout_every=scout_every)


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version(), "pose_action": __version__}
    for package in ("mediapipe", "opencv-contrib-python", "numpy", "pandas"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


# ----------------------------------------------------------------------------- one video


@functools.cache
def _load_embedder(backbone: str, weights: str):
    """One Embedder per worker process: building a CNN costs seconds, a video far less."""
    from pose_action.extraction.embeddings import Embedder  # imports TensorFlow: only with --embed

    return Embedder(backbone, weights)


def _crash_if_asked(path: Path) -> None:
    """Test hook: crash this worker in native code (a real segfault) on a chosen file."""
    marker = os.environ.get(CRASH_TEST_ENV)
    if marker and marker in path.name:
        ctypes.string_at(0)


def _problem(error: Exception, path: Path) -> str:
    """The message without the path prefix (the manifest row already names the video)."""
    return str(error).removeprefix(f"{path}: ")


def new_row(item: VideoItem, settings: ExtractSettings) -> dict:
    return {"video": str(item.path), "label": item.label, "group": item.group, "key": item.key,
            "status": "failed", "frames_total": 0, "frames_processed": 0, "frames_with_pose": 0,
            "fps": "", "width": "", "height": "", "seconds": "", "error": "",
            "config_id": settings.config_id, "stride": "", "note": "", "group_from": item.group_from,
            "tracks": "", "switches_repaired": ""}


def process_video(item: VideoItem, out_root: Path, settings: ExtractSettings) -> dict:
    """Extract one video's outputs (atomically) and return its manifest row.

    Never raises for a bad video: the row says `failed` and why. A plain top-level function
    that loads what it needs itself, so any executor (processes, Dask) can run it.
    """
    _crash_if_asked(item.path)
    row = new_row(item, settings)
    try:
        if settings.motion_only:
            _motion_into(row, item, Path(out_root), settings)
        else:
            _extract_into(row, item, Path(out_root), settings)
    except InputError as error:
        row.update(status="failed", error=_problem(error, item.path))
    except Exception as error:  # a bad video must cost only itself
        log.debug("failed on %s", item.path, exc_info=True)
        row.update(status="failed", error=f"{type(error).__name__}: {_problem(error, item.path)}")
    finally:
        _return_freed_memory()
    return row


def _return_freed_memory() -> None:
    """Give freed heap back to the OS (glibc). Without this a worker's RSS creeps up by
    ~2 MB per video (each landmarker's buffers fragment the heap), so it would grow with
    the number of videos; measured flat with it (scripts/bench_extract.py)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def _extract_into(row: dict, item: VideoItem, out_root: Path, settings: ExtractSettings) -> None:
    import numpy as np

    from pose_action.extraction.appearance import FrameSampler, write_embeddings, write_thumbnails
    from pose_action.extraction.motion import MotionEncoder, write_motion
    from pose_action.extraction.pose import PeopleFinder, PoseEstimator
    from pose_action.landmarks import LandmarkSequence, write_csv
    from pose_action.video import probe, read_frames, stride_for

    info = probe(item.path)
    stride = stride_for(info.fps, settings.target_fps, settings.stride)
    row.update(fps=round(info.fps, 3), width=info.width, height=info.height, stride=stride)
    embedder = _load_embedder(settings.embed, settings.embed_weights) if settings.embed else None
    sampler = FrameSampler(settings.thumb_frames,
                           [settings.thumb_size] + ([embedder.input_size] if embedder else []))
    encoder = MotionEncoder() if settings.motion else None
    motion: list = []

    def beside_pose(entry: tuple[int, int, np.ndarray]) -> None:
        sampler.offer(entry[0], entry[2])
        if encoder is not None:
            motion.append(encoder.encode(entry[2]))

    frames: list[tuple[int, int, np.ndarray | None]] = []
    people: list[list] = []  # every pose of each processed frame (--max-people > 1)
    hints: list[list[int]] = []  # the people finder's number of each (tracking.Tracker)
    estimator: PoseEstimator | PeopleFinder
    if settings.max_people <= 1:
        estimator = PoseEstimator(settings.model_path, min_detection_confidence=settings.min_detection_confidence,
                                  min_tracking_confidence=settings.min_tracking_confidence)
    else:
        estimator = PeopleFinder(settings.model_path, max_people=settings.max_people, scout_every=settings.scout_every,
                                 hold=SCOUT_HOLD, aspect=info.width / info.height,
                                 min_detection_confidence=settings.min_detection_confidence,
                                 min_tracking_confidence=settings.min_tracking_confidence)
    with estimator:
        decoded = read_frames(item.path, stride, info)
        # Thumbnails (and motion) are made in the decoding thread, beside pose detection in this one.
        for index, timestamp, frame in prefetched(decoded, also=beside_pose):
            if isinstance(estimator, PeopleFinder):  # settings.max_people > 1
                people.append(estimator.detect_all(frame, timestamp))
                hints.append(estimator.idents)
                frames.append((index, timestamp, None))
            else:
                frames.append((index, timestamp, estimator.detect(frame, timestamp)))
    if not frames:
        raise InputError(f"{item.path}: no frame could be decoded (damaged or unsupported codec)")
    if settings.max_people > 1:
        frames = _track_people(row, item, out_root, frames, people, info.width / info.height, hints)
    sequence = LandmarkSequence.from_frames(frames, fps=info.fps, width=info.width,
                                            height=info.height)
    sampled = sampler.result()
    files = FeaturesLayout(out_root).clip_files(item.key, settings.embed, settings.motion)
    write_thumbnails(files.thumbnails, sampled.images[settings.thumb_size], sampled.frame_index)
    if files.motion is not None:
        write_motion(files.motion, np.stack(motion), np.array([frame[0] for frame in frames]))
    if embedder is not None:
        vectors = embedder.embed(sampled.images[embedder.input_size])
        assert files.embeddings is not None  # clip_files names it whenever settings.embed is set
        write_embeddings(files.embeddings, vectors, sampled.frame_index)
    write_csv(files.landmarks, sequence)  # last: the CSV is what a reader looks for first

    frames_total, notes = _frame_total_and_notes(info, frames[-1][0], stride)
    notes += _timing_and_size_notes(info, frames)
    with_pose = int(sequence.detected.sum())
    if not with_pose:
        notes.insert(0, "no person detected in any processed frame")
    row.update(status="ok" if with_pose else "no_pose", frames_total=frames_total,
               frames_processed=len(sequence), frames_with_pose=with_pose,
               seconds=round(frames_total / info.fps, 3), note="; ".join(notes))


def _track_people(row: dict, item: VideoItem, out_root: Path, frames: list, people: list[list],
                  aspect: float, hints: list[list[int]] | None = None) -> list:
    """Link the poses into tracks, write the people file and return the frames with the main
    actor's pose (the landmark CSV's rows); the manifest row gets the track counts."""
    import numpy as np

    from pose_action.extraction.tracking import link_tracks
    from pose_action.people import people_table, write_people

    tracking = link_tracks(people, aspect, hints=hints)
    main = tracking.person(people, 0)
    table = people_table(np.array([index for index, _, _ in frames]), people, tracking.track_ids)
    write_people(FeaturesLayout(out_root).people(item.key), table)
    row.update(tracks=tracking.tracks, switches_repaired=tracking.switches_repaired)
    return [(index, timestamp, pose) for (index, timestamp, _), pose in zip(frames, main)]


def _motion_into(row: dict, item: VideoItem, out_root: Path, settings: ExtractSettings) -> None:
    """Only the motion file of a video already extracted without it: decode again, no pose, nothing else rewritten.

    The frames are the ones the full job processes (same stride), so the vectors equal a full run's.
    """
    import numpy as np

    from pose_action.extraction.motion import MotionEncoder, write_motion
    from pose_action.video import probe, read_frames, stride_for

    info = probe(item.path)
    stride = stride_for(info.fps, settings.target_fps, settings.stride)
    encoder = MotionEncoder()
    frame_index, vectors = [], []
    for index, _, frame in read_frames(item.path, stride, info):
        frame_index.append(index)
        vectors.append(encoder.encode(frame))
    if not vectors:
        raise InputError(f"{item.path}: no frame could be decoded (damaged or unsupported codec)")
    write_motion(FeaturesLayout(out_root).motion(item.key), np.stack(vectors), np.array(frame_index))
    row.update(status="ok", frames_processed=len(vectors), stride=stride)


def prefetched(frames: Iterator[Entry], depth: int = 4,
               also: Callable[[Entry], None] | None = None) -> Iterator[Entry]:
    """Decode ahead in a thread while the caller runs pose detection.

    OpenCV's decoder and MediaPipe's graph both release the GIL, so with a spare core the
    decoding of the next frames (and `also(entry)`, called in that thread for every entry
    in order) is hidden behind detection of this one. At most `depth` frames wait in
    memory; an error in decoding or in `also` is raised in the caller.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item: object) -> bool:
        """Queue `item` unless the consumer has stopped; whether it was queued."""
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        outcome: object = end
        try:
            for entry in frames:
                if also is not None:
                    also(entry)
                if not put(entry):
                    break
        except BaseException as error:  # handed to the consumer, raised there
            outcome = error
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()  # releases the capture even when the consumer stopped early
        put(outcome)

    thread = threading.Thread(target=produce, name="decode", daemon=True)
    thread.start()
    try:
        while True:
            entry = buffer.get()
            if entry is end:
                return
            if isinstance(entry, BaseException):
                raise entry
            yield entry
    finally:
        stop.set()
        thread.join()


def _timing_and_size_notes(info: VideoInfo, frames: Sequence[tuple[int, int, object]]) -> list[str]:
    """Notes on a variable frame rate (timestamps from the container) and on frames scaled down for processing."""
    from pose_action.video import MAX_FRAME_SIDE, timestamp_ms

    notes = []
    step = 1000.0 / info.fps
    if any(abs(stamp - timestamp_ms(index, info.fps)) > step for index, stamp, _ in frames):
        notes.append("variable frame rate: timestamp_ms from the container, not frame / fps")
    if max(info.width, info.height) > MAX_FRAME_SIDE:
        notes.append(f"{info.width}x{info.height} frames processed scaled down to {MAX_FRAME_SIDE} px")
    return notes


def _frame_total_and_notes(info: VideoInfo, last_index: int, stride: int) -> tuple[int, list[str]]:
    """Frames in the video: the container's count when decoding reached its end, else the
    frames that decoded (a truncated file keeps the frames before the damage)."""
    from pose_action.video import DEFAULT_FPS

    notes = []
    if not info.fps_known:
        notes.append(f"no usable frame rate in the container; timestamps assume {DEFAULT_FPS:g} fps")
    decoded = last_index + 1
    if info.frame_count and last_index + stride < info.frame_count - 1:
        notes.append(f"decoding stopped after frame {last_index} of the {info.frame_count} the "
                     f"container lists (truncated or damaged file); kept the frames before")
        return decoded, notes
    return max(info.frame_count, decoded), notes

