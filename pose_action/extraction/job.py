"""One video's extraction job: landmarks, thumbnails (and embeddings) and its manifest row.

`process_video` is a plain top-level function that loads what it needs itself, writes every
output atomically and never raises for a bad video, so any executor can run it: the local
worker processes (`pool`) or Dask workers (`dask`). What a job depends on is
`extraction.settings.ExtractSettings`.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pose_action.errors import InputError
from pose_action.extraction.discovery import VideoItem
from pose_action.extraction.settings import ExtractSettings, load_embedder
from pose_action.layout import FeaturesLayout

# OpenCV, NumPy, pandas and MediaPipe are imported where they are used, not here: the
# command starts its workers first, before it imports them itself, if it does (pool.WorkerPool:
# the workers' forkserver imports them once for all of its workers).
if TYPE_CHECKING:
    from pose_action.video import VideoInfo

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- one video


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
    from pose_action.extraction.pose import SCOUT_HOLD, PeopleFinder, PoseEstimator
    from pose_action.landmarks import LandmarkSequence, write_csv
    from pose_action.video import prefetched, probe, read_frames, stride_for

    info = probe(item.path)
    stride = stride_for(info.fps, settings.target_fps, settings.stride)
    row.update(fps=round(info.fps, 3), width=info.width, height=info.height, stride=stride)
    embedder = load_embedder(settings.embed, settings.embed_weights) if settings.embed else None
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
                                  min_tracking_confidence=settings.min_tracking_confidence, zoom=settings.zoom,
                                  exposure=settings.exposure)
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

