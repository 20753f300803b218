"""Joint trajectory plots and skeleton renderings of one landmark CSV (alone or over its video)."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pose_action.errors import InputError
from pose_action.files import atomic_path
from pose_action.inspection.summary import runs_of
from pose_action.landmarks import INDEX, LANDMARK_NAMES, LandmarkSequence, X, Y

DEFAULT_JOINTS: tuple[str, ...] = (
    "left_wrist", "right_wrist", "left_ankle", "right_ankle", "left_hip", "right_hip")
PLOT_SIZE_INCHES = (12.0, 9.0)
PLOT_DPI = 100  # 1200x900 pixels
RENDER_SUFFIXES = frozenset({".gif", ".mp4", ".avi", ".mov", ".mkv"})


def parse_joints(values: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Joint names from `--joints a b` or `--joints a,b`; an unknown name is an InputError."""
    if not values:
        return DEFAULT_JOINTS
    names = tuple(name.strip() for value in values for name in value.split(",") if name.strip())
    for name in names:
        if name not in INDEX:
            close = difflib.get_close_matches(name, LANDMARK_NAMES, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else \
                f"names: {', '.join(LANDMARK_NAMES[:3])}, ..., {LANDMARK_NAMES[-1]}"
            raise InputError(f"--joints: unknown landmark {name!r} ({hint})")
    return names


def plot_sequence(sequence: LandmarkSequence, path: str | os.PathLike,
                  joints: tuple[str, ...] = DEFAULT_JOINTS, title: str = "") -> Path:
    """Trajectories of `joints` (x and y over time) and a visibility heat map, as one image.

    Time runs along the x axis of all three panels; frames without a pose are shaded grey
    (and grey in the heat map), so gaps and jumps stand out. Written atomically, 1200x900 px
    for raster formats.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    seconds = sequence.timestamp_ms / 1000.0
    figure = Figure(figsize=PLOT_SIZE_INCHES, dpi=PLOT_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(3, 1, sharex=True, height_ratios=(1, 1, 1.6))
    palette = colormaps["tab10"]
    for number, name in enumerate(joints):
        index = INDEX[name]
        style = "--" if name.startswith("right") else "-"
        for axis, channel in zip(axes[:2], (X, Y)):
            axis.plot(seconds, sequence.data[:, index, channel], style, color=palette(number % 10),
                      label=name, linewidth=1.5)
    axes[0].set_title(f"{title or 'joint trajectories'} (dashed: right side; grey: frames without "
                      f"a pose; dotted: the frame's edges)", fontsize=10)
    axes[0].set_ylabel("x (0 = left edge)")
    axes[1].set_ylabel("y (0 = top edge)")
    axes[1].invert_yaxis()  # up in the image is up in the plot
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center",
                  ncol=min(len(joints), 6), fontsize=9, frameon=False)
    step = float(np.median(np.diff(seconds))) if len(seconds) > 1 else 0.04
    gaps = runs_of(~sequence.detected)
    for axis in axes[:2]:
        axis.grid(alpha=0.3)
        for edge in (0.0, 1.0):  # the frame's edges: beyond them a joint is off-screen, guessed
            axis.axhline(edge, color="0.4", linestyle=":", linewidth=1)
        for first, last in gaps:  # the same cells as the grey columns of the heat map
            axis.axvspan(seconds[first] - step / 2, seconds[last] + step / 2, color="0.85", zorder=0)
    colormap = colormaps["viridis"].copy()
    colormap.set_bad("0.8")
    image = axes[2].imshow(
        np.ma.masked_invalid(sequence.visibility.T), aspect="auto", cmap=colormap,
        vmin=0.0, vmax=1.0, interpolation="nearest",
        extent=(seconds[0] - step / 2, seconds[-1] + step / 2, len(LANDMARK_NAMES) - 0.5, -0.5))
    axes[2].set_yticks(range(len(LANDMARK_NAMES)), LANDMARK_NAMES, fontsize=6)
    axes[2].set_xlabel("time (s)")
    axes[2].set_title("visibility per landmark", fontsize=9)
    figure.colorbar(image, ax=axes[2], label="visibility", fraction=0.03)
    with atomic_path(path) as tmp:
        try:
            figure.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png")
        except ValueError as error:
            raise InputError(f"{path}: cannot write this image format ({error})") from None
    return path


def render_sequence(sequence: LandmarkSequence, out: str | os.PathLike, *,
                    overlay: str | os.PathLike | None = None,
                    size: tuple[int, int] | None = None, quiet: bool = True) -> int:
    """Write the skeleton animation (or the overlay on `overlay`) as MP4/AVI/GIF; returns frames.

    One output frame per CSV row, played at the rate the rows were processed. Without an
    overlay the canvas is `size`, else the sequence's frame size.
    """
    from pose_action.inference import render

    out = Path(out)
    if out.suffix.lower() not in RENDER_SUFFIXES:
        raise InputError(f"{out}: --render writes {', '.join(sorted(RENDER_SUFFIXES))} files")
    if overlay is not None:
        frames = render.overlay_frames(sequence, overlay)
    else:
        frames = render.render_skeleton_frames(sequence, size or (sequence.width, sequence.height))
    frames = tqdm(frames, total=len(sequence), desc="render", unit="frame", disable=quiet)
    return render.write_animation(out, frames, render.playback_fps(sequence))


