"""Recognize actions in videos and streams with a trained run: Keras or the TensorFlow-free LiteRT runtime.

`Recognizer` holds a run and its backend; a whole video (`predict_video`) and a stream
(`Stream.update`) go through the same parts: per-frame extraction (`inference.frames`, the
extractors of `extract`), windows read as training clips (`inference.windows`, the one window
logic both use) and labels and smoothing (`inference.predictions`).

This module imports no TensorFlow: Keras is loaded only for backend="keras", and the
"tflite" backend runs on `ai_edge_litert` (or `tensorflow.lite` where LiteRT has no wheel).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import deque
from pathlib import Path

import numpy as np

from pose_action.errors import InputError
from pose_action.extraction.settings import check_max_people
from pose_action.features import FeatureConfig
from pose_action.inference.backends import KerasBackend, LiteBackend, load_backend
from pose_action.inference.frames import FrameExtractor, FrameRecord, as_main, resolve_pose_model
from pose_action.inference.predictions import (
    DEFAULT_SMOOTHING,
    NO_ACTION,
    UNKNOWN,
    Prediction,
    Smoother,
    UnknownRule,
    VideoResult,
    label_for,
    make_prediction,
    smoothed_timeline,
)
from pose_action.inference.windows import EmbeddingCache, WindowReader, load_embedder, records_sequence
from pose_action.novelty import NOVELTY_OFF, novelty
from pose_action.runs import Run, load_run
from pose_action.video import DEFAULT_FPS, VideoInfo, probe, read_frames

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_SMOOTHING", "NO_ACTION", "UNKNOWN", "Prediction", "Recognizer", "Stream", "VideoResult"]

PREDICT_BATCH = 32  # windows per model call in predict_video
PREDICTIONS_PER_SECOND = 2.5  # default prediction rate: every 10th frame at 25 fps keeps the model's share small


class Recognizer:
    """A trained run ready for inference: `predict_video(path)` or streaming `update(frame, t)`.

    The streaming state (pose tracker, window ring buffer, smoother) belongs to the
    recognizer; `reset(fps=...)` starts a new stream. `close()` (or a `with` block) frees
    the pose tracker.
    """

    def __init__(self, run: Run, backend: KerasBackend | LiteBackend, pose_model: Path, *,
                 threshold: float | None = None, smoothing: int = DEFAULT_SMOOTHING,
                 max_people: int | None = None, novelty_threshold: float | None = None) -> None:
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
        # NOVELTY_OFF: as a run without novelty (its calibrated confidence threshold decides)
        self.known_clips = None if (novelty_threshold or 0.0) >= NOVELTY_OFF else run.known_clips()
        if self.known_clips is not None and not self._reads_head_input(backend):
            self.known_clips = None
        # None: the run's own (UnknownRule.of_run)
        self.rule = UnknownRule.of_run(run.config, self.known_clips is not None, threshold, novelty_threshold)
        self.smoothing = smoothing
        self.embedder = None
        self._stream: Stream | None = None
        if run.feature_config.appearance == "embeddings":
            self.embedder = load_embedder(run, backend)

    def _reads_head_input(self, backend: KerasBackend | LiteBackend) -> bool:
        """Whether the model gives the head input the run's known clips were measured in."""
        assert self.known_clips is not None
        size = backend.head_input_size
        if size is None:  # a model.tflite exported before novelty existed: export the run again to use it
            log.warning("%s: the model gives no head input; `unknown` is decided on the confidence alone "
                        "(run `pose-action export %s` again to use the novelty)", self.run.path, self.run.path)
            return False
        if size != self.known_clips.shape[1]:
            raise InputError(f"{self.run.path}: the model's head reads {size} values but known_clips.npy holds "
                             f"{self.known_clips.shape[1]}")
        return True

    @property
    def threshold(self) -> float:
        """The calibrated confidence below which the label is "unknown" (0 for a run that measures
        novelty, unless a threshold was given: UnknownRule.of_run)."""
        return self.rule.threshold

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    @property
    def features(self) -> FeatureConfig:
        return self.config.features

    @classmethod
    def load(cls, run_dir: str | os.PathLike, backend: str = "keras", *, pose_model: str | None = None,
             threshold: float | None = None, smoothing: int = DEFAULT_SMOOTHING,
             num_threads: int | None = None, max_people: int | None = None,
             novelty_threshold: float | None = None) -> Recognizer:
        """Load a run directory; backend "tflite" needs `pose-action export` first and no TensorFlow.

        `threshold`, `novelty_threshold` None: the run's own (predictions.UnknownRule.of_run: the
        novelty alone for a run that measures it, else the calibrated confidence threshold). Both
        backends answer calibrated probabilities.

        `max_people` > 1 tracks that many people per frame and reads the main actor (`actors`);
        None: as many as the run's features were extracted with."""
        if max_people is not None:
            check_max_people(max_people)
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise InputError(f"threshold must be between 0 and 1, got {threshold}")
        if novelty_threshold is not None and not 0.0 <= novelty_threshold <= 2.0:
            raise InputError(f"novelty threshold must be between 0 and 2, got {novelty_threshold}")
        if smoothing < 1:
            raise InputError(f"smoothing must be at least 1 prediction, got {smoothing}")
        run = load_run(run_dir)
        if backend == "tflite" and run.feature_config.appearance == "embeddings":
            raise InputError(f"{run.path}: a model on frozen CNN embeddings needs TensorFlow for the "
                             "embeddings; use the keras backend (or a pose/thumbs model for the tflite runtime)")
        model = load_backend(run, backend, num_threads=num_threads)
        return cls(run, model, resolve_pose_model(run.config, pose_model), threshold=threshold,
                   smoothing=smoothing, max_people=max_people, novelty_threshold=novelty_threshold)

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

    def window_reader(self, extractor: FrameExtractor, fps: float, step: int | None = None) -> WindowReader:
        """The windows of a video or stream of `fps` read through `extractor` (a prediction every `step`
        processed frames; None: about PREDICTIONS_PER_SECOND a second)."""
        return WindowReader(self.config, extractor, size=self.window_frames(fps), step=step or self.default_step(fps),
                            fps=float(fps), embed=self.embedding_cache(), second_person=self.second_person)

    def answer_features(self, windows: list[dict[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, C) probabilities and (N,) novelty of N windows' build_features outputs (None: no novelty)."""
        if not windows:
            return np.zeros((0, len(self.labels)), dtype=np.float32), (
                None if self.known_clips is None else np.zeros(0, dtype=np.float32))
        batch = {name: np.stack([window[name] for window in windows]) for name in windows[0]}
        if self.known_clips is None:
            return self.backend.predict(batch), None
        probabilities, head_inputs = self.backend.answer(batch)
        assert head_inputs is not None  # checked when loaded
        return probabilities, novelty(head_inputs, self.known_clips)

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
        extractor = self.new_extractor()
        reader = self.window_reader(extractor, info.fps, step)
        window = reader.size
        records: list[FrameRecord] = []
        ends: list[int] = []  # exclusive end row of each window
        pending: list[dict[str, np.ndarray]] = []
        raw_parts: list[np.ndarray] = []
        novelty_parts: list[np.ndarray] = []

        tracks: list[int | None] = []  # the main actor of each window (--max-people > 1)

        def answer_pending() -> None:
            probabilities, distances = self.answer_features(pending)
            raw_parts.append(probabilities)
            if distances is not None:
                novelty_parts.append(distances)
            pending.clear()

        def add_window(end: int) -> None:
            chosen, features = reader.read(records[max(0, end - window):end], width=info.width, height=info.height)
            records[end - 1] = chosen[-1]  # from here on, the main actor is the one this window read
            pending.append(features)
            ends.append(end)
            tracks.append(chosen[-1].main)
            if len(pending) >= PREDICT_BATCH:
                answer_pending()

        stride = self.config.stride(info.fps)
        frames = tqdm(read_frames(path, stride=stride, info=info), desc="predict", unit="frame", leave=False,
                      total=-(-info.frame_count // stride) or None, dynamic_ncols=True,
                      disable=None if progress is None else not progress)
        with extractor, frames:
            for index, timestamp, frame in frames:
                records.append(extractor.process(frame, index, timestamp))
                count = len(records)
                if reader.due(count):
                    add_window(count)
                if count > window:  # a frame that left the window needs no thumbnail any more
                    records[count - window - 1] = dataclasses.replace(records[count - window - 1], image=None)
        if not records:
            raise InputError(f"{path}: no frame could be decoded (damaged or unsupported codec)")
        if not ends:  # shorter than one window: one prediction over all of it, as in training
            add_window(len(records))
        answer_pending()
        raw = np.concatenate(raw_parts)
        distances = np.concatenate(novelty_parts) if self.known_clips is not None else None
        timeline = smoothed_timeline(records, ends, window, raw, self.labels, self.rule, self.smoothing, distances)
        if self.max_people > 1:
            timeline = [dataclasses.replace(prediction, track=track) for prediction, track in zip(timeline, tracks)]
            # a file can look ahead: frames before the first prediction show its main actor
            records[:ends[0] - 1] = [as_main(record, tracks[0]) for record in records[:ends[0] - 1]]
        probabilities = raw.mean(axis=0)
        video_novelty = None if distances is None else float(distances.mean())
        label, _ = label_for(probabilities, self.labels, self.rule, video_novelty)
        sequence = records_sequence(records, fps=info.fps, width=info.width, height=info.height)
        return VideoResult(path=Path(path), labels=self.labels, label=label, probabilities=probabilities,
                           timeline=timeline, landmarks=sequence, fps=info.fps, width=info.width,
                           height=info.height, frames_read=records[-1].frame + 1, window_frames=window,
                           step=reader.step, backend=self.backend.name, max_people=self.max_people,
                           people=[dict(zip(record.tracks, record.people)) for record in records]
                           if self.max_people > 1 else [],
                           main_tracks=[record.main for record in records] if self.max_people > 1 else [],
                           novelty=video_novelty)

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
        self._extractor = recognizer.new_extractor()
        self.reader = recognizer.window_reader(self._extractor, fps, step)
        self.window, self.step = self.reader.size, self.reader.step
        self.buffer: deque[FrameRecord] = deque(maxlen=self.window)
        self.smoother = Smoother(recognizer.smoothing)
        self.frames_seen = 0
        self.processed = 0
        self.latest: Prediction | None = None
        self.last_record: FrameRecord | None = None

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
        if self.reader.due(self.processed):
            height, width = frame_bgr.shape[:2]
            records, features = self.reader.read(list(self.buffer), width=width, height=height)
            record = self.buffer[-1] = records[-1]  # from here on, the main actor is the one this window read
            probabilities, distances = self.recognizer.answer_features([features])
            raw = probabilities[0]
            smoothed, smoothed_novelty = self.smoother.add_with_novelty(
                raw, None if distances is None else float(distances[0]))
            self.latest = make_prediction(records[0], record, raw, smoothed, self.recognizer.labels,
                                          self.recognizer.rule, track=record.main, novelty=smoothed_novelty)
        self.last_record = record
        return self.latest

    def close(self) -> None:
        self._extractor.close()
