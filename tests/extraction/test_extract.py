"""`pose-action extract`: landmarks on drawn joints, thumbnails, resume after SIGKILL, crashes."""

from __future__ import annotations

import importlib.util
import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from pose_action.errors import EXIT_PARTIAL, InputError
from pose_action.extraction.appearance import FrameSampler, read_appearance, thumbnail
from pose_action.extraction.discovery import VideoItem
from pose_action.extraction.job import new_row, process_video
from pose_action.extraction.manifest import ManifestWriter, read_rows
from pose_action.extraction.pose import EXPOSURE_DIM, ZOOM_SCALE, file_sha256
from pose_action.extraction.run import extract, format_summary
from pose_action.extraction.settings import ExtractSettings, make_settings
from pose_action.landmarks import INDEX, load_sequence, read_csv
from pose_action.layout import LOCK_FILE
from pose_action.synth import dataset as synth
from pose_action.video import prefetched, read_frames

from conftest import CRASH_ENV

BODY_JOINTS = ("nose", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
               "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
               "left_ankle", "right_ankle")


def _dataset(root: Path, clips: list[tuple[str, int]], seconds: float = 2.0) -> list[Path]:
    return [synth.write_clip(root / action / synth.clip_name(action, actor, 0), action,
                             actor=actor, seed=3, seconds=seconds) for action, actor in clips]


@pytest.fixture(scope="module")
def lite() -> ExtractSettings:
    return make_settings("lite", thumb_frames=16)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory, lite):
    """Two drawn actors doing two actions, extracted with two worker processes."""
    root = tmp_path_factory.mktemp("videos")
    videos = _dataset(root, [("Wave", 0), ("JumpingJack", 1)])
    out = tmp_path_factory.mktemp("features")
    report = extract(root, out, lite, workers=2)
    return root, videos, out, report


def test_landmarks_land_on_the_drawn_joints(extracted):
    root, videos, out, report = extracted
    assert report.exit_code == 0 and report.count("ok") == 2
    for video in videos:
        key = f"{video.parent.name}/{video.stem}"
        sequence = load_sequence(out / "landmarks" / f"{key}.csv", fps=25.0, width=320, height=240)
        truth = synth.read_joints(video)
        assert list(sequence.frame) == list(range(len(truth)))  # every frame, source indices
        assert sequence.detected.mean() > 0.9
        joints = [INDEX[name] for name in BODY_JOINTS]
        found, drawn = sequence.data[:, joints, :2], truth[sequence.frame][:, joints, :2]
        error = np.linalg.norm(found - drawn, axis=-1)  # image-normalized distance
        assert np.nanmedian(error) < 0.03, key
        assert np.nanmedian(error, axis=0).max() < 0.06, key  # no joint systematically off


def test_manifest_and_config_describe_the_run(extracted, lite):
    root, videos, out, report = extracted
    manifest = pd.read_csv(out / "manifest.csv", dtype={"group": str})
    assert list(manifest.columns[:12]) == [
        "video", "label", "group", "status", "frames_total", "frames_processed",
        "frames_with_pose", "fps", "width", "height", "seconds", "error"]
    assert sorted(manifest["video"]) == sorted(v.relative_to(root).as_posix() for v in videos)
    assert set(manifest["group"]) == {"01", "02"} and set(manifest["group_from"]) == {"pattern"}
    row = manifest.iloc[0]
    assert (row.status, row.frames_total, row.frames_processed, row.fps, row.width,
            row.height, row.seconds) == ("ok", 50, 50, 25.0, 320, 240, 2.0)
    config = json.loads((out / "extract_config.json").read_text())
    assert config["pose_model"]["sha256"] == file_sha256(lite.model_path)
    assert config["thumbnails"] == {**config["thumbnails"], "size": 64, "frames": 16}
    assert config["versions"]["mediapipe"]
    assert config["pose"]["zoom"]["scale"] == ZOOM_SCALE  # the default: a second look where nobody was found
    assert config["pose"]["exposure"]["dim"] == EXPOSURE_DIM  # ... and underexposed frames stretched
    assert set(manifest["config_id"]) == {config["config_id"]}


def test_a_folder_made_without_the_zoom_and_exposure_resumes_without_them(tmp_path):
    root, out = tmp_path / "videos", tmp_path / "features"
    _dataset(root, [("Wave", 0)], seconds=1.0)
    extract(root, out, make_settings("lite", thumb_frames=4, zoom=False, exposure=False), workers=1)
    before = json.loads((out / "extract_config.json").read_text())
    assert set(before["pose"]) == {"running_mode", "landmarker", "min_detection_confidence",
                                   "min_tracking_confidence"}  # the config (and id) of folders made before them
    _dataset(root, [("Wave", 1)], seconds=1.0)
    report = extract(root, out, make_settings("lite", thumb_frames=4), workers=1)  # the default has both
    assert (report.skipped, report.count("ok")) == (1, 1)  # not refused as "other settings"
    assert json.loads((out / "extract_config.json").read_text())["config_id"] == before["config_id"]
    assert set(pd.read_csv(out / "manifest.csv")["config_id"]) == {before["config_id"]}


def test_thumbnails_are_the_processed_frames_spread_over_the_clip(extracted):
    root, videos, out, report = extracted
    video = videos[0]
    frame_index, thumbs = read_appearance(out / "frames" / video.parent.name / f"{video.stem}.npz", "thumbs")
    assert thumbs.shape == (16, 64, 64, 3) and thumbs.dtype == np.uint8
    assert frame_index[0] == 0 and frame_index[-1] == 49
    assert np.all(np.diff(frame_index) >= 3) and np.all(np.diff(frame_index) <= 4)
    decoded = {index: frame for index, _, frame in read_frames(video)}
    expected = np.stack([thumbnail(decoded[i], 64) for i in frame_index])
    np.testing.assert_array_equal(thumbs, expected)  # the same frames, RGB, same resize


def test_results_do_not_depend_on_the_worker_or_the_order(extracted, lite, tmp_path):
    root, videos, out, report = extracted  # made by two worker processes, in parallel
    for video in reversed(videos):  # again here, in this process, in the other order
        key = f"{video.parent.name}/{video.stem}"
        process_video(VideoItem(video, video.parent.name, "x", key), tmp_path, lite)
        for kind, suffix in (("landmarks", ".csv"), ("frames", ".npz")):
            again = (tmp_path / kind / f"{key}{suffix}").read_bytes()
            assert again == (out / kind / f"{key}{suffix}").read_bytes(), (kind, key)


def test_rerun_skips_finished_videos_and_refuses_other_settings(extracted, lite):
    root, videos, out, report = extracted
    csvs = sorted((out / "landmarks").rglob("*.csv"))
    before = {path: path.stat().st_mtime_ns for path in csvs}
    again = extract(root, out, lite, workers=1)
    assert (again.skipped, again.rows) == (2, [])
    assert {path: path.stat().st_mtime_ns for path in csvs} == before
    assert len(pd.read_csv(out / "manifest.csv")) == 2

    other = make_settings("lite", thumb_frames=16, stride=5)
    with pytest.raises(InputError, match=r"other settings \(changed: sampling.*--overwrite"):
        extract(root, out, other, workers=1)


def test_names_the_group_pattern_does_not_match_are_reported(tmp_path, lite, caplog):
    """A wrong --group-pattern would silently make every clip its own group: count, warn, mark the manifest."""
    root = tmp_path / "videos"
    for name in ("v_Wave_g01_c01.mp4", "wave_by_ann.mp4", "wave_by_bob.mp4", "wave_by_cy.mp4", "wave_by_di.mp4"):
        (root / "Wave").mkdir(parents=True, exist_ok=True)
        (root / "Wave" / name).write_bytes(b"x")

    def fail_all(items, out_root, settings, workers, on_row):  # no real extraction: only the bookkeeping
        for item in items:
            on_row(new_row(item, settings))

    with caplog.at_level(logging.WARNING):
        report = extract(root, tmp_path / "features", lite, runner=fail_all)
    assert report.ungrouped == ["Wave/wave_by_ann", "Wave/wave_by_bob", "Wave/wave_by_cy", "Wave/wave_by_di"]
    assert "4 of 5 file names do not match --group-pattern" in caplog.text
    assert "Wave/wave_by_ann, Wave/wave_by_bob, Wave/wave_by_cy, ..." in caplog.text
    assert "4 clips matched no group in their file name" in format_summary(report)
    manifest = pd.read_csv(tmp_path / "features" / "manifest.csv", dtype=str).set_index("key")
    assert manifest.loc["Wave/wave_by_ann", "group_from"] == "stem"
    assert manifest.loc["Wave/wave_by_ann", "group"] == "wave_by_ann"
    assert manifest.loc["Wave/v_Wave_g01_c01", "group_from"] == "pattern"


def test_overwrite_redoes_with_the_new_sampling(tmp_path, lite):
    root = tmp_path / "videos"
    _dataset(root, [("Squat", 0)], seconds=1.0)
    out = tmp_path / "features"
    extract(root, out, lite, workers=1)
    strided = make_settings("lite", thumb_frames=16, target_fps=5.0)  # 25 fps clip: stride 5
    report = extract(root, out, strided, workers=1, overwrite=True)
    assert report.count("ok") == 1
    table = read_csv(next((out / "landmarks").rglob("*.csv")))
    assert list(table["frame"]) == [0, 5, 10, 15, 20]
    manifest = pd.read_csv(out / "manifest.csv")
    assert (manifest["stride"].tolist(), manifest["frames_total"].tolist()) == ([5], [25])
    config = json.loads((out / "extract_config.json").read_text())
    assert config["sampling"] == {"fps": 5.0, "stride": None}
    assert manifest["config_id"][0] == config["config_id"]


def _data_rows(manifest: Path) -> int:
    try:
        return max(0, len(manifest.read_text().splitlines()) - 1)
    except FileNotFoundError:
        return 0


def test_sigkilled_run_resumes_without_redoing_or_corrupt_files(tmp_path):
    root = tmp_path / "videos"
    _dataset(root, [("Wave", 0), ("Clap", 0), ("Squat", 1), ("March", 1), ("Punch", 2)], seconds=1.2)
    out = tmp_path / "features"
    command = [sys.executable, "-m", "pose_action", "extract", str(root), "--out", str(out),
               "--workers", "1", "--quiet"]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _data_rows(out / "manifest.csv") < 2 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert run.poll() is None, "the run ended before it could be killed"
    workers = psutil.Process(run.pid).children(recursive=True)
    run.send_signal(signal.SIGKILL)
    run.communicate()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, "worker processes outlived the killed run"

    done = {row["key"] for row in read_rows(out / "manifest.csv")}
    assert 2 <= len(done) < 5
    for csv in (out / "landmarks").rglob("*.csv"):  # whatever is there is complete
        read_csv(csv)
    finished = {key: (out / "landmarks" / f"{key}.csv").stat().st_mtime_ns for key in done}

    resumed = subprocess.run(command[:-1], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(done)} of 5 videos already extracted" in resumed.stderr
    assert {key: (out / "landmarks" / f"{key}.csv").stat().st_mtime_ns for key in done} == finished
    manifest = pd.read_csv(out / "manifest.csv")
    assert sorted(manifest["status"]) == ["ok"] * 5 and manifest["key"].is_unique
    for key in manifest["key"]:
        read_csv(out / "landmarks" / f"{key}.csv")
    assert not [p for p in out.rglob(".*") if p.name != LOCK_FILE]  # no temp files left


def test_a_worker_segfault_costs_only_its_video(tmp_path, monkeypatch, lite, arm_worker_crash):
    root = tmp_path / "videos"
    _dataset(root, [("Wave", 0), ("Clap", 1), ("Squat", 2)], seconds=0.6)
    arm_worker_crash("_g02_")  # workers inherit the environment
    report = extract(root, tmp_path / "features", lite, workers=1)
    rows = {row["key"]: row for row in report.rows}
    crashed = rows["Clap/v_Clap_g02_c01"]
    assert crashed["status"] == "failed" and "SIGSEGV" in crashed["error"]
    assert rows["Wave/v_Wave_g01_c01"]["status"] == rows["Squat/v_Squat_g03_c01"]["status"] == "ok"
    assert report.exit_code == EXIT_PARTIAL

    monkeypatch.delenv(CRASH_ENV)  # a rerun retries the failed video only
    rerun = extract(root, tmp_path / "features", lite, workers=1)
    assert rerun.skipped == 2 and [row["status"] for row in rerun.rows] == ["ok"]


def test_the_worker_code_path_does_not_import_tensorflow(tmp_path):
    video = _dataset(tmp_path / "videos", [("Wave", 0)], seconds=0.4)[0]
    code = (
        "import sys; from pathlib import Path; from pose_action.extraction.job import process_video;"
        "from pose_action.extraction.settings import make_settings;"
        "from pose_action.extraction.discovery import VideoItem;"
        f"row = process_video(VideoItem(Path({str(video)!r}), 'Wave', '1', 'Wave/x'),"
        f" Path({str(tmp_path / 'features')!r}), make_settings('lite'));"
        "print(row['status'], 'tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["ok", "False"]


@pytest.mark.skipif(importlib.util.find_spec("pose_action.extraction.embeddings") is None,
                    reason="pose_action.extraction.embeddings is not in this checkout yet")
def test_embeddings_of_the_same_frames(tmp_path):
    root = tmp_path / "videos"
    _dataset(root, [("Wave", 0)], seconds=0.8)
    settings = make_settings("lite", thumb_frames=8, embed="mobilenet_v3_small",
                                     embed_weights="none")
    out = tmp_path / "features"
    assert extract(root, out, settings, workers=1).count("ok") == 1
    key = "Wave/v_Wave_g01_c01"
    with np.load(out / "embeddings" / "mobilenet_v3_small" / f"{key}.npz") as stored:
        vectors, index = stored["vectors"], stored["frame_index"]
    assert vectors.dtype == np.float16 and vectors.shape == (8, settings.embed_dim)
    assert np.isfinite(vectors).all()  # random weights (no download here): values carry no meaning
    config = json.loads((out / "extract_config.json").read_text())
    assert config["embeddings"]["dim"] == settings.embed_dim == vectors.shape[1]
    np.testing.assert_array_equal(index, read_appearance(out / "frames" / f"{key}.npz", "thumbs")[0])


def test_sampler_spreads_picks_over_a_long_stream_in_bounded_memory():
    frame = np.zeros((24, 32, 3), np.uint8)
    sampler = FrameSampler(8, [16])
    peak = 0
    for index in range(1000):
        sampler.offer(index * 2, frame)  # source indices of a stride-2 stream
        peak = max(peak, len(sampler._kept))
    picked = sampler.result()
    assert peak <= 4 * 8 + 1
    assert picked.images[16].shape == (8, 16, 16, 3)
    positions = picked.frame_index // 2
    ideal = np.linspace(0, 999, 8)
    assert positions[0] == 0 and positions[-1] == 999
    assert np.abs(positions - ideal).max() <= 999 / 7 / 4 + 1  # within a quarter spacing


def test_sampler_is_exact_for_short_streams():
    frame = np.zeros((24, 32, 3), np.uint8)
    short = FrameSampler(8, [16])
    for index in range(5):
        short.offer(index, frame)
    assert list(short.result().frame_index) == [0, 1, 2, 3, 4]
    exact = FrameSampler(8, [16])
    for index in range(30):
        exact.offer(index, frame)
    assert list(exact.result().frame_index) == list(np.round(np.linspace(0, 29, 8)).astype(int))


def test_manifest_survives_a_torn_last_line(tmp_path):
    path = tmp_path / "manifest.csv"
    with ManifestWriter(path, []) as writer:
        writer.append({"key": "A/x", "video": "A/x.avi", "label": "A", "status": "ok",
                       "error": "comma, and\nnewline"})
        writer.append({"key": "A/y", "video": "A/y.avi", "label": "A", "status": "failed"})
    with open(path, "a") as handle:
        handle.write('A/z.avi,A,,ok,5')  # a crash mid-line
    rows = read_rows(path)
    assert [row["key"] for row in rows] == ["A/x", "A/y"]
    assert rows[0]["error"] == "comma, and newline"
    assert len(pd.read_csv(path.with_name("manifest.csv"), nrows=2)) == 2


def test_prefetch_keeps_order_passes_errors_and_closes_early():
    closed = []

    def frames(fail_at: int | None = None):
        try:
            for index in range(20):
                if index == fail_at:
                    raise OSError("disk went away")
                yield index
        finally:
            closed.append(True)

    assert list(prefetched(frames())) == list(range(20))
    with pytest.raises(OSError, match="disk went away"):
        list(prefetched(frames(fail_at=7)))
    for index in prefetched(frames()):
        if index == 2:
            break
    assert closed == [True, True, True]  # the decoder is released in every case
