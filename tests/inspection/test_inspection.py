"""`pose-action inspect`: summaries, the extraction report, plots and renderings a user checks
before training, on landmark CSVs made by the real pose model from real videos."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pose_action import cli, landmarks
from pose_action.extraction import pose
from pose_action.inspection.report import inspect_features, load_with_context, write_report
from pose_action.inspection.summary import problem_of, summarize, torso_jitter
from pose_action.landmarks import INDEX, LandmarkSequence
from pose_action.layout import REPORT_FILE
from pose_action.video import probe, read_frames

STRIDE = 3
BLANKED_ROWS = range(5, 17)  # 12 processed frames blacked out: a gap the detector cannot bridge


def _extract(estimator: pose.PoseEstimator, video: Path, blank: range = range(0)) -> LandmarkSequence:
    info = probe(video)
    rows = []
    for row, (index, timestamp, frame) in enumerate(read_frames(video, stride=STRIDE, info=info)):
        if row in blank:
            frame = np.zeros_like(frame)
        rows.append((index, timestamp, estimator.detect(frame, timestamp)))
    return LandmarkSequence.from_frames(rows, fps=info.fps, width=info.width, height=info.height)


def _manifest_row(key: str, video: Path, status: str, sequence: LandmarkSequence | None,
                  error: str = "") -> dict:
    return {"video": str(video), "label": key.split("/")[0], "group": "P1", "status": status,
            "frames_total": 0 if sequence is None else int(sequence.frame[-1]) + 1,
            "frames_processed": 0 if sequence is None else len(sequence),
            "frames_with_pose": 0 if sequence is None else int(sequence.detected.sum()),
            "fps": 29.97, "width": 640, "height": 480, "seconds": 0.5, "error": error, "key": key}


@pytest.fixture(scope="session")
def features(shared_videos, tmp_path_factory) -> Path:
    """A small extraction laid out as `pose-action extract` writes it, with one of each case:
    a clean clip (A1), a clip with a long gap (A2), a video with nobody in it (A3/empty_room),
    and a video that failed (A3, manifest only)."""
    root = tmp_path_factory.mktemp("features")
    ud810 = shared_videos / "ud810_ps7"
    empty_room = root / "videos" / "empty_room.avi"
    empty_room.parent.mkdir()
    writer = cv2.VideoWriter(str(empty_room), cv2.VideoWriter_fourcc(*"MJPG"), 29.97, (160, 120))
    for shade in range(30):
        writer.write(np.full((120, 160, 3), 100 + shade, np.uint8))
    writer.release()
    clips = {"A1/PS7A1P1T1": (ud810 / "A1" / "PS7A1P1T1.avi", range(0)),
             "A2/PS7A2P2T1": (ud810 / "A2" / "PS7A2P2T1.avi", BLANKED_ROWS),
             "A3/empty_room": (empty_room, range(0))}
    manifest = []
    for key, (video, blank) in clips.items():
        # One landmarker per video, as extract does: VIDEO mode needs increasing timestamps.
        with pose.PoseEstimator(pose.resolve_model("lite")) as estimator:
            sequence = _extract(estimator, video, blank)
        landmarks.write_csv(root / "landmarks" / f"{key}.csv", sequence)
        status = "ok" if sequence.detected.any() else "no_pose"
        manifest.append(_manifest_row(key, video, status, sequence))
    manifest.append(_manifest_row("A3/PS7A3P1T1", ud810 / "A3" / "PS7A3P1T1.avi", "failed", None,
                                  error="cannot be opened as a video (unknown or corrupt format)"))
    pd.DataFrame(manifest).to_csv(root / "manifest.csv", index=False)
    return root


def _csv(features: Path, key: str) -> Path:
    return features / "landmarks" / f"{key}.csv"


def _copy(features: Path, tmp_path: Path) -> Path:
    """A private copy for tests that write into the extraction (the fixture is shared)."""
    return Path(shutil.copytree(features, tmp_path / "features"))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pose_action", "inspect", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


# --- summaries -----------------------------------------------------------------------------

def test_summary_of_a_clean_upper_body_clip(features):
    sequence = load_with_context(_csv(features, "A1/PS7A1P1T1"))
    assert (sequence.width, sequence.height, sequence.fps) == (640, 480, 29.97)  # from the manifest
    summary = summarize(sequence)
    assert summary.frames == 37 and summary.frames_with_pose == 37 and summary.longest_gap == 0
    assert summary.duration_s == pytest.approx(109 / 29.97, abs=0.01)
    assert summary.visibility["face"] > 0.9 and summary.visibility["torso"] > 0.9
    assert summary.visibility["legs"] < 0.5  # the clip shows the upper body only
    assert 0.0 < summary.jitter < 0.05  # a person standing still, raising the arms


def test_gap_and_low_detection_are_reported(features):
    summary = summarize(load_with_context(_csv(features, "A2/PS7A2P2T1")))
    assert summary.longest_gap == len(BLANKED_ROWS)
    assert summary.frames_with_pose == summary.frames - len(BLANKED_ROWS)
    assert problem_of(summary, 0.5) == "low detection"
    assert problem_of(summary, 0.3) == ""


def test_jitter_is_torso_movement_in_torso_heights():
    still = np.full((33, 8), 0.5, np.float32)
    still[[INDEX["left_shoulder"], INDEX["right_shoulder"]], 1] = 0.3
    still[[INDEX["left_hip"], INDEX["right_hip"]], 1] = 0.7  # torso 0.4 high
    rows = []
    for frame in range(6):
        points = still.copy()
        points[:, 0] += 0.02 * frame  # the whole body slides 0.02 per frame = 0.05 torso heights
        rows.append((frame, frame * 40, None if frame == 3 else points))
    sequence = LandmarkSequence.from_frames(rows, fps=25.0, width=100, height=100)  # square: aspect 1
    # Steps touching the frame without a pose are skipped, not counted as zero movement.
    assert torso_jitter(sequence) == pytest.approx(0.05, rel=1e-4)
    assert torso_jitter(sequence, aspect=2.0) == pytest.approx(0.1, rel=1e-4)


def test_shaky_landmarks_raise_the_jitter_of_a_real_clip(features):
    sequence = load_with_context(_csv(features, "A1/PS7A1P1T1"))
    data = sequence.data.copy()
    data[:, :, :2] += np.random.default_rng(0).normal(0, 0.02, data[:, :, :2].shape)
    shaky = dataclasses.replace(sequence, data=data)
    assert summarize(shaky).jitter > 3 * summarize(sequence).jitter


def test_no_pose_clip_summary_has_no_numbers_to_invent(features):
    summary = summarize(load_with_context(_csv(features, "A3/empty_room")))
    assert summary.frames == 10 and summary.frames_with_pose == 0
    assert summary.longest_gap == 10
    assert np.isnan(summary.jitter) and all(np.isnan(v) for v in summary.visibility.values())
    assert problem_of(summary, 0.5) == "no pose"


def test_csv_reads_with_pandas_as_documented(features):
    """The README's pandas example, as a user would run it."""
    path = _csv(features, "A1/PS7A1P1T1")
    table = pd.read_csv(path)
    wrist_y = table.loc[table["pose_detected"] == 1, "left_wrist_y"]
    assert len(wrist_y) == 37 and wrist_y.min() < 0.3 < 0.6 < wrist_y.max()  # the arm goes up
    checked = landmarks.read_csv(path)
    array = landmarks.to_array(checked)
    assert array.shape == (37, 33, 8)
    xy = landmarks.to_array(checked, ("x", "y"))
    np.testing.assert_allclose(xy[:, INDEX["left_wrist"], 1], table["left_wrist_y"], rtol=1e-6)


# --- the whole extraction ------------------------------------------------------------------

def test_features_report_worst_first_with_failed_and_flags(features, tmp_path):
    report = inspect_features(features, quiet=True)
    videos = report.videos
    assert videos["key"].tolist() == ["A3/PS7A3P1T1", "A3/empty_room", "A2/PS7A2P2T1", "A1/PS7A1P1T1"]
    assert videos["problem"].tolist() == ["failed", "no pose", "low detection", ""]
    assert "corrupt format" in videos.loc[0, "error"]
    classes = report.classes.set_index("label")
    assert classes.loc["A3", "videos"] == 2 and classes.loc["A3", "failed"] == 1
    assert classes.loc["A3", "flagged"] == 1 and classes.loc["A1", "flagged"] == 0
    assert classes.loc["A1", "detection_rate"] == 1.0
    assert report.classes["label"].tolist()[0] == "A3"  # worst class first
    written, per_class = write_report(report, tmp_path / "report.csv")
    again = pd.read_csv(written, keep_default_na=False)
    assert again["key"].tolist() == videos["key"].tolist()
    assert set(pd.read_csv(per_class)["label"]) == {"A1", "A2", "A3"}


def test_cli_features_prints_tables_and_writes_report(features, tmp_path):
    features = _copy(features, tmp_path)
    result = _cli(features, "--quiet", "--min-detection-rate", "0.3")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "4 videos in 3 classes; problems: 1 failed, 1 no pose" in out
    assert "low detection" not in out  # 9 of 21 frames pass a 0.3 threshold
    assert "A3/PS7A3P1T1: cannot be opened as a video" in out
    report = pd.read_csv(features / REPORT_FILE, keep_default_na=False)
    assert len(report) == 4 and report.loc[0, "problem"] == "failed"
    assert (features / "inspect_report_classes.csv").is_file()


def test_unreadable_csv_in_features_is_listed_and_exit_3(features, tmp_path):
    copy = _copy(features, tmp_path)
    broken = copy / "landmarks" / "A1" / "broken.csv"
    table = pd.read_csv(_csv(copy, "A1/PS7A1P1T1"))
    table["nose_x"] = table["nose_x"].astype(object)
    table.loc[4, "nose_x"] = "n/a?"
    table.to_csv(broken, index=False)
    result = _cli(copy, "--quiet", "--report", tmp_path / "out" / "report.csv")
    assert result.returncode == 3, result.stderr
    report = pd.read_csv(tmp_path / "out" / "report.csv", keep_default_na=False)
    row = report[report["key"] == "A1/broken"].iloc[0]
    assert row["problem"] == "unreadable" and "non-numeric value 'n/a?'" in row["error"]
    assert not (copy / REPORT_FILE).exists()


def test_manifest_of_a_running_or_rerun_extraction(features, tmp_path):
    """A torn last line (extraction still appending) is skipped; a rerun's later row wins."""
    copy = _copy(features, tmp_path)
    manifest = pd.read_csv(copy / "manifest.csv")
    retried = manifest[manifest["key"] == "A3/PS7A3P1T1"].assign(status="no_pose", error="")
    text = pd.concat([manifest, retried]).to_csv(index=False)
    (copy / "manifest.csv").write_text(text + "/x.avi,A9,P1,ok,1,1,1,25,9,9,1,,A9/x,9,9,9,9,9\n")
    report = inspect_features(copy, quiet=True)
    assert "failed" not in set(report.videos["problem"])
    assert report.videos.set_index("key").loc["A3/PS7A3P1T1", "problem"] == "no pose"
    assert "A9/x" not in set(report.videos["key"])


# --- one CSV from the command line ---------------------------------------------------------

def test_cli_one_csv_summary_plot_and_render(features, tmp_path):
    csv = _csv(features, "A2/PS7A2P2T1")
    plot, video = tmp_path / "plot.png", tmp_path / "skeleton.mp4"
    result = _cli(csv, "--quiet", "--plot", plot, "--joints", "left_wrist,right_wrist", "nose",
                  "--render", video)
    assert result.returncode == 0, result.stderr
    assert "21 processed, 9 with a pose (43%)" in result.stdout
    assert "longest gap 12 frames" in result.stdout and "problem     low detection" in result.stdout
    with Image.open(plot) as image:
        assert image.size == (1200, 900)
        colours = len(set(image.convert("RGB").getdata()))
    assert colours > 200  # three panels of lines and a heat map, not an empty canvas
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 21
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (640, 480)
    capture.release()


def test_cli_overlay_gif_matches_source_frames(features, tmp_path, shared_videos):
    csv = _csv(features, "A1/PS7A1P1T1")
    gif = tmp_path / "overlay.gif"
    source = shared_videos / "ud810_ps7" / "A1" / "PS7A1P1T1.avi"
    assert cli.main(["inspect", str(csv), "--quiet", "--render", str(gif), "--overlay", str(source)]) == 0
    with Image.open(gif) as image:
        assert image.n_frames == 37 and image.size == (640, 480)
        image.seek(36)
        last = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)
    frame_108 = [frame for index, _, frame in read_frames(source) if index == 108][0]
    # The room is the same; only the skeleton and captions differ (GIF palette noise aside).
    same = np.abs(last.astype(int) - frame_108.astype(int)).max(axis=2) < 40
    assert same.mean() > 0.85


@pytest.mark.parametrize("args, message", [
    (["--overlay", "x.avi"], "--overlay needs --render"),
    (["--joints", "left_wirst"], "unknown landmark 'left_wirst' (did you mean"),
    (["--render", "out.webm"], "out.webm: --render writes"),
    (["--size", "big", "--render", "out.mp4"], "--size must look like 640x480"),
    (["--size", "320x240", "--render", "out.mp4", "--overlay", "x.avi"], "--size is for renders without"),
    (["--min-detection-rate", "50"], "between 0 and 1"),
])
def test_cli_bad_options_are_one_line_errors(features, tmp_path, capsys, args, message):
    code = cli.main(["inspect", str(_csv(features, "A1/PS7A1P1T1")), "--quiet",
                     *[str(tmp_path / a) if a.startswith(("x.", "out.")) else a for a in args]])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_plot_options_on_a_folder_are_refused(features, capsys):
    assert cli.main(["inspect", str(features), "--plot", "x.png"]) == 2
    assert "take one landmark CSV, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("breakage, message", [
    (lambda t: t.drop(columns=["right_hip_visibility"]), "missing column 'right_hip_visibility'"),
    (lambda t: t.assign(left_wrist_x=["abc"] + list(t["left_wrist_x"][1:])),
     "non-numeric value 'abc' in column 'left_wrist_x'"),
    (lambda t: t.assign(timestamp_ms=t["timestamp_ms"][::-1].to_numpy()), "timestamps must increase"),
    (lambda t: t.iloc[0:0], "no rows"),
])
def test_broken_csv_exits_2_with_one_line_naming_file(features, tmp_path, breakage, message):
    path = tmp_path / "hand_broken.csv"
    breakage(pd.read_csv(_csv(features, "A1/PS7A1P1T1"))).to_csv(path, index=False)
    result = _cli(path, "--plot", tmp_path / "never.png")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and message in lines[0]
    assert not (tmp_path / "never.png").exists()
    assert result.stdout == ""
