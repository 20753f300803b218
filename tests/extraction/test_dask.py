"""`pose-action extract --scheduler`: the per-video jobs on a Dask cluster whose workers die."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dask
import distributed  # noqa: F401  imported before dask.config.set: importing it later would drop Dask's defaults
import pandas as pd
import pytest

from pose_action.errors import EXIT_PARTIAL, InputError
from pose_action.extraction.dask import TASK_PREFIX, dask_runner, extract_on_worker
from pose_action.extraction.discovery import VideoItem
from pose_action.extraction.manifest import read_rows
from pose_action.extraction.run import extract
from pose_action.extraction.settings import make_settings
from pose_action.landmarks import read_csv
from pose_action.layout import LOCK_FILE
from pose_action.synth import dataset as synth

from conftest import CRASH_ENV


def _dataset(root: Path, clips: list[tuple[str, int, float]]) -> list[Path]:
    return [synth.write_clip(root / action / synth.clip_name(action, actor, 0), action,
                             actor=actor, seed=5, seconds=seconds, size=(160, 120))
            for action, actor, seconds in clips]


def _check_outputs(out: Path, videos: list[Path]) -> dict[str, dict]:
    """Every video has exactly one manifest row, every CSV is complete, no temp file is left."""
    rows = {row["key"]: row for row in read_rows(out / "manifest.csv")}
    keys = {f"{video.parent.name}/{video.stem}" for video in videos}
    assert set(rows) == keys
    assert len(pd.read_csv(out / "manifest.csv")) == len(videos)  # one row per video
    for key, row in rows.items():
        if row["status"] == "failed":
            assert row["error"], key
        else:
            assert row["status"] == "ok", (key, row)
            assert len(read_csv(out / "landmarks" / f"{key}.csv")) == int(row["frames_total"])
            assert (out / "frames" / f"{key}.npz").is_file()
    for csv in (out / "landmarks").rglob("*.csv"):
        read_csv(csv)
    assert not [p for p in out.rglob(".*") if p.name != LOCK_FILE]
    return rows


def _kill_worker_running(client, key_part: str, killed: list[str]) -> None:
    """SIGKILL the worker process that runs the task whose key contains key_part."""
    pids = client.run(os.getpid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for address, keys in client.processing().items():
            if any(key_part in str(key) for key in keys):
                time.sleep(0.2)  # into the video (or its imports): a worker dying mid-job
                os.kill(pids[address], signal.SIGKILL)
                killed.append(address)
                return
        time.sleep(0.02)


def test_a_local_cluster_loses_no_video_when_workers_die(tmp_path, monkeypatch, arm_worker_crash):
    settings = make_settings("lite", thumb_frames=8)
    # Phase 1: a worker is killed while it holds the long clip: Dask runs it again elsewhere.
    first = _dataset(tmp_path / "first", [("Wave", 0, 1.0), ("March", 3, 3.0), ("Punch", 4, 1.0)])
    # Phase 2: a clip crashes every worker that takes it: after allowed-failures it is `failed`.
    second = _dataset(tmp_path / "second", [("Wave", 0, 1.0), ("Clap", 1, 1.0), ("Squat", 2, 1.0)])
    arm_worker_crash("_g02_")  # the worker processes inherit it
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            dask_runner("local", workers=2) as runner:
        killed: list[str] = []
        killer = threading.Thread(target=_kill_worker_running,
                                  args=(runner.client, "March/v_March_g04", killed))
        killer.start()
        report = extract(tmp_path / "first", tmp_path / "out1", settings, workers=2,
                                 runner=runner)
        killer.join()
        assert killed, "no worker was killed"
        rows = _check_outputs(tmp_path / "out1", first)
        assert [row["status"] for row in rows.values()] == ["ok"] * 3  # the killed one redone
        assert report.exit_code == 0
        started = runner.client.run_on_scheduler(  # (task key, finish state) of every transition
            lambda dask_scheduler: [(str(key), finish) for key, start, finish, *_ in
                                    dask_scheduler.transition_log if finish == "processing"])
        assert any(key.startswith(f"{TASK_PREFIX}-Wave/v_Wave_g01_c01-") for key, _ in started)
        assert sum("March/v_March_g04" in key for key, _ in started) >= 2  # it ran again

        report = extract(tmp_path / "second", tmp_path / "out2", settings, workers=2,
                                 runner=runner)
        rows = _check_outputs(tmp_path / "out2", second)
        crashed = rows.pop("Clap/v_Clap_g02_c01")
        assert crashed["status"] == "failed"
        assert "Dask worker process died while extracting this video, 2 times" in crashed["error"]
        assert [row["status"] for row in rows.values()] == ["ok"] * 2
        assert report.exit_code == EXIT_PARTIAL
        assert not any(runner.client.run(lambda: "tensorflow" in sys.modules).values())

    monkeypatch.delenv(CRASH_ENV)  # a rerun (here without Dask) retries it only
    rerun = extract(tmp_path / "second", tmp_path / "out2", settings, workers=1)
    assert rerun.skipped == 2 and [row["status"] for row in rerun.rows] == ["ok"]


def test_the_command_runs_on_a_local_cluster_quietly(tmp_path):
    videos = _dataset(tmp_path / "videos", [("Wave", 0, 0.6), ("Squat", 1, 0.6)])
    out = tmp_path / "features"
    result = subprocess.run(
        [sys.executable, "-m", "pose_action", "extract", str(tmp_path / "videos"), "--out",
         str(out), "--scheduler", "local", "--workers", "1", "--quiet"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""  # no Dask chatter, no MediaPipe messages
    assert [row["status"] for row in _check_outputs(out, videos).values()] == ["ok", "ok"]


def test_a_worker_that_cannot_see_the_output_folder_writes_nothing(tmp_path):
    video = _dataset(tmp_path / "videos", [("Wave", 0, 0.4)])[0]
    settings = make_settings("lite", thumb_frames=4)
    elsewhere = tmp_path / "not_shared"  # no extract_config.json of this run: not the client's
    row = extract_on_worker(VideoItem(video, "Wave", "01", "Wave/v_Wave_g01_c01"),
                            str(elsewhere), settings)
    assert row["status"] == "failed" and "does not see this output folder" in row["error"]
    assert not elsewhere.exists()


def test_an_unreachable_scheduler_is_one_clear_error():
    started = time.monotonic()
    with pytest.raises(InputError, match=r"tcp://127\.0\.0\.1:9: cannot reach a Dask scheduler"):
        with dask_runner("tcp://127.0.0.1:9", timeout=1.0):
            pass
    assert time.monotonic() - started < 10
    with pytest.raises(InputError, match="not a Dask scheduler address"):
        with dask_runner("no-port-here"):
            pass
