"""Benchmark `pose_action.synth`: frames rendered per second on one core, and clips written per second.

    python scripts/bench_synth.py [--size 320x240] [--seconds 2] [--clips 10]

Rendering (drawing only) is what the issue's target (well over 300 frames/s) is about;
writing adds the MPEG-4 encoder and the joints CSV.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402

from pose_action.commands.arguments import parse_size  # noqa: E402
from pose_action.synth import dataset as synth  # noqa: E402
from pose_action.synth.motions import ACTIONS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="{}x{}".format(*synth.DEFAULT_SIZE), metavar="WxH")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--fps", type=float, default=synth.DEFAULT_FPS)
    parser.add_argument("--clips", type=int, default=10, help="clips per measurement")
    args = parser.parse_args()
    args.size = parse_size(args.size)
    cv2.setNumThreads(1)  # one core: the figure is drawn single-threaded anyway

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
