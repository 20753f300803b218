"""Arguments that several commands share, parsed in one place."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from pose_action.errors import InputError

if TYPE_CHECKING:
    from pose_action.inference.recognizer import Recognizer

MIN_SIZE, MAX_SIZE = 16, 8192  # frame sizes a render or a synthetic video may have


def parse_size(text: str, option: str = "--size") -> tuple[int, int]:
    """'640x480' -> (640, 480); InputError (one line, exit 2) for anything else."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise InputError(f"{option} must look like 640x480, got {text!r}") from None
    if not (MIN_SIZE <= width <= MAX_SIZE and MIN_SIZE <= height <= MAX_SIZE):
        raise InputError(f"{option} must be between {MIN_SIZE}x{MIN_SIZE} and {MAX_SIZE}x{MAX_SIZE}, got {text!r}")
    return width, height


def seed(text: str) -> int:
    """An argparse type: a random seed NumPy and TensorFlow accept (0 .. 2**32 - 1)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is a whole number, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"a seed is between 0 and {2**32 - 1}, got {value}")
    return value


def add_recognizer_arguments(parser: argparse.ArgumentParser) -> None:
    """The run and how to recognize with it: what `predict` and `live` both take."""
    from pose_action.inference.predictions import DEFAULT_SMOOTHING

    parser.add_argument("run", type=Path, help="run directory (from `pose-action train`)")
    parser.add_argument("--backend", choices=("auto", "keras", "tflite"), default="auto",
                        help="auto: the exported model.tflite when present and current, else Keras")
    parser.add_argument("--threshold", type=float, default=None,
                        help="below this (calibrated) confidence the label is 'unknown' (default: none for a run "
                             "that measures novelty, whose --novelty-threshold decides; else the run's own, "
                             "chosen from its held-out clips to reject at most 5%% of the right answers: "
                             "config.json calibration.threshold, 0.5 for runs made before it)")
    parser.add_argument("--novelty-threshold", type=float, default=None, metavar="D",
                        help="above this novelty (cosine distance, 0-2, from the window to the nearest training "
                             "clip in what the model's last layer reads) the label is 'unknown' too: something "
                             "unlike every clip it was trained on (default: the run's own, chosen to reject at "
                             "most 5%% of the right answers on clips of unseen people; config.json "
                             "novelty.threshold; 2 turns it off: the run's confidence threshold decides, as for a run "
                             "without novelty)")
    parser.add_argument("--smoothing", type=int, default=DEFAULT_SMOOTHING,
                        help=f"moving average over this many predictions (default: {DEFAULT_SMOOTHING})")
    parser.add_argument("--pose-model", help="override the run's pose model (lite|full|heavy|PATH)")
    parser.add_argument("--max-people", type=int, metavar="N",
                        help="find up to N people per frame, track them as `extract --max-people` does and "
                             "recognize the main actor (the track with the best running score, kept unless "
                             "another beats it clearly); every person is drawn in its own colour, the main "
                             "actor tagged with the label. Costs about one more landmark pass per extra person. "
                             "Default: as many as the run's features were extracted with (1 for most runs: "
                             "one person, no tracking)")


def open_recognizer(args: argparse.Namespace) -> Recognizer:
    """The recognizer those arguments ask for (use it in a `with` block)."""
    from pose_action.inference.backends import choose_backend
    from pose_action.inference.recognizer import Recognizer

    return Recognizer.load(args.run, choose_backend(args.run, args.backend), pose_model=args.pose_model,
                           threshold=args.threshold, smoothing=args.smoothing, max_people=args.max_people,
                           novelty_threshold=args.novelty_threshold)
