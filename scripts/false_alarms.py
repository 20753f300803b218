"""False alarms: the share of a video's windows that a run labels as an action when none is happening.

    python scripts/false_alarms.py RUN [RUN ...] --videos VIDEO_OR_FOLDER [...] [--threshold T]
        [--novelty-threshold D] [--out CSV]

Each run (a trained run folder) predicts every video as `pose-action predict` does (sliding
windows of the training-clip duration, smoothed, the run's own thresholds unless given):
per video and run, how many windows read an action, "no action" (the run's background class)
or "unknown". On footage of nothing happening (an empty room, an idle person, people doing
other things than the run's actions) every window read as an action is a false alarm.
A folder stands for every video in it (recursively). The table is printed and, with --out,
written as CSV.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pose_action.errors import InputError, run_script

PROG = "scripts/false_alarms.py"
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


def video_files(items: list[Path]) -> list[Path]:
    found = []
    for item in items:
        if item.is_dir():
            found += sorted(path for path in item.rglob("*") if path.suffix.lower() in VIDEO_SUFFIXES)
        elif item.is_file():
            found.append(item)
        else:
            raise InputError(f"{item}: no such video or folder")
    if not found:
        raise InputError("--videos: no video found")
    return found


def window_counts(run: Path, videos: list[Path], threshold: float | None,
                  novelty_threshold: float | None = None) -> list[dict]:
    """One row per video: windows and how many read an action, no action or unknown."""
    from pose_action.inference.backends import choose_backend
    from pose_action.inference.predictions import KIND_ACTION, KIND_NO_ACTION, KIND_UNKNOWN, label_kind
    from pose_action.inference.recognizer import Recognizer

    rows = []
    with Recognizer.load(run, choose_backend(run, "auto"), threshold=threshold,
                         novelty_threshold=novelty_threshold) as recognizer:
        for video in videos:
            result = recognizer.predict_video(video)
            kinds = [label_kind(prediction.label) for prediction in result.timeline]
            count = len(kinds)
            rows.append({"run": str(run), "video": str(video), "windows": count,
                         "action": kinds.count(KIND_ACTION) / count, "no_action": kinds.count(KIND_NO_ACTION) / count,
                         "unknown": kinds.count(KIND_UNKNOWN) / count, "threshold": recognizer.threshold,
                         "novelty_threshold": recognizer.rule.novelty, "video_label": result.label})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN")
    parser.add_argument("--videos", nargs="+", type=Path, required=True, metavar="VIDEO_OR_FOLDER")
    parser.add_argument("--threshold", type=float, default=None, help="default: each run's own")
    parser.add_argument("--novelty-threshold", type=float, default=None,
                        help="default: each run's own (2: the novelty never rejects)")
    parser.add_argument("--out", type=Path, default=None, help="write the table here as CSV")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    def work() -> str:
        import pandas as pd

        from pose_action.files import write_text_atomic

        videos = video_files(args.videos)
        table = pd.DataFrame([row for run in args.runs for row in window_counts(run, videos, args.threshold,
                                                                                 args.novelty_threshold)])
        if args.out:
            write_text_atomic(args.out, table.to_csv(index=False, float_format="%.4f"))
        return table.to_string(index=False, float_format=lambda value: f"{value:.3f}")

    return run_script(PROG, work, "interrupted; nothing was written")


if __name__ == "__main__":
    sys.exit(main())
