"""An ablation of the appearance stream: thumbnails centred on the person instead of the whole frame.

    python scripts/person_thumbnails.py FEATURES VIDEO_ROOT --out FEATURES_PERSON [--margin 2] [--min-share 0.34]

Writes a features folder whose thumbnails show, at every frame extract kept one of, a square
region of the frame around the main actor's pose (the landmark CSV's; the last pose of the
previous --hold processed frames where the frame has none), --margin times the pose's larger side
and at least --min-share of the frame's side, squashed to the thumbnails' size as the whole frame
is; where nobody was seen, or the region would be the whole frame, the stored
thumbnail is kept. Everything else (landmarks, motion, manifest, extract_config.json) is linked
from FEATURES, so `scripts/benchmark_real.py --features FEATURES_PERSON` trains the same models on
the same clips and folds with only the appearance changed (docs/benchmarks.md, "Appearance
stream"). A small far person fills more of such a thumbnail; the scene around a large one is
cut away.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import cv2
import numpy as np

from pose_action.errors import InputError, run_script
from pose_action.extraction.appearance import read_appearance, thumbnail, write_thumbnails
from pose_action.extraction.manifest import read_table
from pose_action.features import load_clip_sequence
from pose_action.landmarks import X, Y
from pose_action.layout import FeaturesLayout, check_key
from pose_action.runs import staged_directory
from pose_action.video import read_frames


def pose_boxes(frames: np.ndarray, data: np.ndarray, detected: np.ndarray,
               hold: int) -> dict[int, tuple[float, float, float, float]]:
    """Source frame -> (x0, x1, y0, y1) of the pose seen there or within `hold` processed frames before."""
    boxes: dict[int, tuple[float, float, float, float]] = {}
    last, last_row = None, -hold - 1
    for row, frame in enumerate(frames):
        if detected[row]:
            xs, ys = np.clip(data[row, :, X], 0, 1), np.clip(data[row, :, Y], 0, 1)
            last, last_row = (float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())), row
        if last is not None and row - last_row <= hold:
            boxes[int(frame)] = last
    return boxes


def region(box: tuple[float, float, float, float], margin: float, min_share: float) -> tuple[float, float, float]:
    """(left, top, side) in frame fractions of the region shown around a pose box."""
    x0, x1, y0, y1 = box
    side = float(np.clip(margin * max(x1 - x0, y1 - y0), min_share, 1.0))
    left = float(np.clip((x0 + x1 - side) / 2, 0.0, 1.0 - side))
    top = float(np.clip((y0 + y1 - side) / 2, 0.0, 1.0 - side))
    return left, top, side


def person_thumbnail(frame_bgr: np.ndarray, place: tuple[float, float, float], size: int,
                     min_share: float) -> np.ndarray:
    """(size, size, 3) uint8 RGB of the region `place`: the whole-frame thumbnail (extraction's
    `thumbnail`) at the smallest whole multiple of `size` in which the closest region still has
    `size` pixels, cropped and brought to `size`."""
    left, top, side = place
    big = size * math.ceil(1.0 / min_share)
    square = thumbnail(frame_bgr, big)
    a, b = int(round(left * big)), int(round((left + side) * big))
    c, d = int(round(top * big)), int(round((top + side) * big))
    crop = square[c:max(d, c + 1), a:max(b, a + 1)]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def wanted_frames(video: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """The frames of `video` with these source indices, decoded as extraction decodes them (read_frames)."""
    found: dict[int, np.ndarray] = {}
    last = max(wanted, default=-1)
    for index, _, frame in read_frames(video):
        if index in wanted:
            found[index] = frame
        if index >= last:
            break
    return found


def write_person_features(features: Path, videos: Path, out: Path, margin: float, min_share: float,
                          hold: int) -> str:
    """The features folder `out` with thumbnails centred on the person (see the module's docstring)."""
    if out.exists():
        raise InputError(f"{out}: already exists; give a new folder")
    source = FeaturesLayout(features)
    if not source.manifest.is_file():
        raise InputError(f"{features}: no manifest.csv (not a folder `pose-action extract` wrote)")
    manifest = read_table(source.manifest)
    zoomed = shown = 0
    with staged_directory(out) as staging:  # `out` appears only when whole: a bad video or Ctrl-C leaves nothing
        target = FeaturesLayout(staging)
        for entry in sorted(features.iterdir()):
            if entry.name != source.thumbnails_dir.name and not entry.name.startswith("."):
                (staging / entry.name).symlink_to(entry.resolve())
        for clip in manifest.itertuples():
            if clip.status not in ("ok", "no_pose"):
                continue
            key, video = check_key(clip.key), videos / clip.video  # a missing video: probe's one line names it
            frame_index, thumbs = read_appearance(source.thumbnails(key), "thumbs")
            sequence = load_clip_sequence(source, key, fps=float(clip.fps), width=int(clip.width),
                                          height=int(clip.height))
            boxes = pose_boxes(sequence.frame, sequence.data, sequence.detected, hold)
            frames = wanted_frames(video, {int(i) for i in frame_index})
            person = thumbs.copy()
            for row, index in enumerate(frame_index):
                box, frame = boxes.get(int(index)), frames.get(int(index))
                place = region(box, margin, min_share) if box is not None else None
                if frame is not None and place is not None and place[2] < 1.0:
                    person[row] = person_thumbnail(frame, place, thumbs.shape[1], min_share)
                    zoomed += 1
            shown += len(frame_index)
            target.thumbnails(key).parent.mkdir(parents=True, exist_ok=True)
            write_thumbnails(target.thumbnails(key), person, frame_index)
    return f"{out}: {zoomed} of {shown} thumbnails centred on the person"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("features", type=Path, help="an extracted features folder")
    parser.add_argument("videos", type=Path, help="the video folder it was extracted from")
    parser.add_argument("--out", type=Path, required=True, help="the new features folder (created)")
    parser.add_argument("--margin", type=float, default=2.0, help="region side / the pose's larger side")
    parser.add_argument("--min-share", type=float, default=0.34, help="the region's least side, a share of the frame's")
    parser.add_argument("--hold", type=int, default=12, help="processed frames a lost pose still places the region")
    args = parser.parse_args(argv)
    if not 0.0 < args.min_share <= 1.0 or args.margin <= 0:
        parser.error("--min-share must be in (0, 1] and --margin above 0")
    return run_script("person_thumbnails.py", lambda: write_person_features(
        args.features, args.videos, args.out, args.margin, args.min_share, args.hold),
        f"interrupted; nothing was written to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
