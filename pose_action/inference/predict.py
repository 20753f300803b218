"""Recognize the action in a video file with a trained run: top classes, a timeline, an annotated video.

The run's config.json decides everything about the input (window length, T, thumbnails,
pose model); only the output is chosen here. With --backend tflite (the default when the
run has an exported model.tflite) no TensorFlow is loaded.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from pose_action.errors import InputError
from pose_action.inference.backends import choose_backend
from pose_action.inference.recognizer import (DEFAULT_SMOOTHING, DEFAULT_THRESHOLD, UNKNOWN, Prediction, Recognizer,
                                              VideoResult)
from pose_action.inference.render import draw_caption, draw_skeleton
from pose_action.video import probe, read_frames, write_video

log = logging.getLogger(__name__)

BAR_COLOR = (80, 200, 80)  # BGR green: a known label
UNKNOWN_BAR_COLOR = (150, 150, 150)  # grey: below the confidence threshold
WARMUP_TEXT = "collecting frames..."


def draw_confidence_bar(frame_bgr: np.ndarray, confidence: float, known: bool) -> np.ndarray:
    """A bar along the bottom edge, as long as the confidence (0..1), in place."""
    height, width = frame_bgr.shape[:2]
    bar_height = max(4, height // 30)
    top = height - bar_height - 2
    cv2.rectangle(frame_bgr, (2, top), (width - 3, height - 3), (40, 40, 40), -1)
    filled = int(round((width - 5) * float(np.clip(confidence, 0.0, 1.0))))
    if filled > 0:
        cv2.rectangle(frame_bgr, (2, top), (2 + filled, height - 3),
                      BAR_COLOR if known else UNKNOWN_BAR_COLOR, -1)
    return frame_bgr


def draw_overlay(frame_bgr: np.ndarray, landmarks: np.ndarray | None, prediction: Prediction | None,
                 extra: str | None = None) -> np.ndarray:
    """Skeleton, current label with its confidence and a confidence bar (shared with `live`)."""
    if landmarks is not None:
        draw_skeleton(frame_bgr, landmarks[:, :2], landmarks[:, 3])
    if prediction is None:
        draw_caption(frame_bgr, WARMUP_TEXT)
    else:
        known = prediction.label != UNKNOWN
        draw_caption(frame_bgr, f"{prediction.label}  {prediction.confidence:.0%}",
                     color=(255, 255, 255) if known else (180, 180, 180))
        draw_confidence_bar(frame_bgr, prediction.confidence, known)
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
        yield draw_overlay(frame, landmarks, timeline[shown] if timeline else None)


def write_annotated(result: VideoResult, out: str | Path) -> int:
    """Write the annotated video atomically; returns its frame count."""
    return write_video(out, annotated_frames(result), result.fps)


def format_summary(result: VideoResult, top_k: int) -> str:
    lines = [f"{result.path}: {result.label}  ({result.probabilities.max():.1%}, "
             f"{len(result.timeline)} window{'s' if len(result.timeline) != 1 else ''} of "
             f"{result.window_frames} frames, {result.backend})"]
    width = max(len(name) for name in result.labels)
    for name, probability in result.top(top_k):
        lines.append(f"  {name:<{width}}  {probability:6.1%}  {'#' * int(round(probability * 30))}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="run directory (from `pose-action train`)")
    parser.add_argument("video", type=Path, help="video file to recognize")
    parser.add_argument("--out", type=Path, help="write the video with skeleton, label and confidence bar here")
    parser.add_argument("--json", action="store_true", help="print machine-readable results (with the timeline)")
    parser.add_argument("--top-k", type=int, default=3, help="classes to list (default: 3)")
    parser.add_argument("--backend", choices=("auto", "keras", "tflite"), default="auto",
                        help="auto: the exported model.tflite when present and current, else Keras")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help=f"below this confidence the label is 'unknown' (default: {DEFAULT_THRESHOLD})")
    parser.add_argument("--step", type=int, help="predict every STEP processed frames (default: 2.5 per second)")
    parser.add_argument("--smoothing", type=int, default=DEFAULT_SMOOTHING,
                        help=f"moving average over this many predictions (default: {DEFAULT_SMOOTHING})")
    parser.add_argument("--pose-model", help="override the run's pose model (lite|full|heavy|PATH)")


def run(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {args.top_k}")
    if args.step is not None and args.step < 1:
        raise InputError(f"--step must be at least 1, got {args.step}")
    probe(args.video)  # a bad video fails before the model loads
    backend = choose_backend(args.run, args.backend)
    with Recognizer.load(args.run, backend, pose_model=args.pose_model, threshold=args.threshold,
                         smoothing=args.smoothing) as recognizer:
        result = recognizer.predict_video(args.video, step=args.step)
    if args.out:
        count = write_annotated(result, args.out)
        log.info("wrote %s (%d frames)", args.out, count)
    if args.json:
        payload = result.to_dict(args.top_k)
        if args.out:
            payload["annotated"] = str(args.out)
        json.dump(payload, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(format_summary(result, args.top_k))
    return 0
