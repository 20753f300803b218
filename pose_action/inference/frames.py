"""Per-frame extraction at inference: the SAME extractors as `extract` on one video or stream.

PoseEstimator (or extraction's PeopleFinder with several people), thumbnails (at the embedder's
input size for embeddings), motion vectors, and landmarks rounded as the CSV stores them; with
several people the main actor is chosen online (`actors`), as extraction chooses it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pose_action.inference.actors import MainActor, pose_of
from pose_action.landmarks import as_stored
from pose_action.people import nobody
from pose_action.runs import RunConfig

if TYPE_CHECKING:
    from pose_action.extraction.pose import PeopleFinder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameRecord:
    """One processed frame: what the window of a stream keeps."""

    frame: int  # source frame index
    timestamp_ms: int
    landmarks: np.ndarray | None  # (33, 8) as the CSV stores them, or None: no pose
    image: np.ndarray | None  # thumbnail (S, S, 3) uint8 RGB (at the embedder's size for embeddings)
    motion: np.ndarray | None = None  # (MOTION_DIM,) optical-flow vector from the previous processed frame
    # --max-people N > 1: every pose found (as stored), their track ids, and the main actor's track;
    # `landmarks` is then the main actor's pose (None where the main actor is not seen)
    people: tuple[np.ndarray, ...] = ()
    tracks: tuple[int, ...] = ()
    main: int | None = None


class FrameExtractor:
    """The per-frame extractors of `extract` (pose + thumbnail + motion) for one stream or video.

    MediaPipe's VIDEO mode tracks the person across frames (and the motion encoder keeps the
    previous frame), so use one extractor per video or stream, with strictly increasing
    timestamps, and close it. With `max_people` > 1 the landmarker returns up to that many
    poses, linked into tracks as extraction links them (`actors.MainActor`).
    """

    def __init__(self, config: RunConfig, pose_model: Path, image_size: int | None, max_people: int = 1) -> None:
        from pose_action.extraction.motion import MotionEncoder
        from pose_action.extraction.pose import PoseEstimator

        self.max_people = int(max_people)
        # several people: extraction's PeopleFinder, made at the first frame (it needs the aspect ratio)
        self.estimator = (PoseEstimator(pose_model, zoom=config.zoom, exposure=config.exposure, **config.pose_options)
                          if self.max_people <= 1 else None)
        self.finder: PeopleFinder | None = None  # several people: made at the first frame
        self._finder = functools.partial(_people_finder, config, pose_model, self.max_people)
        self.image_size = image_size
        self.motion = MotionEncoder() if config.features.motion else None
        self.actors: MainActor | None = None  # made at the first frame (the tracker needs its aspect ratio)

    def process(self, frame_bgr: np.ndarray, frame_index: int, timestamp_ms: int) -> FrameRecord:
        from pose_action.extraction.appearance import thumbnail

        image = thumbnail(frame_bgr, self.image_size) if self.image_size else None
        motion = self.motion.encode(frame_bgr) if self.motion is not None else None
        if self.max_people <= 1:
            assert self.estimator is not None  # made in __init__ for one person
            landmarks = as_stored(self.estimator.detect(frame_bgr, timestamp_ms))
            return FrameRecord(int(frame_index), int(timestamp_ms), landmarks, image, motion)
        if self.actors is None:
            height, width = frame_bgr.shape[:2]
            self.actors = MainActor(width / height)
            self.finder = self._finder(width / height)
        assert self.finder is not None  # made with self.actors, at the first frame
        found = self.finder.detect_all(frame_bgr, timestamp_ms)
        tracks = self.actors.update(found)  # linked on the landmarker's numbers, as extraction links them
        people = tuple(as_stored(points) for points in found)
        main = self.actors.track
        return FrameRecord(int(frame_index), int(timestamp_ms), pose_of(people, tracks, main), image, motion,
                           people=people, tracks=tracks, main=main)

    def choose_main(self, records: list[FrameRecord]) -> list[FrameRecord]:
        """A window's records as the main actor's (one person, the same for the whole window, as a
        training clip's landmark CSV): the main actor is chosen anew among the window's tracks."""
        if self.actors is None:
            return records
        track = self.actors.choose({ident for record in records for ident in record.tracks})
        return [record if record.main == track else as_main(record, track) for record in records]

    def second_person(self, records: list[FrameRecord]) -> tuple[np.ndarray, np.ndarray]:
        """(source frames (N,), poses (N, 33, 8)) of the window's second most important person: of its
        tracks other than the main actor's, the highest running score (training: people.second_track,
        the next track by whole-clip score). Empty: nobody else in the window."""
        others = {ident for record in records for ident in record.tracks} - {records[-1].main} if records else set()
        if self.actors is None or not others:
            return nobody()
        track = self.actors.best(others)
        seen = [(record.frame, pose) for record in records
                if (pose := pose_of(record.people, record.tracks, track)) is not None]
        return np.array([frame for frame, _ in seen], dtype=np.int64), np.stack([pose for _, pose in seen])

    def close(self) -> None:
        if self.estimator is not None:
            self.estimator.close()
        if self.finder is not None:
            self.finder.close()

    def __enter__(self) -> FrameExtractor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _people_finder(config: RunConfig, pose_model: Path, max_people: int, aspect: float) -> PeopleFinder:
    """The landmarker for several people that extraction ran (extraction.pose.PeopleFinder, with the
    run's scout settings; for a run extracted with one person, extraction's defaults)."""
    from pose_action.extraction.pose import SCOUT_HOLD, PeopleFinder
    from pose_action.extraction.settings import SCOUT_EVERY

    recorded = config.extraction.get("people") or {}
    scout_every = int(recorded.get("scout_every", 0 if recorded else SCOUT_EVERY))  # none recorded: made without
    hold = int(recorded.get("scout_hold", SCOUT_HOLD))
    return PeopleFinder(pose_model, max_people=max_people, scout_every=scout_every, hold=hold, aspect=aspect,
                        **config.pose_options)


def as_main(record: FrameRecord, track: int | None) -> FrameRecord:
    """The record with `track` as its main actor (its landmarks: that track's pose, or None)."""
    return dataclasses.replace(record, landmarks=pose_of(record.people, record.tracks, track), main=track)


def resolve_pose_model(config: RunConfig, override: str | None) -> Path:
    """The pose model extraction used (by name, checked by SHA-256), or the one asked for."""
    from pose_action.extraction.pose import file_sha256, resolve_model

    path = resolve_model(override or config.pose_model)
    if config.pose_model_sha256 and file_sha256(path) != config.pose_model_sha256:
        log.warning("%s differs from the pose model the run was trained with (SHA-256 %s...); "
                    "predictions may be less accurate", path, config.pose_model_sha256[:12])
    return path
