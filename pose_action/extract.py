"""Turn a folder of labelled videos into landmark CSVs, thumbnails and a manifest.

VIDEO_ROOT/<Class>/<clip>.avi (or a CSV list path,label[,group]) becomes
FEATURES/landmarks/<Class>/<clip>.csv (one row per processed frame),
FEATURES/frames/<Class>/<clip>.npz (thumbnails of frames spread over the clip),
FEATURES/manifest.csv (one row per video: ok, no_pose or failed, with the reason) and
FEATURES/extract_config.json (pose model and its SHA-256, sampling, thumbnails, versions).

Resumable: every output is written to a temp file and renamed, and a video's manifest row
is on disk before it counts as done, so a rerun after a crash or Ctrl-C skips finished
videos and redoes the rest (failed ones included). Parallel: one process per worker, each
video with a fresh PoseLandmarker (results never depend on which worker ran a video); a
worker that dies in native code costs only the video it was on. A bad file never stops
the run: it is recorded as failed and the exit code is 3.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import hashlib
import json
import logging
import multiprocessing
import os
import pickle
import platform
import queue
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from typing import TYPE_CHECKING

from pose_action import __version__
from pose_action.dataset import DEFAULT_GROUP_PATTERN, VideoItem, discover
from pose_action.errors import EXIT_OK, EXIT_PARTIAL, InputError
from pose_action.files import write_text_atomic
from pose_action.manifest import ManifestWriter, read_rows

# OpenCV, NumPy, pandas and MediaPipe are imported where they are used, not here: the
# command spawns its workers first, and their imports then overlap the parent's (about a
# second of start-up saved per run; see WorkerPool).
if TYPE_CHECKING:
    from pose_action.video import VideoInfo

log = logging.getLogger(__name__)

BACKBONES = ("mobilenet_v3_small", "mobilenet_v2", "efficientnet_b0")
EXTRACTOR_VERSION = 1  # bump when the outputs change for the same settings
CONFIG_FILE = "extract_config.json"
MANIFEST_FILE = "manifest.csv"
LOCK_FILE = ".extract.lock"
WORKER_LOG = "extract_workers.log"  # native (C++) messages of the worker processes
# Test hook: a worker whose video's file name contains this text crashes in native code.
CRASH_TEST_ENV = "POSE_ACTION_TEST_CRASH_ON"
OUTPUT_KINDS = ("landmarks", "frames", "embeddings")


# ----------------------------------------------------------------------------- settings


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

    def config(self) -> dict:
        """The settings that shape the outputs (no paths: the model is named by its hash)."""
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
        }

    @property
    def config_id(self) -> str:
        text = json.dumps(self.config(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def make_settings(pose_model: str = "lite", *, target_fps: float | None = None,
                  stride: int | None = None, thumb_size: int = 64, thumb_frames: int = 64,
                  embed: str | None = None, embed_weights: str = "imagenet") -> ExtractSettings:
    """Resolve the pose model (and weights file) and check every option up front, so a bad
    option stops the run with one line before any video is touched."""
    from pose_action.pose import MODEL_NAMES, file_sha256, resolve_model
    from pose_action.video import stride_for

    stride_for(25.0, target_fps, stride)  # raises InputError for bad --fps/--stride
    if thumb_size < 8:
        raise InputError(f"--thumb-size must be at least 8 pixels, got {thumb_size}")
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
        model_path=model_path, model_name=pose_model if pose_model in MODEL_NAMES
        else model_path.name, model_sha256=file_sha256(model_path), target_fps=target_fps,
        stride=stride, thumb_size=thumb_size, thumb_frames=thumb_frames, embed=embed,
        embed_weights=embed_weights, embed_weights_sha256=weights_sha,
        embed_input_size=input_size, embed_dim=dim)


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version(), "pose_action": __version__}
    for package in ("mediapipe", "opencv-contrib-python", "numpy", "pandas"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def output_paths(out_root: Path, key: str, settings: ExtractSettings) -> dict[str, Path]:
    """Where one video's outputs go: FEATURES/<kind>/<Class>/<clip>.<ext>."""
    paths = {"landmarks": out_root / "landmarks" / f"{key}.csv",
             "frames": out_root / "frames" / f"{key}.npz"}
    if settings.embed:
        paths["embeddings"] = out_root / "embeddings" / settings.embed / f"{key}.npz"
    return paths


# ----------------------------------------------------------------------------- one video


@functools.cache
def _load_embedder(backbone: str, weights: str):
    """One Embedder per worker process: building a CNN costs seconds, a video far less."""
    from pose_action.embeddings import Embedder  # imports TensorFlow: only with --embed

    return Embedder(backbone, weights)


def _crash_if_asked(path: Path) -> None:
    """Test hook: crash this worker in native code (a real segfault) on a chosen file."""
    marker = os.environ.get(CRASH_TEST_ENV)
    if marker and marker in path.name:
        ctypes.string_at(0)


def _problem(error: Exception, path: Path) -> str:
    """The message without the path prefix (the manifest row already names the video)."""
    return str(error).removeprefix(f"{path}: ")


def _new_row(item: VideoItem, settings: ExtractSettings) -> dict:
    return {"video": str(item.path), "label": item.label, "group": item.group, "key": item.key,
            "status": "failed", "frames_total": 0, "frames_processed": 0, "frames_with_pose": 0,
            "fps": "", "width": "", "height": "", "seconds": "", "error": "",
            "config_id": settings.config_id, "stride": "", "note": ""}


def process_video(item: VideoItem, out_root: Path, settings: ExtractSettings) -> dict:
    """Extract one video's outputs (atomically) and return its manifest row.

    Never raises for a bad video: the row says `failed` and why. A plain top-level function
    that loads what it needs itself, so any executor (processes, Dask) can run it.
    """
    _crash_if_asked(item.path)
    row = _new_row(item, settings)
    try:
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
    from pose_action.appearance import FrameSampler, write_embeddings, write_thumbnails
    from pose_action.landmarks import LandmarkSequence, write_csv
    from pose_action.pose import PoseEstimator
    from pose_action.video import probe, read_frames, stride_for

    info = probe(item.path)
    stride = stride_for(info.fps, settings.target_fps, settings.stride)
    row.update(fps=round(info.fps, 3), width=info.width, height=info.height, stride=stride)
    embedder = _load_embedder(settings.embed, settings.embed_weights) if settings.embed else None
    sampler = FrameSampler(settings.thumb_frames,
                           [settings.thumb_size] + ([embedder.input_size] if embedder else []))
    frames = []
    with PoseEstimator(settings.model_path,
                       min_detection_confidence=settings.min_detection_confidence,
                       min_tracking_confidence=settings.min_tracking_confidence) as estimator:
        decoded = read_frames(item.path, stride, info)
        # Thumbnails are made in the decoding thread, beside pose detection in this one.
        for index, timestamp, frame in prefetched(decoded, also=lambda e: sampler.offer(e[0], e[2])):
            frames.append((index, timestamp, estimator.detect(frame, timestamp)))
    if not frames:
        raise InputError(f"{item.path}: no frame could be decoded (damaged or unsupported codec)")
    sequence = LandmarkSequence.from_frames(frames, fps=info.fps, width=info.width,
                                            height=info.height)
    sampled = sampler.result()
    paths = output_paths(out_root, item.key, settings)
    write_thumbnails(paths["frames"], sampled.images[settings.thumb_size], sampled.frame_index)
    if embedder is not None:
        vectors = embedder.embed(sampled.images[embedder.input_size])
        write_embeddings(paths["embeddings"], vectors, sampled.frame_index)
    write_csv(paths["landmarks"], sequence)  # last: the CSV is what a reader looks for first

    frames_total, notes = _frame_total_and_notes(info, frames[-1][0], stride)
    with_pose = int(sequence.detected.sum())
    if not with_pose:
        notes.insert(0, "no person detected in any processed frame")
    row.update(status="ok" if with_pose else "no_pose", frames_total=frames_total,
               frames_processed=len(sequence), frames_with_pose=with_pose,
               seconds=round(frames_total / info.fps, 3), note="; ".join(notes))


def prefetched(frames: Iterator, depth: int = 4,
               also: Callable[[object], None] | None = None) -> Iterator:
    """Decode ahead in a thread while the caller runs pose detection.

    OpenCV's decoder and MediaPipe's graph both release the GIL, so with a spare core the
    decoding of the next frames (and `also(entry)`, called in that thread for every entry
    in order) is hidden behind detection of this one. At most `depth` frames wait in
    memory; an error in decoding or in `also` is raised in the caller.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        outcome: object = end
        try:
            for entry in frames:
                if also is not None:
                    also(entry)
                while not stop.is_set():
                    try:
                        buffer.put(entry, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as error:  # handed to the consumer, raised there
            outcome = error
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()  # releases the capture even when the consumer stopped early
        while not stop.is_set():
            try:
                buffer.put(outcome, timeout=0.1)
                return
            except queue.Full:
                continue

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


# ----------------------------------------------------------------------------- worker pool


def _die_with_parent() -> None:
    """Linux: a worker gets SIGKILL when the run's process dies, so no orphan keeps writing."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # it died before prctl took effect
        os._exit(1)


def _redirect_native_stderr(log_path: Path | None) -> None:
    """MediaPipe's C++ logging writes start-up chatter for every landmarker to stderr (no
    setting turns it off), which would bury the progress bar: send it to a log file."""
    with contextlib.suppress(OSError):
        descriptor = os.open(log_path or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(descriptor, 2)
        os.close(descriptor)


def _warm_up() -> None:
    """Import the heavy libraries and load MediaPipe's runtime (the first landmarker of a
    process costs ~0.4 s more than the next ones) while the parent is still starting."""
    with contextlib.suppress(Exception):  # only an optimization: the real work reports errors
        from pose_action.pose import PoseEstimator, vendored_lite_model

        PoseEstimator(vendored_lite_model()).close()


def _worker_main(connection) -> None:
    """Worker process: receive (video, FEATURES, settings), send back its row; None or a
    closed pipe ends it."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _redirect_native_stderr(None)
    _warm_up()
    log_path = None
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        item, out_root, settings = message
        if log_path != out_root / WORKER_LOG:
            log_path = out_root / WORKER_LOG
            _redirect_native_stderr(log_path)
        connection.send(process_video(item, out_root, settings))


def _describe_exit(exitcode: int | None) -> str:
    """Why a worker died, as a user can act on it."""
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            name = signal.Signals(-exitcode).name
            cause = {"SIGKILL": " (killed: out of memory?)", "SIGSEGV": " (a crash in native code: "
                     "decoder or pose model)", "SIGABRT": " (aborted in native code)"}.get(name, "")
            return f"crashed with {name}{cause}"
    return f"exited unexpectedly (exit code {exitcode})"


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    connection: object
    item: VideoItem | None = None


class WorkerPool:
    """Worker processes that run process_video, one video at a time each.

    Each worker gets its video through its own pipe, so the parent always knows which video
    a worker holds: if the worker dies (a segfault in native code, the OOM killer), that
    video is recorded `failed` and a fresh worker takes the next one. Processes are
    spawned, not forked (MediaPipe's threads do not survive a fork). Create the pool early:
    the workers import their libraries while the parent goes on.
    """

    def __init__(self, size: int) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._workers = [self._start() for _ in range(max(1, size))]

    def _start(self) -> _Worker:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(target=_worker_main, args=(child_end,), daemon=True,
                                        name="pose-action-extract")
        process.start()
        child_end.close()
        return _Worker(process, parent_end)

    def run(self, items: list[VideoItem], out_root: Path, settings: ExtractSettings,
            on_row: Callable[[dict], None]) -> None:
        """process_video over items; on_row gets every row (a dead worker's video: failed)."""
        pending = deque(items)
        for index in range(len(self._workers)):
            self._feed(index, pending, out_root, settings)
        while any(worker.item is not None for worker in self._workers):
            busy = [worker for worker in self._workers if worker.item is not None]
            wait([w.connection for w in busy] + [w.process.sentinel for w in busy])
            for index, worker in enumerate(self._workers):
                if worker.item is None:
                    continue
                row = _receive(worker)
                if row is not None:
                    on_row(row)
                    self._feed(index, pending, out_root, settings)
                elif not worker.process.is_alive():
                    on_row(_crashed_row(worker, settings))
                    worker.item = None
                    if pending:
                        self._replace(index)
                        self._feed(index, pending, out_root, settings)

    def _feed(self, index: int, pending: deque, out_root: Path, settings: ExtractSettings) -> None:
        """Give worker `index` the next video; a worker that cannot take it is replaced."""
        while pending:
            worker = self._workers[index]
            item = pending.popleft()
            try:
                worker.connection.send((item, out_root, settings))
            except (OSError, ValueError):  # it died between two videos
                pending.appendleft(item)
                self._replace(index)
                continue
            worker.item = item
            return
        self._workers[index].item = None

    def _replace(self, index: int) -> None:
        worker = self._workers[index]
        with contextlib.suppress(OSError):
            worker.connection.close()
        worker.process.join(timeout=5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        self._workers[index] = self._start()

    def close(self) -> None:
        """Stop the workers: idle ones finish cleanly, busy ones (Ctrl-C, error) are killed."""
        for worker in self._workers:
            with contextlib.suppress(OSError, ValueError):
                if worker.process.is_alive() and worker.item is None:
                    worker.connection.send(None)
        for worker in self._workers:
            worker.process.join(timeout=5 if worker.item is None else 0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            with contextlib.suppress(OSError):
                worker.connection.close()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_local(items: list[VideoItem], out_root: Path, settings: ExtractSettings, workers: int,
              on_row: Callable[[dict], None]) -> None:
    """The default runner of extract(): a WorkerPool of min(workers, videos) processes."""
    with WorkerPool(min(workers, len(items))) as pool:
        pool.run(items, out_root, settings, on_row)


def _receive(worker: _Worker) -> dict | None:
    """The worker's row if it has sent one, else None (still working, or dead)."""
    try:
        if worker.connection.poll():
            return worker.connection.recv()
    except (EOFError, OSError, ValueError, pickle.UnpicklingError):  # died mid-message
        pass
    return None


def _crashed_row(worker: _Worker, settings: ExtractSettings) -> dict:
    worker.process.join(timeout=5)
    row = _new_row(worker.item, settings)
    row["error"] = (f"the worker process {_describe_exit(worker.process.exitcode)} while "
                    f"extracting this video; its messages are in {WORKER_LOG}")
    log.debug("worker died on %s", worker.item.path)
    return row


# ----------------------------------------------------------------------------- the run


@dataclass
class ExtractReport:
    """What a run did: the rows of the videos it processed, and what it skipped or ignored."""

    rows: list[dict] = field(default_factory=list)  # this run's videos, in finishing order
    skipped: int = 0  # already done with the same settings
    ignored: int = 0  # hidden or non-video files in VIDEO_ROOT
    wall_seconds: float = 0.0
    features: Path | None = None

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row["status"] == status)

    @property
    def frames(self) -> int:
        return sum(int(row["frames_processed"] or 0) for row in self.rows)

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.count("failed") else EXIT_OK


@contextlib.contextmanager
def _exclusive(out_root: Path) -> Iterator[None]:
    """One run at a time per FEATURES folder (two would interleave the manifest)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; running twice is the user's call
        yield
        return
    with open(out_root / LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InputError(f"{out_root}: another `pose-action extract` is writing here") from None
        yield


def _check_config(out_root: Path, config: dict, overwrite: bool) -> None:
    """Refuse to mix two extraction configs in one FEATURES folder (unless --overwrite)."""
    path = out_root / CONFIG_FILE
    if overwrite or not path.is_file():
        return
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
        previous = {k: v for k, v in previous.items() if k in config}
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        previous = {}
    changed = [name for name in config if previous.get(name) != config[name]]
    if changed:
        raise InputError(
            f"{out_root}: holds features extracted with other settings (changed: "
            f"{', '.join(changed)}; see {CONFIG_FILE}); pass --overwrite to redo every video "
            f"with the new settings, or choose another --out")


def _remove_stale_temp_files(out_root: Path) -> None:
    """Temp files of writes a killed run never finished (hidden, so no reader takes them)."""
    for kind in OUTPUT_KINDS:
        for stale in (out_root / kind).rglob(".*.tmp*"):
            stale.unlink(missing_ok=True)
    for stale in out_root.glob(".*.tmp*"):
        stale.unlink(missing_ok=True)


def _is_done(row: dict | None, item: VideoItem, out_root: Path, settings: ExtractSettings) -> bool:
    if row is None or row.get("config_id") != settings.config_id:
        return False
    if row.get("status") not in ("ok", "no_pose"):
        return False  # failed videos are retried: the file may have been fixed
    return all(path.is_file() for path in output_paths(out_root, item.key, settings).values())


def _video_name(item: VideoItem, base: Path) -> str:
    """The video as the manifest names it: relative to VIDEO_ROOT (or the CSV list's folder)."""
    try:
        return item.path.relative_to(base).as_posix()
    except ValueError:
        return str(item.path)


def extract(video_root: str | os.PathLike, out_root: str | os.PathLike, settings: ExtractSettings,
            *, workers: int = 1, group_pattern: str = DEFAULT_GROUP_PATTERN,
            overwrite: bool = False, progress: bool = False,
            runner: Callable[..., None] = run_local) -> ExtractReport:
    """Extract every video under video_root into out_root; see the module docstring.

    `runner(items, out_root, settings, workers, on_row)` runs process_video over the items
    (default: local worker processes); the manifest is written as rows arrive.
    """
    started = time.perf_counter()
    video_root, out_root = Path(video_root), Path(out_root)
    discovery = discover(video_root, group_pattern)
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    base = video_root.parent if video_root.is_file() else video_root
    if out_root.exists() and not out_root.is_dir():
        raise InputError(f"{out_root}: exists and is not a folder")
    out_root.mkdir(parents=True, exist_ok=True)
    report = ExtractReport(ignored=discovery.ignored, features=out_root)
    with _exclusive(out_root):
        config = settings.config()
        _check_config(out_root, config, overwrite)
        _remove_stale_temp_files(out_root)
        (out_root / WORKER_LOG).write_text("")  # this run's messages only
        write_text_atomic(out_root / CONFIG_FILE, json.dumps(
            {"config_id": settings.config_id, **config, "versions": package_versions()}, indent=2))
        previous = {row["key"]: row for row in read_rows(out_root / MANIFEST_FILE)}
        by_key = {item.key: item for item in discovery.items}
        keep, todo = [], []
        for item in discovery.items:
            row = previous.get(item.key)
            if not overwrite and _is_done(row, item, out_root, settings):
                keep.append({**row, "video": _video_name(item, base), "label": item.label,
                             "group": item.group})
            else:
                todo.append(item)
        keep += [row for key, row in previous.items()
                 if key not in by_key and row.get("config_id") == settings.config_id]
        report.skipped = len(discovery.items) - len(todo)
        if report.skipped:
            log.info("%d of %d videos already extracted with these settings: skipped",
                     report.skipped, len(discovery.items))
        # Longest files first: the last video to finish is then a short one.
        todo.sort(key=lambda item: (-_size(item.path), item.key))
        with ManifestWriter(out_root / MANIFEST_FILE, keep) as writer:
            _run_with_progress(todo, out_root, settings, workers, writer, report, progress,
                               base, runner)
    report.wall_seconds = time.perf_counter() - started
    return report


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _run_with_progress(todo: list[VideoItem], out_root: Path, settings: ExtractSettings,
                       workers: int, writer: ManifestWriter, report: ExtractReport,
                       progress: bool, base: Path, runner: Callable[..., None]) -> None:
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    names = {item.key: _video_name(item, base) for item in todo}
    started = time.perf_counter()
    with tqdm(total=len(todo), desc="extract", unit="video", disable=not progress,
              dynamic_ncols=True) as bar, logging_redirect_tqdm():
        def on_row(row: dict) -> None:
            row["video"] = names.get(row["key"], row["video"])
            writer.append(row)
            report.rows.append(row)
            if row["status"] == "failed":
                log.warning("failed: %s: %s", row["video"], row["error"])
            elapsed = max(time.perf_counter() - started, 1e-9)
            bar.set_postfix(ok=report.count("ok"), no_pose=report.count("no_pose"),
                            failed=report.count("failed"),
                            frames_per_s=f"{report.frames / elapsed:.1f}", refresh=False)
            bar.update(1)

        if todo:
            runner(todo, out_root, settings, workers, on_row)


def format_summary(report: ExtractReport) -> str:
    """The table printed at the end of a run."""
    lines = [f"{'status':<10}{'videos':>8}{'frames':>10}"]
    for status in ("ok", "no_pose", "failed"):
        frames = sum(int(r["frames_processed"] or 0) for r in report.rows if r["status"] == status)
        lines.append(f"{status:<10}{report.count(status):>8}{frames:>10}")
    lines.append(f"{'skipped':<10}{report.skipped:>8}{'':>10}  (already done)")
    rate = report.frames / report.wall_seconds if report.wall_seconds else 0.0
    lines.append(f"{report.frames} frames in {report.wall_seconds:.1f} s ({rate:.1f} frames/s); "
                 f"{report.ignored} non-video or hidden files ignored")
    noted = sum(1 for row in report.rows if row.get("note") and row["status"] == "ok")
    if noted:
        lines.append(f"{noted} ok videos have a note (truncated file, no frame rate): see the manifest")
    if report.count("failed"):
        lines.append(f"failed videos are listed with the reason in {report.features / MANIFEST_FILE}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- command line


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video_root", metavar="VIDEO_ROOT", type=Path,
                        help="folder of <Class>/<clip> videos, or a CSV list path,label[,group]")
    parser.add_argument("--out", required=True, type=Path, metavar="FEATURES",
                        help="output folder (created; a rerun resumes)")
    parser.add_argument("--pose-model", default="lite", metavar="lite|full|heavy|PATH",
                        help="MediaPipe pose landmarker bundle (default: lite, shipped)")
    parser.add_argument("--workers", type=int, default=default_workers(), metavar="N",
                        help="worker processes (default: all cores, here %(default)s)")
    parser.add_argument("--scheduler", metavar="local|tcp://HOST:PORT",
                        help="run the videos on Dask: local starts a cluster here with --workers "
                             "processes; tcp://HOST:PORT uses a running `dask scheduler` whose "
                             "workers see VIDEO_ROOT and FEATURES at the same paths")
    parser.add_argument("--group-pattern", default=DEFAULT_GROUP_PATTERN, metavar="REGEX",
                        help="regex whose first group is a file's group/actor "
                             "(default: UCF50 %(default)r)")
    sampling = parser.add_mutually_exclusive_group()
    sampling.add_argument("--fps", type=float, dest="target_fps", metavar="F",
                          help="process about F frames per second (default: every frame)")
    sampling.add_argument("--stride", type=int, metavar="N", help="process every N-th frame")
    parser.add_argument("--thumb-size", type=int, default=64, metavar="S",
                        help="side of the square RGB thumbnails (default: %(default)s)")
    parser.add_argument("--thumb-frames", type=int, default=64, metavar="N",
                        help="thumbnails per clip, spread uniformly (default: %(default)s)")
    parser.add_argument("--embed", choices=BACKBONES,
                        help="also store frozen CNN embeddings of the same frames (needs TensorFlow)")
    parser.add_argument("--embed-weights", default="imagenet", metavar="imagenet|none|PATH",
                        help="weights of the --embed backbone (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo every video, also when FEATURES holds other settings")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if not Path(args.video_root).exists():  # before spawning anything: one line, exit 2
        raise InputError(f"{args.video_root}: no such folder or video list")
    if args.scheduler is not None:
        report = _run_on_dask(args)
    else:
        with WorkerPool(args.workers) as pool:  # first: their start-up overlaps ours
            report = extract(args.video_root, args.out, _settings_of(args), workers=args.workers,
                             group_pattern=args.group_pattern, overwrite=args.overwrite,
                             progress=not args.quiet,
                             runner=lambda items, out, settings, workers, on_row:
                             pool.run(items, out, settings, on_row))
    if not args.quiet:
        print(format_summary(report))
    return report.exit_code


def _settings_of(args: argparse.Namespace) -> ExtractSettings:
    return make_settings(args.pose_model, target_fps=args.target_fps, stride=args.stride,
                         thumb_size=args.thumb_size, thumb_frames=args.thumb_frames,
                         embed=args.embed, embed_weights=args.embed_weights)


def _run_on_dask(args: argparse.Namespace) -> ExtractReport:
    """--scheduler: the same extraction, its videos run by Dask workers (pose_action.distributed)."""
    from pose_action.distributed import dask_runner, quiet_dask_logs

    settings = _settings_of(args)  # a bad option fails before any cluster is started or reached
    quiet_dask_logs()
    with dask_runner(args.scheduler, workers=args.workers) as runner:
        return extract(args.video_root, args.out, settings, workers=args.workers,
                       group_pattern=args.group_pattern, overwrite=args.overwrite,
                       progress=not args.quiet, runner=runner)
