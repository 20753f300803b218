"""Bad inputs never stop an extraction: each gets its manifest row and the good videos succeed.

Every file here is real: written by OpenCV and then damaged the way files get damaged
(cut in half, header rate fields zeroed), or odd but valid (one frame, grayscale, 1080p,
nobody in view, a non-ASCII name).
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from pose_action import cli
from pose_action.errors import EXIT_PARTIAL, EXIT_USAGE
from pose_action.extraction.run import extract
from pose_action.extraction.settings import make_settings
from pose_action.landmarks import read_csv
from pose_action.synth import dataset as synth
from pose_action.video import write_video


def _write(path: Path, frames: list[np.ndarray], fps: float = 25.0, color: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height),
                             isColor=color)
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def _patch(path: Path, marker: bytes, offset: int, fmt: str, *values: int) -> None:
    """Overwrite a header field found after `marker` (a real container, edited in place)."""
    data = bytearray(path.read_bytes())
    at = data.index(marker) + offset
    data[at:at + struct.calcsize(fmt)] = struct.pack(fmt, *values)
    path.write_bytes(bytes(data))


def _mdhd_timescale_offset(path: Path) -> int:
    data = path.read_bytes()
    version = data[data.index(b"mdhd") + 4]
    return 4 + 4 + (16 if version == 1 else 8)  # 'mdhd', version+flags, creation+modification


@pytest.fixture(scope="module")
def bad_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad videos")
    frames, _ = synth.render_frames("Wave", actor=0, seed=5, seconds=2.0)
    synth.write_clip(root / "Wave" / "v_Wave_g01_c01.mp4", "Wave", seed=5, seconds=1.2)
    (root / "Wave" / "notes.txt").write_text("not a video")
    (root / "Wave" / ".hidden.avi").write_bytes(b"hidden")

    (root / "Empty").mkdir()
    (root / "Empty" / "v_Empty_g01_c01.avi").write_bytes(b"")
    (root / "Text").mkdir()
    (root / "Text" / "v_Text_g01_c01.avi").write_text("this is a text file, not a video\n" * 20)

    full = write_video(root / "full.avi", frames, 25.0) and root / "full.avi"
    data = full.read_bytes()
    (root / "Truncated").mkdir()
    (root / "Truncated" / "v_Cut_g01_c01.avi").write_bytes(data[: len(data) // 2])
    write_video(root / "full.mp4", frames[:10], 25.0)
    mp4 = (root / "full.mp4").read_bytes()
    (root / "Truncated" / "v_Cut_g01_c02.mp4").write_bytes(mp4[: len(mp4) // 2])  # index lost
    full.unlink()
    (root / "full.mp4").unlink()

    _write(root / "OneFrame" / "v_One_g01_c01.avi", frames[:1])
    rng = np.random.default_rng(0)
    room = np.full((120, 160, 3), (90, 120, 150), np.uint8)
    _write(root / "Nobody" / "v_Nobody_g01_c01.avi",
           [np.clip(room + rng.integers(0, 20, room.shape), 0, 255).astype(np.uint8)
            for _ in range(10)])

    # AVI with the rate fields (avih microseconds/frame, strh scale and rate) zeroed:
    # FFmpeg substitutes 25 fps. AVI whose rate field is nonsense (10 million fps): OpenCV
    # passes it on and extraction falls back to 25 fps. MP4 with a zero media time scale:
    # OpenCV opens it but decodes no frame.
    zero_rate = _write(root / "NoFps" / "v_ZeroRate_g01_c01.avi", frames[:8])
    _patch(zero_rate, b"avih", 8, "<I", 0)
    _patch(zero_rate, b"strh", 8 + 20, "<II", 0, 0)
    absurd_rate = _write(root / "NoFps" / "v_AbsurdRate_g01_c02.avi", frames[:8])
    _patch(absurd_rate, b"strh", 8 + 20, "<II", 1, 10_000_000)
    zero_scale = root / "NoFps" / "v_ZeroScale_g01_c03.mp4"
    write_video(zero_scale, frames[:8], 25.0)
    _patch(zero_scale, b"mdhd", _mdhd_timescale_offset(zero_scale), ">I", 0)

    _write(root / "Gray" / "v_Gray_g01_c01.avi",
           [cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) for frame in frames[:12]], color=False)
    _write(root / "Big" / "v_Big_g01_c01.avi",
           [cv2.resize(frame, (1920, 1080), interpolation=cv2.INTER_LINEAR) for frame in frames[:4]])
    synth.write_clip(root / "Sprünge" / "v_Sprünge_ñandú_g01_c01.mp4", "JumpingJack", seed=5,
                     seconds=0.8)
    return root


@pytest.fixture(scope="module")
def bad_run(bad_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("features")
    code = cli.main(["extract", str(bad_root), "--out", str(out), "--workers", "2", "--quiet",
                     "--thumb-frames", "8"])
    manifest = pd.read_csv(out / "manifest.csv", dtype={"group": str, "error": str, "note": str})
    manifest[["error", "note"]] = manifest[["error", "note"]].fillna("")
    manifest = manifest.set_index("key")
    return code, out, manifest


def test_batch_with_bad_files_finishes_with_exit_3_and_a_row_each(bad_run, bad_root):
    code, out, manifest = bad_run
    assert code == EXIT_PARTIAL
    videos = [p for p in bad_root.rglob("*") if p.suffix in (".avi", ".mp4")
              and not p.name.startswith(".")]
    assert len(manifest) == len(videos) == 13
    assert manifest.loc["Wave/v_Wave_g01_c01", "status"] == "ok"
    assert manifest.loc["Wave/v_Wave_g01_c01", "frames_with_pose"] >= 25
    for key, row in manifest.iterrows():
        if row.status != "failed":
            read_csv(out / "landmarks" / f"{key}.csv")  # complete and valid
            assert (out / "frames" / f"{key}.npz").is_file()


@pytest.mark.parametrize("key, message", [
    ("Empty/v_Empty_g01_c01", "empty file (0 bytes)"),
    ("Text/v_Text_g01_c01", "cannot be opened as a video (unknown or corrupt format)"),
    ("Truncated/v_Cut_g01_c02", "cannot be opened as a video (unknown or corrupt format)"),
])
def test_unreadable_files_fail_with_a_clear_reason(bad_run, key, message):
    row = bad_run[2].loc[key]
    assert row.status == "failed" and row.error == message
    assert not (bad_run[1] / "landmarks" / f"{key}.csv").exists()


def test_truncated_avi_keeps_the_frames_before_the_cut(bad_run):
    row = bad_run[2].loc["Truncated/v_Cut_g01_c01"]
    assert row.status == "ok" and 10 <= row.frames_processed <= 40
    assert row.frames_total == row.frames_processed  # what decoded, not the header's 50
    assert "truncated or damaged" in row.note and "of the 50" in row.note


def test_odd_but_valid_videos(bad_run):
    manifest = bad_run[2]
    one = manifest.loc["OneFrame/v_One_g01_c01"]
    assert (one.status, one.frames_processed, one.frames_total) == ("ok", 1, 1)
    nobody = manifest.loc["Nobody/v_Nobody_g01_c01"]
    assert (nobody.status, nobody.frames_processed, nobody.frames_with_pose) == ("no_pose", 10, 0)
    assert nobody.note == "no person detected in any processed frame" and nobody.error == ""
    table = read_csv(bad_run[1] / "landmarks" / "Nobody" / "v_Nobody_g01_c01.csv")
    assert len(table) == 10 and table["nose_x"].isna().all()  # rows kept, cells empty
    gray = manifest.loc["Gray/v_Gray_g01_c01"]
    assert gray.status == "ok" and gray.frames_processed == 12
    big = manifest.loc["Big/v_Big_g01_c01"]
    assert (big.status, big.width, big.height, big.frames_with_pose) == ("ok", 1920, 1080, 4)
    named = manifest.loc["Sprünge/v_Sprünge_ñandú_g01_c01"]
    assert named.status == "ok" and named.video == "Sprünge/v_Sprünge_ñandú_g01_c01.mp4"


def test_missing_frame_rate_falls_back_to_25_fps_with_a_note(bad_run):
    manifest = bad_run[2]
    zero_rate = manifest.loc["NoFps/v_ZeroRate_g01_c01"]
    assert (zero_rate.status, zero_rate.fps, zero_rate.frames_processed) == ("ok", 25.0, 8)
    absurd = manifest.loc["NoFps/v_AbsurdRate_g01_c02"]
    assert (absurd.status, absurd.fps, absurd.frames_processed) == ("ok", 25.0, 8)
    assert "no usable frame rate" in absurd.note and "25 fps" in absurd.note
    table = read_csv(bad_run[1] / "landmarks" / "NoFps" / "v_AbsurdRate_g01_c02.csv")
    assert list(np.diff(table["timestamp_ms"])) == [40] * 7
    zero_scale = manifest.loc["NoFps/v_ZeroScale_g01_c03"]
    assert zero_scale.status == "failed" and zero_scale.error.startswith("no frame could be decoded")


def test_hidden_and_non_video_files_are_ignored_and_counted(bad_root, tmp_path):
    report = extract(bad_root, tmp_path / "f",
                             make_settings("lite"), workers=1,
                             runner=lambda items, *rest: None)  # discovery only
    assert report.ignored == 4  # notes.txt, .hidden.avi and the two clips' joints CSVs


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_missing_or_empty_video_root_is_a_usage_error(tmp_path, capsys, make):
    root = tmp_path / "videos"
    if make == "empty":
        root.mkdir()
    code = cli.main(["extract", str(root), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_USAGE and len(err.splitlines()) == 1 and str(root) in err
    assert not (tmp_path / "out").exists()


def test_real_1080p_video_from_a_csv_list(shared_videos, tmp_path):
    clip = shared_videos / "mmaction2_demos" / "NTU_A001_drink_water" / "S001C001P001R001A001_rgb.avi"
    listing = tmp_path / "list.csv"
    listing.write_text(f"path,label,group\n{clip},drink,P001\n", encoding="utf-8")
    report = extract(listing, tmp_path / "features", make_settings(
        "lite", stride=20, thumb_frames=4), workers=1)
    row = report.rows[0]
    assert (row["status"], row["width"], row["height"], row["group"]) == ("ok", 1920, 1080, "P001")
    assert row["frames_processed"] == 6 and row["frames_with_pose"] >= 4
    assert row["video"] == str(clip)  # outside the list's folder: the path as given
