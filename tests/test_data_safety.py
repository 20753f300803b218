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
