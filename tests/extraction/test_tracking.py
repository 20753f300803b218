"""Several people in a frame: tracks keep identities, the landmark CSV holds the main actor (`--max-people`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pose_action.errors import InputError
from pose_action.extraction.discovery import VideoItem
from pose_action.extraction.job import process_video
from pose_action.extraction.manifest import read_table
from pose_action.extraction.settings import make_settings
from pose_action.extraction.tracking import link_tracks
from pose_action.landmarks import INDEX, NUM_LANDMARKS, X, Y, load_sequence, read_csv
from pose_action.layout import FeaturesLayout
from pose_action.people import read_people, track_array
from pose_action.synth import dataset as synth
from pose_action.synth.conditions import Conditions

TORSO = [INDEX[name] for name in ("nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip",
                                  "left_knee", "right_knee")]


def _person(x: float, y: float, size: float, rng: np.random.Generator) -> np.ndarray:
    """A stick pose (33, 8) standing at (x, y) with torso length `size` (frame heights)."""
    points = np.zeros((NUM_LANDMARKS, 8), dtype=np.float32)
    offsets = rng.normal(0.0, 0.3, (NUM_LANDMARKS, 2))  # a fixed body shape in torso units
    offsets[[INDEX["left_shoulder"], INDEX["right_shoulder"]]] = [[-0.3, -0.5], [0.3, -0.5]]
    offsets[[INDEX["left_hip"], INDEX["right_hip"]]] = [[-0.2, 0.5], [0.2, 0.5]]
    points[:, X] = x + offsets[:, 0] * size * 0.75  # x in widths of a 4:3 frame
    points[:, Y] = y + offsets[:, 1] * size
    return points


def test_tracks_keep_identities_through_a_crossing_a_gap_and_reordered_detections():
    # A large actor stands at the centre throughout; a smaller passer-by walks across behind,
    # is hidden for 5 frames; MediaPipe's order of the two flips every 7 frames.
    frames, truth = [], []
    for row in range(60):
        people = [_person(0.5 + 0.005 * np.sin(row), 0.55, 0.2, np.random.default_rng(1))]
        who = ["actor"]
        if not 28 <= row < 33:
            people.append(_person(0.1 + 0.013 * row, 0.45, 0.12, np.random.default_rng(2)))
            who.append("walker")
        if (row // 7) % 2:
            people, who = people[::-1], who[::-1]
        frames.append(people)
        truth.append(who)
    tracking = link_tracks(frames, aspect=4 / 3)
    assert tracking.tracks == 2  # the hidden walker came back as itself
    for track_ids, who in zip(tracking.track_ids, truth):
        assert [{"actor": 0, "walker": 1}[name] for name in who] == track_ids  # track 0: the main actor
    flips = sum(1 for before, after in zip(truth, truth[1:]) if before[0] != after[0])
    assert tracking.switches_repaired == flips > 0
    main = tracking.person(frames, 0)
    assert all(pose is not None and abs(float(pose[INDEX["left_hip"], Y]) - 0.65) < 1e-6 for pose in main)


def test_a_person_who_jumps_across_the_frame_is_not_linked():
    # One pose a frame: first one person, then another far away (the landmarker handing over).
    left = [_person(0.2, 0.5, 0.2, np.random.default_rng(1)) for _ in range(10)]
    right = [_person(0.8, 0.5, 0.2, np.random.default_rng(1)) for _ in range(20)]
    tracking = link_tracks([[pose] for pose in left + right], aspect=4 / 3)
    assert tracking.tracks == 2
    assert [track_ids[0] for track_ids in tracking.track_ids] == [1] * 10 + [0] * 20  # main: the one seen longer


def _crowd_clip(root):
    """A drawn actor waving while a smaller passer-by walks across behind them (one 2 s clip)."""
    path = root / "Wave" / synth.clip_name("Wave", 6, 0)
    synth.write_clip(path, "Wave", actor=6, clip=0, seed=0, seconds=2.0, conditions=Conditions(crowd=True))
    plan = synth.plan_clip("Wave", actor=6, clip=0, seed=0, size=synth.DEFAULT_SIZE,
                           conditions=Conditions(crowd=True), seconds=2.0)
    assert plan.bystander is not None and plan.bystander.walking  # the scene this test is about
    return path


@pytest.fixture(scope="module")
def two_people(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    video = _crowd_clip(root)
    out = tmp_path_factory.mktemp("features")
    settings = make_settings("lite", thumb_frames=4, max_people=2)
    assert settings.scout_every > 0  # the default: the cheap path with a scout finds the passer-by
    item = VideoItem(path=video, label="Wave", group="07", key=f"Wave/{video.stem}", group_from="pattern")
    row = process_video(item, out, settings)
    return video, out, item.key, row, settings


@pytest.mark.filterwarnings("ignore:Mean of empty slice")
@pytest.mark.xfail(reason="quarantined 2026-12-08: on a fresh install today the main track is halfway between the two "
                          "people in 2 of 50 frames and the second track off the passer-by; fails at the previous "
                          "landing too (environment drift, cause not found yet)", strict=False)
def test_main_track_follows_the_main_actor_in_a_two_person_scene(two_people):
    video, out, key, row, settings = two_people
    assert row["status"] == "ok", row
    actor, bystander = synth.read_joints(video), synth.read_joints(synth.bystander_path(video))
    seen_together = np.isfinite(bystander[:, TORSO, X]).all(axis=1)
    assert seen_together.sum() > 20  # the passer-by is in frame for much of the clip
    sequence = load_sequence(FeaturesLayout(out).landmarks(key), fps=25.0, width=320, height=240)
    assert len(sequence) == len(actor)  # the landmark CSV keeps one row per processed frame
    found = sequence.data[:, TORSO][:, :, [X, Y]]
    to_actor = np.nanmean(np.linalg.norm(found - actor[:, TORSO, :2], axis=-1), axis=1)
    to_bystander = np.nanmean(np.linalg.norm(found - bystander[:, TORSO, :2], axis=-1), axis=1)
    with_pose = sequence.detected
    assert with_pose.mean() > 0.9
    on_actor = (to_actor < np.where(np.isfinite(to_bystander), to_bystander, np.inf))[with_pose]
    assert on_actor.mean() >= 0.99
    assert np.nanmedian(to_actor[with_pose]) < 0.03  # on the actor's drawn joints

    people = read_people(FeaturesLayout(out).people(key))
    assert row["tracks"] == people["track"].nunique() >= 2
    assert (people["is_main"] == (people["track"] == 0)).all()
    main = track_array(people, sequence.frame, 0)
    np.testing.assert_allclose(main, sequence.data, atol=1e-5)  # the CSV's rows are track 0's
    # The second track is the passer-by: on its drawn joints wherever it was found.
    second = track_array(people, sequence.frame, 1)[:, TORSO][:, :, [X, Y]]
    found_second = np.isfinite(second[:, 0, 0])
    assert found_second.sum() >= 5
    error = np.nanmean(np.linalg.norm(second - bystander[:, TORSO, :2], axis=-1), axis=1)[found_second]
    assert np.nanmedian(error) < 0.03


def test_one_person_keeps_todays_files_and_config(tmp_path, two_people):
    video, _, key, _, two = two_people
    one = make_settings("lite", thumb_frames=4)
    assert "people" not in one.config() and "people" in two.config()
    assert one.config_id != two.config_id
    assert make_settings("lite", thumb_frames=4, max_people=1).config() == one.config()
    item = VideoItem(path=video, label="Wave", group="07", key=key, group_from="pattern")
    row = process_video(item, tmp_path, one)
    assert row["status"] == "ok" and row["tracks"] == "" and row["switches_repaired"] == ""
    assert not (tmp_path / "people").exists()
    with pytest.raises(InputError, match="--max-people"):
        make_settings("lite", max_people=0)


def test_old_manifests_without_track_columns_still_read(tmp_path):
    path = tmp_path / "manifest.csv"
    path.write_text("video,label,group,status,frames_total\nWave/a.mp4,Wave,01,ok,50\n")
    table = read_table(path)
    assert table.loc[0, "frames_total"] == 50 and "tracks" not in table.columns


def test_inspect_reports_tracks_per_clip(two_people):
    from pose_action.extraction.manifest import ManifestWriter
    from pose_action.inspection.report import format_report, inspect_features

    video, out, key, row, _ = two_people
    with ManifestWriter(FeaturesLayout(out).manifest, [row]):
        pass
    report = inspect_features(out)
    assert report.videos.set_index("key").loc[key, "tracks"] == row["tracks"]
    assert "switches_repaired" in format_report(report)


@pytest.mark.parametrize("source", ["synth", "ud810"])
def test_max_people_2_on_one_person_gives_the_landmarks_of_max_people_1(source, tmp_path, request):
    # The scout only adds people it finds besides the tracked one: with one person in view the
    # landmark CSV must be --max-people 1's, row for row (the every-frame 2-pose landmarker moves
    # the same person's landmarks by 0.05 of the frame on the ud810 clip: its detector re-places
    # the region of interest on every frame).
    if source == "synth":
        video = synth.write_clip(tmp_path / "videos" / "Wave" / synth.clip_name("Wave", 0, 0), "Wave",
                                 actor=0, seed=3, seconds=2.0)
    else:
        video = request.getfixturevalue("shared_videos") / "ud810_ps7" / "A1" / "PS7A1P1T1.avi"
    item = VideoItem(path=video, label="Wave", group="01", key=f"Wave/{video.stem}", group_from="pattern")
    sequences = {}
    for people in (1, 2):
        out = tmp_path / f"features{people}"
        row = process_video(item, out, make_settings("lite", thumb_frames=4, max_people=people))
        assert row["status"] == "ok", row
        sequences[people] = read_csv(FeaturesLayout(out).landmarks(item.key))
    assert row["tracks"] == 1 and row["switches_repaired"] == 0
    assert len(sequences[2]) == len(sequences[1]) > 40
    pd.testing.assert_frame_equal(sequences[2], sequences[1])
    people_file = read_people(FeaturesLayout(tmp_path / "features2").people(item.key))
    assert (people_file["track"] == 0).all() and len(people_file) == int(sequences[1]["pose_detected"].sum())


def test_the_scout_is_recorded_in_the_config():
    scout, every_frame = make_settings("lite", max_people=2), make_settings("lite", max_people=2, scout_every=0)
    assert scout.config()["people"]["scout_every"] == scout.scout_every > 0
    assert "scout_every" not in every_frame.config()["people"]  # the entry of folders made before the scout
    assert make_settings("lite", max_people=2, scout_every=4).config_id != scout.config_id != every_frame.config_id
    assert make_settings("lite", scout_every=4).config_id == make_settings("lite").config_id  # one person: no scout
    with pytest.raises(InputError, match="--scout-every"):
        make_settings("lite", max_people=2, scout_every=-1)
