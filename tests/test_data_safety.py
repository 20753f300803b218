"""Never lose the user's data (issue 22): --overwrite replaces only what proves to be a run, outputs stay apart
from inputs, a failed write is never reported as success, bad configs are refused up front, a second signal
is harmless, names that clash elsewhere are refused and one odd name does not stop a batch."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pose_action import cli, runs
from pose_action.errors import EXIT_INTERRUPTED, EXIT_PARTIAL, EXIT_USAGE
from pose_action.extraction.manifest import read_rows
from pose_action.synth import dataset as synth

REPO = Path(__file__).resolve().parents[1]


def _snapshot(root: Path) -> dict[str, tuple]:
    """Every path under root with its kind, size, mtime and content hash."""
    state = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        state[str(path.relative_to(root))] = (info.st_mode, info.st_size, info.st_mtime_ns, hash(content))
    return state


def _one_line(capsys) -> str:
    error = capsys.readouterr().err.strip()
    assert error.splitlines() == [error], error
    assert "Traceback" not in error
    return error


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> Path:
    from features_fixture import make_features

    return make_features(tmp_path_factory.mktemp("data") / "features", groups=2, clips=1, frames=8)


def _videos(root: Path) -> Path:
    for action, actor in (("Wave", 0), ("Squat", 1)):
        synth.write_clip(root / action / synth.clip_name(action, actor, 0), action, actor=actor, seed=3,
                         seconds=0.4, size=(160, 120))
    return root


# ------------------------------------------------------------------ 1. --overwrite replaces only runs


def test_overwrite_never_deletes_a_folder_whose_config_json_is_not_a_run(features, tmp_path, capsys):
    """The issue's data loss: `echo '{}' > videos/config.json; train --out videos --overwrite` deleted every video."""
    pytest.importorskip("keras")
    videos = _videos(tmp_path / "videos")
    (videos / "config.json").write_text("{}\n")
    before = _snapshot(tmp_path)
    code = cli.main(["train", str(features), "--out", str(videos), "--overwrite", "--model", "pose", "--epochs", "1",
                     "--quiet"])
    assert code == EXIT_USAGE
    assert "not a run" in _one_line(capsys)
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("make", ["run_format_and_a_video", "cv_json_and_a_video", "fold_without_format",
                                  "fold_and_a_class_folder"])
def test_a_folder_proves_it_is_a_run_before_overwrite_deletes_it(tmp_path, make):
    folder = tmp_path / "out"
    run_files = {"config.json": json.dumps({"format": runs.RUN_FORMAT}), "labels.json": "[]", "model.keras": "x"}
    if make == "run_format_and_a_video":
        target = folder
        (folder / "Wave").mkdir(parents=True)
        (folder / "Wave" / "clip.mp4").write_bytes(b"video")
    elif make == "cv_json_and_a_video":
        target = folder / "fold-0"
        (folder / "cv.json").parent.mkdir(parents=True)
        (folder / "cv.json").write_text(json.dumps({"split": "logo", "folds": []}))
        (folder / "holiday.mp4").write_bytes(b"video")
    elif make == "fold_without_format":
        target = folder / "fold-0"
        run_files["config.json"] = "{}"
    else:
        target = folder / "fold-0"
        (folder / "Wave").mkdir(parents=True)
    target.mkdir(parents=True, exist_ok=True)
    for name, text in run_files.items():
        (target / name).write_text(text)
    assert runs.run_proof_problem(folder) is not None
    with pytest.raises(runs.InputError, match="--overwrite replaces only runs"):
        runs.check_new_output(folder, overwrite=True)


def test_a_real_run_and_a_cross_validation_prove_themselves(tmp_path):
    fold = tmp_path / "cv" / "fold-0"
    fold.mkdir(parents=True)
    for name, text in {"config.json": json.dumps({"format": runs.RUN_FORMAT}), "labels.json": "[]",
                       "model.keras": "x", "metrics.json": "{}", "curves.png": "x"}.items():
        (fold / name).write_text(text)
    (fold / "evaluations" / "other").mkdir(parents=True)
    assert runs.run_proof_problem(fold) is None
    assert runs.run_proof_problem(tmp_path / "cv") is None  # an interrupted --cv: resumable, replaceable
    (tmp_path / "cv" / "cv.json").write_text(json.dumps({"split": "logo", "folds": []}))
    assert runs.run_proof_problem(tmp_path / "cv") is None


def test_overwrite_still_replaces_a_run(features, tmp_path, capsys):
    pytest.importorskip("keras")
    out = tmp_path / "run"
    args = ["train", str(features), "--out", str(out), "--model", "pose", "--epochs", "1", "--frames", "6",
            "--quiet", "--param", "lstm_units=4"]
    assert cli.main(args) == 0
    first = (out / "config.json").read_text()
    assert cli.main([*args, "--overwrite", "--seed", "1"]) == 0
    assert (out / "config.json").read_text() != first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_train_out_apart_from_the_features(features, where, capsys):
    pytest.importorskip("keras")
    out = {"same": features, "inside": features / "run", "around": features.parent}[where]
    before = _snapshot(features.parent)
    for extra in ([], ["--cv", "--split", "logo"], ["--overwrite"]):
        code = cli.main(["train", str(features), "--out", str(out), "--model", "pose", "--epochs", "1", "--quiet",
                         *extra])
        assert code == EXIT_USAGE
        assert "--out" in _one_line(capsys)
    assert _snapshot(features.parent) == before


def test_train_cv_adds_folds_only_to_a_cross_validation(features, tmp_path, capsys):
    pytest.importorskip("keras")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine\n")
    code = cli.main(["train", str(features), "--out", str(notes), "--cv", "--split", "logo", "--model", "pose",
                     "--quiet"])
    assert code == EXIT_USAGE and "not a cross-validation run" in _one_line(capsys)
    assert [p.name for p in notes.iterdir()] == ["todo.txt"]


@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_extract_out_apart_from_the_videos(tmp_path, where, capsys):
    videos = _videos(tmp_path / "videos")
    out = {"same": videos, "inside": videos / "features", "around": tmp_path}[where]
    before = _snapshot(tmp_path)
    code = cli.main(["extract", str(videos), "--out", str(out), "--workers", "1", "--quiet"])
    assert code == EXIT_USAGE and "--out" in _one_line(capsys)
    assert _snapshot(tmp_path) == before


def test_a_staging_folder_is_never_named_in_an_error(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(runs.InputError) as caught:
        with runs.staged_directory(out) as staging:
            raise runs.InputError(f"{staging / 'model.keras'}: No space left on device")
    assert str(caught.value) == f"{out / 'model.keras'}: No space left on device"
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ 2. a failed write is never a success


def _limited(limit_bytes: int):
    """preexec_fn: `ulimit -f` (Python ignores SIGXFSZ, so a write past the limit fails with EFBIG)."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


def _run(*args: str, limit: int | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pose_action", *args], capture_output=True, text=True,
                          env=_env(), cwd=cwd, timeout=300, preexec_fn=_limited(limit) if limit else None)


@pytest.mark.parametrize("name, limit", [("a.mp4", 200 * 1024), ("a.avi", 20 * 1024), ("a.mkv", 20 * 1024)])
def test_predict_out_over_the_file_size_limit_is_an_error_and_leaves_nothing(tiny, tmp_path, name, limit):
    """`ulimit -f 200; predict --out a.mp4` exited 0 with "wrote a.mp4 (75 frames)" and an unplayable file."""
    done = _run("predict", str(tiny.run), str(tiny.long_video), "--out", name, "--quiet", limit=limit, cwd=tmp_path)
    assert done.returncode == EXIT_USAGE, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pose-action predict: error: {name}: "), done.stderr
    assert "could not be written whole" in lines[0] and "wrote" not in done.stderr
    assert list(tmp_path.iterdir()) == []
    again = _run("predict", str(tiny.run), str(tiny.long_video), "--out", name, "--quiet", cwd=tmp_path)
    assert again.returncode == 0 and (tmp_path / name).stat().st_size > 0, again.stderr


@pytest.mark.parametrize("output", ["skeleton.mp4", "skeleton.gif", "joints.png"])
def test_inspect_writers_over_the_file_size_limit_fail_and_leave_nothing(tiny, tmp_path, output):
    clip = next((tiny.features / "landmarks").rglob("*.csv"))
    option = "--plot" if output.endswith(".png") else "--render"
    done = _run("inspect", str(clip), option, output, "--quiet", limit=8 * 1024, cwd=tmp_path)
    assert done.returncode == EXIT_USAGE, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"pose-action inspect: error: {output}: ")
    assert list(tmp_path.iterdir()) == []


def test_an_atomic_write_whose_flush_fails_keeps_the_old_file(tmp_path, monkeypatch):
    """A write error the OS reports only on fsync (delayed allocation, NFS) must not replace the old file."""
    from pose_action import files

    target = tmp_path / "report.csv"
    target.write_text("old\n")

    def failing_fsync(descriptor):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(files.os, "fsync", failing_fsync)
    with pytest.raises(files.InputError, match=f"{target}: Input/output error"):
        files.write_text_atomic(target, "new\n")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["report.csv"]


# ------------------------------------------------------------------ 3. bad extraction configs refused up front


@pytest.mark.parametrize("edit, message", [
    (lambda text: "{not json", "extract_config.json: not a readable extraction config"),
    (lambda text: json.dumps({**json.loads(text), "sampling": "every frame"}),
     "extract_config.json: 'sampling' must be a JSON object (or null), got 'every frame'"),
    (lambda text: json.dumps({**json.loads(text), "thumbnails": {"size": 16, "frames": "64"}}),
     "extract_config.json: 'thumbnails.frames' must be a whole number >= 1, got '64'"),
    (lambda text: json.dumps({**json.loads(text), "pose": {"min_detection_confidence": "high"}}),
     "'pose.min_detection_confidence' must be between 0 and 1"),
])
def test_a_bad_extraction_config_is_refused_before_training(tmp_path, capsys, edit, message):
    """Not JSON: refused only after every epoch; wrong types: trained, then every reader refused the run."""
    pytest.importorskip("keras")
    from features_fixture import make_features

    features = make_features(tmp_path / "features", groups=2, clips=1, frames=8)
    config = features / "extract_config.json"
    config.write_text(edit(config.read_text()))
    started = time.perf_counter()
    code = cli.main(["train", str(features), "--out", str(tmp_path / "run"), "--model", "pose", "--epochs", "500",
                     "--quiet"])
    assert code == EXIT_USAGE and message in _one_line(capsys)
    assert time.perf_counter() - started < 30 and not (tmp_path / "run").exists()


# ------------------------------------------------------------------ 4. a second signal during clean-up


def test_a_second_signal_during_clean_up_is_ignored():
    """INT then TERM while the command cleaned up: "Exception ignored in ... raise KeyboardInterrupt"."""
    script = """
import os, signal, sys
from pose_action import cli

class Resource:
    def __del__(self):  # clean-up that a second signal lands in
        os.kill(os.getpid(), signal.SIGTERM)
        print("cleaned", flush=True)

with cli.sigterm_interrupts():
    try:
        held = Resource()
        os.kill(os.getpid(), signal.SIGINT)
        print("not interrupted", flush=True)
    except KeyboardInterrupt:
        del held
        print("interrupted once", flush=True)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_env(), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cleaned", "interrupted", "once"]
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr


def test_int_then_term_during_training_ends_cleanly(tmp_path):
    pytest.importorskip("keras")
    from features_fixture import make_features

    features = make_features(tmp_path / "features", groups=2, clips=2, frames=12)
    for attempt in range(3):
        out = tmp_path / f"run{attempt}"
        process = subprocess.Popen([sys.executable, "-m", "pose_action", "train", str(features), "--out", str(out),
                                    "--model", "pose", "--epochs", "400", "--frames", "6"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        seen = ""
        while "epoch" not in seen.lower():  # training has started (per-epoch progress on stderr)
            line = process.stderr.readline()
            assert line or process.poll() is None, seen
            seen += line
        process.send_signal(signal.SIGINT)
        time.sleep(0.02 * attempt)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == EXIT_INTERRUPTED, stderr
        assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
        assert stderr.strip().splitlines()[-1].startswith("pose-action train: interrupted; no run was written")
        assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------------ 5. names from other systems


def test_one_badly_named_video_fails_alone_and_the_rest_is_extracted(tmp_path):
    """A newline in one file name made `extract` refuse the whole folder (exit 2, nothing extracted)."""
    videos = _videos(tmp_path / "videos")
    good = next((videos / "Wave").glob("*.mp4"))
    (videos / "Wave" / "bad\nname.mp4").write_bytes(good.read_bytes())
    out = tmp_path / "features"
    done = _run("extract", str(videos), "--out", str(out), "--workers", "1", "--quiet")
    assert done.returncode == EXIT_PARTIAL, done.stderr
    rows = {row["key"]: row for row in read_rows(out / "manifest.csv")}
    assert rows["Wave/bad%0Aname"]["status"] == "failed"
    assert "control character" in rows["Wave/bad%0Aname"]["error"]
    assert rows["Wave/bad%0Aname"]["video"] == "Wave/bad%0Aname.mp4"
    assert sorted(row["status"] for key, row in rows.items() if key != "Wave/bad%0Aname") == ["ok", "ok"]
    assert (out / "manifest.csv").read_text().count("\n") == 4  # header + 3 rows: one line per video
    again = _run("extract", str(videos), "--out", str(out), "--workers", "1", "--quiet")
    assert again.returncode == EXIT_PARTIAL and len(read_rows(out / "manifest.csv")) == 3


def test_synth_refuses_a_class_folder_spelt_another_way(tmp_path, capsys):
    (tmp_path / "wave").mkdir()
    code = cli.main(["synth", str(tmp_path), "--classes", "Wave", "--actors", "1", "--clips", "1", "--quiet"])
    assert code == EXIT_USAGE and "differ only by case" in _one_line(capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["wave"]


def test_synth_never_writes_into_a_features_folder_or_a_run(features, capsys):
    before = _snapshot(features)
    code = cli.main(["synth", str(features), "--classes", "Wave", "--actors", "1", "--clips", "1", "--quiet"])
    assert code == EXIT_USAGE and "a features folder" in _one_line(capsys)
    assert _snapshot(features) == before


def test_a_run_among_the_videos_is_not_a_class(tmp_path):
    from pose_action.extraction.discovery import discover

    videos = _videos(tmp_path / "videos")
    (videos / "run").mkdir()
    (videos / "run" / "config.json").write_text(json.dumps({"format": runs.RUN_FORMAT}))
    (videos / "run" / "annotated.mp4").write_bytes(b"x")
    assert {item.label for item in discover(videos).items} == {"Wave", "Squat"}
