"""Recognize actions in videos and streams with a trained run: Keras or the TensorFlow-free LiteRT runtime.

Frames go through the SAME per-frame extractors as `extract` (PoseEstimator, appearance
thumbnails or embeddings, motion vectors, landmarks rounded as the CSV stores them) and the SAME
`features.build_features` as training, so a model sees on a laptop exactly the arrays it
was trained on. A window is the run's training-clip duration ("window" seconds in
config.json) of the most recent frames; build_features samples it to T frames like it
samples a whole training clip.

This module imports no TensorFlow: Keras is loaded only for backend="keras", and the
"tflite" backend runs on `ai_edge_litert` (or `tensorflow.lite` where LiteRT has no wheel).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pose_action.calibration import BACKGROUND
from pose_action.errors import InputError
from pose_action.extraction.settings import check_max_people
from pose_action.features import FeatureConfig, build_features, nearest_rows, scene_frame_numbers
from pose_action.inference.actors import MainActor, pose_of
from pose_action.inference.backends import KerasBackend, LiteBackend, load_backend
from pose_action.landmarks import LandmarkSequence, as_stored
from pose_action.people import nobody
from pose_action.runs import Run, RunConfig, load_run
from pose_action.video import DEFAULT_FPS, VideoInfo, probe, read_frames

if TYPE_CHECKING:
    from pose_action.extraction.pose import PeopleFinder

log = logging.getLogger(__name__)

UNKNOWN = "unknown"  # the label when the smoothed top probability is below the threshold
NO_ACTION = "no action"  # the label when the top class is the run's background class (evaluate.BACKGROUND)
# What a label is (--json `kind`): one of the run's actions, "no action" (background on top) or "unknown".
KIND_ACTION, KIND_NO_ACTION, KIND_UNKNOWN = "action", "no_action", "unknown"
DEFAULT_SMOOTHING = 3  # moving average over this many predictions
PREDICT_BATCH = 32  # windows per model call in predict_video
PREDICTIONS_PER_SECOND = 2.5  # default prediction rate: every 10th frame at 25 fps keeps the model's share small


# ----------------------------------------------------------------------------- per-frame extraction


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
        self.estimator = PoseEstimator(pose_model, **config.pose_options) if self.max_people <= 1 else None
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


@functools.lru_cache(maxsize=256)  # depends only on the two ints; called for every window
def sampler_positions(available: int, count: int | None) -> tuple[int, ...]:
    """Which of `available` processed frames extraction keeps thumbnails of (its FrameSampler).

    Asking the real sampler (with 1-pixel stand-in frames) keeps inference on the frames
    training saw: build_features then picks the same nearest thumbnail for each sampled frame.
    """
    if not count:
        return tuple(range(available))
    from pose_action.extraction.appearance import FrameSampler

    sampler = FrameSampler(count, sizes=(1,))
    stand_in = np.zeros((1, 1, 3), dtype=np.uint8)
    for position in range(available):
        sampler.offer(position, stand_in)
    return tuple(int(position) for position in sampler.result().frame_index)


class EmbeddingCache:
    """Frozen-CNN embeddings of window frames, computed once per frame and only when a window uses it."""

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.vectors: dict[int, np.ndarray] = {}

    def __call__(self, records: list[FrameRecord]) -> np.ndarray:
        missing = [record for record in records if record.frame not in self.vectors]
        if missing:
            computed = self.embedder.embed(np.stack([_made(record.image, "thumbnail") for record in missing]))
            for record, vector in zip(missing, computed):
                # stored as extraction stores them (float16), so training and inference agree
                self.vectors[record.frame] = np.asarray(vector).astype(np.float16).astype(np.float32)
        oldest = min(record.frame for record in records)
        for frame in [frame for frame in self.vectors if frame < oldest]:
            del self.vectors[frame]
        return np.stack([self.vectors[record.frame] for record in records])


def _made(value: np.ndarray | None, what: str) -> np.ndarray:
    """A frame's `what`, which the extractor makes for every frame when the run's features use it."""
    assert value is not None, f"a processed frame without its {what}"
    return value


def records_sequence(records: list[FrameRecord], *, fps: float, width: int, height: int) -> LandmarkSequence:
    """The landmarks of processed frames as a sequence of a video with this rate and size."""
    return LandmarkSequence.from_frames([(record.frame, record.timestamp_ms, record.landmarks) for record in records],
                                        fps=fps, width=width, height=height)


def window_features(records: list[FrameRecord], config: RunConfig, *, fps: float, width: int, height: int,
                    embed: EmbeddingCache | None = None,
                    second: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Model inputs of a window of processed frames: build_features on them, as on a training clip.

    `second` (runs trained with the second person: FrameExtractor.second_person) goes to
    build_features as training's people file does."""
    features = config.features
    sequence = records_sequence(records, fps=fps, width=width, height=height)
    # every processed frame, as stored
    motion = ((sequence.frame, np.stack([_made(record.motion, "motion vector") for record in records]))
              if features.motion else None)
    if features.appearance == "none":
        return build_features(sequence, features, motion=motion, second=second)
    kept = [records[position] for position in sampler_positions(len(records), config.appearance_frames)]
    kept_frames = np.array([record.frame for record in kept], dtype=np.int64)
    if features.appearance == "thumbs":
        thumbs = np.stack([_made(r.image, "thumbnail") for r in kept])
        return build_features(sequence, features, appearance=(kept_frames, thumbs), motion=motion, second=second)
    if embed is None:
        raise InputError("this model needs frozen CNN embeddings: load it with backend='keras'")
    used = np.unique(nearest_rows(scene_frame_numbers(sequence, features), kept_frames))  # embed only what is picked
    vectors = embed([kept[row] for row in used])
    return build_features(sequence, features, appearance=(kept_frames[used], vectors), motion=motion, second=second)


# ----------------------------------------------------------------------------- predictions


@dataclass(frozen=True)
class Prediction:
    """One prediction of a stream: made after `frame`, over the window that ends there."""

    frame: int  # source frame index of the window's last frame
    timestamp_ms: int
    window_start: int  # source frame index of the window's first frame
    label: str  # top class of the smoothed probabilities, "no action" for background, or "unknown" below the threshold
    confidence: float  # smoothed top probability
    probabilities: np.ndarray  # (C,) smoothed: moving average of the last predictions
    raw: np.ndarray  # (C,) this window's own probabilities
    track: int | None = None  # --max-people > 1: the main actor's track id the window was read from

    def to_dict(self, labels: tuple[str, ...]) -> dict:
        values = {"frame": self.frame, "time_s": round(self.timestamp_ms / 1000.0, 3),
                  "window_start": self.window_start, "label": self.label, "kind": label_kind(self.label),
                  "confidence": round(self.confidence, 6),
                  "probabilities": {name: round(float(p), 6) for name, p in zip(labels, self.probabilities)}}
        if self.track is not None:
            values["track"] = self.track
        return values


def label_for(probabilities: np.ndarray, labels: tuple[str, ...], threshold: float) -> tuple[str, float]:
    """The label to show and its confidence: "unknown" below the threshold, "no action" when the run's
    background class is on top, else the action."""
    best = int(np.argmax(probabilities))
    confidence = float(probabilities[best])
    if confidence < threshold:
        return UNKNOWN, confidence
    return (NO_ACTION if labels[best] == BACKGROUND else labels[best]), confidence


def label_kind(label: str) -> str:
    """"action", "no_action" or "unknown" (the --json `kind` of a label from label_for)."""
    return {UNKNOWN: KIND_UNKNOWN, NO_ACTION: KIND_NO_ACTION}.get(label, KIND_ACTION)


class Smoother:
    """Moving average of the last `size` probability vectors: a steadier label in a stream."""

    def __init__(self, size: int) -> None:
        self.history: deque[np.ndarray] = deque(maxlen=max(1, size))

    def add(self, probabilities: np.ndarray) -> np.ndarray:
        self.history.append(np.asarray(probabilities, dtype=np.float32))
        return np.mean(np.stack(self.history), axis=0)


@dataclass
class VideoResult:
    """predict_video's answer: the video's label, its probabilities and the timeline."""

    path: Path
    labels: tuple[str, ...]
    label: str
    probabilities: np.ndarray  # (C,) mean of the windows' own probabilities
    timeline: list[Prediction]
    landmarks: LandmarkSequence  # of the processed frames (for drawing)
    fps: float
    width: int
    height: int
    frames_read: int
    window_frames: int
    step: int
    backend: str
    max_people: int = 1
    # --max-people > 1: per processed frame, every tracked person {track id: (33, 8) pose} and the
    # main actor's track id (landmarks holds the main actor's poses)
    people: list[dict[int, np.ndarray]] = dataclasses.field(default_factory=list)
    main_tracks: list[int | None] = dataclasses.field(default_factory=list)

    def top(self, k: int) -> list[tuple[str, float]]:
        order = np.argsort(-self.probabilities)[:max(1, k)]
        return [(self.labels[i], float(self.probabilities[i])) for i in order]

    def to_dict(self, top_k: int | None = None) -> dict:
        return {
            "video": str(self.path), "label": self.label, "kind": label_kind(self.label),
            "confidence": round(float(self.probabilities.max()), 6),
            "top": [{"label": name, "probability": round(p, 6)} for name, p in self.top(top_k or len(self.labels))],
            "probabilities": {name: round(float(p), 6) for name, p in zip(self.labels, self.probabilities)},
            "fps": self.fps, "width": self.width, "height": self.height, "frames": self.frames_read,
            "window_frames": self.window_frames, "step": self.step, "backend": self.backend,
            **({"max_people": self.max_people, "tracks": len({t for frame in self.people for t in frame})}
               if self.max_people > 1 else {}),
            "timeline": [prediction.to_dict(self.labels) for prediction in self.timeline],
        }


# ----------------------------------------------------------------------------- the recognizer


class Recognizer:
    """A trained run ready for inference: `predict_video(path)` or streaming `update(frame, t)`.

    The streaming state (pose tracker, window ring buffer, smoother) belongs to the
    recognizer; `reset(fps=...)` starts a new stream. `close()` (or a `with` block) frees
    the pose tracker.
    """

    def __init__(self, run: Run, backend: KerasBackend | LiteBackend, pose_model: Path, *,
                 threshold: float | None = None, smoothing: int = DEFAULT_SMOOTHING,
                 max_people: int | None = None) -> None:
        if max_people is not None:
            check_max_people(max_people)
        self.run = run
        # runs trained with the second person as input (FeatureConfig.second_person, where present) read two
        self.second_person = run.feature_config.second_person
        # as many people as asked, else as many as the run's features were extracted with (1: today's speed)
        self.max_people = max(int(max_people or run.config.max_people), 2 if self.second_person else 1)
        self.config = run.config
        self.backend = backend
        self.pose_model = pose_model
        # None: the run's own, chosen from its held-out clips (config.json calibration.threshold)
        self.threshold = run.config.calibration.threshold if threshold is None else float(threshold)
        self.smoothing = smoothing
        self.embedder = None
        self._stream: Stream | None = None
        if run.feature_config.appearance == "embeddings":
            self.embedder = _load_embedder(run, backend)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    @property
    def features(self) -> FeatureConfig:
        return self.config.features

    @classmethod
    def load(cls, run_dir: str | os.PathLike, backend: str = "keras", *, pose_model: str | None = None,
             threshold: float | None = None, smoothing: int = DEFAULT_SMOOTHING,
             num_threads: int | None = None, max_people: int | None = None) -> Recognizer:
        """Load a run directory; backend "tflite" needs `pose-action export` first and no TensorFlow.

        `threshold` None: the run's own (config.json `calibration.threshold`, from held-out clips;
        0.5 for runs made before it). Both backends answer calibrated probabilities.

        `max_people` > 1 tracks that many people per frame and reads the main actor (`actors`);
        None: as many as the run's features were extracted with."""
        if max_people is not None:
            check_max_people(max_people)
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise InputError(f"threshold must be between 0 and 1, got {threshold}")
        if smoothing < 1:
            raise InputError(f"smoothing must be at least 1 prediction, got {smoothing}")
        run = load_run(run_dir)
        if backend == "tflite" and run.feature_config.appearance == "embeddings":
            raise InputError(f"{run.path}: a model on frozen CNN embeddings needs TensorFlow for the "
                             "embeddings; use the keras backend (or a pose/thumbs model for the tflite runtime)")
        model = load_backend(run, backend, num_threads=num_threads)
        return cls(run, model, _resolve_pose_model(run.config, pose_model), threshold=threshold,
                   smoothing=smoothing, max_people=max_people)

    # -- windows and batches

    def window_frames(self, fps: float) -> int:
        """Processed frames in one window: the training clips' duration at this frame rate."""
        return max(2, int(round(self.config.window_seconds * fps / self.config.stride(fps))))

    def default_step(self, fps: float) -> int:
        """Processed frames between predictions: about PREDICTIONS_PER_SECOND a second."""
        return max(1, int(round(fps / self.config.stride(fps) / PREDICTIONS_PER_SECOND)))

    @property
    def image_size(self) -> int | None:
        """Thumbnail side a frame is kept at (the embedder's input size for embeddings)."""
        if self.features.appearance == "thumbs":
            return self.features.thumb_size
        return self.embedder.input_size if self.embedder is not None else None

    def new_extractor(self) -> FrameExtractor:
        return FrameExtractor(self.config, self.pose_model, self.image_size, self.max_people)

    def embedding_cache(self) -> EmbeddingCache | None:
        return EmbeddingCache(self.embedder) if self.embedder is not None else None

    def predict_features(self, windows: list[dict[str, np.ndarray]]) -> np.ndarray:
        """(N, C) probabilities of N windows' build_features outputs."""
        if not windows:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        batch = {name: np.stack([window[name] for window in windows]) for name in windows[0]}
        return self.backend.predict(batch)

    # -- whole videos

    def extract_video(self, path: str | os.PathLike) -> tuple[list[FrameRecord], VideoInfo]:
        """Every processed frame of a video through the extraction code (pose + thumbnail).

        With several people, the main actor is chosen over the whole video as one window (at its
        end the running scores are extraction's): the records hold the person of its landmark CSV."""
        info = probe(path)
        records = []
        with self.new_extractor() as extractor:
            for index, timestamp, frame in read_frames(path, stride=self.config.stride(info.fps), info=info):
                records.append(extractor.process(frame, index, timestamp))
        if not records:
            raise InputError(f"{path}: no frame could be decoded (damaged or unsupported codec)")
        return extractor.choose_main(records), info

    def predict_video(self, path: str | os.PathLike, *, step: int | None = None,
                      progress: bool | None = False) -> VideoResult:
        """Label, class probabilities and a timeline over sliding windows of the training duration.

        Windows end every `step` processed frames once a full window is available; a video
        shorter than one window gets one prediction over all of it (as in training). The
        video's probabilities are the mean of its windows' own probabilities. `progress`: a bar on
        stderr (True), none (False), or one only when stderr is a terminal (None).
        """
        from tqdm import tqdm

        info = probe(path)
        window = self.window_frames(info.fps)
        step = step or self.default_step(info.fps)
        embed = self.embedding_cache()
        records: list[FrameRecord] = []
        ends: list[int] = []  # exclusive end row of each window
        pending: list[dict[str, np.ndarray]] = []
        raw_parts: list[np.ndarray] = []

        tracks: list[int | None] = []  # the main actor of each window (--max-people > 1)
        extractor = self.new_extractor()

        def add_window(end: int) -> None:
            chosen = extractor.choose_main(records[max(0, end - window):end])
            records[end - 1] = chosen[-1]  # from here on, the main actor is the one this window read
            pending.append(window_features(chosen, self.config, fps=info.fps,
                                           width=info.width, height=info.height, embed=embed,
                                           second=extractor.second_person(chosen) if self.second_person else None))
            ends.append(end)
            tracks.append(chosen[-1].main)
            if len(pending) >= PREDICT_BATCH:
                raw_parts.append(self.predict_features(pending))
                pending.clear()

        stride = self.config.stride(info.fps)
        frames = tqdm(read_frames(path, stride=stride, info=info), desc="predict", unit="frame", leave=False,
                      total=-(-info.frame_count // stride) or None, dynamic_ncols=True,
                      disable=None if progress is None else not progress)
        with extractor, frames:
            for index, timestamp, frame in frames:
                records.append(extractor.process(frame, index, timestamp))
                count = len(records)
                if count >= window and (count - window) % step == 0:
                    add_window(count)
                if count > window:  # a frame that left the window needs no thumbnail any more
                    records[count - window - 1] = dataclasses.replace(records[count - window - 1], image=None)
        if not records:
            raise InputError(f"{path}: no frame could be decoded (damaged or unsupported codec)")
        if not ends:  # shorter than one window: one prediction over all of it, as in training
            add_window(len(records))
        raw_parts.append(self.predict_features(pending))
        raw = np.concatenate(raw_parts)
        timeline = smoothed_timeline(records, ends, window, raw, self.labels, self.threshold, self.smoothing)
        if self.max_people > 1:
            timeline = [dataclasses.replace(prediction, track=track) for prediction, track in zip(timeline, tracks)]
            # a file can look ahead: frames before the first prediction show its main actor
            records[:ends[0] - 1] = [as_main(record, tracks[0]) for record in records[:ends[0] - 1]]
        probabilities = raw.mean(axis=0)
        label, _ = label_for(probabilities, self.labels, self.threshold)
        sequence = records_sequence(records, fps=info.fps, width=info.width, height=info.height)
        return VideoResult(path=Path(path), labels=self.labels, label=label, probabilities=probabilities,
                           timeline=timeline, landmarks=sequence, fps=info.fps, width=info.width,
                           height=info.height, frames_read=records[-1].frame + 1, window_frames=window,
                           step=step, backend=self.backend.name, max_people=self.max_people,
                           people=[dict(zip(record.tracks, record.people)) for record in records]
                           if self.max_people > 1 else [],
                           main_tracks=[record.main for record in records] if self.max_people > 1 else [])

    # -- streams

    def reset(self, fps: float, *, step: int | None = None) -> Stream:
        """Start a new stream of `fps` frames per second (ends the previous one)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._stream = Stream(self, fps, step=step)
        return self._stream

    def update(self, frame_bgr: np.ndarray, timestamp_ms: int) -> Prediction | None:
        """Feed the next frame of the current stream; the latest prediction (None while warming up).

        Starts a 25 fps stream if `reset` was not called. Timestamps must increase.
        """
        stream = self._stream if self._stream is not None else self.reset(DEFAULT_FPS)
        return stream.update(frame_bgr, timestamp_ms)

    @property
    def last_landmarks(self) -> np.ndarray | None:
        """The current stream's newest (33, 8) landmarks (for drawing), or None."""
        return self._stream.last_landmarks if self._stream is not None else None

    @property
    def last_record(self) -> FrameRecord | None:
        """The current stream's newest processed frame (with every tracked person), or None."""
        return self._stream.last_record if self._stream is not None else None

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def __enter__(self) -> Recognizer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Stream:
    """A live stream: ring buffer of the last window of processed frames, a prediction every `step`.

    Frames are processed at the stride extraction used (every frame unless the run's
    features were extracted with --fps/--stride), so windows look like training clips.
    """

    def __init__(self, recognizer: Recognizer, fps: float, *, step: int | None = None) -> None:
        if not fps > 0:
            raise InputError(f"fps must be positive, got {fps}")
        self.recognizer = recognizer
        self.fps = float(fps)
        self.stride = recognizer.config.stride(fps)
        self.window = recognizer.window_frames(fps)
        self.step = step or recognizer.default_step(fps)
        self.buffer: deque[FrameRecord] = deque(maxlen=self.window)
        self.smoother = Smoother(recognizer.smoothing)
        self.embed = recognizer.embedding_cache()
        self.frames_seen = 0
        self.processed = 0
        self.latest: Prediction | None = None
        self.last_record: FrameRecord | None = None
        self._extractor = recognizer.new_extractor()

    @property
    def last_landmarks(self) -> np.ndarray | None:
        """The newest processed frame's (main actor's) landmarks, or None."""
        return self.last_record.landmarks if self.last_record is not None else None

    def update(self, frame_bgr: np.ndarray, timestamp_ms: int) -> Prediction | None:
        index = self.frames_seen
        self.frames_seen += 1
        if index % self.stride:
            return self.latest
        record = self._extractor.process(frame_bgr, index, timestamp_ms)
        self.buffer.append(record)
        self.processed += 1
        if self.processed >= self.window and (self.processed - self.window) % self.step == 0:
            records = self._extractor.choose_main(list(self.buffer))
            record = self.buffer[-1] = records[-1]  # from here on, the main actor is the one this window read
            height, width = frame_bgr.shape[:2]
            features = window_features(records, self.recognizer.config, fps=self.fps, width=width, height=height,
                                       embed=self.embed, second=self._extractor.second_person(records)
                                       if self.recognizer.second_person else None)
            raw = self.recognizer.predict_features([features])[0]
            self.latest = make_prediction(records[0], record, raw, self.smoother.add(raw),
                                          self.recognizer.labels, self.recognizer.threshold, track=record.main)
        self.last_record = record
        return self.latest

    def close(self) -> None:
        self._extractor.close()


def make_prediction(first: FrameRecord, last: FrameRecord, raw: np.ndarray, smoothed: np.ndarray,
                    labels: tuple[str, ...], threshold: float, track: int | None = None) -> Prediction:
    label, confidence = label_for(smoothed, labels, threshold)
    return Prediction(frame=last.frame, timestamp_ms=last.timestamp_ms, window_start=first.frame,
                      label=label, confidence=confidence, probabilities=smoothed, raw=np.asarray(raw), track=track)


def smoothed_timeline(records: list[FrameRecord], ends: list[int], window: int, raw: np.ndarray,
                      labels: tuple[str, ...], threshold: float, smoothing: int) -> list[Prediction]:
    smoother = Smoother(smoothing)
    return [make_prediction(records[max(0, end - window)], records[end - 1], raw[row], smoother.add(raw[row]),
                            labels, threshold) for row, end in enumerate(ends)]


def _load_embedder(run: Run, backend: KerasBackend | LiteBackend):
    """The frozen CNN extraction embedded thumbnails with (same backbone and weights)."""
    from pose_action.extraction.embeddings import Embedder

    backbone = run.feature_config.backbone
    assert backbone is not None  # only runs trained on embeddings load an embedder, and they name a backbone
    embedder = Embedder(backbone, run.config.embedding_weights)
    expected = backend.input_shapes.get("embeddings")
    if expected and int(expected[-1]) != int(embedder.dim):
        raise InputError(f"{run.path}: the model reads {expected[-1]}-d embeddings but "
                         f"{run.feature_config.backbone} gives {embedder.dim}")
    return embedder


def _resolve_pose_model(config: RunConfig, override: str | None) -> Path:
    """The pose model extraction used (by name, checked by SHA-256), or the one asked for."""
    from pose_action.extraction.pose import file_sha256, resolve_model

    path = resolve_model(override or config.pose_model)
    if config.pose_model_sha256 and file_sha256(path) != config.pose_model_sha256:
        log.warning("%s differs from the pose model the run was trained with (SHA-256 %s...); "
                    "predictions may be less accurate", path, config.pose_model_sha256[:12])
    return path
