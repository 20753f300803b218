"""scripts/benchmark_real.py end to end: a tiny features folder, and a few real clips when ../shared/videos is there."""

from __future__ import annotations

import importlib.util
import logging

import pandas as pd
import pytest

from pose_action.files import read_json

from conftest import REPO
from features_fixture import make_features

COLUMNS = ["model", "accuracy_all", "macro_f1_all", "accuracy_mean", "accuracy_std", "clips_all", "clips_predicted",
           "train_seconds"]
# after `--`: options of `pose-action train`, as small as the models go
TINY_TRAIN = ["--", "--frames", "6", "--batch-size", "8", "--param", "lstm_units=8", "--param", "pose_units=8",
              "--param", "appearance_units=8", "--param", "cnn_filters=[4,8]"]


@pytest.fixture(scope="module")
def benchmark_real():
    spec = importlib.util.spec_from_file_location("benchmark_real", REPO / "scripts" / "benchmark_real.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench(benchmark_real, tmp_path_factory) -> dict:
    """One benchmark of pose, lrcn and the default fusion (learned head mix) on one fold of a tiny features
    folder (3 groups x 4 classes, 1 clip each, and a no_pose clip in group 01), with a conditions.csv
    that marks group 01's clips dark: what it wrote and printed."""
    import contextlib
    import io

    base = tmp_path_factory.mktemp("bench")
    features = make_features(base / "features", groups=3, clips=1, frames=20, thumb_size=16)
    keys = sorted(pd.read_csv(features / "manifest.csv")["key"])
    dark = [key for key in keys if "_g01_" in key]  # the trained fold's test clips, the one without a person too
    conditions = base / "conditions.csv"
    conditions.write_text("clip,far,dark\n" + "".join(f"{key},0,{int(key in dark)}\n" for key in keys))
    argv = ["--features", str(features), "--out", str(base / "bench"), "--models", "pose,lrcn,fusion", "--epochs",
            "1", "--max-folds", "1", "--conditions", str(conditions), *TINY_TRAIN]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert benchmark_real.main(argv) == 0
    return {"out": base / "bench", "argv": argv, "printed": printed.getvalue(), "keys": keys, "dark": dark,
            "conditions": conditions, "features": features}


def test_every_model_on_the_same_folds_scored_over_every_clip(benchmark_real, bench, capsys, caplog):
    out = bench["out"]
    results = pd.read_csv(out / "results.csv")
    assert list(results.columns) == COLUMNS and list(results["model"]) == ["pose", "lrcn", "fusion"]
    assert set(results["clips_all"]) == {4 * 3 + 1}  # every decoded clip, the no_pose one too
    # the test clips of the one fold trained (group 01), the clip without a person among them
    assert set(results["clips_predicted"]) == {5}
    assert (results["accuracy_all"] <= 5 / 13 + 1e-4).all() and (results["train_seconds"] > 0).all()
    for model in ("pose", "lrcn", "fusion"):  # the same fold for every model
        run = out / "runs" / model
        assert [p.name for p in run.glob("fold-*")] == ["fold-0"]
        assert read_json(run / "cv.json")["folds"][0]["test_groups"] == ["01"]
    table = (out / "results.md").read_text()
    assert "| pose | " in table and "| lrcn | " in table and "| fusion | " in table and "5 / 13" in table
    assert "python scripts/benchmark_real.py --features" in table and "cnn_filters=[4,8]" in table
    assert "| pose | " in bench["printed"]

    # a rerun resumes: nothing is trained again, the same numbers come out
    with caplog.at_level(logging.INFO):
        assert benchmark_real.main(bench["argv"]) == 0
    assert caplog.text.count("already trained") == 3
    assert pd.read_csv(out / "results.csv").equals(results)
    capsys.readouterr()


def test_accuracy_by_condition_counts_each_clip_under_its_conditions(benchmark_real, bench, tmp_path, capsys):
    """--conditions (synth's conditions.csv): per model and condition, clips and right answers; none and no_pose too."""
    out, keys, dark = bench["out"], bench["keys"], bench["dark"]
    rows = pd.read_csv(out / "results_by_condition.csv")
    assert sorted(set(rows["model"])) == ["fusion", "lrcn", "pose"]
    table = rows[rows["model"] == "pose"].set_index("condition")
    no_pose = [key for key in keys if key.endswith("c99")]
    assert list(table.index) == ["far", "dark", "none", "no_pose"]
    assert table.loc["far", "clips"] == 0 and table.loc["dark", "clips"] == len(dark)
    assert table.loc["none", "clips"] == len(keys) - len(dark) and table.loc["no_pose", "clips"] == len(no_pose) == 1
    predictions = {item["key"]: item for path in (out / "runs" / "pose").glob("fold-*/metrics.json")
                   for item in read_json(path)["predictions"]}
    right = sum(predictions[key]["predicted"] == predictions[key]["label"] for key in dark)
    assert table.loc["dark", "correct"] == right
    assert "Accuracy by condition" in (out / "results.md").read_text()
    assert f"dark ({len(dark)})" in bench["printed"]

    conditions = tmp_path / "conditions.csv"
    conditions.write_text("clip,far\nA/b,maybe\n")  # a broken CSV is one line before any training
    again = ["--features", str(bench["features"]), "--out", str(tmp_path / "b2"), "--models", "pose",
             "--conditions", str(conditions)]
    assert benchmark_real.main(again) == 2
    error = capsys.readouterr().err.strip()
    assert error.splitlines() == [error] and "conditions.csv" in error and not (tmp_path / "b2" / "runs").exists()


def test_each_head_of_a_fusion_is_pooled_beside_the_model(bench):
    """results_heads.csv: every recorded head (and the confidence gate's mix of two) over the same clips as the
    served model; the served answer of fusion_gate learned is the stored mix, so its row matches none or one head."""
    out = bench["out"]
    heads = pd.read_csv(out / "results_heads.csv").set_index("model")
    assert list(heads.index) == ["fusion:pose_only", "fusion:appearance_only", "fusion:fused",
                                 "fusion:confidence_gate"]
    assert set(heads["clips_all"]) == {13} and set(heads["clips_predicted"]) == {5}
    metrics = read_json(out / "runs" / "fusion" / "fold-0" / "metrics.json")
    assert metrics["head_mix"]["folds"] == 2  # the default fusion: its head mix learned on inner folds
    right = sum(item["label"] == item["predicted"] for item in metrics["predictions"])
    results = pd.read_csv(out / "results.csv").set_index("model")
    assert results.loc["fusion", "accuracy_all"] == pytest.approx(right / 13, abs=1e-4)
    if metrics["head_mix"]["weights"][0] == 1.0:  # all on the pose head: the served answer is the pose head's
        assert heads.loc["fusion:pose_only", "accuracy_all"] == pytest.approx(right / 13, abs=1e-4)
    assert "fusion:confidence_gate" in (out / "results.md").read_text()


def test_hist_is_the_classical_scene_baseline_on_the_same_folds(benchmark_real, tmp_path, capsys):
    """--models hist: thumbnail histograms + logistic regression, no training of a network, every fold; the
    fixture's scene colours tell 3 of its 4 classes apart, so it is far above chance but not perfect."""
    features = make_features(tmp_path / "features", groups=3, clips=2, frames=20, thumb_size=16)
    out = tmp_path / "bench"
    assert benchmark_real.main(["--features", str(features), "--out", str(out), "--models", "hist"]) == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["model"] == "hist" and row["clips_all"] == row["clips_predicted"] == 4 * 3 * 2 + 1
    assert 0.5 <= row["accuracy_all"] < 1.0
    assert [p.parent.name for p in sorted((out / "runs" / "hist").glob("fold-*/metrics.json"))] == [
        "fold-0", "fold-1", "fold-2"]
    assert "| hist | " in capsys.readouterr().out


def test_thumbnail_descriptor_sees_colour_layout_and_change():
    import numpy as np

    from pose_action.errors import InputError
    from pose_action.extraction.appearance import thumbnail_descriptor

    red = np.zeros((4, 16, 16, 3), np.uint8)
    red[..., 0] = 220
    blue = red[..., ::-1].copy()
    assert np.abs(thumbnail_descriptor(red) - thumbnail_descriptor(blue)).sum() > 1.0
    moving = red.copy()
    for index in range(4):
        moving[index, :, index * 4:index * 4 + 4] = 0  # a dark bar sweeps across
    assert thumbnail_descriptor(moving)[-17] > thumbnail_descriptor(red)[-17] == 0.0  # frame change
    with pytest.raises(InputError, match="thumbnails"):
        thumbnail_descriptor(np.zeros((0, 16, 16, 3), np.uint8))


def test_unknown_model_is_one_error_line(benchmark_real, tmp_path, capsys):
    code = benchmark_real.main(["--features", str(tmp_path), "--out", str(tmp_path / "b"), "--models", "pose,nope"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.splitlines() == [error] and "unknown model 'nope'" in error
    assert not (tmp_path / "b").exists()


def test_real_clips_are_extracted_once_and_grouped_by_person(benchmark_real, shared_videos, tmp_path, capsys):
    """Four ud810_ps7 clips (two people, two gestures) from a video list: extraction, groups P(\\d+)T, one fold."""
    folder = shared_videos / "ud810_ps7"
    clips = [folder / label / f"PS7{label}P{person}T1.avi" for label in ("A1", "A2") for person in (1, 2)]
    listing = tmp_path / "clips.csv"
    listing.write_text("path,label\n" + "".join(f"{path},{path.parent.name}\n" for path in clips))
    out = tmp_path / "bench"
    assert benchmark_real.main([str(listing), "--group-pattern", r"P(\d+)T", "--out", str(out), "--models", "pose",
                                "--epochs", "1", "--max-folds", "1", "--workers", "1", *TINY_TRAIN]) == 0
    manifest = pd.read_csv(out / "features" / "manifest.csv", dtype={"group": str})
    assert sorted(manifest["group"]) == ["1", "1", "2", "2"]
    results = pd.read_csv(out / "results.csv")
    assert (results.loc[0, "clips_all"], results.loc[0, "clips_predicted"]) == (4, 2)
    assert "| pose | " in capsys.readouterr().out
