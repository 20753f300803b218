"""The second person as model input (`FeatureConfig.second_person`): where the other person is, relative to
the main actor, from a people file; mirrored with the main actor; old configs load without it."""

from __future__ import annotations

import numpy as np
import pytest

from pose_action.errors import InputError
from pose_action.features import SECOND_PERSON_CHANNELS, FeatureConfig, build_features
from pose_action.landmarks import INDEX, NUM_LANDMARKS, VISIBILITY, WX, WY, LandmarkSequence, X, Y
from pose_action.people import people_table, read_second_track, write_people
from pose_action.training.augment import mirror_points

WIDTH, HEIGHT = 320, 240
ASPECT = WIDTH / HEIGHT
FRAMES = 40
MAIN_X, OTHER_X, MAIN_TORSO, OTHER_TORSO = 0.3, 0.6, 0.2, 0.1  # x in widths, torso in frame heights
SECOND_SEEN = np.arange(FRAMES) < 20  # the other person leaves half way


def _person(x: float, y: float, torso: float) -> np.ndarray:
    """(33, 8) a person whose torso centre is at (x, y) and whose torso is `torso` frame heights long."""
    points = np.zeros((NUM_LANDMARKS, 8), dtype=np.float32)
    rng = np.random.default_rng(0)
    points[:, X] = x + rng.uniform(-0.05, 0.05, NUM_LANDMARKS)
    points[:, Y] = y + rng.uniform(-0.3, 0.3, NUM_LANDMARKS)
    for side, dx in (("left", -0.05), ("right", 0.05)):
        points[INDEX[f"{side}_shoulder"], [X, Y]] = x + dx, y - torso / 2
        points[INDEX[f"{side}_hip"], [X, Y]] = x + dx, y + torso / 2
    points[:, VISIBILITY] = 0.9
    points[:, [WX, WY]] = points[:, [X, Y]] - 0.5
    return points


@pytest.fixture
def clip(tmp_path):
    """A main actor at x 0.3 and a smaller second person at x 0.6 in the first half; a bystander at the edge
    (track 2: less important) throughout; the people file as extraction writes it."""
    main, other, third = _person(MAIN_X, 0.5, MAIN_TORSO), _person(OTHER_X, 0.4, OTHER_TORSO), _person(0.95, 0.5, 0.05)
    sequence = LandmarkSequence.from_frames([(frame, frame * 40, main) for frame in range(FRAMES)],
                                            fps=25.0, width=WIDTH, height=HEIGHT)
    people = [[main, other, third] if seen else [main, third] for seen in SECOND_SEEN]
    labels = [[0, 1, 2] if seen else [0, 2] for seen in SECOND_SEEN]
    path = tmp_path / "people.csv"
    write_people(path, people_table(np.arange(FRAMES), people, labels))
    return sequence, read_second_track(path)


def _place(features: dict, config: FeatureConfig) -> np.ndarray:
    """The last SECOND_PERSON_CHANNELS of each pose vector: offset x, y, their change, log size, presence."""
    assert features["pose"].shape == (config.frames, config.pose_dim)
    return features["pose"][:, -SECOND_PERSON_CHANNELS:]


@pytest.mark.parametrize("pose_features", ["body", "normalized"])
def test_second_person_offset_size_and_presence(clip, pose_features):
    sequence, second = clip
    config = FeatureConfig(frames=8, appearance="none", pose_features=pose_features, second_person=True)
    assert config.pose_dim == 2 * config.person_dim + SECOND_PERSON_CHANNELS
    features = build_features(sequence, config, second=second)
    place = _place(features, config)
    seen = place[:, 5] == 1
    assert seen.tolist() == [True] * 4 + [False] * 4  # the first half: 8 sampled frames over 40
    # the second person's torso centre is right of and above the main actor's, in main-actor torso lengths
    np.testing.assert_allclose(place[seen, 0], (OTHER_X - MAIN_X) * ASPECT / MAIN_TORSO, rtol=1e-3)
    np.testing.assert_allclose(place[seen, 1], (0.4 - 0.5) / MAIN_TORSO, rtol=1e-3)
    np.testing.assert_allclose(place[seen, 4], np.log(OTHER_TORSO / MAIN_TORSO), rtol=1e-3)
    np.testing.assert_allclose(place[seen, 2:4], 0.0, atol=1e-5)  # standing still
    # absent: zeros, the second person's pose vector included; the main actor's is untouched
    other_pose = features["pose"][:, config.person_dim:-SECOND_PERSON_CHANNELS]
    assert np.abs(other_pose[seen]).max() > 0.1 and not other_pose[~seen].any() and not place[~seen].any()
    alone = build_features(sequence, FeatureConfig(frames=8, appearance="none", pose_features=pose_features))
    np.testing.assert_array_equal(features["pose"][:, :config.person_dim], alone["pose"])


def test_a_mirrored_clip_mirrors_the_second_person(clip):
    sequence, second = clip
    config = FeatureConfig(frames=8, appearance="none", second_person=True)
    straight = _place(build_features(sequence, config, second=second), config)
    mirrored = _place(build_features(sequence, config, second=second,
                                     augment=lambda points, aspect, rng: mirror_points(points)), config)
    seen = straight[:, 5] == 1
    assert straight[seen, 0].min() > 1.0  # right of the main actor ...
    np.testing.assert_allclose(mirrored[:, 0], -straight[:, 0], atol=1e-4)  # ... and left of it once mirrored
    np.testing.assert_allclose(mirrored[:, 1:], straight[:, 1:], atol=1e-4)


def test_a_clip_without_a_second_person_gives_zeros_and_missing_input_is_one_error(clip, tmp_path):
    sequence, _ = clip
    path = tmp_path / "alone.csv"
    main = sequence.data[0]
    write_people(path, people_table(np.arange(FRAMES), [[main]] * FRAMES, [[0]] * FRAMES))
    config = FeatureConfig(frames=8, appearance="none", second_person=True)
    features = build_features(sequence, config, second=read_second_track(path))
    assert not features["pose"][:, config.person_dim:].any()
    with pytest.raises(InputError, match="--second-person"):
        build_features(sequence, config)  # no people given (e.g. inference that tracks one person)
    with pytest.raises(InputError, match="no such file"):
        read_second_track(tmp_path / "missing.csv")


def test_old_configs_load_without_the_second_person():
    values = FeatureConfig().to_dict()
    del values["second_person"]  # a config.json written before the option existed
    config = FeatureConfig.from_dict(values)
    assert config.second_person is False and config.pose_dim == config.person_dim
