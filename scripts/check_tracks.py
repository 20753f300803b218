"""Check multi-person tracking on real clips: do the two main tracks keep their people?

Runs `pose-action extract --max-people N` on the given videos (each linked into its own class
folder in a temp dir), then reads every clip's people file and prints, per clip: frames with
two or more poses, tracks, each of the first tracks' frames and mean torso position, and
swaps: the frames (where tracks 0 and 1 are both found) at which their left-right order
flips while they stand at least a torso apart; zero means the two tracks never traded places.

    python scripts/check_tracks.py                 # the mmaction2 two-person demos
    python scripts/check_tracks.py VIDEO ... --max-people 3
    python scripts/check_tracks.py --scout-every 0          # the many-pose landmarker on every frame (no scout)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from pose_action.extraction.manifest import read_table
from pose_action.layout import FeaturesLayout
from pose_action.people import read_people

DEMOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "videos" / "mmaction2_demos"
DEFAULT_VIDEOS = (DEMOS / "NTU_2person_interaction" / "ntu_sample.avi",
                  DEMOS / "Kinetics_arm_wrestling" / "demo.mp4")


def torso(table, axis: str) -> np.ndarray:
    names = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
    return table[[f"{name}_{axis}" for name in names]].to_numpy().mean(axis=1)


def swaps(people) -> tuple[int, int]:
    """(frames with tracks 0 and 1 both found, left-right order flips between them while apart)."""
    zero = people[people["track"] == 0].set_index("frame")
    one = people[people["track"] == 1].set_index("frame")
    both = zero.index.intersection(one.index)
    if len(both) == 0:
        return 0, 0
    dx = torso(zero.loc[both], "x") - torso(one.loc[both], "x")
    size = np.abs(torso(zero.loc[both], "y") - zero.loc[both][["left_hip_y", "right_hip_y"]].to_numpy().mean(axis=1))
    apart = np.abs(dx) > size  # at least a (half) torso apart: a clear left-right order
    order = np.sign(dx[apart])
    return len(both), int((np.diff(order) != 0).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path, default=list(DEFAULT_VIDEOS))
    parser.add_argument("--max-people", type=int, default=2)
    parser.add_argument("--pose-model", default="lite")
    parser.add_argument("--scout-every", type=int, help="extract --scout-every (default: extract's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="check_tracks_") as temporary:
        root, out = Path(temporary) / "videos", Path(temporary) / "features"
        for number, video in enumerate(args.videos):
            if not video.is_file():
                raise SystemExit(f"{video}: no such video")
            target = root / f"Clip{number}" / video.name
            target.parent.mkdir(parents=True)
            target.symlink_to(video.resolve())
        subprocess.run([sys.executable, "-m", "pose_action", "extract", str(root), "--out", str(out), "--quiet",
                        "--max-people", str(args.max_people), "--pose-model", args.pose_model,
                        "--thumb-frames", "4"]
                       + ([] if args.scout_every is None else ["--scout-every", str(args.scout_every)]), check=True)
        layout = FeaturesLayout(out)
        manifest = read_table(layout.manifest).set_index("key")
        print(f"--max-people {args.max_people}, --scout-every {'default' if args.scout_every is None else args.scout_every}, "
              f"pose model {args.pose_model}")
        for key, row in manifest.iterrows():
            people = read_people(layout.people(key))
            per_frame = people.groupby("frame").size()
            together, flips = swaps(people)
            print(f"{row['video']}: {int(row['frames_processed'])} frames, {int((per_frame >= 2).sum())} with 2+ poses, "
                  f"{int(row['tracks'])} tracks, {int(row['switches_repaired'])} first-pose switches repaired; "
                  f"tracks 0 and 1 together in {together} frames, {flips} left-right swaps")
            for track, rows in list(people.groupby("track"))[:4]:
                print(f"    track {track}: {len(rows):4d} frames ({rows['frame'].min()}-{rows['frame'].max()}), "
                      f"torso at x {np.mean(torso(rows, 'x')):.2f} (sd {np.std(torso(rows, 'x')):.2f}), "
                      f"y {np.mean(torso(rows, 'y')):.2f}")


if __name__ == "__main__":
    main()
