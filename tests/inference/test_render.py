"""Skeleton drawing: colours by side, hidden joints left out, one output frame per CSV row."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from PIL import Image

from pose_action import landmarks
from pose_action.errors import InputError
from pose_action.extraction import pose
from pose_action.inference import render
from pose_action.landmarks import INDEX, LandmarkSequence
from pose_action.video import read_frames

STRIDE = 3


@pytest.fixture(scope="session")
def real_clip(shared_videos):
    """(video path, LandmarkSequence) from the real pose model on every 3rd frame of a real clip."""
    video = shared_videos / "ud810_ps7" / "A1" / "PS7A1P1T1.avi"
    rows = []
    with pose.PoseEstimator(pose.resolve_model("lite")) as estimator:
        for index, timestamp, frame in read_frames(video, stride=STRIDE):
            if index >= 45:
                break
            rows.append((index, timestamp, estimator.detect(frame, timestamp)))
    return video, LandmarkSequence.from_frames(rows, fps=29.97, width=640, height=480)


def _standing_pose() -> np.ndarray:
    """(33, 2) normalized points: every landmark somewhere plausible, arms spread wide."""
    points = np.full((33, 2), 0.5)
    places = {"left_shoulder": (0.65, 0.3), "right_shoulder": (0.35, 0.3),
              "left_elbow": (0.8, 0.3), "right_elbow": (0.2, 0.3),
              "left_wrist": (0.9, 0.3), "right_wrist": (0.1, 0.3),
              "left_hip": (0.6, 0.6), "right_hip": (0.4, 0.6),
              "left_knee": (0.6, 0.75), "right_knee": (0.4, 0.75),
              "left_ankle": (0.6, 0.9), "right_ankle": (0.4, 0.9)}
    for name, xy in places.items():
        points[INDEX[name]] = xy
    points[:11] = (0.5, 0.15)  # face
    return points


def _pixel(frame: np.ndarray, xy: tuple[float, float]) -> np.ndarray:
    height, width = frame.shape[:2]
    return frame[int(round(xy[1] * height)), int(round(xy[0] * width))].astype(int)


def _is_orange(bgr: np.ndarray) -> bool:
    blue, green, red = bgr
    return red > 200 and 90 < green < 190 and blue < 60


def _is_blue(bgr: np.ndarray) -> bool:
    blue, green, red = bgr
    return blue > 200 and red < 60


def test_left_side_orange_right_side_blue_in_place():
    frame = np.zeros((240, 320, 3), np.uint8)
    out = render.draw_skeleton(frame, _standing_pose())
    assert out is frame
    # the person's left forearm (elbow 0.8 -> wrist 0.9 at y 0.3: image right) and right forearm
    assert _is_orange(_pixel(frame, (0.85, 0.3)))
    assert _is_blue(_pixel(frame, (0.15, 0.3)))
    assert _pixel(frame, (0.5, 0.3)).min() > 200  # shoulder line: white


def test_hidden_and_missing_joints_are_not_drawn():
    points = _standing_pose()
    visibility = np.ones(33)
    visibility[INDEX["left_wrist"]] = 0.2  # guessed by the model: leave it out
    points[INDEX["right_wrist"]] = np.nan  # not in the CSV
    frame = render.draw_skeleton(np.zeros((240, 320, 3), np.uint8), points, visibility)
    assert _pixel(frame, (0.9, 0.3)).sum() == 0
    assert _pixel(frame, (0.1, 0.3)).sum() == 0
    assert _pixel(frame, (0.8, 0.3)).sum() > 0  # the elbows still are


def test_one_colour_override_and_wild_coordinates():
    points = _standing_pose()
    points[INDEX["nose"]] = (1e9, -1e9)  # extrapolated far off-screen: must not crash OpenCV
    frame = render.draw_skeleton(np.zeros((120, 160, 3), np.uint8), points, color=(0, 255, 0))
    drawn = frame.reshape(-1, 3)[frame.reshape(-1, 3).sum(axis=1) > 0]
    assert len(drawn) > 100
    assert (drawn[:, 1] >= drawn[:, [0, 2]].max(axis=1)).all()  # green, with dark outlines only


def test_points_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="33"):
        render.draw_skeleton(np.zeros((50, 50, 3), np.uint8), np.zeros((17, 2)))


def test_skeleton_frames_one_per_row_with_missing_frames(real_clip):
    _, sequence = real_clip
    data = sequence.data.copy()
    data[3] = np.nan  # a frame without a pose still gives a frame (with a 'no pose' note)
    sequence = dataclasses.replace(sequence, data=data)
    frames = list(render.render_skeleton_frames(sequence, (200, 150)))
    assert len(frames) == len(sequence)
    assert all(frame.shape == (150, 200, 3) for frame in frames)
    nose = sequence.image[0, INDEX["nose"], :2]
    assert _pixel(frames[0], tuple(nose)).tolist() != list(render.CANVAS_COLOR)
    shoulder = sequence.image[0, INDEX["left_shoulder"], :2]
    assert _pixel(frames[3], tuple(shoulder)).tolist() == list(render.CANVAS_COLOR)


def test_overlay_draws_on_the_matching_source_frames(real_clip):
    video, sequence = real_clip
    frames = list(render.overlay_frames(sequence, video))
    assert len(frames) == len(sequence)
    sources = dict((index, frame) for index, _, frame in read_frames(video) if index < 45)
    for row in (0, len(sequence) - 1):
        source = sources[int(sequence.frame[row])]
        changed = np.abs(frames[row].astype(int) - source.astype(int)).sum(axis=2) > 30
        assert 0.001 < changed.mean() < 0.15  # the skeleton and captions, not a different frame
        shoulder = sequence.image[row, INDEX["left_shoulder"], :2]
        assert _is_orange(_pixel(frames[row], tuple(shoulder)))


def test_overlay_of_a_csv_longer_than_the_video_is_an_input_error(real_clip):
    video, sequence = real_clip
    late = dataclasses.replace(sequence, frame=sequence.frame + 10_000)
    with pytest.raises(InputError, match="video ends before frame 10000"):
        list(render.overlay_frames(late, video))


def test_gif_and_mp4_have_one_frame_per_row(real_clip, tmp_path):
    _, sequence = real_clip
    gif = tmp_path / "out" / "skeleton.gif"
    fps = render.playback_fps(sequence)
    assert fps == pytest.approx(29.97 / STRIDE, rel=0.02)
    assert render.write_animation(gif, render.render_skeleton_frames(sequence, (160, 120)), fps) \
        == len(sequence)
    with Image.open(gif) as image:
        assert image.n_frames == len(sequence) and image.size == (160, 120)
        assert image.info["duration"] == 100  # 10 fps: GIF stores 1/100 s
    mp4 = tmp_path / "skeleton.mp4"
    render.write_animation(mp4, render.render_skeleton_frames(sequence, (160, 120)), fps)
    capture = cv2.VideoCapture(str(mp4))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == len(sequence)
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (160, 120)
    capture.release()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out", "skeleton.gif", "skeleton.mp4"]


def test_empty_gif_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no frames"):
        render.write_gif(tmp_path / "x.gif", [], 10)
    assert not list(tmp_path.iterdir())


def test_playback_fps_of_a_single_row_is_the_default():
    sequence = landmarks.LandmarkSequence.from_frames([(0, 0, None)], fps=30.0, width=64, height=48)
    assert render.playback_fps(sequence) == 25.0
