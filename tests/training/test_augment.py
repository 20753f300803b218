"""Training-time augmentation: one config of every setting, mirrored poses, thumbnails moved as a whole."""

from __future__ import annotations

import numpy as np
import pytest

from pose_action.errors import InputError
from pose_action.landmarks import INDEX, VISIBILITY, LandmarkSequence, X, detected_rows
from pose_action.training.augment import (
    ARMS,
    LOWER_BODY,
    SIDES,
    AugmentConfig,
    augment_points,
    augment_thumbnails,
    degrade_landmarks,
    mirror_points,
)


def _walking_skeleton(frames: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    points = rng.uniform(0.3, 0.7, size=(frames, 33, 8)).astype(np.float32)
    points[:, INDEX["left_wrist"], X] = 0.3
    points[:, INDEX["right_wrist"], X] = 0.8
    return points


def _sequence(points: np.ndarray) -> LandmarkSequence:
    frames = np.arange(len(points))
    return LandmarkSequence(frame=frames, timestamp_ms=frames * 40, data=points, fps=25.0, width=320, height=240)


def test_mirror_twice_is_identity_and_swaps_sides():
    points = _walking_skeleton(3)
    flipped = mirror_points(points)
    np.testing.assert_allclose(flipped[:, INDEX["left_wrist"], 0], 1 - points[:, INDEX["right_wrist"], 0])
    np.testing.assert_allclose(mirror_points(flipped), points, atol=1e-6)


def test_augmentation_changes_pose_but_keeps_shape():
    sequence = _sequence(_walking_skeleton(30))
    augmented = augment_points(sequence.data, sequence.aspect, np.random.default_rng(0), AugmentConfig(), mirrored=True)
    assert augmented.shape == sequence.data.shape
    assert not np.allclose(augmented, sequence.data)


def test_nothing_moves_with_every_setting_at_zero():
    off = AugmentConfig(temporal_jitter=0.0, flip=0.0, stretch=0.0, rotate_degrees=0.0, noise=0.0, drop_frames=0.0,
                        partial_body=0.0, thumb_shift=0.0)
    sequence = _sequence(_walking_skeleton(10))
    np.testing.assert_allclose(augment_points(sequence.data, sequence.aspect, np.random.default_rng(1), off,
                                              mirrored=False), sequence.data, atol=1e-6)
    thumbs = np.random.default_rng(2).integers(0, 256, (4, 16, 16, 3)).astype(np.uint8)
    np.testing.assert_array_equal(augment_thumbnails(thumbs, np.random.default_rng(3), off, mirrored=False), thumbs)


def test_thumbnails_flip_and_shift_as_a_whole_clip():
    thumbs = np.random.default_rng(2).integers(0, 256, (4, 16, 16, 3)).astype(np.uint8)
    flipped = augment_thumbnails(thumbs, np.random.default_rng(3), AugmentConfig(thumb_shift=0.0), mirrored=True)
    np.testing.assert_array_equal(flipped, thumbs[:, :, ::-1])


@pytest.mark.parametrize("setting", [{"flip": 1.5}, {"temporal_jitter": -0.1}, {"rotate_degrees": -1.0}])
def test_bad_settings_are_input_errors(setting):
    with pytest.raises(InputError, match="augmentation"):
        AugmentConfig(**setting)


def test_degraded_landmarks_look_like_real_detections():
    """Jitter of a few % of the torso, some frames without a pose, and now and then a whole part unseen."""
    points = _walking_skeleton(200)
    only_noise = AugmentConfig(noise=0.03, drop_frames=0.0, partial_body=0.0)
    noisy = degrade_landmarks(points, np.random.default_rng(0), only_noise)
    moved = np.abs(noisy[:, :, X] - points[:, :, X])
    assert 0.0005 < float(np.median(moved)) < 0.02  # torso of these random skeletons is ~0.2
    np.testing.assert_array_equal(noisy[:, :, VISIBILITY], points[:, :, VISIBILITY])

    dropped = [~detected_rows(degrade_landmarks(points, np.random.default_rng(seed),
                                                AugmentConfig(noise=0.0, drop_frames=0.5, partial_body=0.0)))
               for seed in range(20)]
    shares = [float(lost.mean()) for lost in dropped]
    assert max(shares) > 0.1 and max(shares) <= 0.5

    unseen = set()
    for seed in range(30):
        degraded = degrade_landmarks(points, np.random.default_rng(seed),
                                     AugmentConfig(noise=0.0, drop_frames=0.0, partial_body=1.0))
        low = tuple(np.flatnonzero((degraded[:, :, VISIBILITY] < 0.3).all(axis=0)))
        assert low in (LOWER_BODY, ARMS, *SIDES)
        unseen.add(low)
    assert len(unseen) == 4  # legs, arms, left side, right side all occur
