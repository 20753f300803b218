"""Training memory and epoch time for 200 vs 2,000 clips: memory must not grow with the dataset.

    python scripts/bench_train_memory.py [--sizes 200 2000] [--models fusion pose] [--epochs 2]
                                         [--distinct 100] [--seconds 4] [--cache-mb MB] [--work DIR]

Rendering and pose-extracting 2,000 videos takes hours on 2 cores, so the FEATURES folders are
built directly in the extraction output format (landmarks/<Class>/<clip>.csv written with
landmarks.write_csv, frames/<Class>/<clip>.npz thumbnails chosen by the FrameSampler extraction
uses, manifest.csv with manifest.COLUMNS, extract_config.json) from the synthetic generator's
ground-truth joints, without MediaPipe. Only `--distinct` clips are rendered; the rest of each
folder re-uses their files under new keys (hard links), which is fine for memory: training
reads every clip's files as if they were different.

Each (model, size) trains in a fresh process through `train.train_run` (the real path: split,
loader threads, fit, test predictions, run folder). Peak RSS is that process's kernel
high-water mark (os.wait4 rusage: every thread, including the loader's), so it includes
TensorFlow itself; "after setup" is the RSS once TensorFlow and Keras are imported.
Thumbnails are streamed per batch; the one thing that may grow with the clips is the parsed
landmark cache, which stops at train's --cache-mb (the table shows how much it holds, and the
last lines split the growth into cache and everything else).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

GROUPS = 10  # actors per class: the split (and so the share of training clips) is the same at every size
METRES_PER_IMAGE_HEIGHT = 2.0  # rough world scale for the derived world coordinates


# ----------------------------------------------------------------------------- features folders


def ground_truth_landmarks(joints: np.ndarray, width: int, height: int) -> np.ndarray:
    """(T, 33, 3) synthetic joints -> (T, 33, 8) landmark rows as extraction would store them.

    x, y from the ground truth, z = 0, visibility = presence = 1, world coordinates derived
    (hip-centred, square units, about 2 m per image height, wz = 0). Joints the figure lacks
    take the hip midpoint; frames with no drawn joint stay NaN (no pose).
    """
    from pose_action.features import LEFT_HIP, RIGHT_HIP
    from pose_action.landmarks import PRESENCE, VISIBILITY, WX, WZ, XY, Z

    xy = joints[:, :, XY].astype(np.float64)
    drawn = ~np.isnan(xy).any(axis=2)
    seen = drawn.any(axis=1)
    hip = (xy[:, LEFT_HIP] + xy[:, RIGHT_HIP]) / 2.0
    filled = np.where(drawn[:, :, None], xy, hip[:, None, :])
    data = np.full((len(joints), xy.shape[1], 8), np.nan, dtype=np.float32)
    world = (filled - hip[:, None, :]) * np.array([width / height, 1.0]) * METRES_PER_IMAGE_HEIGHT
    data[seen, :, XY] = filled[seen]
    data[seen, :, Z] = 0.0
    data[seen, :, VISIBILITY] = data[seen, :, PRESENCE] = 1.0
    data[seen, :, WX:WZ] = world[seen]
    data[seen, :, WZ] = 0.0
    return data


def render_sources(folder: Path, per_class: int, seconds: float, thumb_size: int, thumb_frames: int,
                   size: tuple[int, int], fps: float) -> dict[str, list[dict]]:
    """Render `per_class` distinct clips of every synthetic action into folder/<Class>/<n>.{csv,npz}."""
    from pose_action.extraction.appearance import FrameSampler, write_thumbnails
    from pose_action.landmarks import LandmarkSequence, write_csv
    from pose_action.synth import dataset as synth
    from pose_action.synth.motions import ACTIONS

    width, height = size
    sources: dict[str, list[dict]] = {}
    for label in ACTIONS:
        sources[label] = []
        for number in range(per_class):
            frames, joints = synth.render_frames(label, actor=number, clip=number, seed=11, size=size, fps=fps,
                                                 seconds=seconds)
            sampler = FrameSampler(thumb_frames, [thumb_size])
            for index, frame in enumerate(frames):
                sampler.offer(index, frame)
            sampled = sampler.result()
            frame_index = np.arange(len(frames), dtype=np.int64)
            sequence = LandmarkSequence(frame=frame_index, timestamp_ms=np.round(frame_index * 1000 / fps).astype(
                np.int64), data=ground_truth_landmarks(joints, width, height), fps=fps, width=width, height=height)
            stem = folder / label / str(number)
            write_csv(stem.with_suffix(".csv"), sequence)
            write_thumbnails(stem.with_suffix(".npz"), sampled.images[thumb_size], sampled.frame_index)
            sources[label].append({"stem": stem, "frames": len(frames),
                                   "with_pose": int(sequence.detected.sum())})
    return sources


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def build_features(root: Path, clips: int, sources: dict[str, list[dict]], *, thumb_size: int, thumb_frames: int,
                   size: tuple[int, int], fps: float) -> Path:
    """FEATURES with `clips` clips spread over the classes and GROUPS actors, in extraction's layout."""
    from pose_action.extraction.manifest import format_row, header
    from pose_action.files import write_json, write_text_atomic
    from pose_action.layout import FeaturesLayout

    layout = FeaturesLayout(root)

    labels = list(sources)
    per_class = max(1, clips // len(labels))
    lines = []
    for label in labels:
        for number in range(per_class):
            group, take = number % GROUPS + 1, number // GROUPS + 1
            key = f"{label}/v_{label}_g{group:02d}_c{take:02d}"
            source = sources[label][number % len(sources[label])]
            _link(source["stem"].with_suffix(".csv"), layout.landmarks(key))
            _link(source["stem"].with_suffix(".npz"), layout.thumbnails(key))
            lines.append(format_row({
                "video": f"videos/{key}.mp4", "label": label, "group": f"{group:02d}", "status": "ok",
                "frames_total": source["frames"], "frames_processed": source["frames"],
                "frames_with_pose": source["with_pose"], "fps": fps, "width": size[0], "height": size[1],
                "seconds": round(source["frames"] / fps, 3), "error": "", "key": key, "config_id": "bench-gt",
                "stride": 1, "note": "synthetic ground truth, no MediaPipe (scripts/bench_train_memory.py)"}))
    write_text_atomic(layout.manifest, header() + "".join(sorted(lines)))
    config = {"config_id": "bench-gt", "extractor_version": 1,
              "pose_model": {"name": "ground-truth", "file": "none", "sha256": ""},
              "sampling": {"fps": None, "stride": None},
              "thumbnails": {"size": thumb_size, "frames": thumb_frames,
                             "resize": "whole frame squashed to a square, INTER_AREA, RGB",
                             "choice": "uniform over the processed frames"},
              "embeddings": None, "note": "built by scripts/bench_train_memory.py from synthetic ground truth"}
    write_json(layout.config, config)
    return root


# ----------------------------------------------------------------------------- one measurement (child)


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


class EpochTimes(logging.Handler):
    """Collects the seconds of each epoch from train's one-line-per-epoch log."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if " epoch " in str(record.msg) and record.args:
            self.seconds.append(float(record.args[-1]))


def child(args: argparse.Namespace) -> int:
    """Train once in this fresh process; write the facts as JSON (the parent measures peak RSS)."""
    import keras  # noqa: F401  (imported before the baseline: TensorFlow's own memory is not the dataset's)
    import tensorflow  # noqa: F401  (as keras above)

    from pose_action.training.train import TrainOptions, train_run

    after_setup = rss_mb()
    times = EpochTimes()
    train_log = logging.getLogger("pose_action.training.train")
    train_log.addHandler(times)
    train_log.setLevel(logging.INFO)
    extra = {"distribute": args.distribute} if args.distribute else {}
    if args.cache_mb is not None:
        extra["cache_mb"] = args.cache_mb
    options = TrainOptions(model=args.model, epochs=args.epochs, frames=args.frames, batch_size=args.batch_size,
                           loader_threads=args.loader_threads, patience=args.epochs, **extra)
    started = time.perf_counter()
    metrics = train_run(args.child, args.out, options, overwrite=True, quiet=False)
    facts = {"after_setup_mb": after_setup, "end_mb": rss_mb(), "epoch_seconds": times.seconds,
             "total_seconds": time.perf_counter() - started, "n_train": metrics["n_train"],
             "n_val": metrics["n_val"], "n_test": metrics["n_test"], "accuracy": metrics["accuracy"]}
    args.result.write_text(json.dumps(facts), encoding="utf-8")
    return 0


# ----------------------------------------------------------------------------- parent


def measure(features: Path, model: str, args: argparse.Namespace, work: Path) -> dict:
    """Run one training in a fresh process; its peak RSS comes from the kernel (os.wait4)."""
    result = work / f"result-{model}-{features.name}.json"
    command = [sys.executable, __file__, "--child", str(features), "--model", model, "--epochs", str(args.epochs),
               "--frames", str(args.frames), "--batch-size", str(args.batch_size),
               "--loader-threads", str(args.loader_threads),
               "--out", str(work / "runs" / f"{model}-{features.name}"), "--result", str(result)]
    if args.distribute:
        command += ["--distribute", args.distribute]
    if args.cache_mb is not None:
        command += ["--cache-mb", str(args.cache_mb)]
    load_before = os.getloadavg()[0]
    with open(work / f"log-{model}-{features.name}.txt", "w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{model} on {features}: training failed (see {log_file.name})")
    facts = json.loads(result.read_text(encoding="utf-8"))
    facts.update(model=model, clips=features.name, peak_mb=usage.ru_maxrss / 1024,
                 load=(load_before + os.getloadavg()[0]) / 2, landmarks_mb=landmark_megabytes(features))
    return facts


BYTES_PER_FRAME = 33 * 8 * 4 + 8 + 8  # a parsed LandmarkSequence row: data float32, frame and timestamp int64


def landmark_megabytes(features: Path) -> float:
    """Parsed size of every clip's landmarks (what an uncapped cache would hold), train + val + test."""
    from pose_action.extraction.manifest import read_rows
    from pose_action.layout import FeaturesLayout

    frames = sum(int(row["frames_processed"]) for row in read_rows(FeaturesLayout(features).manifest))
    return frames * BYTES_PER_FRAME / 2**20


def cached_megabytes(row: dict, cap_mb: int) -> float:
    """What the landmark cache holds at the end: every clip of the run (training, validation, then the
    test clips it evaluates), up to the cap."""
    return min(float(cap_mb), row["landmarks_mb"])


def print_table(rows: list[dict], args: argparse.Namespace, distinct: int) -> None:
    from pose_action.training.batches import SEQUENCE_CACHE_BYTES

    cap = args.cache_mb if args.cache_mb is not None else SEQUENCE_CACHE_BYTES // 2**20
    print(f"\nlandmark cache cap {cap} MB; T={args.frames}, batch {args.batch_size}, {args.epochs} epochs, "
          f"loader threads {args.loader_threads}, "
          f"{args.seconds:g} s clips at 25 fps ({distinct} distinct rendered clips re-used under new keys), "
          f"thumbnails {args.thumb_size}px, default model sizes, {os.cpu_count()} CPU cores\n")
    print("| model | clips (train/val/test) | all landmarks (MB) | landmark cache (MB) | RSS after setup (MB) "
          "| peak RSS (MB) | peak - setup (MB) | epoch 1 (s) | epoch 2+ (s) | ms per train clip | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        epochs = row["epoch_seconds"] or [float("nan")]
        later = float(np.mean(epochs[1:])) if len(epochs) > 1 else float("nan")
        steady = later if len(epochs) > 1 else epochs[0]
        print(f"| {row['model']} | {row['clips']} ({row['n_train']}/{row['n_val']}/{row['n_test']}) | "
              f"{row['landmarks_mb']:.0f} | {cached_megabytes(row, cap):.0f} | {row['after_setup_mb']:.0f} | "
              f"{row['peak_mb']:.0f} | "
              f"{row['peak_mb'] - row['after_setup_mb']:.0f} | {epochs[0]:.1f} | {later:.1f} | "
              f"{1000 * steady / row['n_train']:.1f} | {row['load']:.1f} |")
    for model in dict.fromkeys(row["model"] for row in rows):
        mine = sorted((row for row in rows if row["model"] == model), key=lambda row: int(row["clips"]))
        if len(mine) > 1:
            small, large = mine[0], mine[-1]
            growth = large["peak_mb"] - small["peak_mb"]
            cache = cached_megabytes(large, cap) - cached_megabytes(small, cap)
            times = int(large["clips"]) / int(small["clips"])
            print(f"{model}: {times:.0f}x the clips -> peak RSS {growth:+.0f} MB: "
                  f"landmark cache {cache:+.0f} MB (never above the {cap} MB cap), everything else "
                  f"{growth - cache:+.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000], help="clips per features folder")
    parser.add_argument("--models", nargs="+", default=["fusion", "pose"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--loader-threads", type=int, default=1, help="loader threads (train --loader-threads)")
    parser.add_argument("--distribute", default=None, help="none | mirrored (passed to training)")
    parser.add_argument("--cache-mb", type=int, default=None,
                        help="landmark cache cap passed to training (default: training's default)")
    parser.add_argument("--distinct", type=int, default=100, help="clips actually rendered (spread over classes)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each rendered clip")
    parser.add_argument("--thumb-size", type=int, default=64)
    parser.add_argument("--thumb-frames", type=int, default=64)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        return child(args)

    import tempfile

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-train-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    size, fps = (320, 240), 25.0
    from pose_action.synth.motions import ACTIONS

    per_class = max(1, args.distinct // len(ACTIONS))
    started = time.perf_counter()
    sources = render_sources(work / "sources", per_class, args.seconds, args.thumb_size, args.thumb_frames,
                             size, fps)
    print(f"rendered {per_class * len(ACTIONS)} distinct clips in {time.perf_counter() - started:.0f} s "
          f"(ground-truth landmarks, no MediaPipe)", file=sys.stderr)
    folders = []
    for clips in args.sizes:
        started = time.perf_counter()
        folders.append(build_features(work / str(clips), clips, sources, thumb_size=args.thumb_size,
                                      thumb_frames=args.thumb_frames, size=size, fps=fps))
        print(f"built {clips} clips in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    rows = []
    try:
        for model in args.models:
            for folder in folders:
                print(f"training {model} on {folder.name} clips (load {os.getloadavg()[0]:.1f})...",
                      file=sys.stderr)
                rows.append(measure(folder, model, args, work))
    finally:
        if rows:
            print_table(rows, args, per_class * len(ACTIONS))
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
