"""What the scout of `--max-people N > 1` costs in finding people (extraction.pose.PeopleFinder).

Renders synthetic crowd clips (a drawn actor plus a bystander whose joints are known), runs the
PeopleFinder per (scout_every, hold) setting on them and on real clips, and prints per setting: the
share of frames where the main track is on the actor (worst clip, mean, clips below 99%), the
bystander frames where some pose lies on the bystander's drawn joints, frames with 2+ poses and
tracks on the real clips, and the finder's IMAGE-mode searches per frame (whole masked frame or a
crop around a person; each a detector pass plus landmarks where found) beside the one-pose VIDEO
landmarker's pass on every frame. With scout_every 0 the many-pose VIDEO landmarker runs instead.

    python scripts/scout_sweep.py --settings 0:0,8:12,8:50,4:50 \
        --real ../shared/videos/mmaction2_demos/Kinetics_arm_wrestling/demo.mp4
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from pose_action.extraction.pose import PeopleFinder, resolve_model
from pose_action.extraction.tracking import link_tracks
from pose_action.landmarks import INDEX, X, Y
from pose_action.synth import dataset as synth
from pose_action.synth.conditions import Conditions
from pose_action.synth.motions import ACTIONS
from pose_action.video import probe, read_frames

TORSO = [INDEX[n] for n in ("nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_knee",
                             "right_knee")]


def crowd_clips(root: Path, seconds: float) -> list[Path]:
    """Two crowd clips per synthetic action (actors 06 and 07, seed = the action's number)."""
    paths = []
    for seed, action in enumerate(ACTIONS):
        for actor in (6, 7):
            path = root / action / synth.clip_name(action, actor, 0)
            if not path.exists():
                synth.write_clip(path, action, actor=actor, clip=0, seed=seed, seconds=seconds,
                                 conditions=Conditions(crowd=True))
            paths.append(path)
    return paths


def distance(pose: np.ndarray, joints: np.ndarray) -> float:
    return float(np.nanmean(np.linalg.norm(pose[TORSO][:, [X, Y]] - joints[TORSO, :2], axis=-1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="0:0,8:12", help="scout_every:hold pairs (0:0 = every frame)")
    parser.add_argument("--real", nargs="*", type=Path, default=[], help="real clips (poses and tracks only)")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--work", type=Path, help="render the crowd clips here (kept) instead of a temp dir")
    args = parser.parse_args()
    model = resolve_model("lite")
    with tempfile.TemporaryDirectory(prefix="scout_sweep_") as temporary:
        crowd = crowd_clips(args.work or Path(temporary), args.seconds)
        clips = []
        for video in crowd + list(args.real):
            info = probe(video)
            truth = ((synth.read_joints(video), synth.read_joints(synth.bystander_path(video)))
                     if video in crowd else None)
            clips.append((info.width / info.height, list(read_frames(video, 1, info)), truth))
        for setting in args.settings.split(","):
            every, hold = (int(value) for value in setting.split(":"))
            on_actor, found, visible, two_real, tracks_real, searches, frames_total = [], 0, 0, [], [], 0, 0
            for aspect, frames, truth in clips:
                with PeopleFinder(model, max_people=2, scout_every=every, hold=hold, aspect=aspect) as finder:
                    people, hints = [], []
                    for _, stamp, frame in frames:
                        people.append(finder.detect_all(frame, stamp))
                        hints.append(finder.idents)
                    searches += finder.searches
                    frames_total += len(frames)
                tracking = link_tracks(people, aspect, hints=hints)
                if truth is None:
                    two_real.append(sum(len(poses) >= 2 for poses in people))
                    tracks_real.append(tracking.tracks)
                    continue
                actor, bystander = truth
                seen = np.isfinite(bystander[:, TORSO, 0]).all(axis=1)
                on_actor.append(np.mean([
                    distance(pose, a) < (distance(pose, b) if shown else np.inf)
                    for pose, a, b, shown in zip(tracking.person(people, 0), actor, bystander, seen)
                    if pose is not None]))
                found += sum(any(distance(pose, b) < 0.03 for pose in poses)
                             for poses, b, shown in zip(people, bystander, seen) if shown)
                visible += int(seen.sum())
            print(f"scout_every {every:2d} hold {hold:5d}: main on actor worst {min(on_actor):.3f} mean "
                  f"{np.mean(on_actor):.3f}, clips below 0.99: {sum(share < 0.99 for share in on_actor)}; bystander "
                  f"found {found}/{visible}; real clips: 2+ pose frames {two_real}, tracks {tracks_real}; "
                  f"IMAGE-mode searches per frame {searches / frames_total:.2f}", flush=True)


if __name__ == "__main__":
    main()
