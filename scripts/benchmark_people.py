"""Benchmark the people of `extract --max-people N` on real and drawn clips: who is found, and do tracks keep them?

Runs `pose-action extract --max-people N` once over all the clips (real videos linked into their
own class folders in a temp dir, drawn crowd and pair clips and an empty scene rendered there), then
reads every clip's people file and prints, per clip:
- frames with k people found (k = 0, 1, 2, ...) and the share with two or more;
- tracks, and swaps: the frames (where tracks 0 and 1 are both found) at which their left-right
  order flips while they stand at least a torso apart; zero means the two never traded places;
- drawn clips (`--crowd K`: the actor and a bystander standing about or walking through;
  `--pair K`: a second person close to the actor, turned to it, the bodies overlapping; both
  people's joints are known): the frames
  with the bystander fully in view, the share of those where a pose lies on the bystander
  (recall: mean distance of its torso and knee landmarks from the drawn joints below `--within`
  of the frame), also over the frames where it is clear of the actor (no body joint inside the
  actor's drawn bounding box: not hidden behind them), the share of poses off the actor that lie
  on the bystander (precision), and the share of track 0's poses on the actor;
- the empty scene (`--empty`: a room without people, drawn with OpenCV, camera noise): poses found.

    python scripts/benchmark_people.py                                  # the mmaction2 two-person demos
    python scripts/benchmark_people.py --crowd 6 --pair 6 --empty       # only drawn clips and an empty scene
    python scripts/benchmark_people.py VIDEO ... --max-people 3
    python scripts/benchmark_people.py --scout-every 0    # the many-pose landmarker on every frame (no finder)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from pose_action.errors import InputError, run_script
from pose_action.extraction.manifest import read_table
from pose_action.landmarks import INDEX, read_csv
from pose_action.layout import FeaturesLayout
from pose_action.people import read_people

PROG = "scripts/benchmark_people.py"
DEMOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "videos" / "mmaction2_demos"
DEFAULT_VIDEOS = (DEMOS / "NTU_2person_interaction" / "ntu_sample.avi",
                  DEMOS / "Kinetics_arm_wrestling" / "demo.mp4")
BODY = ("nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_knee", "right_knee")
EMPTY = "Empty"


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


def people_per_frame(people: pd.DataFrame, frames: int) -> np.ndarray:
    """How many frames have k people found, k = 0.. (index: k)."""
    counts = people.groupby("frame").size().to_numpy() if len(people) else np.zeros(0, dtype=int)
    histogram = np.bincount(counts, minlength=1)
    histogram[0] = frames - len(counts)
    return histogram


def body_xy(people: pd.DataFrame) -> np.ndarray:
    """(rows, len(BODY), 2) the people file's body landmarks."""
    return np.stack([people[[f"{name}_x", f"{name}_y"]].to_numpy() for name in BODY], axis=1)


def bystander_scores(people: pd.DataFrame, frame_index: np.ndarray, video: Path, within: float) -> dict:
    """Recall and precision of the bystander of a drawn crowd clip, and track 0 on the actor."""
    from pose_action.synth import dataset as synth

    body = [INDEX[name] for name in BODY]
    actor = synth.read_joints(video)[:, body, :2]
    bystander = synth.read_joints(synth.bystander_path(video))
    joints = synth.read_joints(video)[..., :2]
    in_view = (np.isfinite(bystander[..., 0]).all(axis=1) & (bystander[..., :2] >= 0).all(axis=(1, 2))
               & (bystander[..., :2] <= 1).all(axis=(1, 2)))
    bystander = bystander[:, body, :2]
    # clear: in view and no body joint inside the actor's drawn bounding box (not behind or in front of them)
    low, high = np.nanmin(joints, axis=1)[:, None], np.nanmax(joints, axis=1)[:, None]
    clear = in_view & ~((bystander >= low) & (bystander <= high)).all(axis=-1).any(axis=1)
    frames = people["frame"].to_numpy()
    positions = np.searchsorted(frame_index, frames)  # row of each pose's processed frame
    xy = body_xy(people)
    to_actor = np.nanmean(np.linalg.norm(xy - actor[positions], axis=-1), axis=1)
    to_bystander = np.nanmean(np.linalg.norm(xy - bystander[positions], axis=-1), axis=1)
    on_actor, on_bystander = to_actor < within, np.nan_to_num(to_bystander, nan=np.inf) < within
    found = set(frames[on_bystander].tolist())
    shown, apart = frame_index[in_view[:len(frame_index)]], frame_index[clear[:len(frame_index)]]
    off_actor = ~on_actor
    main = people["track"].to_numpy() == 0
    return {"in_view": len(shown), "recall": np.mean([frame in found for frame in shown]) if len(shown) else np.nan,
            "clear": len(apart), "recall_clear": np.mean([frame in found for frame in apart]) if len(apart) else np.nan,
            "precision": on_bystander[off_actor].mean() if off_actor.any() else np.nan,
            "false": int((off_actor & ~on_bystander).sum()),
            "main_on_actor": on_actor[main].mean() if main.any() else np.nan}


def render_two(root: Path, count: int, seconds: float, condition: str) -> list[Path]:
    """`count` drawn clips with a second person (`condition` crowd or pair; the actions in turn,
    actors 06 on, clip 0 for crowd and 1 for pair; seed = the clip's number)."""
    from pose_action.synth import dataset as synth
    from pose_action.synth.conditions import Conditions
    from pose_action.synth.motions import ACTIONS

    paths = []
    clip = ("crowd", "pair").index(condition)
    for number in range(count):
        action, actor = ACTIONS[number % len(ACTIONS)], 6 + number // len(ACTIONS)
        path = root / action / synth.clip_name(action, actor, clip)
        synth.write_clip(path, action, actor=actor, clip=clip, seed=number, seconds=seconds,
                         conditions=Conditions(**{condition: True}))
        paths.append(path)
    return paths


def render_empty(path: Path, seconds: float, size: tuple[int, int] = (320, 240), fps: float = 25.0) -> Path:
    """A room without people: a wall, a floor, a door, a table and a chair, camera noise on every frame."""
    import cv2

    width, height = size
    rng = np.random.default_rng(0)
    room = np.zeros((height, width, 3), np.uint8)
    room[: int(height * 0.6)] = (190, 200, 205)
    room[int(height * 0.6):] = (60, 80, 100)
    cv2.rectangle(room, (30, 40), (80, int(height * 0.6)), (90, 110, 140), -1)  # door
    cv2.rectangle(room, (180, 120), (290, 135), (40, 60, 90), -1)  # table top and legs
    for x in (185, 280):
        cv2.rectangle(room, (x, 135), (x + 5, 190), (40, 60, 90), -1)
    cv2.rectangle(room, (120, 110), (150, 170), (30, 30, 160), -1)  # chair
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for _ in range(int(seconds * fps)):
        noise = rng.normal(0, 4, room.shape)
        writer.write(np.clip(room + noise, 0, 255).astype(np.uint8))
    writer.release()
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path, help="real clips (default: the mmaction2 two-person demos)")
    parser.add_argument("--max-people", type=int, default=2)
    parser.add_argument("--pose-model", default="lite")
    parser.add_argument("--scout-every", type=int, help="extract --scout-every (default: extract's)")
    parser.add_argument("--crowd", type=int, default=0, metavar="K", help="also K drawn crowd clips")
    parser.add_argument("--pair", type=int, default=0, metavar="K", help="also K drawn pair clips")
    parser.add_argument("--empty", action="store_true", help="also an empty scene")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the drawn clips")
    parser.add_argument("--within", type=float, default=0.03, help="a pose on a drawn person: mean distance below this")
    args = parser.parse_args(argv)
    drawn_only = args.crowd or args.pair or args.empty
    videos = args.videos or ([] if drawn_only else list(DEFAULT_VIDEOS))
    return run_script(PROG, lambda: measure(videos, args), "interrupted; nothing was kept (a temporary folder)")


def measure(videos: list[Path], args: argparse.Namespace) -> None:
    """Render and link the clips, extract them once, print the report."""
    with tempfile.TemporaryDirectory(prefix="benchmark_people_") as temporary:
        root, out = Path(temporary) / "videos", Path(temporary) / "features"
        for number, video in enumerate(videos):
            if not video.is_file():
                raise InputError(f"{video}: no such video")
            target = root / f"Clip{number}" / video.name
            target.parent.mkdir(parents=True)
            target.symlink_to(video.resolve())
        drawn = {kind: {path.resolve() for path in render_two(root, getattr(args, kind), args.seconds, kind)}
                 for kind in ("crowd", "pair")}
        if args.empty:
            render_empty(root / EMPTY / "empty_room.mp4", args.seconds)
        extracted = subprocess.run([sys.executable, "-m", "pose_action", "extract", str(root), "--out", str(out),
                                    "--quiet", "--max-people", str(args.max_people), "--pose-model", args.pose_model,
                                    "--thumb-frames", "4"]
                                   + ([] if args.scout_every is None else ["--scout-every", str(args.scout_every)]))
        if extracted.returncode != 0:  # extract printed its own line (a missing pose model, a bad option)
            raise InputError(f"extract of the clips failed (exit {extracted.returncode}); see its line above")
        report(root, out, drawn, args)


def report(root: Path, out: Path, drawn_clips: dict[str, set[Path]], args: argparse.Namespace) -> None:
    """Print the per-clip lines and the summary of drawn clips."""
    layout = FeaturesLayout(out)
    manifest = read_table(layout.manifest).set_index("key")
    scout = "default" if args.scout_every is None else args.scout_every
    print(f"--max-people {args.max_people}, --scout-every {scout}, pose model {args.pose_model}")
    drawn: dict[str, list[dict]] = {kind: [] for kind in drawn_clips}
    for key, row in manifest.iterrows():
        frames = int(row["frames_processed"])
        path = layout.people(key)
        people = read_people(path) if path.is_file() else pd.DataFrame(columns=["frame", "track"])
        histogram = people_per_frame(people, frames)
        together, flips = swaps(people) if len(people) else (0, 0)
        counts = ", ".join(f"{k}: {n}" for k, n in enumerate(histogram))
        line = (f"{row['video']}: {frames} frames; people per frame {{{counts}}}, 2+ in "
                f"{histogram[2:].sum() / max(frames, 1):.0%}; {row['tracks']} tracks; tracks 0 and 1 together in "
                f"{together} frames, {flips} left-right swaps")
        video = (root / str(row["video"])).resolve()  # the manifest names videos relative to the root
        kind = next((kind for kind, paths in drawn_clips.items() if video in paths), None)
        if kind is not None:
            frame_index = read_csv(layout.landmarks(key))["frame"].to_numpy()
            scores = bystander_scores(people, frame_index, video, args.within)
            drawn[kind].append(scores)
            line += (f"; bystander in view {scores['in_view']} frames, found in {scores['recall']:.0%} (clear of the "
                     f"actor {scores['clear']}, found in {scores['recall_clear']:.0%}), precision "
                     f"{scores['precision']:.0%} ({scores['false']} poses on nobody drawn), track 0 on the actor "
                     f"{scores['main_on_actor']:.0%}")
        if key.startswith(f"{EMPTY}/"):
            line += f"; EMPTY SCENE: {len(people)} poses found"
        print(line)
        for track, rows in list(people.groupby("track"))[:4]:
            print(f"    track {track}: {len(rows):4d} frames ({rows['frame'].min()}-{rows['frame'].max()}), "
                  f"torso at x {np.mean(torso(rows, 'x')):.2f} (sd {np.std(torso(rows, 'x')):.2f}), "
                  f"y {np.mean(torso(rows, 'y')):.2f}")
    for kind, scores_of in drawn.items():
        if scores_of:
            print(summary(kind, scores_of))


def summary(kind: str, drawn: list[dict]) -> str:
    """One line over the drawn clips of one kind."""
    in_view = sum(s["in_view"] for s in drawn)
    found = sum(s["recall"] * s["in_view"] for s in drawn if s["in_view"])
    clear = sum(s["clear"] for s in drawn)
    found_clear = sum(s["recall_clear"] * s["clear"] for s in drawn if s["clear"])
    return (f"drawn {kind} clips: {len(drawn)}, second person found in {found / max(in_view, 1):.1%} of {in_view} "
            f"frames in view, {found_clear / max(clear, 1):.1%} of the {clear} clear of the actor "
            f"(worst clip {np.nanmin([s['recall'] for s in drawn]):.0%}), poses on nobody drawn "
            f"{sum(s['false'] for s in drawn)}, track 0 on the actor worst "
            f"{np.nanmin([s['main_on_actor'] for s in drawn]):.0%}")


if __name__ == "__main__":
    sys.exit(main())
