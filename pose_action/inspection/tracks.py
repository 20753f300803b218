"""`inspect FEATURES --render-tracks <Class>/<clip>`: every tracked person of a clip, each in its own colour.

Reads the clip's people file (`FEATURES/people/<Class>/<clip>.csv`, written by `extract
--max-people N > 1`) and draws one frame per processed frame of the clip: each track's skeleton
in its track's colour (`render.track_color`, the colours `predict --max-people` uses), tagged
"main" (track 0, the main actor: the person of the landmark CSV) or "track N", on a dark canvas
of the video's size or over the source video (`--overlay`). The frames, their times and the
frame size come from the clip's landmark CSV and manifest row when they are there.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pose_action.errors import InputError
from pose_action.landmarks import CHANNELS, LANDMARK_COLUMNS, NUM_LANDMARKS
from pose_action.layout import FeaturesLayout, check_key
from pose_action.people import check_people_frames, read_people
from pose_action.video import DEFAULT_FPS, probe, read_frames

log = logging.getLogger(__name__)

TRACKS_SUFFIX = ".tracks"  # <DIR>/<Class>/<clip>.tracks.mp4


def tracks_output(out_dir: str | os.PathLike, key: str, suffix: str = ".mp4") -> Path:
    """Where the render of clip `key` goes: <out_dir>/<Class>/<clip>.tracks<suffix> (inside out_dir)."""
    label, clip = check_key(key).split("/")
    return Path(out_dir) / label / f"{clip}{TRACKS_SUFFIX}{suffix}"


def _people_by_frame(table) -> dict[int, dict[int, np.ndarray]]:
    """{source frame: {track: (33, 8) landmarks}} of a people table."""
    values = table[list(LANDMARK_COLUMNS)].to_numpy(dtype=np.float32).reshape(len(table), NUM_LANDMARKS,
                                                                              len(CHANNELS))
    found: dict[int, dict[int, np.ndarray]] = {}
    for frame, track, points in zip(table["frame"].to_numpy(), table["track"].to_numpy(), values):
        found.setdefault(int(frame), {})[int(track)] = points
    return found


def _clip_timing(layout: FeaturesLayout, key: str, people_frames: list[int]):
    """(source frame numbers, timestamps ms, fps, (width, height)) of the clip's processed frames.

    The landmark CSV's rows (every processed frame, also those with nobody) with its manifest's
    fps and size; without a readable CSV, the people file's frames at 25 fps on 640x480."""
    from pose_action.inspection.report import STAND_IN_SIZE, load_with_context

    csv = layout.landmarks(key)
    if csv.is_file():
        try:
            sequence = load_with_context(csv)
            check_people_frames(layout.people(key), people_frames, sequence.frame, csv)
            return (sequence.frame.astype(int).tolist(), sequence.timestamp_ms.astype(int).tolist(), sequence.fps,
                    (sequence.width, sequence.height))
        except InputError as error:
            if str(error).startswith(str(layout.people(key))):
                raise
            log.warning("%s; drawing the people file's frames only", error)
    frames = sorted(people_frames)
    return frames, [round(frame * 1000.0 / DEFAULT_FPS) for frame in frames], DEFAULT_FPS, STAND_IN_SIZE


def render_tracks(features: str | os.PathLike, key: str, out_dir: str | os.PathLike, *,
                  overlay: str | os.PathLike | None = None, size: tuple[int, int] | None = None,
                  gif: bool = False, quiet: bool = True) -> tuple[Path, int, int]:
    """Write the tracks render of one clip; returns (the file, frames written, tracks drawn).

    The file is <out_dir>/<Class>/<clip>.tracks.mp4 (.gif with `gif`), written atomically;
    a missing or bad people file is an InputError naming it."""
    from pose_action.inference import render

    layout = FeaturesLayout(features)
    out = tracks_output(out_dir, key, ".gif" if gif else ".mp4")
    table = read_people(layout.people(key))
    people = _people_by_frame(table)
    if not people:
        raise InputError(f"{layout.people(key)}: no person in any frame, nothing to draw")
    frames, timestamps, fps, video_size = _clip_timing(layout, key, list(people))
    canvas_size = size or video_size
    if overlay is not None:
        canvas_size = (probe(overlay).width, probe(overlay).height)
    if canvas_size[0] < 16 or canvas_size[1] < 16:
        raise InputError(f"render size must be at least 16x16, got {canvas_size[0]}x{canvas_size[1]}")

    def annotate(image: np.ndarray, row: int) -> np.ndarray:
        here = people.get(frames[row], {})
        render.draw_people(image, here, main=0)
        render.draw_caption(image, f"frame {frames[row]}  {timestamps[row] / 1000.0:.2f} s  "
                                   f"{len(here)} {'person' if len(here) == 1 else 'people'}")
        return image

    def canvases() -> Iterator[np.ndarray]:
        for row in range(len(frames)):
            yield annotate(np.full((canvas_size[1], canvas_size[0], 3), render.CANVAS_COLOR, np.uint8), row)

    def over_video(video: str | os.PathLike) -> Iterator[np.ndarray]:
        stride = max(1, math.gcd(*frames)) if frames else 1
        row = 0
        for index, _, image in read_frames(video, stride=stride):
            if row >= len(frames):
                return
            if frames[row] == index:
                yield annotate(image, row)
                row += 1
        if row < len(frames):
            raise InputError(f"{video}: video ends before frame {frames[row]} of {layout.people(key)} "
                             "(is it the video the clip was extracted from?)")

    drawn = tqdm(over_video(overlay) if overlay is not None else canvases(), total=len(frames), desc="render",
                 unit="frame", disable=quiet)
    playback = 1000.0 / float(np.median(np.diff(timestamps))) if len(timestamps) > 1 and \
        np.median(np.diff(timestamps)) > 0 else fps
    count = render.write_animation(out, drawn, playback)
    return out, count, int(table["track"].nunique())
