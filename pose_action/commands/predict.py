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
from pathlib import Path

from pose_action.commands.arguments import add_recognizer_arguments, open_recognizer
from pose_action.errors import InputError
from pose_action.files import check_apart
from pose_action.inference.annotate import format_summary, write_annotated
from pose_action.video import check_video_output, probe

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_recognizer_arguments(parser)
    parser.add_argument("video", help="video file to recognize (for a stream URL or a camera use `live`)")
    parser.add_argument("--out", type=Path, help="write the video with skeleton, label and confidence bar here")
    parser.add_argument("--json", action="store_true", help="print machine-readable results (with the timeline)")
    parser.add_argument("--top-k", type=int, default=3, help="classes to list (default: 3)")
    parser.add_argument("--step", type=int, help="predict every STEP processed frames (default: 2.5 per second)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (shown on a terminal only)")


# What Ctrl-C means here (cli.py prints it): nothing is kept half-written, and there is nothing to resume.
INTERRUPTED = "interrupted; nothing was written"


def run(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {args.top_k}")
    if args.step is not None and args.step < 1:
        raise InputError(f"--step must be at least 1, got {args.step}")
    if "://" in args.video:
        raise InputError(f"{args.video}: predict reads video files, not URLs; for a stream use "
                         f"`pose-action live {args.run} --camera URL`")
    if args.out:  # checked first: a bad output name must not cost a whole prediction
        if Path(args.out).resolve() == Path(args.video).resolve():
            raise InputError(f"{args.out}: --out would replace the video being recognized; choose another name")
        check_apart(args.out, (args.run,), containing=False)
        check_video_output(args.out)
    probe(args.video)  # a bad video fails before the model loads
    with open_recognizer(args) as recognizer:
        result = recognizer.predict_video(Path(args.video), step=args.step, progress=False if args.quiet else None)
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
