"""Hostile and careless input across commands (issue 12): no input makes a command write outside its output
folder; output locations that cannot be written, full disks and SIGTERM give one line and a documented exit
code; nothing finished is lost."""

from __future__ import annotations

import csv
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pose_action import cli
from pose_action.errors import EXIT_INTERRUPTED, EXIT_PARTIAL, EXIT_USAGE, InputError
from pose_action.extraction.manifest import ManifestWriter, read_rows
from pose_action.synth import dataset as synth

from conftest import snapshot

REPO = Path(__file__).resolve().parents[1]


def _changed(before: dict, after: dict) -> set[str]:
    return {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}


def _videos(root: Path, seconds: float = 0.4) -> list[Path]:
    return [synth.write_clip(root / action / synth.clip_name(action, actor, 0), action, actor=actor, seed=3,
                             seconds=seconds, size=(160, 120)) for action, actor in (("Wave", 0), ("Squat", 1))]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    _videos(root)
    return root


def _one_line(capsys) -> str:
    error = capsys.readouterr().err.strip()
    assert error.splitlines() == [error], error
    return error


def test_no_input_makes_extract_or_inspect_write_outside_their_output_folder(videos, tmp_path, capsys):
    victim = tmp_path / "victim"  # files a hostile input aims at
    victim.mkdir()
    for name in ("manifest.csv", "config.json", "lock", "log", "clip.csv", "clip.npz", "report.csv"):
        (victim / name).write_text(f"precious {name}\n")
    out = tmp_path / "out"
    # Symlinks planted where extract and inspect write their files: writes must replace the link, never
    # go through it.
    planted = {"manifest.csv": "manifest.csv", "extract_config.json": "config.json", ".extract.lock": "lock",
               "extract_workers.log": "log", "landmarks/Wave/v_Wave_g01_c01.csv": "clip.csv",
               "frames/Wave/v_Wave_g01_c01.npz": "clip.npz", "inspect_report.csv": "report.csv"}
    for name, target in planted.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).symlink_to(victim / target)
    mine = [out / ".notes.tmp", out / "landmarks" / ".draft.tmp.csv"]  # a user's own hidden files: never deleted
    for path in mine:
        path.write_text("mine\n")
    # Hostile video lists: labels and names that would lead outside --out.
    hostile = [str(victim), "../victim", "../../" + victim.name, "Wave/../../victim", "..", "Wave\n..",
               "\x1b]0;owned\x07", ".extract.lock"]
    lists = []
    for number, label in enumerate(hostile):
        listing = tmp_path / f"list{number}.csv"
        with open(listing, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([["path", "label"], [str(videos / "Wave" / "v_Wave_g01_c01.mp4"), label]])
        lists.append(listing)
    before = snapshot(tmp_path)
    for listing in lists:
        assert cli.main(["extract", str(listing), "--out", str(out), "--quiet", "--workers", "1"]) == EXIT_USAGE
        error = _one_line(capsys)
        assert f"{listing}: line 2: label" in error and "\x1b" not in error and "\x07" not in error
    assert snapshot(tmp_path) == before  # refused before anything was written

    assert cli.main(["extract", str(videos), "--out", str(out), "--quiet", "--workers", "1",
                     "--thumb-frames", "4"]) == EXIT_USAGE  # the planted config is not an extraction config
    assert "extract_config.json: not a readable extraction config" in _one_line(capsys)
    assert cli.main(["extract", str(videos), "--out", str(out), "--quiet", "--workers", "1",
                     "--thumb-frames", "4", "--overwrite"]) == 0
    assert cli.main(["inspect", str(out), "--quiet"]) == 0
    changed = _changed(before, snapshot(tmp_path))
    assert changed and all(path.startswith("out/") or path == "out" for path in changed), changed
    for name in planted.values():
        assert (victim / name).read_text() == f"precious {name}\n"
    assert all(path.read_text() == "mine\n" for path in mine)
    assert not (out / "manifest.csv").is_symlink() and len(read_rows(out / "manifest.csv")) == 2


def test_hostile_manifest_keys_stay_inside_the_features_folder(tmp_path, capsys):
    from features_fixture import make_features

    features = make_features(tmp_path / "features", groups=2, clips=2, frames=12)
    manifest = pd.read_csv(features / "manifest.csv", dtype=str)
    manifest.loc[0, "key"] = "../../victim/x"
    manifest.to_csv(features / "manifest.csv", index=False)
    before = snapshot(tmp_path)
    code = cli.main(["train", str(features), "--out", str(tmp_path / "run"), "--model", "pose", "--epochs", "1",
                     "--quiet"])
    assert code == EXIT_USAGE
    assert "clip key '../../victim/x'" in _one_line(capsys)
    assert _changed(before, snapshot(tmp_path)) <= {"run"}  # at most the (empty) parent check


@pytest.mark.parametrize("args", [
    ["extract", "{videos}", "--out", "/proc/pose-action-features"],
    ["extract", "{videos}", "--out", "/sys/pose-action-features"],
    ["extract", "{videos}", "--out", "{file}"],
    ["synth", "/proc/pose-action-videos", "--classes", "Wave", "--actors", "1", "--clips", "1"],
    ["inspect", "{csv}", "--plot", "/proc/joints.png"],
    ["inspect", "{csv}", "--render", "{features}"],
    ["inspect", "{features}", "--report", "/proc/report.csv"],
    ["inspect", "{features}", "--report", "/dev/null"],
])
def test_outputs_that_cannot_be_written_are_one_line_and_exit_2(videos, tmp_path, capsys, args):
    from features_fixture import make_features

    features = make_features(tmp_path / "features", groups=1, clips=1, frames=8, no_pose_clip=False)
    afile = tmp_path / "a_file.csv"
    afile.write_text("x\n")
    csv_path = features / "landmarks" / "ArmRaise" / "v_ArmRaise_g01_c01.csv"
    filled = [arg.format(videos=videos, file=afile, features=features, csv=csv_path) for arg in args]
    assert cli.main([*filled, "--quiet"]) == EXIT_USAGE
    error = _one_line(capsys)
    assert "Traceback" not in error and any(reason in error for reason in (
        "cannot write here", "not a regular file", "exists and is not a folder", "--render writes"))
    assert Path("/dev/null").is_char_device()


def _limited(limit_bytes: int):
    """preexec_fn: files of this process (and its workers) cannot grow beyond limit_bytes, as on a full disk:
    a write past it fails with EFBIG instead of raising SIGXFSZ."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


def _command(*args: str, limit: int | None = None, env_extra: dict | None = None, **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "pose_action", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_limited(limit) if limit else None, **popen)


def test_a_full_disk_is_recorded_per_video_and_a_rerun_resumes(videos, tmp_path):
    out = tmp_path / "features"
    full = _command("extract", str(videos), "--out", str(out), "--workers", "1", "--quiet", limit=40_000)
    _, stderr = full.communicate(timeout=120)
    assert full.returncode == EXIT_PARTIAL, stderr
    assert "Traceback" not in stderr
    rows = read_rows(out / "manifest.csv")
    assert [row["status"] for row in rows] == ["failed", "failed"]
    assert all("File too large" in row["error"] and ".npz" in row["error"] for row in rows)
    assert not list(out.rglob(".*.tmp*"))  # no temp file left behind
    again = _command("extract", str(videos), "--out", str(out), "--workers", "1", "--quiet")
    _, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr
    assert [row["status"] for row in read_rows(out / "manifest.csv")] == ["ok", "ok"]


def test_manifest_on_a_full_disk_is_named(tmp_path):
    writer = ManifestWriter(tmp_path / "manifest.csv", [])
    writer._handle.close()
    writer._handle = open("/dev/full", "a", encoding="utf-8")  # a real ENOSPC on every flush
    with pytest.raises(InputError, match=f"{tmp_path / 'manifest.csv'}: No space left on device"):
        writer.append({"key": "Wave/a", "video": "a.mp4", "label": "Wave", "status": "ok"})
    writer._handle = open(tmp_path / "manifest.csv", "a", encoding="utf-8")
    writer.close()  # with room again, the final rewrite records the video (its files were all written)
    assert [row["key"] for row in read_rows(tmp_path / "manifest.csv")] == ["Wave/a"]


def test_an_interrupt_right_after_a_row_is_durable_keeps_the_row(tmp_path, monkeypatch):
    """SIGTERM landing just after a row's fsync made the final rewrite drop that row (seen as a flaky run)."""
    real_fsync = os.fsync

    def fsync_then_signal(descriptor):
        real_fsync(descriptor)
        raise KeyboardInterrupt  # the signal handler runs at the first bytecode after the fsync returns

    with pytest.raises(KeyboardInterrupt):
        with ManifestWriter(tmp_path / "manifest.csv", []) as writer:
            monkeypatch.setattr(os, "fsync", fsync_then_signal)
            writer.append({"key": "Wave/a", "video": "a.mp4", "label": "Wave", "status": "ok"})
    monkeypatch.undo()
    assert [row["key"] for row in read_rows(tmp_path / "manifest.csv")] == ["Wave/a"]


def test_sigterm_ends_extract_like_ctrl_c_and_a_rerun_resumes(tmp_path):
    root = tmp_path / "videos"
    for actor in range(4):
        synth.write_clip(root / "Wave" / synth.clip_name("Wave", actor, 0), "Wave", actor=actor, seed=1,
                         seconds=1.6, size=(160, 120))
    out = tmp_path / "features"
    process = _command("extract", str(root), "--out", str(out), "--workers", "1", "--quiet")
    deadline = time.time() + 120
    while not (out / "manifest.csv").is_file() or not read_rows(out / "manifest.csv"):
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == EXIT_INTERRUPTED, stderr
    assert stderr.strip().splitlines()[-1].endswith("interrupted; finished outputs are kept and a rerun resumes")
    done = len(read_rows(out / "manifest.csv"))
    assert 1 <= done < 4 and not list(out.rglob(".*.tmp*"))
    again = _command("extract", str(root), "--out", str(out), "--workers", "1")
    stdout, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr
    assert f"{done} of 4 videos already extracted" in stderr


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_readers_never_read_a_file_that_may_not_end(tmp_path, target):
    """`inspect /dev/zero` read until the OOM killer came; a FIFO blocked forever."""
    if target == "fifo":
        target = tmp_path / "landmarks.csv"
        os.mkfifo(target)
    process = _command("inspect", str(target))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == EXIT_USAGE and stderr.strip().endswith("not a regular file, not a landmark CSV")


def test_a_fifo_among_the_feature_files_is_named_before_training(tmp_path, capsys):
    from features_fixture import make_features

    features = make_features(tmp_path / "features", groups=2, clips=2, frames=12)
    csv_path = features / "landmarks" / "Wave" / "v_Wave_g02_c01.csv"
    csv_path.unlink()
    os.mkfifo(csv_path)
    code = cli.main(["train", str(features), "--out", str(tmp_path / "run"), "--model", "pose", "--quiet"])
    assert code == EXIT_USAGE and f"{csv_path}: not a regular file" in _one_line(capsys)


def test_an_oversized_manifest_field_is_one_line(tmp_path, capsys):
    from features_fixture import make_features

    features = make_features(tmp_path / "features", groups=1, clips=1, frames=8)
    with open(features / "manifest.csv", "a", encoding="utf-8") as handle:
        handle.write("x" * 200_000 + "\n")
    assert cli.main(["inspect", str(features), "--quiet"]) == EXIT_USAGE
    assert "manifest.csv: not a readable manifest (field larger than field limit" in _one_line(capsys)


def test_a_training_process_leaves_nothing_in_the_temp_folder(tmp_path):
    """TensorFlow writes autograph sources to $TMPDIR and deletes them in its exit handler: the command's
    quick exit must still run it (a run of `train` must not litter /tmp)."""
    from features_fixture import make_features

    features = make_features(tmp_path / "features", groups=3, clips=1, frames=12)
    temp = tmp_path / "tmp"
    temp.mkdir()
    process = _command("train", str(features), "--out", str(tmp_path / "run"), "--model", "pose", "--epochs", "1",
                       "--frames", "6", "--quiet", env_extra={"TMPDIR": str(temp)})
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr
    assert (tmp_path / "run" / "config.json").is_file() and list(temp.iterdir()) == []


def test_outputs_never_replace_their_own_inputs(tmp_path, capsys):
    """`train FEATURES --out FEATURES --overwrite` deleted the features; `--report manifest.csv` replaced it."""
    from features_fixture import make_features

    features = make_features(tmp_path / "features", groups=2, clips=1, frames=8)
    before = snapshot(tmp_path)
    csv_path = features / "landmarks" / "Wave" / "v_Wave_g01_c01.csv"
    for args, message in [
        (["train", str(features), "--out", str(features), "--overwrite", "--model", "pose"], "--out is the input"),
        (["inspect", str(features), "--report", str(features / "manifest.csv")], "would replace the extraction's"),
        (["inspect", str(features), "--report", str(csv_path)], "would replace the extraction's"),
        (["inspect", str(csv_path), "--plot", str(csv_path)], "would replace its own input"),
    ]:
        assert cli.main([*args, "--quiet"]) == EXIT_USAGE
        assert message in _one_line(capsys)
    assert snapshot(tmp_path) == before


def test_a_full_disk_during_the_final_manifest_rewrite_loses_nothing(tmp_path):
    """The rewrite at the end of extract failed with a traceback on a full disk; now it is one InputError naming
    the manifest, and every row appended while the run went on is still on disk."""
    script = f"""
import resource, signal, sys
from pose_action.errors import InputError
from pose_action.extraction.manifest import ManifestWriter
writer = ManifestWriter({str(tmp_path / 'manifest.csv')!r}, [])
for number in range(40):
    writer.append({{"key": f"Wave/clip{{number:02d}}", "video": f"Wave/clip{{number:02d}}.mp4", "label": "Wave",
                   "status": "ok", "error": "x" * 100}})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (2000, resource.RLIM_INFINITY))  # the disk is full from now on
try:
    writer.close()
except InputError as error:
    print(error)
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"{tmp_path / 'manifest.csv'}: File too large"
    assert len(read_rows(tmp_path / "manifest.csv")) == 40
    assert [path.name for path in tmp_path.iterdir()] == ["manifest.csv"]  # no temp file left
