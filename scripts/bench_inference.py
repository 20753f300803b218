"""Inference cost on a 320x240 video: bare pose landmarker vs the whole live pipeline (Keras, TFLite).

Prints per-frame milliseconds and frames per second of
  1. the bare MediaPipe pose landmarker (PoseEstimator.detect, VIDEO mode),
  2. the whole streaming pipeline (Recognizer.update: pose, thumbnail, ring buffer, a
     prediction every few frames, smoothing) with the Keras model,
  3. the same with the exported TFLite model on the LiteRT interpreter,
and the start-up time of each backend (a fresh process: imports, model, pose landmarker,
first frame). Frames are decoded up front, so decoding costs are left out of every row.

Runs pinned to one core by default (--cores 1), the laptop case the README promises.
Without --run it trains a throwaway run with the default feature config (T=32, 64 px
thumbnails; 1 epoch: speed does not depend on accuracy) and exports it.

With --motion (throwaway run, or --run RUN --motion-run RUN2) the same features get motion
files (`extract --motion`) and a second run, `fusion --motion`, is trained and measured beside
the first, in alternating rounds (base, motion, base, motion, ...; medians per frame, which
load spikes from other processes move least), with the MotionEncoder's own cost per frame:
the per-frame cost of the motion stream (the issue's target: at most +10%).

With --people 1,2 only the TFLite pipeline is measured, once per number of people asked of the
landmarker (`live --max-people N`: N > 1 also links the poses into tracks and picks the main actor),
on the one-person video and on a two-person `synth --crowd` clip of the same length, in alternating
rounds (medians per frame).

    python scripts/bench_inference.py [--run RUN] [--seconds 8] [--cores 1] [--repeat 2] [--motion]
    python scripts/bench_inference.py --run RUN --people 1,2 [--rounds 3]
    python scripts/bench_inference.py --zoom [--rounds 3]

With --zoom only the pose landmarker is measured (no run is needed), without and with extraction's
zoom and exposure (PoseEstimator(zoom=..., exposure=...), extract's defaults, which predict and live
follow), in alternating rounds, on the drawn video as it is, shrunk far away into a corner, and
darkened as `synth --conditions` darkens a room: their cost per frame where the person is seen, and
where the landmarker needs its second look.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def make_run(folder: Path) -> Path:
    """A run with the default feature config, trained for one epoch and exported."""
    from pose_action.demo import DemoOptions, run_demo

    options = DemoOptions(classes=("Wave", "Squat", "JumpingJack"), actors=3, clips=1, seconds=2.0, epochs=1,
                          frames=32, thumb_size=64, thumb_frames=32, workers=1)
    run_demo(folder, options, progress=False)
    return folder / "run"


def make_motion_run(folder: Path) -> Path:
    """make_run's features with motion added, and a fusion --motion run on them (same settings), exported."""
    from pose_action.extraction.run import extract
    from pose_action.extraction.settings import make_settings
    from pose_action.inference.export import export_run
    from pose_action.training.train import TrainOptions, train_run

    extract(folder / "videos", folder / "features", make_settings("lite", thumb_size=64, thumb_frames=32, motion=True))
    run = folder / "run-motion"
    train_run(folder / "features", run, TrainOptions(model="fusion", motion=True, epochs=1, frames=32), quiet=True)
    export_run(run)
    return run


def load_frames(path: Path) -> tuple[list[np.ndarray], float]:
    from pose_action.video import probe, read_frames

    return [frame for _, _, frame in read_frames(path)], probe(path).fps


@dataclass
class Timing:
    wall_ms: list[float]  # per frame
    cpu_ms: float  # process CPU time per frame (all threads): robust to other processes' load


def per_frame_ms(step, frames: list[np.ndarray], repeat: int) -> Timing:
    """Milliseconds of `step(frame, timestamp)` per frame, over `repeat` passes (timestamps keep rising)."""
    times = []
    timestamp = 0
    cpu_started = time.process_time()
    for _ in range(repeat):
        for frame in frames:
            started = time.perf_counter()
            step(frame, timestamp)
            times.append((time.perf_counter() - started) * 1000.0)
            timestamp += 40
    return Timing(times, (time.process_time() - cpu_started) * 1000.0 / max(len(times), 1))


def bench_pose(frames: list[np.ndarray], repeat: int) -> Timing:
    from pose_action.extraction.pose import PoseEstimator, resolve_model

    with PoseEstimator(resolve_model("lite")) as estimator:
        per_frame_ms(estimator.detect, frames[:10], 1)  # warm-up
    with PoseEstimator(resolve_model("lite")) as estimator:
        return per_frame_ms(estimator.detect, frames, repeat)


def bench_pipeline(run: Path, backend: str, frames: list[np.ndarray], fps: float, repeat: int,
                   threads: int | None, max_people: int | None = None) -> tuple[Timing, int, int]:
    from pose_action.inference.recognizer import Recognizer

    with Recognizer.load(run, backend, num_threads=threads, max_people=max_people) as recognizer:
        recognizer.reset(fps)
        per_frame_ms(recognizer.update, frames[:60], 1)  # warm-up, including a few predictions
        stream = recognizer.reset(fps)
        times = per_frame_ms(recognizer.update, frames, repeat)
        return times, stream.window, stream.step


def bench_encoder(frames: list[np.ndarray]) -> float:
    """Milliseconds per frame of the MotionEncoder alone (shrink, DIS flow, summary)."""
    from pose_action.extraction.motion import MotionEncoder

    encoder = MotionEncoder()
    for frame in frames[:10]:
        encoder.encode(frame)
    started = time.perf_counter()
    for frame in frames:
        encoder.encode(frame)
    return (time.perf_counter() - started) * 1000.0 / len(frames)


STARTUP = textwrap.dedent("""
    import os, sys, time
    started = time.perf_counter()
    from pose_action.inference.recognizer import Recognizer
    from pose_action.video import read_frames
    frame = next(read_frames(sys.argv[3]))[2]
    recognizer = Recognizer.load(sys.argv[1], sys.argv[2])
    recognizer.reset(25.0)
    recognizer.update(frame, 0)
    seconds = time.perf_counter() - started
    print(seconds, "tensorflow" in sys.modules)
    recognizer.close()
""")


def bench_startup(run: Path, backend: str, video: Path, cores: set[int] | None) -> tuple[float, bool]:
    """Seconds from a fresh interpreter to the first processed frame; whether TensorFlow got imported."""
    def pin() -> None:
        if cores:
            os.sched_setaffinity(0, cores)

    completed = subprocess.run([sys.executable, "-c", STARTUP, str(run), backend, str(video)],
                               capture_output=True, text=True, preexec_fn=pin, check=True)
    seconds, tensorflow = completed.stdout.split()[-2:]
    return float(seconds), tensorflow == "True"


def summary(timing: Timing) -> tuple[float, float, float, float]:
    values = np.array(timing.wall_ms)
    return float(values.mean()), float(np.median(values)), float(np.percentile(values, 95)), timing.cpu_ms


def bench_people(run: Path, workdir: Path, frames: list[np.ndarray], fps: float, args, threads: int | None) -> None:
    """Per-frame cost of the TFLite pipeline for each --max-people N, on one person and on two."""
    from pose_action.synth.conditions import Conditions
    from pose_action.synth.dataset import write_clip

    counts = [int(part) for part in args.people.split(",")]
    crowd = write_clip(workdir / "crowd.mp4", "Wave", actor=9, seed=0, size=(320, 240), seconds=args.seconds,
                       conditions=Conditions(crowd=True))
    videos = {"one person": frames, "two people (synth --crowd)": load_frames(crowd)[0]}
    wall: dict[tuple[str, int], list[float]] = {(name, n): [] for name in videos for n in counts}
    cpu: dict[tuple[str, int], list[float]] = {key: [] for key in wall}
    for _ in range(args.rounds):
        for name, clip in videos.items():
            for n in counts:
                timing = bench_pipeline(run, "tflite", clip, fps, args.repeat, threads, max_people=n)[0]
                wall[name, n] += timing.wall_ms
                cpu[name, n].append(timing.cpu_ms)
    print(f"TFLite pipeline per frame, 320x240, {len(frames)} frames x{args.repeat} passes, {args.rounds} "
          f"alternating rounds; cores: {args.cores or 'all'}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'video':<30}{'people':>7}{'median ms':>11}{'p95 ms':>8}{'frames/s':>10}{'cpu ms':>8}{'vs N=1':>8}")
    for name in videos:
        base = float(np.median(wall[name, counts[0]]))
        for n in counts:
            median = float(np.median(wall[name, n]))
            print(f"{name:<30}{n:>7}{median:11.2f}{np.percentile(wall[name, n], 95):8.2f}{1000.0 / median:10.1f}"
                  f"{np.median(cpu[name, n]):8.2f}{median / base:7.2f}x")


class Seen:
    """An estimator's detect that counts the frames with a pose."""

    def __init__(self, estimator) -> None:
        self.estimator, self.count = estimator, 0

    def detect(self, frame: np.ndarray, timestamp: int) -> None:
        self.count += self.estimator.detect(frame, timestamp) is not None


def bench_zoom(frames: list[np.ndarray], args) -> None:
    """Per-frame cost and frames with a pose of the landmarker without and with the zoom and exposure."""
    import cv2

    from pose_action.extraction.pose import PoseEstimator, resolve_model
    from pose_action.synth.conditions import Darkness, darken

    def far(frame: np.ndarray, scale: float = 0.3) -> np.ndarray:
        small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        out = np.full_like(frame, 110)
        out[-small.shape[0] - 10:-10, 20:20 + small.shape[1]] = small
        return out

    room, rng = Darkness(brightness=0.3, contrast=0.6, noise=5.0, tint=(0.75, 0.95, 1.1), noise_seed=1), \
        np.random.default_rng(0)
    videos = {"as drawn": frames, "far (30% size)": [far(frame) for frame in frames],
              "dark room": [darken(frame, room, rng) for frame in frames]}
    wall: dict[tuple[str, bool], list[float]] = {(name, on): [] for name in videos for on in (False, True)}
    found: dict[tuple[str, bool], int] = {}
    model = resolve_model("lite")
    for _ in range(args.rounds):
        for name, clip in videos.items():
            for on in (False, True):
                with PoseEstimator(model, zoom=on, exposure=on) as estimator:
                    seen = Seen(estimator)
                    timing = per_frame_ms(seen.detect, clip, 1)
                wall[name, on] += timing.wall_ms
                found[name, on] = seen.count
    print(f"pose landmarker per frame, 320x240, {len(frames)} frames, {args.rounds} alternating rounds; cores: "
          f"{args.cores or 'all'}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'video':<18}{'plain ms':>10}{'zoom+exposure ms':>18}{'ratio':>7}   frames with a pose")
    for name in videos:
        off, on = float(np.median(wall[name, False])), float(np.median(wall[name, True]))
        print(f"{name:<18}{off:10.2f}{on:18.2f}{on / off:7.2f}x   {found[name, False]} -> {found[name, True]} "
              f"of {len(frames)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="a run directory with model.keras and model.tflite")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the synthetic 320x240 video")
    parser.add_argument("--cores", type=int, default=1, help="pin to this many cores (0: no pinning)")
    parser.add_argument("--repeat", type=int, default=2, help="passes over the video per measurement")
    parser.add_argument("--json", action="store_true", help="also print the numbers as JSON")
    parser.add_argument("--motion", action="store_true",
                        help="also measure a fusion --motion run on the same throwaway features")
    parser.add_argument("--motion-run", type=Path, help="--motion with --run: the run with the motion stream")
    parser.add_argument("--rounds", type=int, default=3,
                        help="--motion, --people, --zoom: alternating rounds of the settings compared")
    parser.add_argument("--people", metavar="N,N",
                        help="measure only the TFLite pipeline with live --max-people N for each N (e.g. 1,2), "
                             "on one person and on two")
    parser.add_argument("--zoom", action="store_true",
                        help="measure only the pose landmarker without and with the zoom and exposure")
    args = parser.parse_args()
    if args.motion and args.run and not args.motion_run:
        parser.error("--motion with --run needs --motion-run (or leave out both: a throwaway pair is trained)")

    cores = None
    if args.cores and hasattr(os, "sched_setaffinity"):
        cores = set(sorted(os.sched_getaffinity(0))[:args.cores])
        os.sched_setaffinity(0, cores)
    threads = args.cores or None
    workdir = Path(tempfile.mkdtemp(prefix="bench_inference_"))
    from pose_action.synth.dataset import write_clip

    video = write_clip(workdir / "bench.mp4", "JumpingJack", actor=7, seed=3, size=(320, 240),
                       seconds=args.seconds)
    frames, fps = load_frames(video)
    if args.zoom:
        bench_zoom(frames, args)
        return
    run = args.run
    if run is None:
        print(f"training a throwaway run (T=32, 64 px thumbnails) in {workdir} ...", file=sys.stderr)
        run = make_run(workdir / "demo")
    if not (run / "model.tflite").is_file():
        from pose_action.inference.export import export_run

        export_run(run)
    config = json.loads((run / "config.json").read_text())
    if args.people:
        bench_people(run, workdir, frames, fps, args, threads)
        return

    pose = bench_pose(frames, args.repeat)
    lite, window, step = bench_pipeline(run, "tflite", frames, fps, args.repeat, threads)
    keras, _, _ = bench_pipeline(run, "keras", frames, fps, args.repeat, threads)
    motion_rows = []
    if args.motion:
        motion_run = args.motion_run or make_motion_run(workdir / "demo")
        if not (motion_run / "model.tflite").is_file():
            from pose_action.inference.export import export_run

            export_run(motion_run)
        rounds: dict[str, list[float]] = {"base": [], "motion": []}
        cpu: dict[str, list[float]] = {"base": [], "motion": []}
        for _ in range(args.rounds):
            for name, which in (("base", run), ("motion", motion_run)):
                timing = bench_pipeline(which, "tflite", frames, fps, args.repeat, threads)[0]
                rounds[name] += timing.wall_ms
                cpu[name].append(timing.cpu_ms)
        encoder = bench_encoder(frames)
        base_median, motion_median = float(np.median(rounds["base"])), float(np.median(rounds["motion"]))
        print(f"motion stream, TFLite, {args.rounds} alternating rounds: median per frame {base_median:.2f} -> "
              f"{motion_median:.2f} ms ({motion_median / base_median:.3f}x); CPU per frame, median of rounds "
              f"{np.median(cpu['base']):.2f} -> {np.median(cpu['motion']):.2f} ms "
              f"({np.median(cpu['motion']) / np.median(cpu['base']):.3f}x); MotionEncoder alone "
              f"{encoder:.2f} ms per frame")
        motion_rows = [("pipeline + motion, Keras", bench_pipeline(motion_run, "keras", frames, fps, args.repeat,
                                                                    threads)[0])]
    startup = {backend: bench_startup(run, backend, video, cores) for backend in ("tflite", "keras")}

    pose_wall, pose_cpu = summary(pose)[0], summary(pose)[3]
    print(f"video: {video.name} 320x240, {len(frames)} frames at {fps:g} fps, x{args.repeat} passes; "
          f"cores: {sorted(cores) if cores else 'all'}; load average {os.getloadavg()[0]:.1f}")
    print(f"run: {run}  model {config['model']['name']}, T={config['features']['frames']}, "
          f"thumbs {config['features']['thumb_size']} px; window {window} frames, prediction every {step} frames")
    print(f"{'per frame':<28}{'wall ms':>9}{'median':>8}{'p95':>8}{'frames/s':>10}{'vs pose':>9}"
          f"{'cpu ms':>9}{'vs pose':>9}")
    rows = [("pose landmarker (bare)", pose), ("pipeline, TFLite (LiteRT)", lite), ("pipeline, Keras", keras),
            *motion_rows]
    results = {}
    for name, timing in rows:
        mean, median, p95, cpu = summary(timing)
        overhead, cpu_overhead = (mean / pose_wall - 1.0) * 100.0, (cpu / pose_cpu - 1.0) * 100.0
        results[name] = {"mean_ms": mean, "median_ms": median, "p95_ms": p95, "fps": 1000.0 / mean,
                         "overhead_percent": overhead, "cpu_ms": cpu, "cpu_overhead_percent": cpu_overhead}
        print(f"{name:<28}{mean:9.2f}{median:8.2f}{p95:8.2f}{1000.0 / mean:10.1f}{overhead:+8.1f}%"
              f"{cpu:9.2f}{cpu_overhead:+8.1f}%")
    for backend, (seconds, tensorflow) in startup.items():
        results[f"startup_{backend}_s"] = seconds
        print(f"start-up, {backend:<7} {seconds:6.2f} s  (fresh process to first frame; "
              f"TensorFlow imported: {'yes' if tensorflow else 'no'})")
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
