"""The Recognizer on a tiny run trained by the real flow: same features as extraction, streaming
equals whole-video windows, the TensorFlow-free runtime, and the predict/live commands."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pose_action.cli import main
from pose_action.features import clip_features, load_clip_sequence
from pose_action.inference.predictions import UNKNOWN
from pose_action.inference.recognizer import Recognizer
from pose_action.inference.windows import window_features
from pose_action.layout import FeaturesLayout
from pose_action.video import probe, read_frames


@pytest.fixture(scope="module")
def recognizer(tiny):
    with Recognizer.load(tiny.run, "keras") as loaded:
        yield loaded


@pytest.fixture(scope="module")
def exported(tiny):
    """The tiny run with model.tflite (unquantized, from the demo's export) beside model.keras."""
    assert (tiny.run / "model.tflite").is_file()
    return tiny


def test_features_are_identical_to_extracted_ones(tiny, recognizer):
    clip = tiny.clip()
    records, info = recognizer.extract_video(clip)
    assert recognizer.window_frames(info.fps) == len(records)  # the window is a training clip's duration
    live = window_features(records, recognizer.config, fps=info.fps, width=info.width, height=info.height)
    layout, key = FeaturesLayout(tiny.features), f"{clip.parent.name}/{clip.stem}"
    extracted = clip_features(layout, key, recognizer.features,
                              load_clip_sequence(layout, key, fps=info.fps, width=info.width, height=info.height))
    assert sorted(live) == sorted(extracted) == ["frames", "mask", "pose"]
    for name in extracted:
        np.testing.assert_array_equal(live[name], extracted[name], err_msg=name)
    assert live["pose"].any() and live["frames"].any()


def test_streaming_predictions_equal_whole_video_windows(tiny, recognizer):
    fps = probe(tiny.long_video).fps
    assert recognizer.default_step(fps) == 10  # 2.5 predictions a second
    result = recognizer.predict_video(tiny.long_video, step=5)
    assert result.window_frames == round(1.6 * fps) and result.step == 5
    assert len(result.timeline) == (result.frames_read - result.window_frames) // result.step + 1
    stream = recognizer.reset(fps, step=5)
    made = []
    for index, timestamp, frame in read_frames(tiny.long_video):
        prediction = recognizer.update(frame, timestamp)
        if index < stream.window - 1:
            assert prediction is None  # warming up: no window yet
        elif prediction.frame == index:
            made.append(prediction)
    assert [p.frame for p in made] == [p.frame for p in result.timeline]
    for streamed, whole in zip(made, result.timeline):
        np.testing.assert_allclose(streamed.raw, whole.raw, atol=1e-6)
        np.testing.assert_allclose(streamed.probabilities, whole.probabilities, atol=1e-6)
        assert streamed.label == whole.label and streamed.window_start == whole.window_start
    raws = np.array([p.raw for p in result.timeline])
    np.testing.assert_allclose(result.timeline[5].probabilities, raws[3:6].mean(axis=0), atol=1e-6)  # smoothing
    np.testing.assert_allclose(result.probabilities, raws.mean(axis=0), atol=1e-6)
    # the video's label is the top class of those mean probabilities, or unknown below the run's threshold
    top = recognizer.labels[int(result.probabilities.argmax())]
    assert result.label == (top if result.probabilities.max() >= recognizer.threshold else UNKNOWN)


def test_low_confidence_reads_unknown(tiny):
    with Recognizer.load(tiny.run, "keras", threshold=1.0) as strict:
        result = strict.predict_video(tiny.clip())
    assert len(result.timeline) == 1  # a clip of one window: one prediction over all of it
    assert result.label == UNKNOWN and all(p.label == UNKNOWN for p in result.timeline)
    # unknown is only what is shown: the top class is still there to read
    assert result.top(1)[0] == (strict.labels[int(result.probabilities.argmax())], result.probabilities.max())


def test_tflite_runtime_never_imports_tensorflow_sklearn_or_pandas(exported, recognizer):
    script = textwrap.dedent(f"""
        import json, sys
        from pose_action.inference.recognizer import Recognizer
        with Recognizer.load({str(exported.run)!r}, "tflite") as recognizer:
            result = recognizer.predict_video({str(exported.long_video)!r})
        print(json.dumps({{"raw": [p.raw.tolist() for p in result.timeline], "label": result.label,
                          "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules,
                          "sklearn": "sklearn" in sys.modules, "pandas": "pandas" in sys.modules}}))
    """)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    answer = json.loads(completed.stdout.strip().splitlines()[-1])
    assert answer["tensorflow"] is False and answer["keras"] is False and answer["sklearn"] is False
    assert answer["pandas"] is False  # (0.25 s of start-up: landmark and people files import it when read)
    expected = recognizer.predict_video(exported.long_video)
    assert np.abs(np.array(answer["raw"]) - np.array([p.raw for p in expected.timeline])).max() <= 1e-4
    assert answer["label"] == expected.label


def test_predict_command_prints_top_classes_and_writes_annotated_video(exported, tmp_path, capsys):
    out = tmp_path / "annotated.mp4"
    assert main(["predict", str(exported.run), str(exported.long_video), "--out", str(out), "--top-k", "2"]) == 0
    printed = capsys.readouterr().out
    assert str(exported.long_video) in printed and "tflite" in printed
    assert sum(1 for line in printed.splitlines() if "%" in line and line.startswith("  ")) == 2
    source, annotated = probe(exported.long_video), probe(out)
    assert (annotated.width, annotated.height) == (source.width, source.height)
    assert sum(1 for _ in read_frames(out)) == sum(1 for _ in read_frames(exported.long_video))
    first_source = next(read_frames(exported.long_video))[2]
    first_annotated = next(read_frames(out))[2]
    assert np.abs(first_annotated.astype(int) - first_source.astype(int)).mean() > 1.0  # something is drawn

    assert main(["predict", str(exported.run), str(exported.long_video), "--json", "--backend", "keras"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["backend"] == "keras" and set(answer["probabilities"]) == {"JumpingJack", "Squat", "Wave"}
    assert len(answer["timeline"]) > 3 and answer["timeline"][0]["frame"] == answer["window_frames"] - 1


def test_a_video_without_anyone_in_it_is_still_predicted(exported, tmp_path, capsys):
    """No person in any frame is data, not an error: predict answers with probabilities and a timeline."""
    import cv2

    source = probe(exported.long_video)
    empty = tmp_path / "empty_room.avi"
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), source.fps, (source.width, source.height))
    background = next(read_frames(exported.long_video))[2].copy()
    background[:] = background.reshape(-1, 3).mean(axis=0).astype(np.uint8)  # the room's colour, nobody in it
    for _ in range(int(source.fps * 2)):
        writer.write(background)
    writer.release()
    with Recognizer.load(exported.run, "tflite") as recognizer:
        records, _ = recognizer.extract_video(empty)
        assert records and all(record.landmarks is None for record in records)  # MediaPipe really found no one
    assert main(["predict", str(exported.run), str(empty), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert len(answer["timeline"]) >= 1
    assert abs(sum(answer["probabilities"].values()) - 1.0) < 1e-3


def _copy_run(tiny, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(tiny.run, run)
    return run


def _edit_json(path: Path, change) -> None:
    values = json.loads(path.read_text())
    change(values)
    path.write_text(json.dumps(values))


@pytest.mark.parametrize("damage, message", [
    ("no_config", "not a complete run"),
    ("old_format", "run format"),
    ("no_model", "model.keras: missing"),
    ("more_classes", "predicts 3 classes but labels.json names 4"),
    ("other_frames", "model input 'pose' has shape"),
    ("bad_video", "cannot be opened as a video"),
])
def test_bad_input_is_one_line_and_exit_2(exported, tmp_path, capsys, damage, message):
    run = _copy_run(exported, tmp_path)
    video = exported.clip()
    (run / "model.tflite").unlink()  # the Keras path: the one every check must hold for
    if damage == "no_config":
        (run / "config.json").unlink()
    elif damage == "old_format":
        _edit_json(run / "config.json", lambda c: c.update(format="pose_action.run/0"))
    elif damage == "no_model":
        (run / "model.keras").unlink()
    elif damage == "more_classes":
        _edit_json(run / "config.json", lambda c: c["labels"].append("Extra"))
        _edit_json(run / "labels.json", lambda labels: labels.append("Extra"))
    elif damage == "other_frames":
        _edit_json(run / "config.json", lambda c: c["features"].update(frames=12))
    elif damage == "bad_video":
        video = tmp_path / "notes.mp4"
        video.write_text("not a video")
    out = tmp_path / "annotated.mp4"
    assert main(["predict", str(run), str(video), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error, error
    assert not out.exists() and not list(tmp_path.glob(".*tmp*"))


def test_live_without_camera_or_display_is_one_line_and_exit_2(exported, capsys, monkeypatch):
    assert main(["live", str(exported.run), "--camera", "9"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.splitlines() == [error] and "camera 9: cannot be opened" in error
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["live", str(exported.run), "--camera", str(exported.long_video)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.splitlines() == [error] and "no display" in error


def test_live_loop_draws_predictions_on_every_frame(exported):
    from pose_action.inference.live import open_camera, run_live

    shown = []
    with Recognizer.load(exported.run, "tflite") as recognizer:
        capture = open_camera(str(exported.long_video))  # a video file stands in for the camera
        try:
            count = run_live(recognizer, capture, lambda frame: shown.append(frame.copy()) or True)
        finally:
            capture.release()
        assert recognizer.update(shown[0], 10**9) is not None  # the stream kept its last prediction
    assert count == len(shown) == sum(1 for _ in read_frames(exported.long_video))
    assert shown[-1].shape == shown[0].shape == (240, 320, 3)


def test_embeddings_are_computed_like_extraction_and_only_for_used_frames(tiny):
    from pose_action.extraction.appearance import FrameSampler
    from pose_action.extraction.embeddings import Embedder
    from pose_action.extraction.pose import resolve_model
    from pose_action.features import FeatureConfig, build_features
    from pose_action.inference.frames import FrameExtractor
    from pose_action.inference.windows import EmbeddingCache
    from pose_action.landmarks import LandmarkSequence
    from pose_action.runs import ModelConfig, RunConfig

    features = FeatureConfig(frames=8, appearance="embeddings", backbone="mobilenet_v3_small")
    config = RunConfig(model=ModelConfig(name="fusion", params={}, inputs=("pose", "mask", "embeddings"),
                                         num_classes=2),
                       features=features, labels=("a", "b"), window={"seconds": 1.6},
                       extraction={"thumbnails": {"frames": 12}})
    embedder = Embedder("mobilenet_v3_small", "none")
    clip = tiny.clip()
    sampler = FrameSampler(12, [embedder.input_size])  # what extract does with --embed
    records = []
    with FrameExtractor(config, resolve_model("lite"), embedder.input_size) as extractor:
        for index, timestamp, frame in read_frames(clip):
            records.append(extractor.process(frame, index, timestamp))
            sampler.offer(index, frame)
    sampled = sampler.result()
    stored = embedder.embed(sampled.images[embedder.input_size]).astype(np.float16)
    sequence = LandmarkSequence.from_frames([(r.frame, r.timestamp_ms, r.landmarks) for r in records],
                                            fps=25.0, width=320, height=240)
    expected = build_features(sequence, features, appearance=(sampled.frame_index, stored))
    cache = EmbeddingCache(embedder)
    live = window_features(records, config, fps=25.0, width=320, height=240, embed=cache)
    np.testing.assert_array_equal(live["pose"], expected["pose"])
    np.testing.assert_allclose(live["embeddings"], expected["embeddings"], atol=2e-3, rtol=2e-3)
    assert 0 < len(cache.vectors) <= features.frames < len(sampled.frame_index)  # only the picked frames


def test_inference_zooms_where_its_extraction_did(shared_videos, tmp_path):
    """A far, small person: found by predict/live as extract found it (the run's config says whether
    extraction zoomed), so a run reads new video as its training clips were read."""
    import cv2

    from pose_action.extraction.pose import resolve_model
    from pose_action.extraction.run import extract
    from pose_action.extraction.settings import make_settings
    from pose_action.features import FeatureConfig
    from pose_action.inference.frames import FrameExtractor
    from pose_action.landmarks import load_sequence
    from pose_action.runs import ModelConfig, RunConfig

    video = tmp_path / "videos" / "A1" / "far_g01.avi"
    video.parent.mkdir(parents=True)
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 480))
    for _, _, frame in read_frames(shared_videos / "ud810_ps7" / "A1" / "PS7A1P1T1.avi", stride=5):
        small = cv2.resize(frame, None, fx=0.14, fy=0.14, interpolation=cv2.INTER_AREA)
        canvas = np.full_like(frame, 90)
        canvas[480 - small.shape[0] - 20:460, 40:40 + small.shape[1]] = small
        writer.write(canvas)
    writer.release()
    out = tmp_path / "features"
    extract(video.parent.parent, out, make_settings("lite", thumb_frames=4), workers=1)
    info = probe(video)
    stored = load_sequence(out / "landmarks" / "A1" / "far_g01.csv", fps=info.fps, width=640, height=480)
    assert stored.detected.sum() >= 12
    extraction = json.loads((out / "extract_config.json").read_text())
    found = {}
    for zoom in (True, False):
        if not zoom:  # a run extracted with --no-zoom --no-exposure, or before they existed
            extraction["pose"].pop("zoom"), extraction["pose"].pop("exposure")
        config = RunConfig(model=ModelConfig(name="pose", params={}, inputs=("pose", "mask"), num_classes=1),
                           features=FeatureConfig(), labels=("A1",), window={"seconds": 1.6}, extraction=extraction)
        assert config.zoom == config.exposure == zoom
        with FrameExtractor(config, resolve_model("lite"), None) as extractor:
            found[zoom] = [extractor.process(frame, index, timestamp).landmarks
                           for index, timestamp, frame in read_frames(video)]
    assert [points is not None for points in found[True]] == list(stored.detected)
    assert not any(points is not None for points in found[False])
