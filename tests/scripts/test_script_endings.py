"""Every benchmark script ends as a command does: one line for bad input (exit 2) or Ctrl-C (130), no traceback."""

from __future__ import annotations

import importlib.util

import pytest

from pose_action.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, InputError, run_script

from conftest import REPO


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_script_prints_the_result_or_one_line(capsys):
    assert run_script("demo.py", lambda: "the table") == EXIT_OK
    assert capsys.readouterr().out == "the table\n"

    def bad() -> None:
        raise InputError("x/features: no manifest.csv\nsecond line")

    assert run_script("demo.py", bad) == EXIT_USAGE
    assert capsys.readouterr().err == "demo.py: error: x/features: no manifest.csv second line\n"

    def interrupted() -> None:
        raise KeyboardInterrupt

    assert run_script("demo.py", interrupted, "interrupted; finished folds are kept") == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "demo.py: interrupted; finished folds are kept\n"


@pytest.mark.parametrize("name", ["benchmark_real", "benchmark_open_set"])
def test_a_missing_features_folder_is_one_line(name, tmp_path, capsys):
    models = ["--models", "pose"] if name == "benchmark_real" else []
    code = _script(name).main(["--features", str(tmp_path / "missing"), "--out", str(tmp_path / "out"), *models])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and err.count("\n") == 1 and "missing" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_person_thumbnails_names_a_missing_features_folder_and_writes_nothing(tmp_path, capsys):
    code = _script("person_thumbnails").main([str(tmp_path / "missing"), str(tmp_path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and err.count("\n") == 1 and "missing" in err and "manifest.csv" in err
    assert not (tmp_path / "out").exists()


def test_person_thumbnails_leaves_nothing_after_a_missing_video_and_a_rerun_completes(tmp_path, capsys):
    import cv2
    import numpy as np
    import pandas as pd

    from features_fixture import make_features

    features = make_features(tmp_path / "features", groups=1, clips=1, no_pose_clip=False)
    videos = pd.read_csv(features / "manifest.csv")["video"].tolist()

    def write_video(relative: str) -> None:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (320, 240))
        for index in range(40):
            writer.write(np.full((240, 320, 3), index * 5, np.uint8))
        writer.release()

    write_video(videos[0])  # the first clip is done before the second's video is found missing
    out = tmp_path / "person"
    script = _script("person_thumbnails")
    assert script.main([str(features), str(tmp_path), "--out", str(out)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and videos[1].split("/")[-1] in err
    assert not out.exists() and not [entry for entry in tmp_path.iterdir() if entry.name.startswith(".person")]
    for relative in videos[1:]:
        write_video(relative)
    assert script.main([str(features), str(tmp_path), "--out", str(out)]) == EXIT_OK
    assert (out / "manifest.csv").is_file() and len(list((out / "frames").rglob("*.npz"))) == len(videos)
