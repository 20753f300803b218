"""The one feature function: whole-clip sampling, invariances, gaps, appearance matching."""

from __future__ import annotations

import numpy as np
import pytest

from pose_action.errors import InputError
from pose_action.features import (
    BONES,
    LOCOMOTION_CHANNELS,
    MAX_SPEED,
    MAX_VELOCITY_GAP_S,
    SPEED_CHANNELS,
    SPEED_UNIT,
    FeatureConfig,
    build_features,
    fill_gaps,
    locomotion_columns,
    sample_indices,
)
from pose_action.landmarks import INDEX, LandmarkSequence


def _walking_skeleton(frames: int = 60, seed: int = 0) -> np.ndarray:
    """A plausible (T, 33, 8) pose track: a body whose arms swing, in normalized coordinates."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.4, 0.6, size=(33, 2))
    base[INDEX["left_shoulder"]] = (0.45, 0.35)
    base[INDEX["right_shoulder"]] = (0.55, 0.35)
    base[INDEX["left_hip"]] = (0.47, 0.6)
    base[INDEX["right_hip"]] = (0.53, 0.6)
    points = np.zeros((frames, 33, 8), dtype=np.float32)
    phase = np.linspace(0, 4 * np.pi, frames)
    points[:, :, :2] = base
    points[:, INDEX["left_wrist"], 1] += 0.1 * np.sin(phase)
    points[:, INDEX["right_wrist"], 1] -= 0.1 * np.sin(phase)
    points[:, :, 2] = rng.normal(0, 0.05, size=33)
    points[:, :, 3:5] = 0.9
    points[:, :, 5:] = rng.normal(0, 0.3, size=(33, 3))
    return points


def _sequence(points: np.ndarray, width: int = 320, height: int = 240) -> LandmarkSequence:
    frames = np.arange(len(points)) * 2
    return LandmarkSequence(frame=frames, timestamp_ms=frames * 40, data=points.astype(np.float32),
                            fps=25.0, width=width, height=height)


@pytest.mark.parametrize("available", [33, 100, 1000])
def test_sampling_covers_the_whole_clip(available):
    indices, valid = sample_indices(available, 32)
    assert valid.all()
    assert np.all(np.diff(indices) >= 0)
    assert indices[0] < available / 32 and indices[-1] >= available - available / 32 - 1


def test_short_clip_is_padded_and_masked():
    indices, valid = sample_indices(5, 8)
    assert indices.tolist() == [0, 1, 2, 3, 4, 4, 4, 4]
    assert valid.tolist() == [1, 1, 1, 1, 1, 0, 0, 0]
    features = build_features(_sequence(_walking_skeleton(5)), FeatureConfig(frames=8, appearance="none"))
    assert features["mask"].tolist() == [1, 1, 1, 1, 1, 0, 0, 0]
    assert not features["pose"][5:].any()


def test_jitter_stays_inside_segments():
    rng = np.random.default_rng(1)
    indices, _ = sample_indices(320, 32, jitter=1.0, rng=rng)
    assert np.all(indices // 10 == np.arange(32))


def test_features_ignore_position_and_size_of_the_skeleton():
    points = _walking_skeleton()
    config = FeatureConfig(frames=16, appearance="none")
    reference = build_features(_sequence(points), config)["pose"]
    moved = points.copy()
    moved[:, :, 0] = (moved[:, :, 0] - 0.5) * 0.6 + 0.3  # smaller and shifted left
    moved[:, :, 1] = (moved[:, :, 1] - 0.5) * 0.6 + 0.6
    moved[:, :, 2] *= 0.6
    transformed = build_features(_sequence(moved), config)["pose"]
    np.testing.assert_allclose(transformed, reference, atol=1e-4)
    assert reference.shape == (16, config.pose_dim)
    # ...but the motion itself shows: frames differ from each other
    assert np.abs(np.diff(reference, axis=0)).max() > 0.05


def test_short_gaps_are_interpolated_and_long_gaps_masked():
    points = _walking_skeleton(20)
    points[5:7] = np.nan  # 2 missing frames: filled
    points[10:16] = np.nan  # 6 missing frames: masked
    filled, usable = fill_gaps(points, max_gap=3)
    np.testing.assert_allclose(filled[5], points[4] * 2 / 3 + points[7] / 3, atol=1e-6)
    assert usable[5:7].all() and not usable[10:16].any() and usable[16:].all()
    features = build_features(_sequence(points), FeatureConfig(frames=20, max_gap=3, appearance="none"))
    # a long gap is a real frame with no person: all zeros but the clip's share of frames with one
    assert not features["pose"][10:16, :-1].any()
    np.testing.assert_allclose(features["pose"][:, -1], 14 / 20)
    assert features["pose"][:10, -2].all() and not features["pose"][10:16, -2].any()
    normalized = build_features(_sequence(points), FeatureConfig(frames=20, pose_features="normalized",
                                                                 appearance="none"))
    assert not normalized["pose"][10:16].any()


def test_a_clip_without_any_person_is_zeros_with_a_real_mask():
    """No pose anywhere is still a clip to predict: real frames (mask 1), nothing seen, no person."""
    points = np.full((30, 33, 8), np.nan, np.float32)
    for kind in ("body", "normalized", "raw"):
        features = build_features(_sequence(points), FeatureConfig(frames=8, pose_features=kind, appearance="none"))
        assert features["mask"].tolist() == [1.0] * 8
        assert features["pose"].shape == (8, FeatureConfig(pose_features=kind).pose_dim)
        assert not features["pose"].any() and np.isfinite(features["pose"]).all()


def test_body_features_drop_what_mediapipe_does_not_see():
    """Landmarks below the visibility gate are zeroed: a half-visible person gives half a pose."""
    points = _walking_skeleton()
    config = FeatureConfig(frames=16, appearance="none", velocities=False)
    reference = build_features(_sequence(points), config)["pose"]
    legs = [INDEX[name] for name in ("left_knee", "right_knee", "left_ankle", "right_ankle")]
    hidden = points.copy()
    hidden[:, legs, 3] = 0.1  # visibility
    changed = build_features(_sequence(hidden), config)["pose"]
    differs = np.abs(changed - reference).max(axis=0) > 1e-6
    leg_bones = [i for i, (a, b) in enumerate(BONES) if a in legs or b in legs]
    leg_columns = {column for bone in leg_bones for column in (2 * bone, 2 * bone + 1)}
    assert leg_columns <= set(np.flatnonzero(differs))
    assert not changed[:, sorted(leg_columns)].any()  # zeroed, not guessed
    arm_bone = [i for i, (a, b) in enumerate(BONES) if a == INDEX["left_elbow"]][0]
    assert not differs[2 * arm_bone]  # the arms are untouched


def test_raw_features_are_the_tutorials_keypoints():
    points = _walking_skeleton(30)
    points[3] = np.nan
    features = build_features(_sequence(points), FeatureConfig(frames=30, pose_features="raw", appearance="none"))
    np.testing.assert_allclose(features["pose"][0], points[0, :, :4].reshape(-1), atol=1e-6)
    assert not features["pose"][3].any()  # zeros where no pose, as the tutorials do


def test_thumbnails_follow_the_sampled_frames():
    points = _walking_skeleton(40)
    sequence = _sequence(points)  # source frames 0, 2, 4, ... 78
    stored_index = np.arange(0, 80, 8)  # 10 thumbnails
    thumbs = np.stack([np.full((8, 8, 3), i, np.uint8) for i in stored_index])
    features = build_features(sequence, FeatureConfig(frames=4, appearance="thumbs", thumb_size=8),
                              appearance=(stored_index, thumbs))
    sampled_source_frames = sequence.frame[sample_indices(40, 4)[0]]
    expected = [stored_index[np.argmin(np.abs(stored_index - f))] for f in sampled_source_frames]
    assert features["frames"][:, 0, 0, 0].tolist() == expected
    with pytest.raises(InputError, match="needs thumbs"):
        build_features(sequence, FeatureConfig(frames=4, appearance="thumbs"))


def test_scene_frames_show_the_middle_of_their_group_and_never_padding():
    points = _walking_skeleton(40)
    sequence = _sequence(points)  # source frames 0, 2, ..., 78
    stored_index = np.arange(80)
    thumbs = np.stack([np.full((8, 8, 3), i, np.uint8) for i in stored_index])
    config = FeatureConfig(frames=8, appearance="thumbs", thumb_size=8, scene_frames=2)
    features = build_features(sequence, config, appearance=(stored_index, thumbs))
    assert features["frames"].shape == (2, 8, 8, 3) and features["pose"].shape[0] == 8
    assert config.scene_groups().tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    sampled = sequence.frame[sample_indices(40, 8)[0]]
    # each group of 4 sampled frames is shown by one of its two middle frames
    assert features["frames"][0, 0, 0, 0] in sampled[1:3] and features["frames"][1, 0, 0, 0] in sampled[5:7]
    # a clip shorter than T: the last group holds only padding, so its appearance is blank
    short = build_features(_sequence(points[:3]), config, appearance=(stored_index, thumbs))
    assert short["mask"].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert short["frames"][0, 0, 0, 0] == 2 and not short["frames"][1].any()  # frame 1 (source 2), real
    every = build_features(sequence, FeatureConfig(frames=8, appearance="thumbs", thumb_size=8),
                           appearance=(stored_index, thumbs))
    assert every["frames"][:, 0, 0, 0].tolist() == sampled.tolist()  # None: one per sampled frame, as before
    with pytest.raises(InputError, match="scene_frames"):
        FeatureConfig(frames=8, scene_frames=0)


def test_config_round_trip_and_unknown_keys():
    config = FeatureConfig(frames=16, appearance="embeddings", backbone="mobilenet_v2")
    assert FeatureConfig.from_dict(config.to_dict()) == config
    legacy = {key: value for key, value in config.to_dict().items() if key not in ("pose_features", "visibility_gate")}
    from pose_action.runs import migrate_config

    upgraded = migrate_config({"features": legacy})["features"]
    assert FeatureConfig.from_dict(upgraded).pose_features == "normalized"  # runs made before body features
    with pytest.raises(InputError, match="unknown keys"):
        FeatureConfig.from_dict({**config.to_dict(), "future_option": 1})


# ----------------------------------------------------------------------------- locomotion

TORSO = 0.1  # torso length of _crosser, in frame heights


def _crosser(speed: float, fps: float, seconds: float = 3.0, *, size: float = 1.0, start: float = 0.1,
             direction: float = 1.0, cadence: float = 1.0, width: int = 320, height: int = 240) -> LandmarkSequence:
    """A person whose torso centre moves `speed` torso lengths per second across the frame, its
    ankles passing each other `2 * cadence` times per second, filmed at `fps` (timestamps frame / fps)."""
    count = int(round(seconds * fps))
    time = np.arange(count) / fps
    aspect = width / height
    torso = TORSO * size
    offsets = {"left_shoulder": (-0.1, -1.0), "right_shoulder": (0.1, -1.0), "left_hip": (-0.1, 0.0),
               "right_hip": (0.1, 0.0), "left_knee": (0.0, 0.9), "right_knee": (0.0, 0.9),
               "left_ankle": (0.0, 1.8), "right_ankle": (0.0, 1.8), "nose": (0.0, -1.6)}
    points = np.zeros((count, 33, 8), dtype=np.float32)
    points[:, :, 3:5] = 0.95
    centre_x = start * aspect + direction * speed * torso * time  # frame heights
    for name, (dx, dy) in offsets.items():
        swing = 0.0
        if "ankle" in name or "knee" in name:
            swing = (0.5 if "ankle" in name else 0.25) * np.sin(2 * np.pi * cadence * time)
            swing = swing if name.startswith("left") else -swing
        points[:, INDEX[name], 0] = (centre_x + (dx + swing) * torso) / aspect
        points[:, INDEX[name], 1] = 0.6 + (dy + 0.5) * torso
    others = [i for i in range(33) if i not in [INDEX[name] for name in offsets]]
    points[:, others, :2] = points[:, [INDEX["nose"]], :2]
    frames = np.arange(count)
    return LandmarkSequence(frame=frames, timestamp_ms=np.round(frames * 1000.0 / fps).astype(np.int64),
                            data=points, fps=fps, width=width, height=height)


def _locomotion(sequence: LandmarkSequence, **config) -> np.ndarray:
    """(T, LOCOMOTION_CHANNELS) of a sequence: the last channels of the pose vectors."""
    features = build_features(sequence, FeatureConfig(appearance="none", locomotion="full", **config))
    return features["pose"][:, -LOCOMOTION_CHANNELS:]


def test_locomotion_carries_speed_in_torso_lengths_per_second():
    slow, fast = _locomotion(_crosser(2.0, 25.0)), _locomotion(_crosser(4.0, 25.0))
    for features, speed in ((slow, 2.0), (fast, 4.0)):
        np.testing.assert_allclose(features[:, 0] * SPEED_UNIT, speed, rtol=0.03)  # frame velocity x
        np.testing.assert_allclose(features[:, 4] * SPEED_UNIT, speed, rtol=0.03)  # the window's
        assert np.abs(features[:, 1]).max() < 0.02 and features[:, 3].all() and features[:, 7].all()
    np.testing.assert_allclose(fast[:, 2], 2 * slow[:, 2], rtol=0.03)
    # the body features alone do not say it: they are built to ignore where the body is
    without = build_features(_crosser(2.0, 25.0), FeatureConfig(appearance="none"))["pose"]
    assert without.shape[1] + LOCOMOTION_CHANNELS == FeatureConfig(locomotion="full").person_dim


def test_speed_locomotion_says_how_fast_and_not_where():
    """--locomotion speed: the full channels of the window's speed and cadence, the same wherever in the
    frame the body travels (full: the place channels tell the two apart)."""
    left, right = _crosser(3.0, 25.0, start=0.1), _crosser(3.0, 25.0, start=0.6)
    config = FeatureConfig(appearance="none", locomotion="speed")
    speeds = [build_features(sequence, config)["pose"][:, locomotion_columns(config)] for sequence in (left, right)]
    np.testing.assert_allclose(speeds[0], _locomotion(left)[:, list(SPEED_CHANNELS)], atol=1e-6)
    np.testing.assert_allclose(speeds[0], speeds[1], atol=1e-3)
    assert speeds[0][:, 2].mean() * SPEED_UNIT == pytest.approx(3.0, rel=0.05)
    assert np.abs(_locomotion(left)[:, 12] - _locomotion(right)[:, 12]).max() > 0.5


@pytest.mark.parametrize("kind", ["body", "normalized"])
def test_locomotion_is_the_same_at_any_frame_rate_clip_length_and_distance(kind):
    reference = _locomotion(_crosser(3.0, 30.0), pose_features=kind)
    for other in (_crosser(3.0, 15.0), _crosser(3.0, 12.5, seconds=6.0), _crosser(3.0, 30.0, size=0.4)):
        features = _locomotion(other, pose_features=kind)
        np.testing.assert_allclose(features[:, [0, 2, 4, 6]], reference[:, [0, 2, 4, 6]], rtol=0.03, atol=0.01)
    # mirrored: the same speed, the other way
    mirrored = _locomotion(_crosser(3.0, 30.0, start=0.9, direction=-1.0), pose_features=kind)
    np.testing.assert_allclose(mirrored[:, [0, 4]], -reference[:, [0, 4]], rtol=0.03)
    np.testing.assert_allclose(mirrored[:, 6], reference[:, 6], rtol=0.03)


def test_locomotion_cadence_and_stride():
    slow, quick = _locomotion(_crosser(3.0, 30.0, cadence=0.8)), _locomotion(_crosser(3.0, 30.0, cadence=1.5))
    # two steps per cycle
    np.testing.assert_allclose(slow[:, 11] * 4, 1.6, rtol=0.2)
    np.testing.assert_allclose(quick[:, 11] * 4, 3.0, rtol=0.2)
    assert slow[:, 8].max() == pytest.approx(1.0, abs=0.05)  # ankles up to 2 x 0.5 torso lengths apart


def test_locomotion_knows_when_the_body_leaves_the_frame():
    # from x 0.5 to the right edge in 2 s, and out: the pose is lost there
    sequence = _crosser(3.0, 25.0, start=0.5)
    visible = sequence.data[:, INDEX["left_hip"], 0] < 0.97
    data = sequence.data.copy()
    data[~visible] = np.nan
    leaving = _locomotion(LandmarkSequence(frame=sequence.frame, timestamp_ms=sequence.timestamp_ms, data=data,
                                           fps=25.0, width=320, height=240))
    seen = leaving[:, 3] > 0
    assert 5 < seen.sum() < 32
    room = leaving[seen, 13]
    assert np.all(np.diff(room) <= 1e-6) and room[0] == 1.0 and room[-1] < 0.1  # the edge draws near
    assert np.all(leaving[seen, 12] > 0)  # on the right half
    np.testing.assert_allclose(leaving[seen, 14] * SPEED_UNIT, 3.0, rtol=0.05)  # toward that edge: leaving
    assert leaving[:, 15].tolist().count(-1.0) == 1  # lost once
    assert leaving[~seen][:, [0, 1, 2, 3, 8, 12, 13, 14]].max() == 0.0  # nothing guessed where nobody is
    np.testing.assert_allclose(leaving[:, 4] * SPEED_UNIT, 3.0, rtol=0.05)  # the window's: on every real frame


def test_gaps_make_no_velocity_spikes():
    """MediaPipe finds a walking person in few frames: velocities never jump across gaps."""
    sequence = _crosser(2.0, 25.0, seconds=4.0)
    rng = np.random.default_rng(3)
    data = sequence.data.copy()
    data[rng.random(len(data)) > 0.25] = np.nan  # found in a quarter of the frames
    data[40:80] = np.nan  # and lost for 1.6 s ...
    data[80:, :, 0] += 0.3  # ... after which the detection jumps (another place, or another person)
    sparse = LandmarkSequence(frame=sequence.frame, timestamp_ms=sequence.timestamp_ms, data=data, fps=25.0,
                              width=320, height=240)
    features = _locomotion(sparse)
    known = features[:, 3] > 0
    assert known.sum() >= 4
    jump = 0.3 * 320 / 240 / TORSO  # torso lengths the detection jumped
    # far below a jump over one frame's time; at most a jump over the gap to the neighbouring pose
    assert np.abs(features[:, 0] * SPEED_UNIT).max() < jump / MAX_VELOCITY_GAP_S
    assert np.abs(features[:, :3]).max() <= MAX_SPEED / SPEED_UNIT * np.sqrt(2) + 1e-6
    # the window's steady velocity is the median slope: the jump does not move it much
    assert features[known, 4].mean() * SPEED_UNIT == pytest.approx(2.0, abs=1.0)
    assert np.isfinite(features).all()


def test_locomotion_configs_and_old_runs():
    old = FeatureConfig().to_dict()
    del old["locomotion"]  # runs made before it existed
    assert FeatureConfig.from_dict(old) == FeatureConfig() and FeatureConfig.from_dict(old).locomotion == "none"
    config = FeatureConfig(locomotion="full", appearance="none")
    assert FeatureConfig.from_dict(config.to_dict()) == config
    assert config.person_dim == FeatureConfig().person_dim + LOCOMOTION_CHANNELS
    assert FeatureConfig(locomotion="full", second_person=True).pose_dim == 2 * config.person_dim + 6
    speed = FeatureConfig(locomotion="speed", appearance="none")
    assert speed.person_dim == FeatureConfig().person_dim + len(SPEED_CHANNELS)
    for wrong in ({"locomotion": "full", "pose_features": "raw"}, {"locomotion": "fast"}):
        with pytest.raises(InputError, match="locomotion"):
            FeatureConfig(**wrong)
    nobody = np.full((30, 33, 8), np.nan, np.float32)
    empty = build_features(_sequence(nobody), config)["pose"]
    assert empty.shape == (config.frames, config.pose_dim) and not empty.any()
    short = build_features(_sequence(_walking_skeleton(5)), config)
    assert not short["pose"][5:].any()  # padding stays all zero


def test_locomotion_reads_the_frames_real_times():
    """Every 3rd frame (extract --stride 3, or a live window), or timestamps that do not increase
    (frame / fps then): the same speed as every frame."""
    every = _crosser(3.0, 30.0)
    strided = LandmarkSequence(frame=every.frame[::3], timestamp_ms=every.timestamp_ms[::3], data=every.data[::3],
                               fps=30.0, width=320, height=240)
    broken = LandmarkSequence(frame=every.frame, timestamp_ms=np.zeros(len(every), np.int64), data=every.data,
                              fps=30.0, width=320, height=240)
    reference = _locomotion(every, frames=16)
    for other in (strided, broken):
        np.testing.assert_allclose(_locomotion(other, frames=16)[:, [0, 4, 6]], reference[:, [0, 4, 6]], rtol=0.03)
