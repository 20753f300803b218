"""Turn a folder of labelled videos into landmark CSVs, thumbnails and a manifest.

VIDEO_ROOT/<Class>/<clip>.avi (or a CSV list path,label[,group]) becomes
FEATURES/landmarks/<Class>/<clip>.csv (one row per processed frame),
FEATURES/frames/<Class>/<clip>.npz (thumbnails of frames spread over the clip),
FEATURES/motion/<Class>/<clip>.npz (with --motion: optical-flow vectors of every processed frame),
FEATURES/manifest.csv (one row per video: ok, no_pose or failed, with the reason) and
FEATURES/extract_config.json (pose model and its SHA-256, sampling, thumbnails, versions).

Resumable: every output is written to a temp file and renamed, and a video's manifest row
is on disk before it counts as done, so a rerun after a crash or Ctrl-C skips finished
videos and redoes the rest (failed ones included). Parallel: one process per worker, each
video with a fresh PoseLandmarker (results never depend on which worker ran a video); a
worker that dies in native code costs only the video it was on. A bad file never stops
the run: it is recorded as failed and the exit code is 3.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from pose_action.catalog import BACKBONES
from pose_action.extraction.discovery import DEFAULT_GROUP_PATTERN
from pose_action.extraction.pool import default_workers
from pose_action.extraction.run import extract_videos, format_summary
from pose_action.extraction.settings import SCOUT_EVERY, ExtractSettings, make_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video_root", metavar="VIDEO_ROOT", type=Path,
                        help="folder of <Class>/<clip> videos, or a CSV list path,label[,group]")
    parser.add_argument("--out", required=True, type=Path, metavar="FEATURES",
                        help="output folder (created; a rerun resumes)")
    parser.add_argument("--pose-model", default=ExtractSettings.model_name, metavar="lite|full|heavy|PATH",
                        help="MediaPipe pose landmarker bundle (default: lite, shipped)")
    parser.add_argument("--workers", type=int, default=default_workers(), metavar="N",
                        help="worker processes (default: all cores, here %(default)s)")
    parser.add_argument("--scheduler", metavar="local|tcp://HOST:PORT",
                        help="run the videos on Dask: local starts a cluster here with --workers "
                             "processes; tcp://HOST:PORT uses a running `dask scheduler` whose "
                             "workers see VIDEO_ROOT and FEATURES at the same paths")
    parser.add_argument("--group-pattern", default=DEFAULT_GROUP_PATTERN, metavar="REGEX",
                        help="regex whose first group is a file's group/actor "
                             "(default: UCF50 %(default)r)")
    sampling = parser.add_mutually_exclusive_group()
    sampling.add_argument("--fps", type=float, dest="target_fps", metavar="F",
                          help="process about F frames per second (default: every frame)")
    sampling.add_argument("--stride", type=int, metavar="N", help="process every N-th frame")
    parser.add_argument("--thumb-size", type=int, default=ExtractSettings.thumb_size, metavar="S",
                        help="side of the square RGB thumbnails (default: %(default)s)")
    parser.add_argument("--thumb-frames", type=int, default=ExtractSettings.thumb_frames, metavar="N",
                        help="thumbnails per clip, spread uniformly (default: %(default)s)")
    parser.add_argument("--embed", choices=BACKBONES,
                        help="also store frozen CNN embeddings of the same frames (needs TensorFlow)")
    parser.add_argument("--embed-weights", default=ExtractSettings.embed_weights, metavar="imagenet|none|PATH",
                        help="weights of the --embed backbone (default: %(default)s)")
    parser.add_argument("--max-people", type=int, default=ExtractSettings.max_people, metavar="N",
                        help="people the landmarker looks for in each frame (default: %(default)s). Above 1, "
                             "people are tracked across frames, the landmark CSV holds the main actor "
                             "(the same person throughout) and FEATURES/people/<Class>/<clip>.csv every "
                             "tracked person")
    parser.add_argument("--scout-every", type=int, default=SCOUT_EVERY, metavar="K",
                        help="with --max-people above 1: while one person is tracked, look for more only "
                             "every K-th processed frame and track them all from the first time another "
                             "is seen (the cost of one person stays close to --max-people 1's); 0 looks "
                             "on every frame, as before (about 2x slower on one-person clips; "
                             "default: %(default)s)")
    parser.add_argument("--motion", action="store_true",
                        help="also store optical-flow motion vectors of every processed frame "
                             "(FEATURES/motion/<Class>/<clip>.npz); on a folder extracted without it, "
                             "adds only the motion files (no pose work, landmarks untouched)")
    parser.add_argument("--no-zoom", dest="zoom", action="store_false",
                        help="where the landmarker finds nobody in a frame, do not look again in a crop around "
                             "the person's last pose or where the frame moves (the zoom finds small, far "
                             "people; it costs a second landmarker pass on such frames)")
    parser.add_argument("--no-exposure", dest="exposure", action="store_false",
                        help="give the landmarker an underexposed frame as it is, not stretched to the full "
                             "range of brightness")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo every video, also when FEATURES holds other settings")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def run(args: argparse.Namespace) -> int:
    settings = functools.partial(make_settings, args.pose_model, target_fps=args.target_fps, stride=args.stride,
                                 thumb_size=args.thumb_size, thumb_frames=args.thumb_frames, embed=args.embed,
                                 embed_weights=args.embed_weights, max_people=args.max_people,
                                 motion=args.motion, scout_every=args.scout_every, zoom=args.zoom,
                                 exposure=args.exposure)
    report = extract_videos(args.video_root, args.out, settings, workers=args.workers, scheduler=args.scheduler,
                            group_pattern=args.group_pattern, overwrite=args.overwrite, progress=not args.quiet)
    if not args.quiet:
        print(format_summary(report))
    return report.exit_code
