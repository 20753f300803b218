"""What a recognizer answers: labels (an action, "no action" or "unknown"), smoothed predictions
of a stream and the result of a whole video."""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose_action.calibration import BACKGROUND
from pose_action.inference.frames import FrameRecord
from pose_action.landmarks import LandmarkSequence
from pose_action.runs import RunConfig

UNKNOWN = "unknown"  # the label when the smoothed top probability is below the threshold or the novelty above its own
NO_ACTION = "no action"  # the label when the top class is the run's background class (evaluate.BACKGROUND)
# What a label is (--json `kind`): one of the run's actions, "no action" (background on top) or "unknown".
KIND_ACTION, KIND_NO_ACTION, KIND_UNKNOWN = "action", "no_action", "unknown"
DEFAULT_SMOOTHING = 3  # moving average over this many predictions


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
    novelty: float | None = None  # smoothed, like the probabilities (None: the run has no novelty)

    def to_dict(self, labels: tuple[str, ...]) -> dict:
        values = {"frame": self.frame, "time_s": round(self.timestamp_ms / 1000.0, 3),
                  "window_start": self.window_start, "label": self.label, "kind": label_kind(self.label),
                  "confidence": round(self.confidence, 6),
                  "probabilities": {name: round(float(p), 6) for name, p in zip(labels, self.probabilities)}}
        if self.novelty is not None:
            values["novelty"] = round(self.novelty, 6)
        if self.track is not None:
            values["track"] = self.track
        return values


@dataclass(frozen=True)
class UnknownRule:
    """When the answer is "unknown": the top probability below `threshold`, or the novelty (how unlike
    every training clip the window is, pose_action.novelty) above `novelty` (None: not used)."""

    threshold: float
    novelty: float | None = None

    @classmethod
    def of_run(cls, config: RunConfig, novelty_measured: bool, threshold: float | None = None,
               novelty: float | None = None) -> UnknownRule:
        """The rule predict and live apply: given thresholds, else the run's own.

        A run whose novelty is measured says "unknown" on the novelty alone unless a confidence
        `threshold` is given: on the open-set benchmark the novelty alone rejected fewer known clips and
        more unknown ones than either rule together (docs/benchmarks.md). Without it, the confidence
        below the run's calibrated threshold decides."""
        if not novelty_measured:
            return cls(config.calibration.threshold if threshold is None else float(threshold))
        return cls(0.0 if threshold is None else float(threshold),
                   config.novelty.threshold if novelty is None else float(novelty))

    def rejects(self, confidence: float, novelty: float | None) -> bool:
        if confidence < self.threshold:
            return True
        return self.novelty is not None and novelty is not None and novelty > self.novelty


def label_for(probabilities: np.ndarray, labels: tuple[str, ...], rule: UnknownRule,
              novelty: float | None = None) -> tuple[str, float]:
    """The label to show and its confidence: "unknown" when the rule rejects it, "no action" when the
    run's background class is on top, else the action."""
    best = int(np.argmax(probabilities))
    confidence = float(probabilities[best])
    if rule.rejects(confidence, novelty):
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

    def add_with_novelty(self, probabilities: np.ndarray, novelty: float | None) -> tuple[np.ndarray, float | None]:
        """Both smoothed over the same windows: the novelty rides as one more column."""
        if novelty is None:
            return self.add(probabilities), None
        smoothed = self.add(np.append(np.asarray(probabilities, dtype=np.float32), np.float32(novelty)))
        return smoothed[:-1], float(smoothed[-1])


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
    novelty: float | None = None  # mean of the windows' own novelty (None: the run has no novelty)

    def top(self, k: int) -> list[tuple[str, float]]:
        order = np.argsort(-self.probabilities)[:max(1, k)]
        return [(self.labels[i], float(self.probabilities[i])) for i in order]

    def to_dict(self, top_k: int | None = None) -> dict:
        return {
            "video": str(self.path), "label": self.label, "kind": label_kind(self.label),
            "confidence": round(float(self.probabilities.max()), 6),
            **({"novelty": round(self.novelty, 6)} if self.novelty is not None else {}),
            "top": [{"label": name, "probability": round(p, 6)} for name, p in self.top(top_k or len(self.labels))],
            "probabilities": {name: round(float(p), 6) for name, p in zip(self.labels, self.probabilities)},
            "fps": self.fps, "width": self.width, "height": self.height, "frames": self.frames_read,
            "window_frames": self.window_frames, "step": self.step, "backend": self.backend,
            **({"max_people": self.max_people, "tracks": len({t for frame in self.people for t in frame})}
               if self.max_people > 1 else {}),
            "timeline": [prediction.to_dict(self.labels) for prediction in self.timeline],
        }


def make_prediction(first: FrameRecord, last: FrameRecord, raw: np.ndarray, smoothed: np.ndarray,
                    labels: tuple[str, ...], rule: UnknownRule, track: int | None = None,
                    novelty: float | None = None) -> Prediction:
    """A window's prediction from its smoothed probabilities and novelty."""
    label, confidence = label_for(smoothed, labels, rule, novelty)
    return Prediction(frame=last.frame, timestamp_ms=last.timestamp_ms, window_start=first.frame,
                      label=label, confidence=confidence, probabilities=smoothed, raw=np.asarray(raw), track=track,
                      novelty=novelty)


def smoothed_timeline(records: list[FrameRecord], ends: list[int], window: int, raw: np.ndarray,
                      labels: tuple[str, ...], rule: UnknownRule, smoothing: int,
                      novelty: np.ndarray | None = None) -> list[Prediction]:
    """The predictions of windows ending at `ends` (rows of `raw` and of `novelty`), smoothed in order."""
    smoother = Smoother(smoothing)
    timeline = []
    for row, end in enumerate(ends):
        smoothed, smoothed_novelty = smoother.add_with_novelty(raw[row], None if novelty is None else novelty[row])
        timeline.append(make_prediction(records[max(0, end - window)], records[end - 1], raw[row], smoothed,
                                        labels, rule, novelty=smoothed_novelty))
    return timeline
