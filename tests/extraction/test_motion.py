"""Motion vectors (`extract --motion`): flow of a figure moving right points right, a still clip gives
zeros, and adding --motion to a folder extracted without it makes only the motion files."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from pose_action.errors import InputError
from pose_action.extraction.motion import BINS, GRID, MOTION_DIM, MotionEncoder, read_motion
from pose_action.extraction.run import extract
from pose_action.extraction.settings import make_settings
from pose_action.synth import dataset as synth
from pose_action.video import read_frames, write_video

HISTOGRAMS = GRID * GRID * BINS
RIGHT, UP, LEFT, DOWN = 0, 2, 4, 6  # direction bins (see pose_action.extraction.motion)


def _figure_clip(path: Path, step: int, frames: int = 20) -> Path:
    """A textured grey scene with a light figure (head, body, dark belt) moving `step` px right per frame."""
    rng = np.random.default_rng(1)
    scene = cv2.GaussianBlur(rng.integers(40, 110, (240, 320, 3), dtype=np.uint8), (5, 5), 0)
    images = []
    for index in range(frames):
        image = scene.copy()
        x = 40 + index * step
        cv2.circle(image, (x + 20, 60), 16, (210, 210, 210), -1)
        cv2.rectangle(image, (x, 80), (x + 40, 200), (230, 230, 230), -1)
        cv2.rectangle(image, (x + 4, 130), (x + 36, 140), (30, 30, 30), -1)
        images.append(image)
    write_video(path, images, fps=25.0)
    return path


def clip_motion(frames_bgr) -> np.ndarray:
    """(N, MOTION_DIM) vectors of a sequence of frames, as extraction encodes every processed frame."""
    encoder = MotionEncoder()
    return np.stack([encoder.encode(frame) for frame in frames_bgr])


def _direction_totals(vectors: np.ndarray) -> np.ndarray:
    """(BINS,) motion per direction, summed over the grid's cells and the frames."""
    return vectors[:, :HISTOGRAMS].reshape(len(vectors), GRID * GRID, BINS).sum(axis=(0, 1))


def test_a_figure_moving_right_gives_flow_pointing_right(tmp_path):
    video = _figure_clip(tmp_path / "right.avi", step=6)
    vectors = clip_motion(frame for _, _, frame in read_frames(video))
    assert vectors.shape == (20, MOTION_DIM) and vectors.dtype == np.float32
    assert not vectors[0].any()  # the first frame has no predecessor
    mean_dx, mean_dy = vectors[1:, -2].mean(), vectors[1:, -1].mean()
    assert mean_dx > 0.2 and abs(mean_dy) < 0.2 * mean_dx
    totals = _direction_totals(vectors)
    assert int(np.argmax(totals)) == RIGHT and totals[RIGHT] > 5 * totals[LEFT]
    # the figure walks through the grid's middle row: its cells move, the top and bottom rows far less
    per_cell = vectors[1:, :HISTOGRAMS].reshape(-1, GRID, GRID, BINS).sum(axis=(0, 3))
    assert per_cell[1].sum() > per_cell[0].sum()

    mirrored = clip_motion(cv2.flip(frame, 1) for _, _, frame in read_frames(video))  # moving left
    assert mirrored[1:, -2].mean() < -0.2 and int(np.argmax(_direction_totals(mirrored))) == LEFT


def test_a_still_clip_gives_near_zero_motion(tmp_path):
    video = _figure_clip(tmp_path / "still.avi", step=0)
    vectors = clip_motion(frame for _, _, frame in read_frames(video))
    moving = clip_motion(frame for _, _, frame in read_frames(_figure_clip(tmp_path / "m.avi", step=6)))
    assert np.abs(vectors).max() < 0.05 * np.abs(moving).max()


@pytest.fixture(scope="module")
def two_clips(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("videos")
    for action, actor in (("Wave", 0), ("JumpingJack", 1)):
        synth.write_clip(root / action / synth.clip_name(action, actor, 0), action, actor=actor, seed=3, seconds=1.0)
    out = tmp_path_factory.mktemp("features")
    report = extract(root, out, make_settings("lite", thumb_frames=8), workers=1)
    assert report.count("ok") == 2
    return root, out


def test_adding_motion_to_an_extracted_folder_makes_only_the_motion_files(two_clips, tmp_path):
    root, out = two_clips
    others = sorted(path for path in out.rglob("*")
                    if path.is_file() and path.parent.parent.name in ("landmarks", "frames"))
    before = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in others}
    old_manifest = pd.read_csv(out / "manifest.csv", dtype=str).set_index("key")

    report = extract(root, out, make_settings("lite", thumb_frames=8, motion=True), workers=1)
    assert report.count("ok") == 2 and report.skipped == 0
    assert {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in others} == before  # no pose work redone
    config = json.loads((out / "extract_config.json").read_text())
    assert config["motion"]["dim"] == MOTION_DIM
    manifest = pd.read_csv(out / "manifest.csv", dtype=str).set_index("key")
    assert set(manifest["config_id"]) == {config["config_id"]}  # the rows now say "with motion"
    columns = ["status", "frames_processed", "frames_with_pose", "frames_total", "fps"]
    pd.testing.assert_frame_equal(manifest.loc[old_manifest.index, columns], old_manifest[columns])
    for key in manifest.index:
        frame_index, vectors = read_motion(out / "motion" / f"{key}.npz")
        assert vectors.shape == (25, MOTION_DIM) and list(frame_index) == list(range(25))

    # the same vectors as a full extraction with --motion from scratch
    fresh = tmp_path / "fresh"
    extract(root, fresh, make_settings("lite", thumb_frames=8, motion=True), workers=1)
    for key in manifest.index:
        np.testing.assert_array_equal(read_motion(fresh / "motion" / f"{key}.npz")[1],
                                      read_motion(out / "motion" / f"{key}.npz")[1])
    assert json.loads((fresh / "extract_config.json").read_text())["config_id"] == config["config_id"]

    again = extract(root, out, make_settings("lite", thumb_frames=8), workers=1)  # no flag: the folder keeps motion
    assert (again.skipped, again.rows) == (2, [])
    with pytest.raises(InputError, match=r"changed: thumbnails"):
        extract(root, out, make_settings("lite", thumb_frames=4, motion=True), workers=1)
