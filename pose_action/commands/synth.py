"""Render a synthetic UCF50-style dataset: drawn actors performing actions, with exact joints.

OUT/<Class>/v_<Class>_gNN_cNN.mp4 (group = actor) and beside each video
v_<Class>_gNN_cNN.joints.csv: the drawn positions of the figure's joints, named like
MediaPipe's landmarks, image-normalized. The real pose model finds these figures, so the
whole flow (extract, train, predict) runs on a laptop with no dataset downloaded. The same
seed gives the same frames; existing clips are kept, so a rerun resumes. `--far`, `--exit`,
`--dark`, `--crowd` (or `--conditions real`) add what real footage shows, and `--pair` a
second person close to the actor; each recorded per clip in OUT/conditions.csv.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pose_action.commands.arguments import parse_size, seed
from pose_action.errors import InputError
from pose_action.synth.conditions import CONDITIONS, PRESETS, preset
from pose_action.synth.dataset import DEFAULT_FPS, DEFAULT_OCCLUSION_RATE, DEFAULT_SECONDS, DEFAULT_SIZE, write_dataset
from pose_action.synth.motions import ACTIONS, ALL_ACTIONS, BACKGROUND_CLASS, LOCOMOTION


def _rates(name: str) -> str:
    return ", ".join(f"{condition} {getattr(PRESETS[name], condition):g}" for condition in CONDITIONS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT", help="output folder (OUT/<Class>/v_<Class>_gNN_cNN.mp4)")
    parser.add_argument("--classes", nargs="+", choices=ALL_ACTIONS, metavar="CLASS",
                        help=f"classes to render (default: every in-place class): {', '.join(ACTIONS)}; "
                             f"locomotion across the frame, only when named: {', '.join(LOCOMOTION)}; "
                             f"{BACKGROUND_CLASS} (only when named): \"no action\" clips (an idle actor, the "
                             "empty scene, someone walking past) for a run's background class")
    parser.add_argument("--actors", type=int, default=3, help="actors (groups g01..) per class (default 3)")
    parser.add_argument("--clips", type=int, default=2, help="clips per actor and class (default 2)")
    parser.add_argument("--seed", type=seed, default=0, help="the same seed gives the same videos (default 0)")
    parser.add_argument("--size", default="{}x{}".format(*DEFAULT_SIZE), metavar="WxH",
                        help="frame size (default %(default)s)")
    parser.add_argument("--fps", type=float, default=DEFAULT_FPS, help="frames per second (default 25)")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="clip length (default 2)")
    parser.add_argument("--occlusion", type=float, default=DEFAULT_OCCLUSION_RATE, metavar="RATE",
                        help=f"share of clips with a partial occluder (default {DEFAULT_OCCLUSION_RATE})")
    conditions = parser.add_argument_group(
        "real-footage conditions", "share of clips (0..1, drawn independently per clip) with each condition; "
        "recorded in OUT/conditions.csv")
    conditions.add_argument("--conditions", choices=tuple(PRESETS), default="none",
                            help=f"preset rates: none (default) or real ({_rates('real')}); "
                                 "the options below override it")
    conditions.add_argument("--far", type=float, metavar="RATE",
                            help="actor far from the camera: 0.15-0.35 of the frame height, anywhere in the frame")
    conditions.add_argument("--exit", type=float, metavar="RATE",
                            help="actor walks in from or out of a frame edge: part of the clip shows nobody")
    conditions.add_argument("--dark", type=float, metavar="RATE", help="dim, low-contrast, noisy room")
    conditions.add_argument("--crowd", type=float, metavar="RATE",
                            help="a second person standing about or walking across")
    conditions.add_argument("--pair", type=float, metavar="RATE",
                            help="a second person close to the actor, turned to it, the bodies overlapping "
                                 "(not in the real preset); replaces the crowd's bystander")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def check_out(out: Path) -> None:
    """OUT receives videos: never a features folder or a run (their readers would meet class folders)."""
    from pose_action.layout import CONFIG_FILE, MANIFEST_FILE
    from pose_action.runs import CV_FILE, run_proof_problem

    if (out / CONFIG_FILE).is_file() or (out / MANIFEST_FILE).is_file():
        raise InputError(f"{out}: a features folder (extract's output), not a video folder; choose another OUT")
    if out.is_dir() and ((out / CV_FILE).is_file() or run_proof_problem(out) is None) and any(out.iterdir()):
        raise InputError(f"{out}: a trained run, not a video folder; choose another OUT")


def run(args: argparse.Namespace) -> int:
    check_out(Path(args.out))
    rates = preset(args.conditions, far=args.far, exit=args.exit, dark=args.dark, crowd=args.crowd, pair=args.pair)
    paths = write_dataset(args.out, classes=args.classes, actors=args.actors, clips=args.clips,
                          seed=args.seed, size=parse_size(args.size), fps=args.fps, seconds=args.seconds,
                          occlusion_rate=args.occlusion, conditions=rates, progress=not args.quiet)
    classes = len({path.parent.name for path in paths})
    print(f"{len(paths)} clips of {classes} classes in {args.out}")
    return 0
