"""What a person checks in one video's landmarks before training: detection, gaps, visibility, jitter."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from pose_action.landmarks import BODY_PARTS, INDEX, LandmarkSequence

DEFAULT_MIN_DETECTION_RATE = 0.5

_SHOULDERS = (INDEX["left_shoulder"], INDEX["right_shoulder"])
_HIPS = (INDEX["left_hip"], INDEX["right_hip"])


# --- per-video summary -------------------------------------------------------------------

@dataclass(frozen=True)
class VideoSummary:
    """What a person checks before training on a video's landmarks."""

    frames: int  # processed frames (CSV rows)
    frames_with_pose: int
    longest_gap: int  # most consecutive processed frames without a pose
    visibility: dict[str, float]  # mean visibility per body part over frames with a pose
    jitter: float  # mean frame-to-frame torso movement, in torso heights; NaN if unmeasurable
    duration_s: float  # time spanned by the processed frames

    @property
    def detection_rate(self) -> float:
        return self.frames_with_pose / self.frames if self.frames else 0.0

    def as_row(self) -> dict[str, float | int]:
        row: dict[str, float | int] = {
            "frames": self.frames, "frames_with_pose": self.frames_with_pose,
            "detection_rate": self.detection_rate, "longest_gap": self.longest_gap}
        row.update({f"visibility_{part}": value for part, value in self.visibility.items()})
        row.update({"jitter": self.jitter, "duration_s": self.duration_s})
        return row


def runs_of(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True values."""
    edges = np.diff(np.concatenate(([0], np.asarray(flags, dtype=np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def longest_gap(detected: np.ndarray) -> int:
    """Length of the longest run of frames without a pose: the longest stretch a model sees no skeleton."""
    return max((int(last - first + 1) for first, last in runs_of(~np.asarray(detected, dtype=bool))),
               default=0)


def part_visibility(sequence: LandmarkSequence) -> dict[str, float]:
    """Mean MediaPipe visibility of each body part over the frames that have a pose (NaN if none).

    Low values mean the part is off-screen or occluded: e.g. legs in upper-body clips.
    """
    visibility = sequence.visibility[sequence.detected]
    result = {}
    for part, indices in BODY_PARTS.items():
        values = visibility[:, list(indices)]
        result[part] = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
    return result


def torso_jitter(sequence: LandmarkSequence, aspect: float | None = None) -> float:
    """Mean frame-to-frame movement of the shoulders and hips, in torso heights.

    Measured between consecutive CSV rows that both have a pose; the torso height is the
    distance from mid-shoulders to mid-hips, so the figure does not depend on how large the
    person appears. `aspect` (width / height; default the sequence's own) puts x and y in the
    same units: the landmarks are normalized per axis. High values mean a shaky detection or a fast-moving body.
    """
    xy = sequence.xy.astype(np.float64) * (sequence.aspect if aspect is None else aspect, 1.0)
    torso = xy[:, _SHOULDERS + _HIPS]  # (T, 4, 2)
    height = np.linalg.norm(xy[:, _SHOULDERS].mean(axis=1) - xy[:, _HIPS].mean(axis=1), axis=1)
    movement = np.linalg.norm(np.diff(torso, axis=0), axis=2).mean(axis=1)  # (T-1,)
    scale = (height[1:] + height[:-1]) / 2.0
    valid = np.isfinite(movement) & np.isfinite(scale) & (scale > 1e-6)
    return float(np.mean(movement[valid] / scale[valid])) if valid.any() else math.nan


def duration_seconds(sequence: LandmarkSequence) -> float:
    """Time from the start of the first processed frame to the end of the last one.

    One source frame lasts (timestamp span) / (frame-index span), which holds whatever
    stride the extraction used; a single row lasts 1/fps.
    """
    timestamps, frames = sequence.timestamp_ms, sequence.frame
    span_ms = float(timestamps[-1] - timestamps[0])
    if frames[-1] > frames[0]:
        frame_ms = span_ms / float(frames[-1] - frames[0])
    else:
        frame_ms = 1000.0 / sequence.fps
    return (span_ms + frame_ms) / 1000.0


def summarize(sequence: LandmarkSequence) -> VideoSummary:
    """Summary of one video's landmarks."""
    detected = sequence.detected
    return VideoSummary(
        frames=len(sequence), frames_with_pose=int(detected.sum()),
        longest_gap=longest_gap(detected), visibility=part_visibility(sequence),
        jitter=torso_jitter(sequence), duration_s=duration_seconds(sequence))


def problem_of(summary: VideoSummary, min_detection_rate: float) -> str:
    """'no pose', 'low detection' or '' (fine)."""
    if summary.frames_with_pose == 0:
        return "no pose"
    if summary.detection_rate < min_detection_rate:
        return "low detection"
    return ""


def format_number(value: float, digits: int = 2) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def format_summary(path: str | os.PathLike, summary: VideoSummary, problem: str = "") -> str:
    """Human-readable lines for one video."""
    visibility = "  ".join(f"{part} {format_number(value)}" for part, value in summary.visibility.items())
    lines = [
        str(path),
        f"  frames      {summary.frames} processed, {summary.frames_with_pose} with a pose "
        f"({summary.detection_rate:.0%})",
        f"  longest gap {summary.longest_gap} frames without a pose",
        f"  duration    {summary.duration_s:.2f} s",
        f"  visibility  {visibility}",
        f"  jitter      {format_number(summary.jitter, 3)} torso heights per frame",
    ]
    if problem:
        lines.append(f"  problem     {problem}")
    return "\n".join(lines)


