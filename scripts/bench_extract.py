"""Benchmark `pose-action extract`: throughput, peak memory, UCF50 time and disk estimates.

Throughput of local worker processes and of a Dask LocalCluster against the bare
PoseLandmarker, peak memory for few and many videos, and the disk use and time
extrapolated to UCF50.

    python scripts/bench_extract.py                              # both parts, synthetic clips
    python scripts/bench_extract.py --part throughput --modes local:1,local:2,dask:2
    python scripts/bench_extract.py --part throughput --video ../shared/videos/.../test.avi
    python scripts/bench_extract.py --part memory --memory-videos 10,100 --memory-modes local:2,dask:2
    python scripts/bench_extract.py --part throughput --modes local:1 --people 1,2,3 --video CLIP
    python scripts/bench_extract.py --part throughput --modes local:1 --people 1,2,3 --scout-every 0,8 --video CLIP
    python scripts/bench_extract.py --part throughput --modes local:1,local:2 --motion   # cost of --motion
    python scripts/bench_extract.py --part throughput --modes local:2 --zoom   # cost of the zoom and exposure

A mode is `local:N` (`extract --workers N`, worker processes) or `dask:N` (`extract
--scheduler local --workers N`: a Dask LocalCluster of N one-thread worker processes).
It renders its own dataset of drawn actors (pose_action.synth) in a temp folder (or links
--video N times), then:
1. bare: decodes each clip into memory (untimed), then times one fresh PoseLandmarker per
   clip over those frames, with and without the landmarker's creation (one core);
2. throughput: times the real command (`python -m pose_action extract`, a subprocess) per
   mode from start to exit: process start, workers (or cluster) start, decoding, pose,
   thumbnails, CSV/NPZ writing and the manifest; and its steady-state rate (first CSV to
   last CSV); disk use per clip and per frame, and the UCF50 extrapolation;
3. memory: peak RSS of the command's process tree (sampled every 50 ms; Dask's worker
   processes are children of the command too) for each count of short clips; extraction
   streams frames, so it must not grow with the number of videos.
With `--people 1,2,3` every throughput mode runs once per `--max-people` value and a table
compares their rates (the cost of looking for more people, and of tracking them, on the same
clips); `--scout-every 0,8` runs every --max-people above 1 once per value (0: the many-pose
landmarker on every frame, as before the scout; see extraction.pose.PeopleFinder). The bare rate
is measured before and after the runs, so load from other processes shows up as a spread
between the two; the load average is printed with the numbers.
With --motion every throughput mode also runs with `extract --motion` (alternating without,
with, without, with for --repeats rounds) and the ratio of the rates is printed: the issue's
target is at least 0.9 of the rate without motion. With --zoom every throughput mode runs with the
default zoom and exposure and without them (`extract --no-zoom --no-exposure`) the same way, and the
frames with a pose of each are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from pose_action.commands.arguments import parse_size
from pose_action.extraction.manifest import read_table
from pose_action.extraction.pose import PoseEstimator, resolve_model
from pose_action.layout import FeaturesLayout
from pose_action.synth import dataset as synth
from pose_action.synth.motions import ACTIONS
from pose_action.video import read_frames


def make_dataset(root: Path, count: int, seconds: float, size: tuple[int, int]) -> list[Path]:
    """`count` clips cycling through the synthetic actions and actors (UCF50 layout)."""
    paths = []
    for number in range(count):
        action = ACTIONS[number % len(ACTIONS)]
        actor = number // len(ACTIONS)
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


def parse_mode(text: str) -> tuple[str, int]:
    """`local:2` -> ("local", 2); `dask:2` -> ("dask", 2)."""
    kind, _, count = text.strip().partition(":")
    if kind not in ("local", "dask") or not count.isdigit() or int(count) < 1:
        raise SystemExit(f"bad mode {text!r}: use local:N or dask:N")
    return kind, int(count)


def run_pipeline(video_root: Path, out: Path, mode: tuple[str, int], pose_model: str,
                 sample_memory: bool = False, max_people: int = 1, motion: bool = False,
                 scout_every: int | None = None, plain_pose: bool = False) -> dict:
    """Run the real command; wall time and (sample_memory) peak RSS of its process tree.

    Sampling costs CPU (psutil scans /proc for children), so throughput runs do not sample.
    """
    kind, workers = mode
    shutil.rmtree(out, ignore_errors=True)  # only this run's outputs are counted
    command = [sys.executable, "-m", "pose_action", "extract", str(video_root), "--out", str(out),
               "--workers", str(workers), "--pose-model", pose_model, "--quiet", "--overwrite",
               "--max-people", str(max_people)]
    if kind == "dask":
        command += ["--scheduler", "local"]
    if motion:
        command += ["--motion"]
    if plain_pose:  # the landmarker on the frames as they are: no zoom, no exposure
        command += ["--no-zoom", "--no-exposure"]
    if scout_every is not None:
        command += ["--scout-every", str(scout_every)]
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
    # Steady state: from the time every worker has finished its first video (its CSV is
    # written last) to the last CSV, i.e. the rate once processes are up and the libraries
    # loaded. With N workers the first N CSVs come about together: all are start-up.
    finished = sorted((csv.stat().st_mtime, len(csv.read_text().splitlines()) - 1)
                      for csv in FeaturesLayout(out).landmarks_dir.rglob("*.csv"))
    frames = sum(count for _, count in finished)
    first = min(workers, len(finished)) - 1
    span = finished[-1][0] - finished[first][0] if len(finished) > first + 1 else 0.0
    steady = sum(count for _, count in finished[first + 1:]) / span if span > 0 else float("nan")
    tracks = read_table(FeaturesLayout(out).manifest)["tracks"].mean() if max_people > 1 else float("nan")
    return {"wall": wall, "frames": frames, "steady": steady, "clips": len(finished), "tracks": f"{tracks:.1f}",
            "disk": disk_use(out), **{k: v / 2**20 for k, v in peaks.items()}}


def disk_use(out: Path) -> dict[str, int]:
    """Bytes of the landmark CSVs and the thumbnail NPZs under FEATURES."""
    layout = FeaturesLayout(out)
    return {kind: sum(path.stat().st_size for path in folder.rglob(f"*.{kind}"))
            for kind, folder in (("csv", layout.landmarks_dir), ("npz", layout.thumbnails_dir))}


def link_copies(video: Path, root: Path, count: int) -> list[Path]:
    """`count` UCF-named links to one real clip (each its own video to the command)."""
    paths = []
    for number in range(count):
        target = root / "Real" / f"v_Real_g{number // 4 + 1:02d}_c{number % 4 + 1:02d}{video.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.symlink_to(video.resolve())
        paths.append(target)
    return paths


def link_subset(videos: list[Path], root: Path) -> Path:
    """A folder holding only these videos (symlinks), so one dataset serves every run."""
    for video in videos:
        target = root / video.parent.name / video.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.symlink_to(video)
    return root


UCF50_CLIPS = 6618
UCF50_FRAMES = 1_200_000  # 320x240 at 25 fps, ~7 s per clip on average


def load_average() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def throughput(args: argparse.Namespace, work: Path, size: tuple[int, int]) -> None:
    modes = [parse_mode(text) for text in args.modes.split(",") if text.strip()]
    if args.video:
        videos = link_copies(args.video, work / f"real_{args.videos}", args.videos)
        source = f"{args.videos} links to {args.video.name}"
    else:
        print(f"rendering {args.videos} synthetic clips of {args.seconds:g} s at {args.size} ...",
              flush=True)
        videos = make_dataset(work / "videos", args.videos, args.seconds, size)
        source = f"{args.videos} synthetic {args.size} clips of {args.seconds:g} s"
        link_subset(videos, work / f"subset_{args.videos}")
        videos = [work / f"subset_{args.videos}" / v.parent.name / v.name for v in videos]
    root = videos[0].parents[1]
    model = resolve_model(args.pose_model)
    print(f"load average before: {load_average()} ({os.cpu_count()} cores)", flush=True)
    detect_before, create_before, frames = bare_rates(videos, model)
    people_counts = [int(n) for n in args.people.split(",") if n.strip()]
    scouts = [int(n) for n in args.scout_every.split(",") if n.strip()] if args.scout_every else [None]
    runs = [(people, None if people == 1 else scout) for people in people_counts
            for scout in (scouts if people > 1 else [None])]
    by_people: dict[tuple, dict] = {}
    for people, scout in runs:
        by_people[people, scout] = {}
        for mode in modes:
            by_people[people, scout][mode] = run_pipeline(
                root, work / f"features_{mode[0]}_{mode[1]}_p{people}_s{scout}", mode, args.pose_model,
                max_people=people, scout_every=scout)
            print(f"  ran {mode[0]}:{mode[1]} --max-people {people} --scout-every {scout} "
                  f"({by_people[people, scout][mode]['wall']:.1f} s)", flush=True)
    results = by_people[runs[0]]
    if args.motion:
        option_comparison(args, root, work, modes, "motion")
    if args.zoom:
        option_comparison(args, root, work, modes, "zoom")
    detect_after, create_after, _ = bare_rates(videos, model)
    detect, with_create = (detect_before + detect_after) / 2, (create_before + create_after) / 2

    print(f"\nthroughput on {source}, {frames} frames, pose model {args.pose_model}, "
          f"{os.cpu_count()} cores, load average after {load_average()}")
    print(f"  bare PoseLandmarker, detect calls only   {detect:7.1f} frames/s "
          f"(before {detect_before:.1f}, after {detect_after:.1f})")
    print(f"  bare, one landmarker created per clip    {with_create:7.1f} frames/s "
          f"(before {create_before:.1f}, after {create_after:.1f})")
    print(f"  {'mode':<9}{'end to end':>12}{'steady':>9}{'start-up':>10}{'/bare':>7}"
          f"{'/bare/worker':>13}{'vs 1 worker':>12}   (frames/s; ratios of steady rates)")
    single = next((r["steady"] for (kind, n), r in results.items() if n == 1), None)
    for (kind, workers), result in results.items():
        end_to_end = result["frames"] / result["wall"]
        startup = result["wall"] - result["frames"] / result["steady"]
        speedup = f"{result['steady'] / single:11.2f}x" if single else f"{'':>12}"
        print(f"  {kind}:{workers:<7}{end_to_end:12.1f}{result['steady']:9.1f}{startup:9.1f}s"
              f"{result['steady'] / with_create:7.2f}{result['steady'] / with_create / workers:13.2f}"
              f"{speedup}")

    if len(runs) > 1:
        print("\n  --max-people  --scout-every  mode     end to end  steady  vs first   tracks/clip  (frames/s)")
        for (people, scout), by_mode in by_people.items():
            for (kind, workers), result in by_mode.items():
                base = by_people[runs[0]][(kind, workers)]["steady"]
                print(f"  {people:>12}  {'' if scout is None else scout:>13}  {kind}:{workers:<6}"
                      f"{result['frames'] / result['wall']:10.1f}"
                      f"{result['steady']:8.1f}{base / result['steady']:8.2f}x slower"
                      f"{result['tracks']:>10}")

    best = max(results.values(), key=lambda r: r["steady"])
    disk = best["disk"]
    csv_per_frame = disk["csv"] / best["frames"]
    npz_per_clip = disk["npz"] / best["clips"]
    per_clip = (disk["csv"] + disk["npz"]) / best["clips"]
    print(f"\ndisk per clip: {per_clip / 1e3:.0f} kB (landmark CSV {disk['csv'] / best['clips'] / 1e3:.0f} kB "
          f"= {csv_per_frame:.0f} B per frame; thumbnails NPZ {npz_per_clip / 1e3:.0f} kB)")
    ucf_disk = UCF50_FRAMES * csv_per_frame + UCF50_CLIPS * npz_per_clip
    print(f"UCF50 extrapolation ({UCF50_CLIPS} clips, ~{UCF50_FRAMES / 1e6:.1f} M frames): "
          f"{ucf_disk / 1e9:.1f} GB (CSV {UCF50_FRAMES * csv_per_frame / 1e9:.1f} GB, "
          f"NPZ {UCF50_CLIPS * npz_per_clip / 1e9:.1f} GB)")
    for (kind, workers), result in results.items():
        hours = UCF50_FRAMES / result["steady"] / 3600
        print(f"  {kind}:{workers}: {hours:5.1f} h at this rate "
              f"({result['steady'] / workers:.1f} frames/s per worker process)")


def option_comparison(args: argparse.Namespace, root: Path, work: Path, modes: list[tuple[str, int]],
                      option: str) -> None:
    """Rates of each mode without and with `option` (motion: --motion; zoom: the default zoom and
    exposure against --no-zoom --no-exposure), alternating runs so that drifting load hits both alike."""
    print(f"\nextract with {option} vs without ({args.repeats} alternating rounds per mode; frames/s, mean of rounds)")
    for mode in modes:
        rates: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for _ in range(args.repeats):
            for on in (False, True):
                settings = {"motion": on} if option == "motion" else {"plain_pose": not on}
                result = run_pipeline(root, work / f"features_{option}_{on}", mode, args.pose_model, **settings)
                rates[on].append((result["frames"] / result["wall"], result["steady"]))
        means = {on: [sum(r[i] for r in rates[on]) / len(rates[on]) for i in (0, 1)] for on in rates}
        if option == "motion":
            motion_dir = FeaturesLayout(work / "features_motion_True").motion_dir
            extra = f"motion files {sum(path.stat().st_size for path in motion_dir.rglob('*.npz')) / 1e3:.0f} kB in all"
        else:
            posed = {on: int(read_table(FeaturesLayout(work / f"features_zoom_{on}").manifest)["frames_with_pose"]
                             .fillna(0).sum()) for on in (False, True)}
            extra = f"frames with a pose {posed[False]} -> {posed[True]}"
        print(f"  {mode[0]}:{mode[1]:<3} end to end {means[False][0]:6.1f} -> {means[True][0]:6.1f} "
              f"({means[True][0] / means[False][0]:.3f}x), steady {means[False][1]:6.1f} -> {means[True][1]:6.1f} "
              f"({means[True][1] / means[False][1]:.3f}x); {extra}", flush=True)


def memory(args: argparse.Namespace, work: Path, size: tuple[int, int]) -> None:
    counts = [int(n) for n in args.memory_videos.split(",") if n.strip()]
    modes = [parse_mode(text) for text in args.memory_modes.split(",") if text.strip()]
    print(f"rendering {max(counts)} synthetic clips of {args.memory_seconds:g} s at {args.size} ...",
          flush=True)
    videos = make_dataset(work / "memory_videos", max(counts), args.memory_seconds, size)
    print(f"\npeak memory (RSS) of the extract process tree, clips of {args.memory_seconds:g} s "
          f"at {args.size}; load average {load_average()}")
    for mode in modes:
        for count in counts:
            root = link_subset(videos[:count], work / f"memory_subset_{count}")
            result = run_pipeline(root, work / f"memory_features_{mode[0]}_{count}", mode,
                                  args.pose_model, sample_memory=True)
            print(f"  {mode[0]}:{mode[1]} {count:4d} videos: tree {result['tree']:7.1f} MiB, "
                  f"parent {result['parent']:6.1f} MiB, largest worker {result['worker']:6.1f} MiB "
                  f"({result['frames']} frames, {result['wall']:.1f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "throughput", "memory"), default="all")
    parser.add_argument("--modes", default="local:1,local:2,dask:2",
                        help="throughput runs: local:N and/or dask:N (default %(default)s)")
    parser.add_argument("--videos", type=int, default=12, help="clips in the throughput runs")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each throughput clip")
    parser.add_argument("--video", type=Path,
                        help="throughput on --videos links to this real clip instead of synthetic ones")
    parser.add_argument("--size", default="320x240", help="synthetic frame size WxH (default 320x240)")
    parser.add_argument("--memory-videos", default="10,100",
                        help="video counts of the memory runs (default %(default)s)")
    parser.add_argument("--memory-seconds", type=float, default=1.0,
                        help="length of each memory-run clip (default %(default)s)")
    parser.add_argument("--memory-modes", default="local:2,dask:2",
                        help="modes of the memory runs (default %(default)s)")
    parser.add_argument("--pose-model", default="lite")
    parser.add_argument("--people", default="1",
                        help="--max-people values of the throughput runs, e.g. 1,2,3 (default %(default)s)")
    parser.add_argument("--scout-every", default="",
                        help="--scout-every values of the runs with --max-people above 1, e.g. 0,8 "
                             "(default: extract's default)")
    parser.add_argument("--motion", action="store_true",
                        help="throughput: also compare every mode with `extract --motion` (the cost of motion)")
    parser.add_argument("--zoom", action="store_true",
                        help="throughput: also compare every mode with `extract --no-zoom --no-exposure` (the cost "
                             "of the zoom and exposure)")
    parser.add_argument("--repeats", type=int, default=2, help="--motion, --zoom: alternating rounds per mode")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    size = parse_size(args.size)
    if args.video and not args.video.is_file():
        raise SystemExit(f"{args.video}: no such video")

    with tempfile.TemporaryDirectory(prefix="bench_extract_") as temporary:
        work = args.keep or Path(temporary)
        if args.part in ("all", "throughput"):
            throughput(args, work, size)
        if args.part in ("all", "memory"):
            memory(args, work, size)


if __name__ == "__main__":
    main()
