"""The training loader: what a tf.data pass over ClipBatches feeds the model, and reading thumbnails."""

from __future__ import annotations

import numpy as np
import pytest

from pose_action.catalog import input_names
from pose_action.errors import InputError
from pose_action.extraction.appearance import open_appearance, read_appearance, write_thumbnails
from pose_action.features import FeatureConfig
from pose_action.layout import FeaturesLayout
from pose_action.training.augment import AugmentConfig
from pose_action.training.batches import ClipBatches, keras_batches
from pose_action.training.splits import read_clips

from features_fixture import make_features


def test_thumbnails_read_in_place_match_the_file_and_damage_is_named(tmp_path):
    thumbs = np.random.default_rng(0).integers(0, 256, size=(12, 16, 16, 3), dtype=np.uint8)
    path = tmp_path / "clip.npz"
    write_thumbnails(path, thumbs, np.arange(12) * 3)
    frame_index, values = open_appearance(path, "thumbs")
    np.testing.assert_array_equal(frame_index, np.arange(12) * 3)
    np.testing.assert_array_equal(values[[0, 5, 11]], thumbs[[0, 5, 11]])
    np.testing.assert_array_equal(np.asarray(values), read_appearance(path, "thumbs")[1])
    cut = tmp_path / "cut.npz"
    cut.write_bytes(path.read_bytes()[:4000])  # a copy that stopped early
    with pytest.raises(InputError, match="cut.npz: unreadable thumbs file"):
        open_appearance(cut, "thumbs")


def _loader(root, **kwargs) -> ClipBatches:
    layout = FeaturesLayout(root)
    clips = read_clips(layout).clips
    labels = sorted({clip.label for clip in clips})
    config = FeatureConfig(frames=8, appearance="thumbs", thumb_size=16, scene_frames=2)
    return ClipBatches(layout, clips, labels, config, input_names("fusion", "thumbs"), 4, shuffle=True,
                       augment=AugmentConfig(), **kwargs)


def _passes(dataset, count: int) -> list[list[np.ndarray]]:
    return [[np.asarray(inputs["pose"]) for inputs, _, _ in dataset] for _ in range(count)]


def test_each_pass_is_one_epoch_in_a_new_order_and_threads_change_nothing(tmp_path):
    root = make_features(tmp_path / "features", groups=2, clips=2, frames=20)
    one = _passes(keras_batches(_loader(root), targets=True), 2)
    two = _passes(keras_batches(_loader(root), targets=True, loader_threads=3), 2)
    batches = len(_loader(root))
    assert len(one[0]) == len(one[1]) == batches
    for first, second in zip(one, two):  # the same batches, whatever the number of loader threads
        for a, b in zip(first, second):
            np.testing.assert_array_equal(a, b)
    # epoch 2 is shuffled and augmented anew, not a replay of epoch 1
    assert not all(np.array_equal(a, b) for a, b in zip(one[0], one[1]))
    inputs, targets, weights = next(iter(keras_batches(_loader(root), targets=True)))
    assert inputs["frames"].shape[1:] == (2, 16, 16, 3) and inputs["pose"].shape[1] == 8
    assert targets.shape[1] == len({clip.label for clip in _loader(root).clips})


def test_the_endless_stream_train_reads_is_the_same_epochs_back_to_back(tmp_path):
    """`train` reads one endless iterator (no new one per epoch): its epochs must be the passes
    a fresh iterator per epoch gives, each in its own order, not one epoch over and over."""
    root = make_features(tmp_path / "features", groups=2, clips=2, frames=20)
    batches = len(_loader(root))
    passes = _passes(keras_batches(_loader(root), targets=True), 3)
    stream = iter(keras_batches(_loader(root), targets=True, endless=True))
    endless = [np.asarray(next(stream)[0]["pose"]) for _ in range(3 * batches)]
    for made, expected in zip(endless, [batch for one_pass in passes for batch in one_pass], strict=True):
        np.testing.assert_array_equal(made, expected)


def test_a_mirrored_clip_is_mirrored_in_every_stream_at_once(tmp_path):
    """One flip decision per clip: its landmarks, thumbnails and motion are mirrored together or not at all."""
    from pose_action.extraction.motion import MOTION_DIM, mirror_motion, write_motion

    root = make_features(tmp_path / "features", groups=2, clips=2, no_pose_clip=False)
    layout = FeaturesLayout(root)
    clips = read_clips(layout).clips
    rng = np.random.default_rng(0)
    for clip in clips:  # asymmetric motion vectors, so a mirrored one differs from the original
        frame_index = np.load(layout.thumbnails(clip.key))["frame_index"]
        write_motion(layout.motion(clip.key), rng.normal(size=(len(frame_index), MOTION_DIM)), frame_index)
    labels = sorted({clip.label for clip in clips})
    config = FeatureConfig(frames=8, appearance="thumbs", thumb_size=16, motion=True, velocities=False)
    names = input_names("fusion", "thumbs") + ["motion"]
    still = AugmentConfig(temporal_jitter=0.0, stretch=0.0, rotate_degrees=0.0, noise=0.0, drop_frames=0.0,
                          partial_body=0.0, thumb_shift=0.0)  # only the flip varies
    plain = ClipBatches(layout, clips, labels, config, names, 4)
    kinds = set()
    for seed in range(4):
        loader = ClipBatches(layout, clips, labels, config, names, 4, augment=still, seed=seed)
        for position in range(len(clips)):
            original, seen = plain.clip_inputs(position), loader.clip_inputs(position)
            thumbs_flipped = np.array_equal(seen["frames"], original["frames"][:, :, ::-1])
            assert thumbs_flipped or np.array_equal(seen["frames"], original["frames"])
            motion_flipped = np.allclose(seen["motion"], mirror_motion(original["motion"]))
            assert motion_flipped or np.allclose(seen["motion"], original["motion"])
            pose_flipped = not np.allclose(seen["pose"], original["pose"], atol=1e-5)
            assert thumbs_flipped == motion_flipped == pose_flipped, (seed, position)
            kinds.add(thumbs_flipped)
    assert kinds == {True, False}  # both mirrored and plain clips were drawn
