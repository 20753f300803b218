"""Check landmark CSVs before training: per-video summaries, a whole-extraction report,
joint trajectory plots and skeleton renderings (alone or drawn over the source video).

`pose-action inspect CSV` summarizes one video; `pose-action inspect FEATURES` summarizes an
extraction per class and per video (worst first), flags videos with no pose or a low
detection rate, lists the failed ones from manifest.csv, and writes the table as CSV.
`pose-action inspect FEATURES --render-tracks <Class>/<clip> --out DIR` draws every tracked
person of a clip (extract --max-people N > 1) in its own colour.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pose_action.commands.arguments import parse_size
from pose_action.errors import EXIT_OK, EXIT_PARTIAL, InputError
from pose_action.files import check_apart, check_writable
from pose_action.inspection.plots import DEFAULT_JOINTS, RENDER_SUFFIXES, parse_joints, plot_sequence, render_sequence
from pose_action.inspection.report import format_report, inspect_features, load_with_context, write_report
from pose_action.inspection.summary import DEFAULT_MIN_DETECTION_RATE, format_summary, problem_of, summarize
from pose_action.layout import OUTPUT_DIRS, REPORT_FILE, FeaturesLayout

log = logging.getLogger(__name__)


# What Ctrl-C leaves (cli.py prints it after the command's name).
INTERRUPTED = "interrupted; nothing was written"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="CSV|FEATURES",
                        help="one landmark CSV, or an extraction folder (with landmarks/ and manifest.csv)")
    parser.add_argument("--plot", metavar="PNG", help="CSV only: plot joint trajectories and visibility")
    parser.add_argument("--joints", nargs="+", metavar="NAME",
                        help=f"joints to plot (default: {' '.join(DEFAULT_JOINTS)})")
    parser.add_argument("--render", metavar="MP4|GIF",
                        help="CSV only: write a skeleton animation, one frame per CSV row")
    parser.add_argument("--overlay", metavar="VIDEO",
                        help="with --render or --render-tracks: draw the landmarks on this source video instead")
    parser.add_argument("--size", metavar="WxH",
                        help="with --render or --render-tracks and no --overlay: canvas size "
                             "(default: the video's size from manifest.csv, else 640x480)")
    parser.add_argument("--render-tracks", metavar="CLASS/CLIP",
                        help="FEATURES only: draw every tracked person of this clip (its people file, from "
                             "extract --max-people 2 or more), each track in its own colour, the main actor "
                             "tagged 'main', one frame per processed frame; writes OUT/CLASS/CLIP.tracks.mp4")
    parser.add_argument("--out", metavar="DIR", type=Path,
                        help="with --render-tracks: the folder to write into (nothing is written outside it)")
    parser.add_argument("--gif", action="store_true", help="with --render-tracks: write a GIF instead of an MP4")
    parser.add_argument("--report", metavar="CSV",
                        help=f"FEATURES only: where to write the per-video table (default: FEATURES/{REPORT_FILE})")
    parser.add_argument("--min-detection-rate", type=float, default=DEFAULT_MIN_DETECTION_RATE,
                        metavar="R", help="flag videos with a pose in fewer than this fraction of "
                                          "frames (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=20, metavar="N",
                        help="FEATURES only: print the N worst videos (0: all; default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _run_tracks(args: argparse.Namespace, root: Path) -> int:
    """--render-tracks: one clip's people file drawn track by track into --out."""
    from pose_action.inspection.tracks import render_tracks, tracks_output

    if args.plot or args.render:
        raise InputError("--render-tracks draws one clip of a features folder; --plot and --render take a CSV")
    if args.out is None:
        raise InputError("--render-tracks needs --out DIR (the folder to write the render into)")
    if args.overlay and args.size:
        raise InputError("--size is for renders without --overlay (an overlay keeps the video's size)")
    size = parse_size(args.size) if args.size else None
    layout = FeaturesLayout(root)
    out = tracks_output(args.out, args.render_tracks, ".gif" if args.gif else ".mp4")  # checks the key
    if any(out.resolve().is_relative_to((root / folder).resolve()) for folder in OUTPUT_DIRS):
        raise InputError(f"{args.out}: --out is inside the extraction's own folders; choose another folder")
    check_apart(args.out, (root, args.overlay), containing=False)
    if args.overlay and not Path(args.overlay).is_file():
        raise InputError(f"{args.overlay}: no such video file")
    check_writable(out.parent)
    path, frames, tracks = render_tracks(layout.root, args.render_tracks, args.out, overlay=args.overlay,
                                         size=size, gif=args.gif, quiet=args.quiet)
    print(f"{args.render_tracks}: {tracks} track{'s' if tracks != 1 else ''} drawn in {frames} frames -> {path}")
    return EXIT_OK


def _run_features(args: argparse.Namespace, root: Path) -> int:
    if args.render_tracks:
        return _run_tracks(args, root)
    if args.out or args.gif:
        raise InputError("--out and --gif go with --render-tracks CLASS/CLIP")
    if args.plot or args.render or args.overlay:
        raise InputError(f"{root}: --plot, --render and --overlay take one landmark CSV, not a folder")
    layout = FeaturesLayout(root)
    report_path = Path(args.report or layout.report)
    if report_path.resolve() in (layout.manifest.resolve(), layout.config.resolve()) or any(
            report_path.resolve().is_relative_to(folder.resolve()) for folder in (layout.landmarks_dir,
                                                                                  layout.thumbnails_dir)):
        raise InputError(f"{report_path}: --report would replace the extraction's own files; choose another name")
    check_output_file(report_path, "--report")
    report = inspect_features(root, min_detection_rate=args.min_detection_rate, quiet=args.quiet)
    videos_path, classes_path = write_report(report, report_path)
    print(format_report(report, limit=max(0, args.limit)))
    log.info("report: %s (per class: %s)", videos_path, classes_path)
    if report.unreadable or report.missing:
        log.warning("%d landmark CSVs unreadable, %d listed in the manifest but missing: exit code %d",
                    report.unreadable, report.missing, EXIT_PARTIAL)
        return EXIT_PARTIAL
    return EXIT_OK


def check_output_file(path: Path, option: str) -> None:
    """Before the work: the output can be written (a folder that exists or can be made, not a folder itself)."""
    if path.is_dir():
        raise InputError(f"{path}: {option} needs a file name, not a folder")
    check_writable(path.parent)


def _run_csv(args: argparse.Namespace, path: Path) -> int:
    if args.render_tracks or args.out or args.gif:
        raise InputError(f"{path}: --render-tracks, --out and --gif take a features folder, not one CSV")
    if args.overlay and not args.render:
        raise InputError("--overlay needs --render OUT (the video or GIF to write)")
    if args.overlay and args.size:
        raise InputError("--size is for renders without --overlay (an overlay keeps the video's size)")
    joints = parse_joints(args.joints)
    size = parse_size(args.size) if args.size else None
    if args.render and Path(args.render).suffix.lower() not in RENDER_SUFFIXES:
        raise InputError(f"{args.render}: --render writes {', '.join(sorted(RENDER_SUFFIXES))} files")
    for option, output in (("--plot", args.plot), ("--render", args.render)):
        if output:
            if Path(output).resolve() in (path.resolve(), Path(args.overlay or path).resolve()):
                raise InputError(f"{output}: {option} would replace its own input; choose another name")
            check_output_file(Path(output), option)
    sequence = load_with_context(path)
    summary = summarize(sequence)
    print(format_summary(path, summary, problem_of(summary, args.min_detection_rate)))
    if args.plot:
        plot_sequence(sequence, args.plot, joints, title=path.name)
        log.info("plot: %s", args.plot)
    if args.render:
        count = render_sequence(sequence, args.render, overlay=args.overlay, size=size,
                                quiet=args.quiet)
        log.info("render: %s (%d frames)", args.render, count)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    if not 0.0 <= args.min_detection_rate <= 1.0:
        raise InputError(f"--min-detection-rate must be between 0 and 1, got {args.min_detection_rate}")
    path = Path(args.path)
    if path.is_dir():
        return _run_features(args, path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    return _run_csv(args, path)
