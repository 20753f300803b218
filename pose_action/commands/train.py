"""Train a fusion, pose, rgb, keypoints, lrcn or convlstm model on an extracted features folder.

The split is group-aware (a group's clips, one actor and background in UCF50, are never on
both sides of train|test). Each model trains with its recipe (pose_action.training.recipes):
by default a fixed cosine schedule whose last epochs' weights are averaged, label smoothing,
and augmentation of training clips only; every flag below overrides one setting. The run
directory holds everything inference needs to rebuild the input. `--cv` trains every fold of
a logo, groupkfold:K or stratifiedgroupkfold:K split and reports the accuracy pooled over
every clip of the set (a clip not predicted counts wrong), then mean ± std of the folds.

Memory stays flat as the dataset grows: clips are streamed from disk per batch, and only
parsed landmarks are cached, up to `--cache-mb`. `--distribute mirrored` trains on every
local GPU with tf.distribute.MirroredStrategy.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pose_action import runs
from pose_action.catalog import BACKBONES, MODEL_NAMES
from pose_action.commands.arguments import seed
from pose_action.errors import InputError
from pose_action.features import LOCOMOTION_KINDS, POSE_FEATURES
from pose_action.files import check_apart
from pose_action.training.evaluate import cv_summary_line, summary_line
from pose_action.training.recipes import recipe_for
from pose_action.training.train import DISTRIBUTE_CHOICES, TrainOptions, train_cv, train_run


def _parse_params(items: list[str]) -> dict:
    params = {}
    for item in items:
        name, separator, text = item.partition("=")
        if not separator:
            raise InputError(f"--param {item!r}: expected NAME=VALUE, e.g. lstm_units=32")
        try:
            params[name] = json.loads(text)
        except json.JSONDecodeError:
            params[name] = text
    return params


# What Ctrl-C leaves (cli.py prints it after the command's name).
INTERRUPTED = ("interrupted; no run was written (a run appears only when complete); with --cv, finished folds "
               "are kept and a rerun resumes")


def check_param_types(params: dict, defaults: dict) -> None:
    """Each --param of the kind its default is (a number where a number goes), named in one line."""
    for name, value in params.items():
        if name not in defaults:
            continue  # unknown names: resolve_params lists the known ones
        default = defaults[name]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if isinstance(default, bool):
            ok, expected = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            ok, expected = isinstance(value, int) and not isinstance(value, bool), f"a whole number like {default}"
        elif isinstance(default, float) or default is None:
            ok, expected = number or (default is None and value is None), f"a number like {default or 0.001}"
        elif isinstance(default, str):
            ok, expected = isinstance(value, str), f"a name like {default}"
        elif isinstance(default, list):
            ok, expected = (isinstance(value, list) and all(isinstance(item, int) and not isinstance(item, bool)
                                                            for item in value)), \
                f"a list of whole numbers like {json.dumps(default)}"
        else:
            continue
        if not ok:
            raise InputError(f"--param {name}={json.dumps(value)}: expected {expected}")


class DeprecatedAlias(argparse.Action):
    """An old spelling of an option: still sets it, and says once on stderr what to write instead."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        print(f"pose-action: {option_string} is deprecated; use --{self.dest.replace('_', '-')}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("features", type=Path, help="features folder written by `pose-action extract`")
    parser.add_argument("--out", type=Path, required=True, help="run directory to create")
    parser.add_argument("--model", choices=MODEL_NAMES, default=TrainOptions.model,
                        help="fusion (pose + appearance, default), pose (skeleton only), rgb (appearance only), "
                             "and the tutorial baselines keypoints (raw MediaPipe keypoints + LSTM), "
                             "lrcn (TimeDistributed CNN + LSTM), convlstm (ConvLSTM2D), "
                             "motion (optical flow alone, needs `extract --motion`)")
    parser.add_argument("--split", default=TrainOptions.split,
                        help="holdout (default: a fraction of groups), logo (leave one group out), "
                             "groupkfold:K, stratifiedgroupkfold:K (group folds with similar class mixes), "
                             "or random (LEAKS groups; only to compare with tutorials)")
    parser.add_argument("--fold", type=int, default=None,
                        help="logo/(stratified)groupkfold: which fold is the test (0-based)")
    parser.add_argument("--cv", action="store_true",
                        help="train every fold; report accuracy pooled over every clip, then mean ± std of folds")
    parser.add_argument("--test-fraction", type=float, default=TrainOptions.test_fraction,
                        help="holdout/random: share of groups/clips")
    parser.add_argument("--val-fraction", type=float, default=None,
                        help="share of training groups held out to monitor training (and to stop early with "
                             "--patience); default 0: every training group trains")
    parser.add_argument("--seed", type=seed, default=TrainOptions.seed)
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of the fixed schedule (default: the model's recipe, 60; keypoints 200)")
    parser.add_argument("--batch-size", type=int, default=TrainOptions.batch_size)
    parser.add_argument("--frames", type=int, default=None,
                        help="T: frames sampled uniformly over each clip (default 32; keypoints 30, lrcn 20)")
    parser.add_argument("--pose-features", choices=POSE_FEATURES, default=None,
                        help="body (bone directions, joint angles, visibility; default), normalized (all 33 "
                             "landmarks hip-centred, the first release's), raw (the tutorials'; keypoints)")
    parser.add_argument("--appearance", choices=("thumbs", "embeddings"), default=TrainOptions.appearance,
                        help="rgb/fusion: thumbnails through a small CNN trained end to end, or frozen "
                             "CNN embeddings computed at extraction (needs --backbone)")
    parser.add_argument("--backbone", choices=BACKBONES, default=None,
                        help="embeddings: the backbone used at extraction")
    parser.add_argument("--scene-frames", type=int, default=TrainOptions.scene_frames,
                        help="rgb/fusion: the appearance stream sees this many of the T frames, each "
                             "standing for T/N pose frames (scene context changes slowly, and the "
                             "thumbnail CNN is most of the training time); 0 = every frame "
                             "(default %(default)s)")
    parser.add_argument("--motion", action="store_true",
                        help="fusion: add an optical-flow stream (needs `extract --motion`; off by default: "
                             "see the README's measurements); --model motion reads motion alone")
    parser.add_argument("--second-person", action="store_true",
                        help="pose/fusion: add the second most important person of each frame, relative to "
                             "the main actor (offset, size, its own pose, presence) to the pose vectors; needs "
                             "FEATURES extracted with --max-people 2 (its people files)")
    parser.add_argument("--locomotion", nargs="?", const="full", choices=LOCOMOTION_KINDS, default=None,
                        help="pose/fusion: what the pose vectors carry of how fast and where the body moves, in "
                             "torso lengths per second: speed = the window's steady velocity and cadence (what "
                             "tells walking from jogging from running); full = also per-frame velocity, stride, "
                             "place in the frame, entering and leaving it (a bare --locomotion); none = neither "
                             f"(default: pose {recipe_for('pose').locomotion}, "
                             f"fusion {recipe_for('fusion').locomotion}, read by its pose-only head alone unless "
                             "--param fused_locomotion=true)")
    parser.add_argument("--average-last", type=int, default=None,
                        help="save the mean of the last N epochs' weights (default 10; 0: the last epoch's)")
    parser.add_argument("--label-smoothing", type=float, default=None, help="default 0.1 (keypoints 0)")
    parser.add_argument("--patience", type=int, default=None,
                        help="early stopping on validation loss after N epochs without improvement, keeping "
                             "the best epoch (needs --val-fraction; default: off, a fixed schedule)")
    parser.add_argument("--no-augment", action="store_true", help="no augmentation of training clips")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="model size/regularization, e.g. lstm_units=32, dropout=0.5 (repeatable)")
    parser.add_argument("--loader-threads", type=int, default=TrainOptions.loader_threads, metavar="N",
                        help="threads making batches while the model trains (default %(default)s)")
    parser.add_argument("--workers", type=int, dest="loader_threads", action=DeprecatedAlias, metavar="N",
                        help="deprecated alias of --loader-threads (extract's --workers are processes)")
    parser.add_argument("--distribute", choices=DISTRIBUTE_CHOICES, default=TrainOptions.distribute,
                        help="mirrored: tf.distribute.MirroredStrategy over every local GPU (the batch is split "
                             "between them); with fewer than 2 GPUs it says so and trains as none")
    parser.add_argument("--cache-mb", type=int, default=TrainOptions.cache_mb,
                        help="parsed landmarks kept in memory for the run (its epochs, then its evaluation), "
                             "at most this many MB "
                             "(thumbnails and embeddings are always streamed from disk; default %(default)s)")
    parser.add_argument("--tensorboard", type=Path, metavar="DIR",
                        help="write TensorBoard logs to DIR (with --cv, DIR/fold-K): per-epoch loss, accuracy and "
                             "learning rate, and the confusion matrix of the validation clips as an image (only "
                             "with a validation set, --val-fraction; without one it is skipped); needs the "
                             "tensorboard package")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run at --out")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")


def options_from_args(args: argparse.Namespace) -> TrainOptions:
    return TrainOptions(model=args.model, split=args.split, fold=args.fold, test_fraction=args.test_fraction,
                        val_fraction=args.val_fraction, seed=args.seed, epochs=args.epochs,
                        batch_size=args.batch_size, frames=args.frames, pose_features=args.pose_features,
                        appearance=args.appearance, backbone=args.backbone, scene_frames=args.scene_frames,
                        motion=args.motion,
                        second_person=args.second_person, locomotion=args.locomotion,
                        patience=args.patience,
                        average_last=args.average_last, label_smoothing=args.label_smoothing,
                        augment=False if args.no_augment else None,
                        params=_parse_params(args.param), loader_threads=args.loader_threads,
                        distribute=args.distribute, cache_mb=args.cache_mb)


def check_out(out: Path, features: Path, cv: bool) -> None:
    """--out is apart from the features it trains on, and what is there already is a run (or nothing)."""
    if cv:  # folds are added to it: only ever to a cross-validation
        runs.check_cv_output(out, (features,))
    else:
        check_apart(out, (features,))


def check_tensorboard(log_dir: Path | None, features: Path, out: Path) -> None:
    """--tensorboard: apart from the features and the run, and the package that writes the logs is there."""
    if log_dir is None:
        return
    check_apart(log_dir, (features, out), "--tensorboard", containing=False)  # not inside what is read or replaced
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise InputError("--tensorboard needs the tensorboard package (pip install tensorboard)")


def run(args: argparse.Namespace) -> int:
    check_out(args.out, args.features, args.cv)
    check_tensorboard(args.tensorboard, args.features, args.out)
    options = options_from_args(args)
    if options.params:
        from pose_action.training.models import DEFAULT_PARAMS

        check_param_types(options.params, DEFAULT_PARAMS)
    if args.cv:
        summary = train_cv(args.features, args.out, options, overwrite=args.overwrite, quiet=args.quiet,
                           tensorboard=args.tensorboard)
        print(f"{options.model} {options.split} {cv_summary_line(summary)} -> {args.out / runs.CV_FILE}")
        return 0
    metrics = train_run(args.features, args.out, options, overwrite=args.overwrite, quiet=args.quiet,
                        tensorboard=args.tensorboard)
    print(f"{options.model}: {summary_line(metrics)} -> {args.out}")
    return 0
