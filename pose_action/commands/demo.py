"""The whole flow on the built-in synthetic dataset: synth, extract, train fusion, evaluate, export, predict.

Needs nothing downloaded: the drawn actors are found by the real pose model. Finishes in about
1.5 minutes on 2 cores (85-146 s measured); `--quick` makes a tiny version (3 classes, short clips, 3 epochs)
that shows every step in well under a minute. A rerun keeps the videos and features
already made and trains again.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import asdict
from pathlib import Path

from pose_action.commands.arguments import seed
from pose_action.demo import DEFAULT_OUT, QUICK, DemoOptions, run_demo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = DemoOptions()
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny version: 3 classes, 3 actors x 1 clip of 1.6 s, T=8, 3 epochs")
    parser.add_argument("--classes", nargs="+", help="synthetic actions (default: all)")
    parser.add_argument("--actors", type=int, help=f"actors per class (default: {defaults.actors})")
    parser.add_argument("--clips", type=int, help=f"clips per actor and class (default: {defaults.clips})")
    parser.add_argument("--seconds", type=float, help=f"clip length (default: {defaults.seconds})")
    parser.add_argument("--epochs", type=int, help=f"training epochs (default: {defaults.epochs})")
    parser.add_argument("--frames", type=int, help=f"T, frames per clip the model reads (default: {defaults.frames})")
    parser.add_argument("--workers", type=int, help=f"extraction processes (default: {defaults.workers})")
    parser.add_argument("--seed", type=seed, help=f"seed for videos, split and training (default: {defaults.seed})")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def options_from_args(args: argparse.Namespace) -> DemoOptions:
    base = QUICK if args.quick else DemoOptions()
    chosen = {name: getattr(args, name) for name in ("actors", "clips", "seconds", "epochs", "frames", "workers",
                                                     "seed") if getattr(args, name) is not None}
    if args.classes:
        chosen["classes"] = tuple(args.classes)
    return DemoOptions(**{**asdict(base), **chosen})


def run(args: argparse.Namespace) -> int:
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # tf.function retracing notes: noise here
    result = run_demo(args.out, options_from_args(args), progress=not args.quiet)
    print(result.summary())
    return 0
