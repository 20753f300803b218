"""Recognize actions from a webcam: a window with the skeleton, the current label and frames per second.

Press q or Esc (or close the window) to stop. `--camera` takes a camera number or a video
file / stream URL (handy to try the live view without a camera). With --backend tflite
(the default when the run has an exported model.tflite) no TensorFlow is loaded.
"""

from __future__ import annotations

import argparse
import logging

from pose_action.commands.arguments import add_recognizer_arguments, open_recognizer
from pose_action.inference.live import camera_source, show_live

log = logging.getLogger(__name__)


# What Ctrl-C leaves (cli.py prints it after the command's name).
INTERRUPTED = "stopped"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_recognizer_arguments(parser)
    parser.add_argument("--camera", default="0", help="camera number, or a video file / stream URL (default: 0)")


def run(args: argparse.Namespace) -> int:
    with open_recognizer(args) as recognizer:
        frames = show_live(recognizer, camera_source(args.camera))
    log.info("stopped after %d frames", frames)
    return 0
