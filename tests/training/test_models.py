"""Every model gets the same smoke test: output shape, no NaNs, save and reload, static rebuild."""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np
import pytest

from pose_action.catalog import BACKBONE_SPECS, MODEL_NAMES, input_names
from pose_action.errors import InputError
from pose_action.features import SPEED_CHANNELS, FeatureConfig, locomotion_columns
from pose_action.training import models
from pose_action.training.recipes import Recipe

FRAMES, THUMB, CLASSES, EMBEDDING = 6, 16, 3, 12
SMALL = {"lstm_units": 8, "pose_units": 8, "appearance_units": 8, "cnn_filters": [4, 8],
         "lrcn_filters": [4, 8], "convlstm_filters": [4]}


def _config(name: str, appearance: str = "thumbs") -> FeatureConfig:
    if name in ("pose", "keypoints", "motion"):
        appearance = "none"
    return FeatureConfig(frames=FRAMES, appearance=appearance, thumb_size=THUMB, motion=name == "motion",
                         pose_features="raw" if name == "keypoints" else "body",
                         backbone="mobilenet_v3_small" if appearance == "embeddings" else None)


def _inputs(config: FeatureConfig, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, FRAMES), np.float32)
    mask[0, FRAMES - 2:] = 0  # the first clip is short: its last two frames are padding
    return {"pose": rng.normal(size=(batch, FRAMES, config.pose_dim)).astype(np.float32), "mask": mask,
            "frames": rng.integers(0, 256, (batch, FRAMES, THUMB, THUMB, 3)).astype(np.uint8),
            "embeddings": rng.normal(size=(batch, FRAMES, EMBEDDING)).astype(np.float32),
            "motion": rng.gamma(1.0, 1.0, size=(batch, FRAMES, config.motion_dim)).astype(np.float32)}


CASES = [("keypoints", "none", "lstm"), ("pose", "none", "lstm"), ("pose", "none", "attention"),
         ("pose", "none", "tcn"), ("rgb", "thumbs", "lstm"), ("rgb", "embeddings", "lstm"),
         ("fusion", "thumbs", "lstm"), ("fusion", "thumbs", "attention"), ("fusion", "embeddings", "tcn"),
         ("lrcn", "thumbs", "lstm"), ("convlstm", "thumbs", "lstm"), ("motion", "none", "tcn")]


@pytest.mark.parametrize("name,appearance,head", CASES)
def test_model_smoke(name, appearance, head, tmp_path):
    config = _config(name, appearance)
    params = {**SMALL, "head": head}
    model = models.build_model(name, config, CLASSES, params, embedding_dim=EMBEDDING)
    assert sorted(model.input) == sorted(input_names(name, config.appearance))
    inputs = _inputs(config, batch=3)
    feed = {key: inputs[key] for key in input_names(name, config.appearance)}
    probabilities = np.asarray(model.predict(feed, verbose=0))
    # No training-only randomness (dropout would move outputs by far more than float noise).
    np.testing.assert_allclose(np.asarray(model(feed)), probabilities, atol=1e-6, rtol=0)
    assert probabilities.shape == (3, CLASSES)
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)

    # Padding is invisible: changing what sits in the masked frames changes nothing (the tutorial
    # baseline has no mask: it reads its zero padding like any frame, as the tutorials do).
    if "mask" in feed:
        changed = {key: value.copy() for key, value in feed.items()}
        for key in changed:
            if key != "mask":
                changed[key][0, FRAMES - 2:] = changed[key][1, :2]
        np.testing.assert_allclose(np.asarray(model.predict(changed, verbose=0)), probabilities, atol=1e-5)

    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(np.asarray(reloaded.predict(feed, verbose=0)), probabilities, atol=1e-6)

    # The TFLite form: batch 1, unrolled LSTMs, same weights, same answers.
    static = models.static_copy(model, name, config, CLASSES, params, embedding_dim=EMBEDDING)
    assert all(tensor.shape[0] == 1 for tensor in static.inputs)
    single = {key: value[:1] for key, value in feed.items()}
    np.testing.assert_allclose(np.asarray(static(single)), probabilities[:1], atol=1e-5)


def test_builders_are_exactly_the_catalogued_models():
    """catalog.MODEL_NAMES (TensorFlow-free: --help, run checks) names what BUILDERS builds, in order."""
    assert tuple(models.BUILDERS) == MODEL_NAMES


def test_models_learn_a_trivial_task():
    """A pose model separates two motions it sees: the graph is wired so gradients reach the LSTM."""
    config = _config("pose")
    recipe = Recipe(learning_rate=0.01, epochs=30)
    model = models.compile_model(models.build_model("pose", config, 2, SMALL), recipe, steps_per_epoch=5)
    rng = np.random.default_rng(0)
    pose = rng.normal(0, 0.1, size=(40, FRAMES, config.pose_dim)).astype(np.float32)
    labels = np.arange(40) % 2
    pose[labels == 1, :, :5] += np.linspace(-1, 1, FRAMES)[None, :, None]  # class 1 moves
    inputs = {"pose": pose, "mask": np.ones((40, FRAMES), np.float32)}
    keras.utils.set_random_seed(0)
    model.fit(inputs, np.eye(2)[labels], epochs=30, batch_size=8, verbose=0)
    assert (np.asarray(model.predict(inputs, verbose=0)).argmax(axis=1) == labels).mean() >= 0.95


def _pose_trainee(steps_per_epoch: int, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return models.compile_model(models.build_model("pose", _config("pose"), CLASSES, SMALL), Recipe(epochs=2),
                                steps_per_epoch)


def _fit(model: keras.Model, batch: int, seed: int) -> None:
    inputs = {k: v for k, v in _inputs(_config("pose"), batch, seed).items() if k in ("pose", "mask")}
    keras.utils.set_random_seed(seed)  # the dropout draws
    model.fit(inputs, np.eye(CLASSES, dtype=np.float32)[np.arange(batch) % CLASSES], epochs=2, batch_size=4,
              shuffle=False, verbose=0)


def test_a_restarted_trainee_trains_as_a_fresh_one():
    """restart_from (the learned mix's inner models and the final one share one traced trainee):
    after training on other clips with another schedule length, the restarted trainee ends with the
    weights a freshly built one reaches, to the bit."""
    used, fresh = models.restartable(_pose_trainee(steps_per_epoch=1, seed=5)), _pose_trainee(2, seed=0)
    start = [weights.copy() for weights in fresh.get_weights()]
    _fit(used, 4, seed=1)
    models.restart_from(used, _pose_trainee(steps_per_epoch=2, seed=0))
    _fit(fresh, 8, seed=2)
    _fit(used, 8, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), used.get_weights()))
    assert not all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), start))  # it did train


def test_bad_names_and_params_are_input_errors():
    with pytest.raises(InputError, match="unknown model"):
        models.build_model("transformer", _config("pose"), 3)
    with pytest.raises(InputError, match="unknown model params"):
        models.build_model("pose", _config("pose"), 3, {"lstm_unit": 8})
    with pytest.raises(InputError, match="head=transformer"):
        models.build_model("pose", _config("pose"), 3, {"head": "transformer"})
    with pytest.raises(InputError, match="thumbnails"):
        models.build_model("lrcn", _config("lrcn", "embeddings"), 3, embedding_dim=EMBEDDING)
    with pytest.raises(InputError, match="needs appearance"):
        models.build_model("fusion", FeatureConfig(frames=FRAMES, appearance="none"), 3)


def test_embedder_resizes_and_returns_one_vector_per_frame():
    from pose_action.extraction.embeddings import Embedder

    embedder = Embedder("mobilenet_v3_small", "none")
    frames = np.random.default_rng(0).integers(0, 256, (5, 48, 64, 3)).astype(np.uint8)
    vectors = embedder.embed(frames)
    assert vectors.shape == (5, embedder.dim) and vectors.dtype == np.float32 and embedder.dim == 576
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(embedder.embed(frames[:2]), vectors[:2], atol=1e-4)  # frozen, batch-independent
    assert embedder.embed(frames[:0]).shape == (0, 576)


def test_embedder_loads_a_local_weights_file(tmp_path):
    """The offline way to real weights (--embed-weights PATH): a .weights.h5 of the backbone, or a whole .keras
    feature extractor, gives that network's vectors, not a fresh random one's."""
    from pose_action.extraction.embeddings import Embedder

    source = Embedder("mobilenet_v3_small", "none")  # stands for ImageNet weights copied to this machine
    source.model.save_weights(tmp_path / "mobilenet.weights.h5")
    source.model.save(tmp_path / "extractor.keras")
    frames = np.random.default_rng(1).integers(0, 256, (3, 40, 40, 3)).astype(np.uint8)
    expected = source.embed(frames)

    def difference(embedder: Embedder) -> float:  # relative: a randomly initialised backbone's vectors are ~1e-10
        return float(np.abs(embedder.embed(frames) - expected).max() / np.abs(expected).max())

    assert difference(Embedder("mobilenet_v3_small", "none")) > 0.1  # another random network: other vectors
    for name in ("mobilenet.weights.h5", "extractor.keras"):
        assert difference(Embedder("mobilenet_v3_small", str(tmp_path / name))) < 1e-4, name


def test_embedder_weights_errors_say_what_to_do(tmp_path):
    from pose_action.extraction.embeddings import Embedder, keras_cache_dir

    with pytest.raises(InputError, match="not found"):
        Embedder("mobilenet_v3_small", str(tmp_path / "missing.weights.h5"))
    with pytest.raises(InputError, match="unknown backbone"):
        Embedder("resnet9000", "none")
    (tmp_path / "junk.weights.h5").write_bytes(b"not weights")
    with pytest.raises(InputError, match="junk.weights.h5"):
        Embedder("mobilenet_v3_small", str(tmp_path / "junk.weights.h5"))
    weights_file = BACKBONE_SPECS["mobilenet_v3_small"].weights_file
    if (keras_cache_dir() / weights_file).is_file():
        pytest.skip("ImageNet weights are cached here; the offline message cannot be exercised")
    try:
        embedder = Embedder("mobilenet_v3_small", "imagenet")
    except InputError as error:  # offline (as in CI): the message names the file and where it goes
        assert weights_file in str(error) and str(keras_cache_dir()) in str(error)
        assert "none" in str(error)
    else:  # online: Keras downloaded the weights
        assert embedder.dim == 576


def test_keypoints_model_is_the_tutorial_layer_list():
    """LSTM 64-128-64 (ReLU; the last returns one vector), Dense 64-32 (ReLU), softmax: nothing else."""
    model = models.build_model("keypoints", FeatureConfig(frames=30, pose_features="raw", appearance="none"), 5)
    layers = [(type(layer).__name__, getattr(layer, "units", None),
               getattr(getattr(layer, "activation", None), "__name__", None),
               getattr(layer, "return_sequences", None)) for layer in model.layers]
    assert layers == [("InputLayer", None, None, None),
                      ("LSTM", 64, "relu", True), ("LSTM", 128, "relu", True), ("LSTM", 64, "relu", False),
                      ("Dense", 64, "relu", None), ("Dense", 32, "relu", None), ("Dense", 5, "softmax", None)]
    assert model.input_shape == (None, 30, 33 * 4)  # raw x, y, z, visibility of the 33 landmarks


def test_confidence_gate_lets_a_sure_skeleton_answer_and_the_scene_decide_the_rest():
    gate = models.ConfidenceGate(power=2.0)
    fused = np.array([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1]], np.float32)
    pose_only = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], np.float32)
    mixed = np.asarray(gate(pose_only, fused, training=False))
    np.testing.assert_allclose(mixed[0], pose_only[0], atol=1e-6)  # sure: the pose answers
    np.testing.assert_allclose(mixed[1], fused[1], atol=1e-6)  # no idea (e.g. no person): the scene answers
    np.testing.assert_allclose(np.asarray(gate(pose_only, fused, training=True)), fused)  # training: the fused head


def test_confidence_gated_fusion_trains_two_heads_and_serves_one_output():
    config, params = _config("fusion"), {**SMALL, "fusion_gate": "confidence"}
    trainee = models.build_model("fusion", config, CLASSES, params, training_outputs=True)
    assert models.output_names(trainee) == ["fused", "pose_only"]
    served = models.inference_copy(trainee, "fusion", config, CLASSES, params)
    assert models.output_names(served) is None and served.output_shape == (None, CLASSES)
    inputs = {key: value for key, value in _inputs(config, 2).items() if key in ("pose", "mask", "frames")}
    heads = trainee.predict(inputs, verbose=0)
    # the served answer is the gate's mix of exactly the trained heads' answers
    gate = models.ConfidenceGate(power=float(models.DEFAULT_PARAMS["gate_power"]))
    expected = np.asarray(gate(heads["pose_only"], heads["fused"], training=False))
    np.testing.assert_allclose(served.predict(inputs, verbose=0), expected, atol=1e-5)


@pytest.mark.parametrize("motion", [False, True])
def test_learned_fusion_serves_the_stored_mix_of_its_stream_heads(motion, tmp_path):
    """fusion_gate learned: a head per stream in training; the served answer is sum_i share_i * head_i,
    and the shares survive saving and the static (TFLite) form."""
    config = FeatureConfig(frames=FRAMES, appearance="thumbs", thumb_size=THUMB, motion=motion)
    params = {**SMALL, "fusion_gate": "learned", "novelty_reads": "mix"}
    trainee = models.build_model("fusion", config, CLASSES, params, training_outputs=True)
    expected_heads = ["appearance_only", "fused", "pose_only"] + (["motion_only"] if motion else [])
    assert models.output_names(trainee) == sorted(expected_heads)
    shares = [0.7, 0.0, 0.3] if not motion else [0.5, 0.0, 0.2, 0.3]
    served = models.inference_copy(trainee, "fusion", config, CLASSES, params, mix=shares)
    names = models.mix_heads(config)
    assert names[0] == "pose_only" and names[-1] == "fused"
    feed = {key: value for key, value in _inputs(config, 3).items() if key in input_names("fusion", "thumbs", motion)}
    heads = trainee.predict(feed, verbose=0)
    expected = sum(share * heads[name] for share, name in zip(shares, names))
    probabilities = np.asarray(served.predict(feed, verbose=0))
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)

    path = tmp_path / "model.keras"
    served.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(np.asarray(reloaded.predict(feed, verbose=0)), probabilities, atol=1e-6)
    static = models.static_copy(reloaded, "fusion", config, CLASSES, params)
    np.testing.assert_allclose(np.asarray(static({key: value[:1] for key, value in feed.items()})),
                               probabilities[:1], atol=1e-5)
    with pytest.raises(ValueError, match="mix shares"):
        models.inference_copy(trainee, "fusion", config, CLASSES, params, mix=[1.0])

    # novelty_reads mix (runs saved before "pose"): novelty reads the heads the mix serves, as much as
    # it serves them: the cosine similarity of two windows' head inputs is the share-weighted mean of
    # each served head's own
    answering = models.with_head_input(reloaded)
    _, head_inputs = answering.predict(feed, verbose=0)

    def cosines(head: str) -> np.ndarray:
        layer = reloaded.get_layer(f"{'' if head == 'fused' else head + '_'}{models.HEAD_LAYER}")
        values = np.asarray(keras.Model(reloaded.input, layer.input).predict(feed, verbose=0))
        values /= np.linalg.norm(values, axis=1, keepdims=True)
        return values @ values.T

    expected_similarity = sum(share * cosines(name) for share, name in zip(shares, names))
    np.testing.assert_allclose(head_inputs @ head_inputs.T, expected_similarity, atol=1e-5)


@pytest.mark.parametrize("mix,trusted", [([0.6, 0.1, 0.3], "pose_only"), ([0.2, 0.1, 0.7], "fused")])
def test_learned_fusion_measures_novelty_in_the_head_it_trusts_most(mix, trusted, tmp_path):
    """novelty_reads top (default): the unknown score reads the input of the head with the largest
    share, after saving too; a mix that trusts the skeleton is not moved by a new look of the scene.
    Fusion runs saved before it read every served head (mix)."""
    from pose_action import runs

    config = FeatureConfig(frames=FRAMES, appearance="thumbs", thumb_size=THUMB)
    trainee = models.build_model("fusion", config, CLASSES, SMALL, training_outputs=True)
    path = tmp_path / "model.keras"
    models.inference_copy(trainee, "fusion", config, CLASSES, SMALL, mix=mix).save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    feed = {key: value for key, value in _inputs(config, 3).items() if key in ("pose", "mask", "frames")}
    answering = models.with_head_input(reloaded)
    _, head_inputs = answering.predict(feed, verbose=0)
    reads = np.asarray(keras.Model(reloaded.input, reloaded.get_layer(models.head_layer_name(trusted)).input)
                       .predict(feed, verbose=0))
    np.testing.assert_allclose(head_inputs, reads / np.linalg.norm(reads, axis=1, keepdims=True), atol=1e-5)
    _, new_scene = answering.predict({**feed, "frames": 255 - feed["frames"]}, verbose=0)
    assert np.allclose(new_scene, head_inputs, atol=1e-5) == (trusted == "pose_only")

    old = {key: value for key, value in models.DEFAULT_PARAMS.items() if key != "novelty_reads"}
    model = runs._model_config({"name": "fusion", "params": old, "inputs": ["pose", "mask", "frames"],
                                "num_classes": CLASSES}, tmp_path / "config.json")
    assert model.params["novelty_reads"] == "mix"
    with pytest.raises(InputError, match="novelty_reads=all"):
        models.build_model("fusion", config, CLASSES, {"novelty_reads": "all"})


def test_learned_fusion_converts_to_tflite_with_builtin_ops(tmp_path):
    """The served mix runs on the TensorFlow-free LiteRT runtime and answers as Keras does."""
    from pose_action.inference.backends import LiteBackend
    from pose_action.inference.export import convert, sample_windows

    config = FeatureConfig(frames=FRAMES, appearance="thumbs", thumb_size=THUMB, scene_frames=3)
    params = {**SMALL, "fusion_gate": "learned"}
    trainee = models.build_model("fusion", config, CLASSES, params, training_outputs=True)
    served = models.inference_copy(trainee, "fusion", config, CLASSES, params, mix=[0.6, 0.1, 0.3])
    path = tmp_path / "model.tflite"
    path.write_bytes(convert(models.static_copy(served, "fusion", config, CLASSES, params), "none"))
    lite = LiteBackend(path)
    batch = sample_windows(lite.input_shapes, 3)
    probabilities, head_inputs = lite.answer(batch)
    expected, expected_inputs = models.with_head_input(served).predict(batch, verbose=0)
    assert np.abs(probabilities - expected).max() <= 1e-4
    assert head_inputs is not None and np.abs(head_inputs - expected_inputs).max() <= 1e-4


def test_bad_mix_params_are_input_errors():
    with pytest.raises(InputError, match="fusion_gate=average"):
        models.build_model("fusion", _config("fusion"), 3, {"fusion_gate": "average"})
    with pytest.raises(InputError, match="mix_epochs"):
        models.build_model("fusion", _config("fusion"), 3, {"fusion_gate": "learned", "mix_epochs": 0})


@pytest.mark.parametrize("pose_head,independent", [("own", True), ("shared", False)])
def test_pose_only_head_reads_its_own_projection(pose_head, independent):
    """pose_head own: what the fused head learns cannot change the pose-only answer (it is the pose
    model); shared (runs saved before) reads the fused head's pose projection."""
    config = _config("fusion")
    trainee = models.build_model("fusion", config, CLASSES, {**SMALL, "pose_head": pose_head}, training_outputs=True)
    feed = {key: value for key, value in _inputs(config, 2).items() if key in ("pose", "mask", "frames")}
    before = trainee.predict(feed, verbose=0)["pose_only"]
    fused_projection = trainee.get_layer("pose_dense")
    fused_projection.set_weights([np.zeros_like(weight) for weight in fused_projection.get_weights()])
    after = trainee.predict(feed, verbose=0)["pose_only"]
    assert np.allclose(before, after, atol=1e-6) == independent


@pytest.mark.parametrize("second_person", [False, True])
@pytest.mark.parametrize("fused_locomotion", [True, False])
def test_the_fused_head_can_leave_speed_to_the_pose_head(fused_locomotion, second_person):
    """fused_locomotion false: the window's speed changes the pose-only answer and not the fused one."""
    config = replace(_config("fusion"), locomotion="speed", second_person=second_person)
    params = {**SMALL, "fusion_gate": "confidence", "fused_locomotion": fused_locomotion}
    trainee = models.build_model("fusion", config, CLASSES, params, training_outputs=True)
    feed = {key: value for key, value in _inputs(config, 2).items() if key in ("pose", "mask", "frames")}
    before = trainee.predict(feed, verbose=0)
    assert len(locomotion_columns(config)) == len(SPEED_CHANNELS) * (2 if second_person else 1)
    feed["pose"][..., locomotion_columns(config)] += 3.0
    after = trainee.predict(feed, verbose=0)
    assert not np.allclose(before["pose_only"], after["pose_only"], atol=1e-4)
    assert np.allclose(before["fused"], after["fused"], atol=1e-6) == (not fused_locomotion)


@pytest.mark.parametrize("params", [{"fusion_gate": "none"}, {"fusion_gate": "confidence", "pose_head": "shared"}])
def test_a_fusion_without_its_own_pose_head_reads_the_speed_in_every_head(params):
    """fused_locomotion false (the default) has no pose-only head of its own to leave the speed to: the
    early-fusion head, or the heads sharing one pose projection, read it (it is not silently dropped)."""
    config = replace(_config("fusion"), locomotion="speed")
    trainee = models.build_model("fusion", config, CLASSES, {**SMALL, **params, "fused_locomotion": False},
                                 training_outputs=True)
    feed = {key: value for key, value in _inputs(config, 2).items() if key in ("pose", "mask", "frames")}
    before = trainee.predict(feed, verbose=0)
    feed["pose"][..., locomotion_columns(config)] += 3.0
    after = trainee.predict(feed, verbose=0)
    outputs = before if isinstance(before, dict) else {"fused": before}
    for name in outputs:
        assert not np.allclose(outputs[name], after[name] if isinstance(after, dict) else after, atol=1e-4), name


def test_fusion_runs_saved_before_the_own_pose_head_still_load_as_shared(tmp_path):
    from pose_action import runs

    config = _config("fusion")
    old = {key: value for key, value in models.DEFAULT_PARAMS.items() if key != "pose_head"}
    model = runs._model_config({"name": "fusion", "params": old, "inputs": ["pose", "mask", "frames"],
                                "num_classes": CLASSES}, tmp_path / "config.json")
    assert model.params["pose_head"] == "shared"
    built = models.build_model("fusion", config, CLASSES, {**model.params, **SMALL})
    assert "pose_only_pose_dense" not in [layer.name for layer in built.layers]
    with pytest.raises(InputError, match="pose_head=both"):
        models.build_model("fusion", config, CLASSES, {"pose_head": "both"})


def test_fusion_runs_saved_with_a_time_distributed_cnn_still_export(monkeypatch):
    """Runs saved before FoldFrames wrap the thumbnail CNN in TimeDistributed: their weights reach
    today's static (TFLite) form, which answers as the saved model does."""
    config = _config("fusion")

    def time_distributed_branch(spec):
        frames = models._frames_input(spec)
        cnn = models._small_cnn(THUMB, list(spec.params["cnn_filters"]), "frame_cnn", str(spec.params["cnn"]))
        values = keras.layers.TimeDistributed(cnn, name="frame_cnn_per_frame")(frames)
        return [frames], models._project(values, spec.params["appearance_units"], 0.5, "appearance")

    with monkeypatch.context() as patch:
        patch.setattr(models, "_appearance_branch", time_distributed_branch)
        saved = models.build_model("fusion", config, CLASSES, SMALL)
    rng = np.random.default_rng(1)
    for weight in saved.weights:  # moving statistics too, so that a CNN left untrained would show
        weight.assign(rng.uniform(0.5, 1.5, size=weight.shape).astype("float32"))
    feed = {key: value[:1] for key, value in _inputs(config, 2).items() if key in ("pose", "mask", "frames")}
    static = models.static_copy(saved, "fusion", config, CLASSES, SMALL)
    assert "fold_frames" in [layer.name for layer in static.layers]
    np.testing.assert_allclose(np.asarray(static(feed)), np.asarray(saved(feed)), atol=1e-5)


def test_thumbnail_cnn_statistics_keep_the_pace_of_one_update_per_frame():
    """The CNN sees a clip's A frames as one batch (FoldFrames): its batch-norm moving statistics must
    still move as far a step as A per-frame updates would, or a short training serves a CNN whose
    statistics are mostly their starting values."""
    config = FeatureConfig(frames=FRAMES, appearance="thumbs", thumb_size=THUMB, scene_frames=3)
    model = models.build_model("rgb", config, CLASSES, SMALL)
    model.compile("sgd", "categorical_crossentropy")
    feed = {key: value for key, value in _inputs(config, 4).items() if key in ("frames", "mask")}
    feed["frames"] = feed["frames"][:, :3]
    cnn = model.get_layer("frame_cnn")
    norm = cnn.get_layer("frame_cnn_norm0")
    probe = keras.Model(cnn.input, norm.input)  # what the first batch norm sees
    batch_mean = np.asarray(probe(feed["frames"].reshape(-1, THUMB, THUMB, 3))).mean(axis=(0, 1, 2))
    model.fit(feed, np.eye(CLASSES)[[0, 1, 2, 0]], batch_size=4, epochs=1, verbose=0)
    per_step = models.FRAME_MOMENTUM ** 3  # three scene frames a clip
    np.testing.assert_allclose(norm.moving_mean.numpy(), batch_mean * (1 - per_step), rtol=1e-3, atol=1e-6)
