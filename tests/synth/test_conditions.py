"""Real-footage conditions of synthetic clips: each does what it says, in pixels and joints;
clips without them are byte-identical to the renderer before they existed; the real pose
model loses a far actor sometimes and an exited one always."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pandas as pd
import pytest

from pose_action import cli
from pose_action.errors import InputError
from pose_action.extraction.pose import PoseEstimator, resolve_model
from pose_action.landmarks import INDEX, X
from pose_action.synth import dataset as synth
from pose_action.synth.conditions import CONDITIONS, ConditionRates, Conditions, draw_conditions, preset
from pose_action.synth.motions import ACTIONS, SCENE_PAIRS
from pose_action.video import read_frames

SIZE = (160, 120)
BODY_JOINTS = [INDEX[f"{side}_{joint}"] for side in ("left", "right")
               for joint in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")]


def frames_digest(frames: list[np.ndarray], joints: np.ndarray) -> str:
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(frame.tobytes())
    digest.update(joints.tobytes())
    return digest.hexdigest()[:16]


def figure_mask(action: str, frames: list[np.ndarray], **request) -> list[np.ndarray]:
    """Pixels that differ from the clip's own background (same camera shake): the figures,
    their shadows and an occluder."""
    plan = synth.plan_clip(action, size=request.get("size", SIZE), **{k: v for k, v in request.items() if k != "size"})
    width, height = plan.size
    masks = []
    for index, frame in enumerate(frames):
        dx, dy = synth._shake(plan.performance, index / synth.DEFAULT_FPS)
        background = plan.background[synth.SHAKE_MARGIN + dy:synth.SHAKE_MARGIN + dy + height,
                                     synth.SHAKE_MARGIN + dx:synth.SHAKE_MARGIN + dx + width]
        masks.append(np.abs(frame.astype(int) - background.astype(int)).sum(axis=2) > 40)
    return masks


# ----------------------------------------------------------------------------- defaults unchanged

# Taken with the renderer at aa7a427, before conditions existed.
BEFORE_CONDITIONS = {
    ("Wave", 0, 0, 0, False): "2cd535a667babef8",
    ("TennisSwing", 2, 1, 3, False): "360a74508e747adc",
    ("March", 1, 0, 0, True): "d73da98748efac00",
}
BEFORE_CONDITIONS_FILES = {  # write_dataset(classes=[Wave, Squat], actors=2, clips=2, size=160x120, seconds=0.4)
    "Squat/v_Squat_g01_c01.joints.csv": "0cc862ebb3a6d1b1", "Squat/v_Squat_g01_c01.mp4": "fcd198525a6500e1",
    "Squat/v_Squat_g01_c02.joints.csv": "22d6499eb97b0eea", "Squat/v_Squat_g01_c02.mp4": "f77d279a1d44841b",
    "Squat/v_Squat_g02_c01.joints.csv": "4a59a7d75fa384e2", "Squat/v_Squat_g02_c01.mp4": "bba27c0ab014a523",
    "Squat/v_Squat_g02_c02.joints.csv": "09384482ed93a999", "Squat/v_Squat_g02_c02.mp4": "18e271e969f3d407",
    "Wave/v_Wave_g01_c01.joints.csv": "7a72d4520eb4be57", "Wave/v_Wave_g01_c01.mp4": "9d6839e07431db25",
    "Wave/v_Wave_g01_c02.joints.csv": "2313eb2a7ed95626", "Wave/v_Wave_g01_c02.mp4": "af66212747c029c1",
    "Wave/v_Wave_g02_c01.joints.csv": "59a770332f559102", "Wave/v_Wave_g02_c01.mp4": "51e4d276a11ce80d",
    "Wave/v_Wave_g02_c02.joints.csv": "18eb83feae91380b", "Wave/v_Wave_g02_c02.mp4": "6eacb9336e9909b7",
}
ENCODER_OF_RECORDED_VIDEOS = "5.1.0"  # OpenCV's bundled FFmpeg wrote the recorded .mp4 bytes


def test_default_clips_are_byte_identical_to_before_conditions(tmp_path):
    for (action, actor, clip, seed, occlusion), expected in BEFORE_CONDITIONS.items():
        frames, joints = synth.render_frames(action, actor=actor, clip=clip, seed=seed, size=SIZE, seconds=0.4,
                                             occlusion=occlusion)
        assert frames_digest(frames, joints) == expected, action

    out = tmp_path / "default"
    synth.write_dataset(out, classes=["Wave", "Squat"], actors=2, clips=2, size=SIZE, seconds=0.4, progress=False)
    zero = tmp_path / "zero_rates"  # explicit zero rates are the default
    synth.write_dataset(zero, classes=["Wave", "Squat"], actors=2, clips=2, size=SIZE, seconds=0.4,
                        conditions=preset("real", far=0, exit=0, dark=0, crowd=0), progress=False)
    for name, expected in BEFORE_CONDITIONS_FILES.items():
        data = (out / name).read_bytes()
        assert data == (zero / name).read_bytes(), name
        if name.endswith(".csv") or cv2.__version__ == ENCODER_OF_RECORDED_VIDEOS:
            assert hashlib.sha256(data).hexdigest()[:16] == expected, name
    assert sorted(p.name for p in out.iterdir()) == ["Squat", "Wave"]  # no conditions.csv either
    assert synth.read_conditions(out).empty


# ----------------------------------------------------------------------------- each condition

def test_far_actor_is_small_anywhere_and_whole():
    heights, centres = [], []
    for actor, action in enumerate(ACTIONS):
        frames, joints = synth.render_frames(action, actor=actor, clip=0, seed=2, size=SIZE, seconds=0.6,
                                             conditions=Conditions(far=True))
        assert (joints[..., synth.DRAWN] == 1).all(), action  # every joint in frame, every frame
        assert ((joints[..., :2] >= 0) & (joints[..., :2] < 1)).all(), action
        mask = figure_mask(action, frames, actor=actor, clip=0, seed=2, conditions=Conditions(far=True))[0]
        rows, columns = np.nonzero(mask)
        heights.append((rows.max() - rows.min() + 1) / SIZE[1])  # drawn bounding box, shadow included
        centres.append(np.median(columns) / SIZE[0])
        normal, _ = synth.render_frames(action, actor=actor, clip=0, seed=2, size=SIZE, seconds=0.04)
        normal_rows = np.nonzero(figure_mask(action, normal, actor=actor, clip=0, seed=2)[0])[0]
        assert rows.max() - rows.min() < 0.65 * (normal_rows.max() - normal_rows.min()), action
    assert 0.1 < min(heights) and max(heights) < 0.42, heights
    assert max(centres) - min(centres) > 0.4, centres  # anywhere across the frame, not just the middle


def test_exit_actor_walks_in_or_out_of_the_frame(tmp_path):
    seen = set()
    for clip in range(8):
        frames, joints = synth.render_frames("Clap", actor=clip, clip=clip, seed=0, size=SIZE, seconds=1.2,
                                             conditions=Conditions(exit=True))
        drawn = joints[..., synth.DRAWN] > 0
        nobody, whole = ~drawn.any(axis=1), drawn.all(axis=1)
        assert nobody.mean() >= 0.2 and whole.mean() >= 0.2, clip
        assert (drawn.any(axis=1) & ~whole).any()  # a partial body on the way
        assert np.isnan(joints[nobody, :, X]).all()
        # One stretch without anybody, at the start (entering) or at the end (leaving).
        entering = bool(nobody[0])
        first_seen = int(np.argmax(~nobody)) if entering else int(np.argmax(nobody))
        assert (nobody[:first_seen] if entering else nobody[first_seen:]).all()
        assert not (nobody[first_seen:] if entering else nobody[:first_seen]).any()
        seen.add(entering)
        masks = figure_mask("Clap", frames, actor=clip, clip=clip, seed=0, conditions=Conditions(exit=True),
                            seconds=1.2)
        # Nothing drawn once every joint is out (a hand's last pixels may linger at the edge).
        assert all(mask.sum() < 20 for mask, empty in zip(masks, nobody) if empty)
        assert all(mask.sum() > 200 for mask, full in zip(masks, whole) if full)
    assert seen == {True, False}, "both entrances and exits"

    path = synth.write_clip(tmp_path / "v_Clap_g08_c08.mp4", "Clap", actor=clip, clip=clip, seed=0, size=SIZE,
                            seconds=1.2, conditions=Conditions(exit=True))
    table = pd.read_csv(synth.joints_path(path))
    assert table["nose_x"].isna().any() and table["nose_x"].notna().any()  # empty cells out of frame
    np.testing.assert_allclose(synth.read_joints(path), joints, atol=2e-6)  # the CSV is the ground truth


def test_dark_scene_is_dim_flat_and_noisy_with_the_same_joints():
    for actor, action in enumerate(("Wave", "TennisSwing", "Squat")):
        lit, joints = synth.render_frames(action, actor=actor, clip=0, seed=0, size=SIZE, seconds=0.3)
        dark, dark_joints = synth.render_frames(action, actor=actor, clip=0, seed=0, size=SIZE, seconds=0.3,
                                                conditions=Conditions(dark=True))
        np.testing.assert_array_equal(joints, dark_joints)
        lit_gray = [cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(float) for frame in lit]
        dark_gray = [cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(float) for frame in dark]
        assert np.mean(dark_gray) < 0.5 * np.mean(lit_gray) and np.mean(dark_gray) > 5, action
        assert np.std(dark_gray[0]) < 0.4 * np.std(lit_gray[0]), action  # low contrast
        # Sensor noise: fine-grained variation much larger for its brightness than the lit
        # scene's texture, and fresh in every frame.
        grain = lambda gray: np.median(np.abs(gray - cv2.GaussianBlur(gray, (0, 0), 2))) / gray.mean()
        assert grain(dark_gray[0]) > 2.5 * grain(lit_gray[0]), action
        assert not np.array_equal(dark[0][:8, :8], dark[1][:8, :8])


def test_crowd_adds_a_second_person_and_keeps_the_actor():
    walking = set()
    for actor, action in enumerate(("Wave", "Punch", "JumpingJack", "March")):
        alone, joints = synth.render_frames(action, actor=actor, clip=0, seed=0, size=SIZE, seconds=0.4)
        crowd, crowd_joints = synth.render_frames(action, actor=actor, clip=0, seed=0, size=SIZE, seconds=0.4,
                                                  conditions=Conditions(crowd=True))
        np.testing.assert_array_equal(joints, crowd_joints)  # ground truth is the actor's
        plan = synth.plan_clip(action, actor=actor, clip=0, seed=0, size=SIZE, conditions=Conditions(crowd=True),
                               seconds=0.4)
        walking.add(plan.bystander.walking)
        shown = 0
        for frame_alone, frame_crowd in zip(alone, crowd):
            changed = (np.abs(frame_alone.astype(int) - frame_crowd.astype(int)).sum(axis=2) > 40).astype(np.uint8)
            count, _, stats, _ = cv2.connectedComponentsWithStats(changed)
            tallest = max((stats[label, cv2.CC_STAT_HEIGHT] for label in range(1, count)), default=0)
            shown += tallest > 0.2 * SIZE[1]  # a whole person, not a few pixels
        assert shown >= 0.5 * len(alone), action  # in frame for most of the clip
    assert walking == {True, False}, "some bystanders stand about, some walk"


# ----------------------------------------------------------------------------- determinism and the dataset

def test_conditions_are_deterministic_per_seed():
    every = Conditions(far=True, exit=True, dark=True, crowd=True)
    digest = lambda seed: frames_digest(*synth.render_frames(
        "Squat", actor=2, clip=1, seed=seed, size=SIZE, seconds=0.8, conditions=every))
    assert digest(4) == digest(4)
    assert digest(4) != digest(5)


def test_rates_choose_clips_independently_and_scene_pairs_agree():
    keys = [(actor, clip) for actor in range(50) for clip in range(20)]
    rates = ConditionRates(far=0.3, exit=0.5, dark=0.0, crowd=1.0)
    drawn = [draw_conditions(0, actor, clip, "wave", rates) for actor, clip in keys]
    assert 0.25 < np.mean([c.far for c in drawn]) < 0.35 and 0.45 < np.mean([c.exit for c in drawn]) < 0.55
    assert not any(c.dark for c in drawn) and all(c.crowd for c in drawn)
    more_far = [draw_conditions(0, actor, clip, "wave", ConditionRates(far=0.9, exit=0.5)) for actor, clip in keys]
    assert [c.exit for c in more_far] == [c.exit for c in drawn]  # one rate never moves another
    assert all(a.far <= b.far for a, b in zip(drawn, more_far))  # a higher rate only adds clips
    for first, second in SCENE_PAIRS:  # same conditions, so the same joints
        every = Conditions(far=True, exit=True, crowd=True)
        _, joints_a = synth.render_frames(first, actor=1, clip=0, seed=0, size=SIZE, seconds=0.4, conditions=every)
        _, joints_b = synth.render_frames(second, actor=1, clip=0, seed=0, size=SIZE, seconds=0.4, conditions=every)
        np.testing.assert_array_equal(joints_a, joints_b)


def test_cli_records_conditions_per_clip_and_resumes(tmp_path, capsys):
    out = tmp_path / "real"
    args = ["synth", str(out), "--classes", "Wave", "TennisSwing", "BaseballSwing", "--actors", "4", "--clips", "2",
            "--size", "96x72", "--seconds", "0.2", "--conditions", "real", "--dark", "0", "--crowd", "1", "--quiet"]
    assert cli.main(args) == 0
    table = synth.read_conditions(out)
    assert list(table.columns) == list(CONDITIONS)
    assert sorted(table.index) == sorted(f"{p.parent.name}/{p.stem}" for p in out.rglob("*.mp4"))
    assert table["far"].any() and not table["far"].all() and table["exit"].any()
    assert (table["dark"] == 0).all() and (table["crowd"] == 1).all()  # options override the preset
    tennis = table[table.index.str.startswith("TennisSwing")].to_numpy()
    baseball = table[table.index.str.startswith("BaseballSwing")].to_numpy()
    np.testing.assert_array_equal(tennis, baseball)
    for key, row in table.iterrows():  # the recorded conditions are the ones drawn
        joints = synth.read_joints(out / f"{key}.joints.csv")
        assert bool((joints[..., synth.DRAWN] == 0).any()) == bool(row["exit"]), key

    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    assert cli.main([*args[:-3], "--quiet"]) == 0  # other rates: existing clips and their rows are kept
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == stamps

    # Clips rendered with no condition asked for have no file; adding clips with conditions
    # records the old ones as having none.
    mixed = tmp_path / "mixed"
    assert cli.main(["synth", str(mixed), "--classes", "Wave", "--actors", "1", "--clips", "2", "--size", "96x72",
                     "--seconds", "0.2", "--quiet"]) == 0
    assert not synth.conditions_path(mixed).exists()
    assert cli.main(["synth", str(mixed), "--classes", "Wave", "--actors", "2", "--clips", "2", "--size", "96x72",
                     "--seconds", "0.2", "--far", "1", "--quiet"]) == 0
    table = synth.read_conditions(mixed)
    assert table["far"].to_dict() == {"Wave/v_Wave_g01_c01": 0, "Wave/v_Wave_g01_c02": 0,
                                      "Wave/v_Wave_g02_c01": 1, "Wave/v_Wave_g02_c02": 1}
    assert cli.main(["synth", str(tmp_path / "x"), "--exit", "1.5"]) == 2
    assert "--exit must be between 0 and 1" in capsys.readouterr().err
    with pytest.raises(InputError, match="unknown --conditions"):
        preset("studio")


# ----------------------------------------------------------------------------- the real pose model

def test_real_pose_model_loses_exited_actors_and_some_far_ones(tmp_path):
    """Through the video codec, as extract sees it: nobody is found while the actor is out of
    frame and the actor is found while performing; far actors are found in some clips, not all."""
    model = resolve_model("lite")

    def detections(path) -> np.ndarray:
        with PoseEstimator(model) as estimator:
            return np.array([estimator.detect(frame, stamp) is not None for _, stamp, frame in read_frames(path)])

    path = synth.write_clip(tmp_path / "exit.mp4", "Wave", actor=1, clip=0, seed=0, seconds=1.6,
                            conditions=Conditions(exit=True))
    drawn = synth.read_joints(path)[..., synth.DRAWN] > 0
    found = detections(path)
    assert not found[~drawn.any(axis=1)].any()
    assert found[drawn[:, BODY_JOINTS].all(axis=1)].mean() > 0.9

    shares = {}
    for action, actor in (("Wave", 0), ("JumpingJack", 2), ("March", 16), ("TennisSwing", 18)):
        path = synth.write_clip(tmp_path / f"far{actor}.mp4", action, actor=actor, clip=0, seed=1,
                                seconds=0.6, conditions=Conditions(far=True))
        shares[action] = detections(path).mean()
    assert max(shares.values()) > 0.5 and min(shares.values()) < 0.5, shares


def test_pair_puts_a_second_person_close_to_the_actor_and_turned_to_it():
    overlapping = 0
    for actor, action in enumerate(("Punch", "Wave", "Clap", "BendToToes", "Squat", "March")):
        plan = synth.plan_clip(action, actor=actor, clip=0, seed=0, size=(320, 240), conditions=Conditions(pair=True),
                               seconds=0.4)
        partner = plan.bystander
        assert partner is not None and not partner.walking and partner.view.y == plan.view.y  # beside, not behind
        assert 0.8 < partner.view.scale / plan.view.scale < 1.25  # about as large
        toward = np.sign(plan.view.x - partner.view.x)
        assert toward != 0 and np.sign(-partner.view.yaw) == toward  # yaw -70 faces +x: it faces the actor
        _, actor_joints, partner_joints = synth.render_scene(plan, fps=synth.DEFAULT_FPS, seconds=0.4)
        for mine, theirs in zip(actor_joints, partner_joints):
            a_x, b_x = mine[:, 0][mine[:, 2] > 0], theirs[:, 0][theirs[:, 2] > 0]
            overlapping += bool(len(a_x) and len(b_x) and a_x.min() < b_x.max() and b_x.min() < a_x.max())
    assert overlapping >= 0.5 * 6 * 10  # the two bodies overlap in the image in most frames


def test_conditions_files_written_before_pair_still_read(tmp_path):
    (tmp_path / "conditions.csv").write_text("clip,far,exit,dark,crowd\nWave/v_Wave_g01_c01,1,0,0,1\n")
    table = synth.read_conditions(tmp_path)
    assert table.loc["Wave/v_Wave_g01_c01"].to_dict() == {"far": 1, "exit": 0, "dark": 0, "crowd": 1, "pair": 0}
