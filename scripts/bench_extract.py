"""Benchmark `pose-action extract`: pipeline throughput against the bare PoseLandmarker, and
peak memory for a small and a larger number of videos.

    python scripts/bench_extract.py [--videos 12] [--seconds 6] [--workers 1]
                                    [--memory-videos 4,16] [--pose-model lite]

It renders its own dataset of drawn actors (pose_action.synth) in a temp folder, then:
1. bare: decodes each clip into memory (untimed), then times one fresh PoseLandmarker per
   clip over those frames, with and without the landmarker's creation;
2. pipeline: times the real command (`python -m pose_action extract`, a subprocess) from
   start to exit on the same clips: process start, worker spawn, decoding, pose,
   thumbnails, CSV/NPZ writing and the manifest;
3. memory: peak RSS of the command's process tree (sampled every 50 ms) for the small and
   the larger run; extraction streams frames, so it must not grow with the video count.
The bare rate is measured before and after the pipeline, so load from other processes
shows up as a spread between the two.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from pose_action import synth
from pose_action.pose import PoseEstimator, resolve_model
from pose_action.video import read_frames


def make_dataset(root: Path, count: int, seconds: float, size: tuple[int, int]) -> list[Path]:
    """`count` clips cycling through the synthetic actions and actors (UCF50 layout)."""
    paths = []
    for number in range(count):
        action = synth.ACTIONS[number % len(synth.ACTIONS)]
        actor = number // len(synth.ACTIONS)
        path = root / action / synth.clip_name(action, actor, 0)
        if not path.is_file():
            synth.write_clip(path, action, actor=actor, seed=11, seconds=seconds, size=size)
        paths.append(path)
    return paths


def bare_rates(videos: list[Path], model: Path) -> tuple[float, float, int]:
    """(frames/s of detect calls only, frames/s including one landmarker per clip, frames)."""
    detect_seconds = create_seconds = 0.0
    frames_total = 0
    for video in videos:
        frames = list(read_frames(video))
        started = time.perf_counter()
        with PoseEstimator(model) as estimator:
            created = time.perf_counter()
            for _, timestamp, frame in frames:
                estimator.detect(frame, timestamp)
            detect_seconds += time.perf_counter() - created
        create_seconds += created - started
        frames_total += len(frames)
    return (frames_total / detect_seconds, frames_total / (detect_seconds + create_seconds),
            frames_total)


def run_pipeline(video_root: Path, out: Path, workers: int, pose_model: str,
                 sample_memory: bool = False) -> dict:
    """Run the real command; wall time and (sample_memory) peak RSS of its process tree.

    Sampling costs CPU (psutil scans /proc for children), so throughput runs do not sample.
    """
    command = [sys.executable, "-m", "pose_action", "extract", str(video_root), "--out", str(out),
               "--workers", str(workers), "--pose-model", pose_model, "--quiet", "--overwrite"]
    peaks = {"tree": 0, "parent": 0, "worker": 0}
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stop = threading.Event()

    def sample() -> None:
        root = psutil.Process(process.pid)
        children: list[psutil.Process] = []
        for tick in range(10**9):
            if stop.is_set():
                return
            try:
                if tick % 10 == 0:  # look for new workers every 0.5 s
                    children = root.children(recursive=True)
                parent = root.memory_info().rss
            except psutil.Error:
                return
            sizes = []
            for child in children:
                with contextlib.suppress(psutil.Error):
                    sizes.append(child.memory_info().rss)
            peaks["parent"] = max(peaks["parent"], parent)
            peaks["worker"] = max([peaks["worker"], *sizes])
            peaks["tree"] = max(peaks["tree"], parent + sum(sizes))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    if sample_memory:
        sampler.start()
    _, stderr = process.communicate()
    wall = time.perf_counter() - started
    stop.set()
    if sample_memory:
        sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"extract failed ({process.returncode}): {stderr.decode()[-2000:]}")
    # Steady state: from the first video's CSV to the last one's (workers finish a video,
    # then write its CSV), i.e. the rate once processes are up and the libraries loaded.
    finished = sorted((csv.stat().st_mtime, len(csv.read_text().splitlines()) - 1)
                      for csv in (out / "landmarks").rglob("*.csv"))
    frames = sum(count for _, count in finished)
    span = finished[-1][0] - finished[0][0] if len(finished) > 1 else 0.0
    steady = sum(count for _, count in finished[1:]) / span if span > 0 else float("nan")
    return {"wall": wall, "frames": frames, "steady": steady,
            **{k: v / 2**20 for k, v in peaks.items()}}


def link_subset(videos: list[Path], root: Path) -> Path:
    """A folder holding only these videos (symlinks), so one dataset serves every run."""
    for video in videos:
        target = root / video.parent.name / video.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.symlink_to(video)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=12, help="clips in the throughput run")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each clip")
    parser.add_argument("--size", default="320x240", help="frame size WxH (default 320x240)")
    parser.add_argument("--workers", type=int, default=1, help="pipeline worker processes")
    parser.add_argument("--memory-videos", default="4,16",
                        help="video counts of the memory runs (default 4,16; '' skips)")
    parser.add_argument("--pose-model", default="lite")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    size = synth.parse_size(args.size)
    memory_counts = [int(n) for n in args.memory_videos.split(",") if n.strip()]
    os.environ.setdefault("GLOG_minloglevel", "2")

    with tempfile.TemporaryDirectory(prefix="bench_extract_") as temporary:
        work = args.keep or Path(temporary)
        print(f"rendering {max([args.videos, *memory_counts])} synthetic clips of "
              f"{args.seconds:g} s at {args.size} ...", flush=True)
        videos = make_dataset(work / "videos", max([args.videos, *memory_counts]), args.seconds, size)
        model = resolve_model(args.pose_model)
        subset = link_subset(videos[: args.videos], work / f"subset_{args.videos}")

        detect_before, with_create_before, frames = bare_rates(videos[: args.videos], model)
        pipeline = run_pipeline(subset, work / "features", args.workers, args.pose_model)
        detect_after, with_create_after, _ = bare_rates(videos[: args.videos], model)
        detect = (detect_before + detect_after) / 2
        with_create = (with_create_before + with_create_after) / 2
        rate = pipeline["frames"] / pipeline["wall"]
        print(f"\nthroughput on {args.videos} clips, {frames} frames, pose model {args.pose_model}, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        print(f"  bare PoseLandmarker, detect calls only      {detect:8.1f} frames/s "
              f"(before {detect_before:.1f}, after {detect_after:.1f})")
        print(f"  bare, one landmarker created per clip       {with_create:8.1f} frames/s "
              f"(before {with_create_before:.1f}, after {with_create_after:.1f})")
        print(f"  pipeline, `extract --workers {args.workers}` end to end   {rate:8.1f} frames/s "
              f"({pipeline['frames']} frames in {pipeline['wall']:.2f} s, incl. start-up)")
        print(f"  pipeline, steady state (after the first clip) {pipeline['steady']:6.1f} frames/s")
        startup = pipeline["wall"] - pipeline["frames"] / pipeline["steady"]
        print(f"  fixed start-up of a run (wall - frames / steady rate)  {startup:5.1f} s")
        print(f"  ratio end to end / bare with creation       {rate / with_create:8.2f}")
        print(f"  ratio end to end / bare detect only         {rate / detect:8.2f}")
        print(f"  ratio steady state / bare with creation     {pipeline['steady'] / with_create:8.2f}")
        print(f"  ratio steady state / bare detect only       {pipeline['steady'] / detect:8.2f}")

        if memory_counts:
            print("\npeak memory (RSS) of the extract process tree")
            for count in memory_counts:
                root = link_subset(videos[:count], work / f"subset_{count}")
                result = run_pipeline(root, work / f"features_{count}", args.workers, args.pose_model,
                                      sample_memory=True)
                print(f"  {count:4d} videos: tree {result['tree']:7.1f} MiB, parent "
                      f"{result['parent']:6.1f} MiB, largest worker {result['worker']:6.1f} MiB "
                      f"({result['frames']} frames, {result['wall']:.1f} s)")


if __name__ == "__main__":
    main()
