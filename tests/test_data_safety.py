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

from conftest import snapshot

REPO = Path(__file__).resolve().parents[1]


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
    videos = _videos(tmp_path / "videos")
    (videos / "config.json").write_text("{}\n")
    before = snapshot(tmp_path)
    code = cli.main(["train", str(features), "--out", str(videos), "--overwrite", "--model", "pose", "--epochs", "1",
                     "--quiet"])
    assert code == EXIT_USAGE
    assert "not a run" in _one_line(capsys)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("make", ["run_format_and_a_video", "cv_json_and_a_video", "fold_without_format",
                                  "fold_and_a_class_folder", "run_and_a_note"])
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
    elif make == "run_and_a_note":
        target = folder
        folder.mkdir()
        (folder / "notes.txt").write_text("mine\n")
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


def test_every_file_a_trained_and_exported_run_holds_is_part_of_its_proof(tiny):
    assert runs.run_proof_problem(tiny.run) is None  # else --overwrite would refuse the runs it should replace


def test_overwrite_still_replaces_a_run(features, tmp_path, capsys):
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
    out = {"same": features, "inside": features / "run", "around": features.parent}[where]
    before = snapshot(features.parent)
    for extra in ([], ["--cv", "--split", "logo"], ["--overwrite"]):
        code = cli.main(["train", str(features), "--out", str(out), "--model", "pose", "--epochs", "1", "--quiet",
                         *extra])
        assert code == EXIT_USAGE
        assert "--out" in _one_line(capsys)
    assert snapshot(features.parent) == before


def test_train_cv_adds_folds_only_to_a_cross_validation(features, tmp_path, capsys):
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
    before = snapshot(tmp_path)
    code = cli.main(["extract", str(videos), "--out", str(out), "--workers", "1", "--quiet"])
    assert code == EXIT_USAGE and "--out" in _one_line(capsys)
    assert snapshot(tmp_path) == before


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
    # without the limit the same command writes the file (run in this process: one interpreter start fewer)
    assert cli.main(["predict", str(tiny.run), str(tiny.long_video), "--out", str(tmp_path / name), "--quiet"]) == 0
    assert (tmp_path / name).stat().st_size > 0


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
    from features_fixture import make_features

    features = make_features(tmp_path / "features", groups=2, clips=2, frames=12)
    for attempt, pause in enumerate((0.0, 0.04)):  # TERM at once, and after INT's handler has begun
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
        time.sleep(pause)
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
    assert cli.main(["extract", str(videos), "--out", str(out), "--workers", "1", "--quiet"]) == EXIT_PARTIAL
    rows = {row["key"]: row for row in read_rows(out / "manifest.csv")}
    assert rows["Wave/bad%0Aname"]["status"] == "failed"
    assert "control character" in rows["Wave/bad%0Aname"]["error"]
    assert rows["Wave/bad%0Aname"]["video"] == "Wave/bad%0Aname.mp4"
    assert sorted(row["status"] for key, row in rows.items() if key != "Wave/bad%0Aname") == ["ok", "ok"]
    assert (out / "manifest.csv").read_text().count("\n") == 4  # header + 3 rows: one line per video
    assert cli.main(["extract", str(videos), "--out", str(out), "--workers", "1", "--quiet"]) == EXIT_PARTIAL
    assert len(read_rows(out / "manifest.csv")) == 3


def test_synth_refuses_a_class_folder_spelt_another_way(tmp_path, capsys):
    (tmp_path / "wave").mkdir()
    code = cli.main(["synth", str(tmp_path), "--classes", "Wave", "--actors", "1", "--clips", "1", "--quiet"])
    assert code == EXIT_USAGE and "differ only by case" in _one_line(capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["wave"]


def test_synth_never_writes_into_a_features_folder_or_a_run(features, capsys):
    before = snapshot(features)
    code = cli.main(["synth", str(features), "--classes", "Wave", "--actors", "1", "--clips", "1", "--quiet"])
    assert code == EXIT_USAGE and "a features folder" in _one_line(capsys)
    assert snapshot(features) == before


def test_a_run_among_the_videos_is_not_a_class(tmp_path):
    from pose_action.extraction.discovery import discover

    videos = _videos(tmp_path / "videos")
    (videos / "run").mkdir()
    (videos / "run" / "config.json").write_text(json.dumps({"format": runs.RUN_FORMAT}))
    (videos / "run" / "annotated.mp4").write_bytes(b"x")
    assert {item.label for item in discover(videos).items} == {"Wave", "Squat"}


# ------------------------------------------------------------------ 6. the small ones


def _people_file(features: Path, key: str, offset: int) -> Path:
    """A people file for `key` made from its landmark CSV, its frame numbers shifted by `offset`."""
    from pose_action.landmarks import load_sequence
    from pose_action.people import people_table, write_people

    sequence = load_sequence(features / "landmarks" / f"{key}.csv", fps=25.0, width=320, height=240)
    frames = sequence.frame + offset
    table = people_table(frames, [[points] for points in sequence.data], [[0] for _ in frames])
    path = features / "people" / f"{key}.csv"
    write_people(path, table)
    return path


def test_a_people_file_of_another_clip_is_refused(tmp_path, capsys):
    from features_fixture import make_features

    features = make_features(tmp_path / "features", groups=1, clips=1, frames=8, no_pose_clip=False)
    key = "Wave/v_Wave_g01_c01"
    _people_file(features, key, offset=0)
    out = tmp_path / "renders"
    assert cli.main(["inspect", str(features), "--render-tracks", key, "--out", str(out), "--quiet"]) == 0
    path = _people_file(features, key, offset=1000)
    assert cli.main(["inspect", str(features), "--render-tracks", key, "--out", str(tmp_path / "again"),
                     "--quiet"]) == EXIT_USAGE
    error = _one_line(capsys)
    assert f"{path}: names frame 1000" in error and "belongs to another clip" in error
    assert not (tmp_path / "again").exists() or not list((tmp_path / "again").rglob("*.*"))

    from pose_action.layout import FeaturesLayout
    from pose_action.training.batches import _check_people

    with pytest.raises(runs.InputError, match="not a processed frame of .*v_Wave_g01_c01.csv"):
        _check_people(FeaturesLayout(features), key)


def test_a_split_whose_test_classes_have_no_training_clip_says_so(caplog):
    from pose_action.training.splits import Clip, make_split

    clips = [Clip(key=f"{label}/{group}", label=label, group=group) for label, group in
             [("Wave", "g1"), ("Wave", "g2"), ("Squat", "g1"), ("Squat", "g2"), ("Clap", "g2")]]
    with caplog.at_level("WARNING"):
        make_split(clips, "logo", fold=1, val_fraction=0.0)
    assert "the test clips of Clap have no training clip" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        make_split(clips, "logo", fold=0, val_fraction=0.0)
    assert "no training clip" not in caplog.text


@pytest.mark.parametrize("section, key, value, message", [
    ("features", "frames", "32", "'features.frames' must be a whole number, got '32'"),
    ("features", "thumb_size", 16.5, "'features.thumb_size' must be a whole number, got 16.5"),
    ("features", "velocities", "yes", "'features.velocities' must be true or false, got 'yes'"),
    (None, "seed", "zero", "'seed' must be a whole number or null, got 'zero'"),
])
def test_wrong_run_config_types_name_the_key(tiny, section, key, value, message):
    values = json.loads((tiny.run / "config.json").read_text())
    (values[section] if section else values)[key] = value
    with pytest.raises(runs.InputError) as error:
        runs.RunConfig.from_dict(values, "config.json")
    assert str(error.value) == f"config.json: {message}"


@pytest.mark.parametrize("param, message", [
    ("lstm_units=abc", '--param lstm_units="abc": expected a whole number like 64'),
    ('dropout="x"', '--param dropout="x": expected a number like 0.3'),
    ("cnn_filters=4", "--param cnn_filters=4: expected a list of whole numbers like [16, 32, 64]"),
])
def test_wrong_param_types_name_the_param(features, tmp_path, capsys, param, message):
    code = cli.main(["train", str(features), "--out", str(tmp_path / "run"), "--model", "pose", "--quiet",
                     "--param", param])
    assert code == EXIT_USAGE and _one_line(capsys).endswith(message)


def test_live_with_a_stream_that_does_not_open_says_what_camera_reads(tiny, capsys, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")  # the display is checked later; the camera is what fails here
    code = cli.main(["live", str(tiny.run), "--camera", "http://127.0.0.1:9/stream"])
    error = _one_line(capsys)
    assert code == EXIT_USAGE and "no camera found" not in error
    assert "this stream cannot be opened" in error and "a camera number (0, 1, ...)" in error


def test_an_interrupted_predict_promises_no_resume(tiny, capsys, monkeypatch):
    from pose_action.commands import predict

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(predict, "run", interrupted)
    assert cli.main(["predict", str(tiny.run), str(tiny.clip())]) == EXIT_INTERRUPTED
    error = _one_line(capsys)
    assert error == "pose-action predict: interrupted; nothing was written" and "resume" not in error


def test_predict_shows_progress_on_a_terminal(tiny, tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 wide
    process = subprocess.Popen([sys.executable, "-m", "pose_action", "predict", str(tiny.run), str(tiny.long_video)],
                               stdout=subprocess.PIPE, stderr=follower, env=_env())
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        output += chunk
    process.communicate(timeout=120)
    os.close(leader)
    assert process.returncode == 0
    assert b"predict:" in output and b"frame" in output  # tqdm's bar: "predict: 100%|...| 75/75 [..., frame/s]"


@pytest.mark.parametrize("command", ["evaluate_into_run", "evaluate_into_features", "predict_into_run",
                                     "tracks_into_features"])
def test_file_outputs_never_go_into_what_is_read(tiny, tmp_path, capsys, command):
    before = snapshot(tiny.base)
    args = {
        "evaluate_into_run": ["evaluate", str(tiny.run), "--out", str(tiny.run)],
        "evaluate_into_features": ["evaluate", str(tiny.run), "--out", str(tiny.features / "reports")],
        "predict_into_run": ["predict", str(tiny.run), str(tiny.clip()), "--out", str(tiny.run / "a.mp4")],
        "tracks_into_features": ["inspect", str(tiny.features), "--render-tracks", "Wave/x", "--out",
                                 str(tiny.features)],
    }[command]
    assert cli.main([*args, "--quiet"]) == EXIT_USAGE
    assert "--out" in _one_line(capsys)
    assert snapshot(tiny.base) == before
