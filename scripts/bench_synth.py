"""Benchmark `pose_action.synth`: rendering speed, and what the real pose model sees per condition.

    python scripts/bench_synth.py [--size 320x240] [--seconds 2] [--clips 10]
    python scripts/bench_synth.py --detect [--clips 20] [--conditions none,far,exit,dark,crowd,real]

Rendering (drawing only) is what the issue's target (well over 300 frames/s) is about;
writing adds the MPEG-4 encoder and the joints CSV.

`--detect` writes `--clips` clips per condition (that condition alone, or `real`: the
`--conditions real` mix drawn per clip; classes and actors cycle), reads them back through
the video codec like `extract` does, runs the vendored lite PoseLandmarker on every frame
(one per clip, VIDEO mode) and prints, per condition: the share of frames with a pose; of
frames where the actor's whole body is in frame; of frames where only part of it is; of
frames with nobody in frame (a pose there is the bystander or a false alarm); the share of
clips with any pose; the median error of shoulders, elbows, wrists, hips, knees and ankles
in torso lengths (ground-truth mid-shoulder to mid-hip); and the share of poses found on
somebody else (torso centre more than one torso length from the actor's).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # read by OpenCV and NumPy when they load: imports below

import cv2  # noqa: E402  (after OMP_NUM_THREADS)
import numpy as np  # noqa: E402  (after OMP_NUM_THREADS)

from pose_action.commands.arguments import parse_size  # noqa: E402  (after OMP_NUM_THREADS)
from pose_action.extraction.pose import PoseEstimator, resolve_model  # noqa: E402  (after OMP_NUM_THREADS)
from pose_action.landmarks import INDEX, X, Y  # noqa: E402  (after OMP_NUM_THREADS)
from pose_action.synth import dataset as synth  # noqa: E402  (after OMP_NUM_THREADS)
from pose_action.synth.conditions import CONDITIONS, PRESETS, Conditions, draw_conditions  # noqa: E402  (after OMP_NUM_THREADS)
from pose_action.synth.motions import ACTION_TABLE, ACTIONS  # noqa: E402  (after OMP_NUM_THREADS)
from pose_action.video import read_frames  # noqa: E402  (after OMP_NUM_THREADS)

BODY_JOINTS = [INDEX[f"{side}_{joint}"] for side in ("left", "right")
               for joint in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")]
SHOULDERS = [INDEX["left_shoulder"], INDEX["right_shoulder"]]
ACTIONS_MOTION = {name: action.motion_key for name, action in ACTION_TABLE.items()}
HIPS = [INDEX["left_hip"], INDEX["right_hip"]]


def detection_row(condition: str, clips: int, size: tuple[int, int], seconds: float, folder: Path) -> dict:
    """Detection of the real lite model on `clips` clips with one condition (or none, or the real mix)."""
    model = resolve_model("lite")
    frames_total = with_pose = in_view = in_view_pose = partly = partly_pose = empty = empty_pose = 0
    clips_found = others = 0
    errors: list[float] = []
    for number in range(clips):
        action = ACTIONS[number % len(ACTIONS)]
        if condition == "real":
            conditions = draw_conditions(1, number, 0, ACTIONS_MOTION[action], PRESETS["real"])
        else:
            conditions = Conditions(**({condition: True} if condition != "none" else {}))
        path = synth.write_clip(folder / condition / synth.clip_name(action, number, 0), action, actor=number,
                                clip=0, seed=1, size=size, seconds=seconds, conditions=conditions)
        truth = synth.read_joints(path)
        found = 0
        with PoseEstimator(model) as estimator:
            for index, stamp, frame in read_frames(path):
                detected = estimator.detect(frame, stamp)
                drawn = truth[index, :, synth.DRAWN] > 0
                whole, nobody = bool(drawn[BODY_JOINTS].all()), not drawn.any()
                frames_total += 1
                in_view += whole
                partly += not whole and not nobody
                empty += nobody
                if detected is None:
                    continue
                found += 1
                in_view_pose += whole
                partly_pose += not whole and not nobody
                empty_pose += nobody
                if not whole:
                    continue
                pixels = lambda xy: xy * np.array(size, dtype=np.float32)
                truth_xy, found_xy = pixels(truth[index, :, [X, Y]].T), pixels(detected[:, [X, Y]])
                torso_centre = truth_xy[SHOULDERS + HIPS].mean(axis=0)
                torso = float(np.linalg.norm(truth_xy[SHOULDERS].mean(axis=0) - truth_xy[HIPS].mean(axis=0)))
                if np.linalg.norm(found_xy[SHOULDERS + HIPS].mean(axis=0) - torso_centre) > torso:
                    others += 1
                    continue
                errors.append(float(np.median(np.linalg.norm(found_xy[BODY_JOINTS] - truth_xy[BODY_JOINTS], axis=1)))
                              / torso)
        clips_found += found > 0
        with_pose += found
    share = lambda part, whole: f"{part / whole:.0%}" if whole else "-"
    return {"condition": condition, "frames": frames_total, "pose": share(with_pose, frames_total),
            "pose, body in frame": share(in_view_pose, in_view), "pose, part in frame": share(partly_pose, partly),
            "pose, nobody in frame": share(empty_pose, empty),
            "clips with a pose": share(clips_found, clips),
            "median error (torso lengths)": f"{np.median(errors):.2f}" if errors else "-",
            "pose on somebody else": share(others, in_view_pose)}


def detect(args: argparse.Namespace) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for condition in args.conditions:
            start = time.perf_counter()
            rows.append(detection_row(condition, args.clips, args.size, args.seconds, Path(folder)))
            print(f"{condition}: {time.perf_counter() - start:.0f} s", flush=True)
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[column]) for column in columns) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="{}x{}".format(*synth.DEFAULT_SIZE), metavar="WxH")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--fps", type=float, default=synth.DEFAULT_FPS)
    parser.add_argument("--clips", type=int, default=10, help="clips per measurement (per condition)")
    parser.add_argument("--detect", action="store_true", help="real pose model per condition instead of speed")
    parser.add_argument("--conditions", default=",".join(("none", *CONDITIONS, "real")),
                        help="with --detect: comma-separated conditions (default %(default)s)")
    args = parser.parse_args()
    args.size = parse_size(args.size)
    cv2.setNumThreads(1)  # one core: the figure is drawn single-threaded anyway
    if args.detect:
        args.conditions = [name.strip() for name in args.conditions.split(",")]
        unknown = set(args.conditions) - {"none", *CONDITIONS, "real"}
        if unknown:
            parser.error(f"unknown conditions: {', '.join(sorted(unknown))}")
        detect(args)
        return

    synth.render_frames(ACTIONS[0], size=args.size, seconds=0.2)  # warm up imports and caches
    frames = 0
    start, start_cpu = time.perf_counter(), time.process_time()
    for clip in range(args.clips):
        action = ACTIONS[clip % len(ACTIONS)]
        rendered, _ = synth.render_frames(action, actor=clip, clip=clip, size=args.size, fps=args.fps,
                                          seconds=args.seconds)
        frames += len(rendered)
    render_seconds = time.perf_counter() - start
    render_cpu = time.process_time() - start_cpu
    # CPU time is what one core delivers even when other processes share the machine.
    print(f"render: {frames} frames of {args.size[0]}x{args.size[1]} (backgrounds included): "
          f"{frames / render_seconds:.0f} frames/s wall, {frames / render_cpu:.0f} frames/s per CPU-second")

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        paths = synth.write_dataset(folder, classes=ACTIONS, actors=1, clips=1, size=args.size,
                                    fps=args.fps, seconds=args.seconds, progress=False)
        write_seconds = time.perf_counter() - start
    written = len(paths) * max(1, round(args.seconds * args.fps))
    print(f"write:  {len(paths)} clips (mp4 + joints CSV) in {write_seconds:.2f} s "
          f"= {written / write_seconds:.0f} frames/s, {len(paths) / write_seconds:.1f} clips/s")


if __name__ == "__main__":
    main()
