"""Walk, jog and run with known truth: does a pose model tell them apart with `--locomotion`?

    python scripts/locomotion_check.py OUT [--actors 6] [--clips 2] [--epochs 40] [--seed 0]

Renders the synth locomotion classes (Walk, Jog, Run) and writes their drawn joints as an
extracted features folder (OUT/features: no video, no MediaPipe), as footage shows them:
each clip at 10, 15 or 25 fps and 2 to 4 s long, the pose found in only 30-60% of its frames
(MediaPipe finds a walking person in 15-40% of real frames), people small and far in about a
third, entering and leaving the frame. Then trains the same `pose` model on the same
group folds (groupkfold:3) with `--locomotion none`, `speed` and `full` and prints the pooled
accuracy of each: the features must carry speed whatever the frame rate, clip length and
detection rate.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from pose_action.features import LOCOMOTION_KINDS
from pose_action.landmarks import INDEX, NUM_LANDMARKS, PRESENCE, VISIBILITY, LandmarkSequence, X, Y, Z, write_csv
from pose_action.synth import dataset as synth
from pose_action.synth.motions import LOCOMOTION

SIZE = (96, 72)  # joints only: the frame size sets the figure's place, not the cost
TORSO = [INDEX[name] for name in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]


def joints_landmarks(joints: np.ndarray) -> np.ndarray:
    """(T, 33, 8) landmarks from drawn joints (T, 33, 3): seen where drawn; no pose where the torso
    is out of the frame; a limb out of the frame sits just outside it, unseen (as MediaPipe guesses)."""
    data = np.zeros((len(joints), NUM_LANDMARKS, 8), np.float32)
    drawn = np.isfinite(joints[:, :, X])
    data[:, :, X] = np.where(drawn, joints[:, :, X], -0.05)
    data[:, :, Y] = np.where(drawn, joints[:, :, Y], -0.05)
    data[:, :, Z] = 0.0
    data[:, :, VISIBILITY] = data[:, :, PRESENCE] = np.where(drawn, 0.95, 0.05)
    data[~drawn[:, TORSO].all(axis=1)] = np.nan
    return data


def locomotion_features(root: Path, *, actors: int = 6, clips: int = 2, seed: int = 0) -> Path:
    """Write ROOT/{landmarks/<Class>/<clip>.csv, manifest.csv, extract_config.json} for Walk, Jog, Run."""
    rng = np.random.default_rng(seed)
    rows = []
    for action in LOCOMOTION:
        for actor in range(actors):
            for clip in range(clips):
                fps, seconds = float(rng.choice([10.0, 15.0, 25.0])), float(rng.uniform(2.0, 4.0))
                _, joints = synth.render_frames(action, actor=actor, clip=clip, seed=seed, size=SIZE, fps=fps,
                                                seconds=seconds)
                data = joints_landmarks(joints)
                data[rng.random(len(data)) > rng.uniform(0.3, 0.6)] = np.nan  # MediaPipe misses most frames
                stem = f"v_{action}_g{actor + 1:02d}_c{clip + 1:02d}"
                index = np.arange(len(data), dtype=np.int64)
                write_csv(root / "landmarks" / action / f"{stem}.csv", LandmarkSequence(
                    frame=index, timestamp_ms=np.round(index * 1000 / fps).astype(np.int64), data=data, fps=fps,
                    width=SIZE[0], height=SIZE[1]))
                found = int(np.isfinite(data[:, 0, X]).sum())
                rows.append({"video": f"videos/{action}/{stem}.mp4", "label": action, "group": f"{actor + 1:02d}",
                             "status": "ok" if found else "no_pose", "frames_total": len(data),
                             "frames_processed": len(data), "frames_with_pose": found, "fps": fps,
                             "width": SIZE[0], "height": SIZE[1], "seconds": seconds, "error": "",
                             "key": f"{action}/{stem}"})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    (root / "extract_config.json").write_text(json.dumps(
        {"config_id": "locomotion-joints", "pose_model": {"name": "drawn joints", "file": "", "sha256": "0" * 64},
         "sampling": {"fps": None, "stride": None}, "thumbnails": {"size": 16, "frames": 64}}), encoding="utf-8")
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/locomotion_check.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the features and the runs (created)")
    parser.add_argument("--actors", type=int, default=6)
    parser.add_argument("--clips", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from pose_action.training.train import TrainOptions, train_cv

    features = args.out / "features"
    if not (features / "manifest.csv").is_file():
        locomotion_features(features, actors=args.actors, clips=args.clips, seed=args.seed)
    for locomotion in LOCOMOTION_KINDS:
        options = TrainOptions(model="pose", split="groupkfold:3", frames=16, epochs=args.epochs, seed=args.seed,
                               locomotion=locomotion, params={"lstm_units": 16, "pose_units": 24})
        summary = train_cv(features, args.out / f"locomotion-{locomotion}", options, quiet=True)
        print(f"pose --locomotion {locomotion}: walk/jog/run accuracy {summary['accuracy_all']:.3f} "
              f"over {summary.get('clips_all', '?')} clips", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
