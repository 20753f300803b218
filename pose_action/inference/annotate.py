"""What `predict` shows of a video's result: the annotated video (skeleton, label, confidence bar) and a summary.

`draw_overlay` is shared with `live`, so a prediction looks the same on a file and a webcam.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from pose_action.inference.predictions import NO_ACTION, UNKNOWN, Prediction, VideoResult
from pose_action.inference.render import draw_caption, draw_people, draw_skeleton
from pose_action.landmarks import VISIBILITY, XY
from pose_action.video import read_frames, write_video

log = logging.getLogger(__name__)

BAR_COLOR = (80, 200, 80)  # BGR green: a known label
UNKNOWN_BAR_COLOR = (150, 150, 150)  # grey: below the confidence threshold
NO_ACTION_BAR_COLOR = (200, 140, 60)  # BGR blue: the run's background class ("no action") on top
WARMUP_TEXT = "collecting frames..."


def draw_confidence_bar(frame_bgr: np.ndarray, confidence: float, known: bool,
                        color: tuple[int, int, int] | None = None) -> np.ndarray:
    """A bar along the bottom edge, as long as the confidence (0..1), in place (`color` overrides
    the known/unknown colours)."""
    height, width = frame_bgr.shape[:2]
    bar_height = max(4, height // 30)
    top = height - bar_height - 2
    cv2.rectangle(frame_bgr, (2, top), (width - 3, height - 3), (40, 40, 40), -1)
    filled = int(round((width - 5) * float(np.clip(confidence, 0.0, 1.0))))
    if filled > 0:
        cv2.rectangle(frame_bgr, (2, top), (2 + filled, height - 3),
                      color or (BAR_COLOR if known else UNKNOWN_BAR_COLOR), -1)
    return frame_bgr


def caption_text(prediction: Prediction) -> str:
    """The label and its confidence; an `unknown` of a run that measures novelty shows the novelty instead
    (a confident answer can be unknown: the window is unlike every training clip)."""
    if prediction.label == UNKNOWN and prediction.novelty is not None:
        return f"{prediction.label}  novelty {prediction.novelty:.2f}"
    return f"{prediction.label}  {prediction.confidence:.0%}"


def draw_overlay(frame_bgr: np.ndarray, landmarks: np.ndarray | None, prediction: Prediction | None,
                 extra: str | None = None, *, people: dict[int, np.ndarray] | None = None,
                 main: int | None = None) -> np.ndarray:
    """Skeleton, current label with its confidence and a confidence bar (shared with `live`).

    With `people` (--max-people > 1: {track id: landmarks}) every person is drawn in its track's
    colour and the main actor (track `main`, the one the label is about) is tagged "main: label"."""
    if people is not None:
        text = None if prediction is None else caption_text(prediction)
        draw_people(frame_bgr, people, main, text)
    elif landmarks is not None:
        draw_skeleton(frame_bgr, landmarks[:, XY], landmarks[:, VISIBILITY])
    if prediction is None:
        draw_caption(frame_bgr, WARMUP_TEXT)
    else:
        known = prediction.label != UNKNOWN
        draw_caption(frame_bgr, caption_text(prediction), color=(255, 255, 255) if known else (180, 180, 180))
        draw_confidence_bar(frame_bgr, prediction.confidence, known,
                            NO_ACTION_BAR_COLOR if prediction.label == NO_ACTION else None)
    if extra:
        draw_caption(frame_bgr, extra, row=1)
    return frame_bgr


def annotated_frames(result: VideoResult) -> Iterator[np.ndarray]:
    """Every frame of the video (same count and size), with its skeleton and prediction.

    A frame shows the latest prediction made at or after it was seen; frames before the
    first full window show that first window's prediction (the file is there to look ahead,
    unlike a webcam), so a clip of one window is labelled throughout.
    """
    sequence, timeline = result.landmarks, result.timeline
    row = -1
    shown = 0
    for index, _, frame in read_frames(result.path):
        while row + 1 < len(sequence) and sequence.frame[row + 1] <= index:
            row += 1
        while shown + 1 < len(timeline) and timeline[shown + 1].frame <= index:
            shown += 1
        landmarks = sequence.data[row] if row >= 0 and sequence.detected[row] else None
        people = (result.people[row] if row >= 0 else {}) if result.max_people > 1 else None
        main = result.main_tracks[row] if result.max_people > 1 and row >= 0 else None
        yield draw_overlay(frame, landmarks, timeline[shown] if timeline else None, people=people, main=main)


def write_annotated(result: VideoResult, out: str | Path) -> int:
    """Write the annotated video atomically; returns its frame count."""
    return write_video(out, annotated_frames(result), result.fps)


def format_summary(result: VideoResult, top_k: int) -> str:
    people = ""
    if result.max_people > 1:
        tracks = len({track for frame in result.people for track in frame})
        mains = sorted({p.track for p in result.timeline if p.track is not None})
        people = (f", {tracks} {'person' if tracks == 1 else 'people'} tracked, main actor: track "
                  f"{', '.join(str(track) for track in mains) or '-'}")
    novelty = "" if result.novelty is None else f", novelty {result.novelty:.2f}"
    lines = [f"{result.path}: {result.label}  ({result.probabilities.max():.1%}{novelty}, "
             f"{len(result.timeline)} window{'s' if len(result.timeline) != 1 else ''} of "
             f"{result.window_frames} frames, {result.backend}{people})"]
    width = max(len(name) for name in result.labels)
    for name, probability in result.top(top_k):
        lines.append(f"  {name:<{width}}  {probability:6.1%}  {'#' * int(round(probability * 30))}")
    return "\n".join(lines)
