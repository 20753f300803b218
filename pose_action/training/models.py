"""Sequence models, built by name: pose | rgb | fusion | lrcn | convlstm (the names in pose_action.catalog).

Every model takes named inputs that match `features.build_features` keys and uses the subset
it needs: "pose" (T, P) float32, "mask" (T,) float32 (1 = real frame, 0 = padding),
"frames" (T, S, S, 3) uint8 (rescaled inside the model) and "embeddings" (T, D) float32.

Masking does not use Keras' implicit `mask=` machinery: that path does not survive TFLite
conversion well and hides what happens. Instead the per-frame vectors are multiplied by the
mask and the mask is fed as one more channel; the LSTM returns every step and a masked mean
pools only real frames. `sample_indices` pads only at the END of a window, so a
unidirectional LSTM's outputs at real frames never see padding: the pooling is exact.

Any model can be rebuilt with `batch_size=1` (fully static shapes), which is what the
TFLite converter needs for LSTMs; `static_copy` does that and copies the weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
from keras import layers, ops

from pose_action.catalog import MODEL_NAMES
from pose_action.errors import InputError
from pose_action.features import FeatureConfig


# Defaults are small on purpose: training runs on 2 CPU cores.
DEFAULT_PARAMS: dict[str, object] = {
    "lstm_units": 64,  # per LSTM layer
    "lstm_layers": 1,
    "dropout": 0.3,  # before the classifier and after per-frame projections
    "pose_units": 64,  # per-frame projection of the pose vector
    "appearance_units": 32,  # per-frame projection of the appearance vector
    "appearance_dropout": 0.5,  # appearance overfits to the training actors' looks first
    "modality_dropout": 0.5,  # fusion: share of training clips whose appearance is hidden entirely
    "cnn_filters": [16, 32, 64],  # small thumbnail CNN (rgb/fusion with thumbs)
    "lrcn_filters": [16, 32, 64, 64],  # the classic LRCN frame CNN
    "convlstm_filters": [8, 16],  # ConvLSTM2D stack
    "convlstm_downsample": 2,  # average-pool thumbnails by this factor before ConvLSTM2D
    "learning_rate": 3e-3,
}


@keras.saving.register_keras_serializable(package="pose_action")
class MaskFrames(layers.Layer):
    """(B, T, F) x (B, T) -> (B, T, F + 1): zero the masked frames and append the mask as a channel."""

    def call(self, values, mask_values):
        weights = ops.expand_dims(ops.cast(mask_values, values.dtype), -1)
        return ops.concatenate([values * weights, weights], axis=-1)

    def compute_output_shape(self, values_shape, mask_values_shape):
        return (*values_shape[:-1], values_shape[-1] + 1)


@keras.saving.register_keras_serializable(package="pose_action")
class MaskedMean(layers.Layer):
    """(B, T, F) x (B, T) -> (B, F): mean over the real frames only (all-masked -> zeros)."""

    def call(self, values, mask_values):
        weights = ops.expand_dims(ops.cast(mask_values, values.dtype), -1)
        total = ops.sum(values * weights, axis=1)
        count = ops.maximum(ops.sum(weights, axis=1), 1.0)
        return total / count

    def compute_output_shape(self, values_shape, mask_values_shape):
        return (values_shape[0], values_shape[-1])


@dataclass(frozen=True)
class ModelSpec:
    """What a builder gets: input shapes from the feature config, sizes from params."""

    feature_config: FeatureConfig
    num_classes: int
    params: dict
    batch_size: int | None
    embedding_dim: int | None
    unroll: bool = False  # unrolled LSTMs: no while loop, so TFLite needs only builtin ops


def resolve_params(params: dict | None) -> dict:
    """Defaults overlaid with the given params; unknown names are an error (typos stay visible)."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULT_PARAMS))
    if unknown:
        raise InputError(f"unknown model params {unknown}; known: {sorted(DEFAULT_PARAMS)}")
    return {**DEFAULT_PARAMS, **params}


def _input(spec: ModelSpec, name: str, shape: tuple, dtype: str = "float32") -> keras.KerasTensor:
    return keras.Input(shape=shape, batch_size=spec.batch_size, name=name, dtype=dtype)


def _pose_and_mask(spec: ModelSpec) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    frames = spec.feature_config.frames
    return _input(spec, "pose", (frames, spec.feature_config.pose_dim)), _input(spec, "mask", (frames,))


def _mask_input(spec: ModelSpec) -> keras.KerasTensor:
    return _input(spec, "mask", (spec.feature_config.frames,))


def _frames_input(spec: ModelSpec) -> keras.KerasTensor:
    size = spec.feature_config.thumb_size
    return _input(spec, "frames", (spec.feature_config.frames, size, size, 3), dtype="uint8")


def _project(values: keras.KerasTensor, units: int, dropout: float, name: str) -> keras.KerasTensor:
    """Per-frame Dense (applied on the last axis of (B, T, F)) + dropout."""
    values = layers.Dense(units, activation="relu", name=f"{name}_dense")(values)
    return layers.Dropout(dropout, name=f"{name}_dropout")(values)


def _small_cnn(size: int, filters: list[int], name: str) -> keras.Model:
    """Thumbnail -> vector: strided conv + batch norm, global average pooling (trained end to end)."""
    image = keras.Input(shape=(size, size, 3), dtype="uint8", name=f"{name}_image")
    values = layers.Rescaling(1.0 / 255.0, name=f"{name}_rescale")(image)
    for index, count in enumerate(filters):
        values = layers.Conv2D(count, 3, strides=2, padding="same", use_bias=False, name=f"{name}_conv{index}")(values)
        values = layers.BatchNormalization(name=f"{name}_norm{index}")(values)
        values = layers.Activation("relu", name=f"{name}_relu{index}")(values)
    values = layers.GlobalAveragePooling2D(name=f"{name}_pool")(values)
    return keras.Model(image, values, name=name)


def _appearance_branch(spec: ModelSpec) -> tuple[list[keras.KerasTensor], keras.KerasTensor]:
    """The appearance inputs and a (B, T, appearance_units) per-frame vector."""
    params, config = spec.params, spec.feature_config
    if config.appearance == "thumbs":
        frames = _frames_input(spec)
        cnn = _small_cnn(config.thumb_size, list(params["cnn_filters"]), "frame_cnn")
        values = layers.TimeDistributed(cnn, name="frame_cnn_per_frame")(frames)
        return [frames], _project(values, params["appearance_units"], params["appearance_dropout"], "appearance")
    if config.appearance == "embeddings":
        if not spec.embedding_dim:
            raise InputError("appearance 'embeddings' needs the embedding size (params from the features)")
        embeddings = _input(spec, "embeddings", (config.frames, spec.embedding_dim))
        values = layers.Dropout(params["appearance_dropout"], name="embeddings_dropout")(embeddings)
        return [embeddings], _project(values, params["appearance_units"], params["appearance_dropout"], "appearance")
    raise InputError(f"this model needs appearance (thumbs or embeddings), got {config.appearance!r}")


def _sequence_head(per_frame: keras.KerasTensor, mask: keras.KerasTensor, spec: ModelSpec) -> keras.KerasTensor:
    """Masked per-frame vectors -> LSTM(s) -> masked mean -> dropout -> softmax."""
    params = spec.params
    values = MaskFrames(name="mask_frames")(per_frame, mask)
    for index in range(int(params["lstm_layers"])):
        values = layers.LSTM(int(params["lstm_units"]), return_sequences=True, unroll=spec.unroll,
                             name=f"lstm{index}")(values)
    values = MaskedMean(name="masked_mean")(values, mask)
    values = layers.Dropout(params["dropout"], name="head_dropout")(values)
    return layers.Dense(spec.num_classes, activation="softmax", name="probabilities")(values)


def build_pose_model(spec: ModelSpec) -> keras.Model:
    """Skeleton motion only: cannot tell apart two classes with the same motion in different scenes."""
    pose, mask = _pose_and_mask(spec)
    per_frame = _project(pose, spec.params["pose_units"], spec.params["dropout"], "pose")
    return keras.Model({"pose": pose, "mask": mask}, _sequence_head(per_frame, mask, spec), name="pose")


def build_rgb_model(spec: ModelSpec) -> keras.Model:
    """Appearance only (thumbnail CNN or frozen embeddings): blind to motion-only differences."""
    mask = _mask_input(spec)
    appearance_inputs, per_frame = _appearance_branch(spec)
    inputs = {tensor.name: tensor for tensor in appearance_inputs} | {"mask": mask}
    return keras.Model(inputs, _sequence_head(per_frame, mask, spec), name="rgb")


def build_fusion_model(spec: ModelSpec) -> keras.Model:
    """The main model: per-frame [pose vector, appearance vector] -> LSTM -> softmax."""
    pose, mask = _pose_and_mask(spec)
    pose_vector = _project(pose, spec.params["pose_units"], spec.params["dropout"], "pose")
    appearance_inputs, appearance_vector = _appearance_branch(spec)
    if spec.params["modality_dropout"] > 0:
        # Whole clips train without appearance now and then, so the pose branch cannot lean on
        # the training actors' looks (which do not carry over to new actors).
        appearance_vector = layers.Dropout(spec.params["modality_dropout"], noise_shape=(None, 1, 1),
                                           name="modality_dropout")(appearance_vector)
    per_frame = layers.Concatenate(name="fuse")([pose_vector, appearance_vector])
    inputs = {"pose": pose, "mask": mask} | {tensor.name: tensor for tensor in appearance_inputs}
    return keras.Model(inputs, _sequence_head(per_frame, mask, spec), name="fusion")


def _need_thumbs(spec: ModelSpec, name: str) -> None:
    if spec.feature_config.appearance != "thumbs":
        raise InputError(f"model {name!r} reads thumbnails; use --appearance thumbs "
                         f"(got {spec.feature_config.appearance!r})")


def build_lrcn_model(spec: ModelSpec) -> keras.Model:
    """The LRCN of the video-classification tutorials: TimeDistributed conv/pool stack + LSTM."""
    _need_thumbs(spec, "lrcn")
    size, params = spec.feature_config.thumb_size, spec.params
    frames, mask = _frames_input(spec), _mask_input(spec)
    image = keras.Input(shape=(size, size, 3), dtype="uint8", name="lrcn_image")
    values = layers.Rescaling(1.0 / 255.0)(image)
    for index, count in enumerate(params["lrcn_filters"]):
        values = layers.Conv2D(count, 3, padding="same", activation="relu", name=f"lrcn_conv{index}")(values)
        pool = 4 if index < 2 and values.shape[1] >= 16 else 2
        if values.shape[1] >= pool:
            values = layers.MaxPooling2D(pool, name=f"lrcn_pool{index}")(values)
        values = layers.Dropout(params["dropout"] / 2, name=f"lrcn_dropout{index}")(values)
    values = layers.Flatten(name="lrcn_flatten")(values)
    cnn = keras.Model(image, values, name="lrcn_cnn")
    per_frame = layers.TimeDistributed(cnn, name="lrcn_per_frame")(frames)
    return keras.Model({"frames": frames, "mask": mask}, _sequence_head(per_frame, mask, spec), name="lrcn")


def build_convlstm_model(spec: ModelSpec) -> keras.Model:
    """A ConvLSTM2D stack on (downsampled) thumbnails; spatial pooling, masked mean over time."""
    _need_thumbs(spec, "convlstm")
    params = spec.params
    frames, mask = _frames_input(spec), _mask_input(spec)
    values = layers.Rescaling(1.0 / 255.0, name="rescale")(frames)
    factor = int(params["convlstm_downsample"])
    if factor > 1:
        # 2D pooling per frame (not AveragePooling3D): 3D pooling has no TFLite builtin
        values = layers.TimeDistributed(layers.AveragePooling2D(factor), name="downsample")(values)
    for index, count in enumerate(params["convlstm_filters"]):
        values = layers.ConvLSTM2D(count, 3, padding="same", return_sequences=True, unroll=spec.unroll,
                                   name=f"convlstm{index}")(values)
        values = layers.TimeDistributed(layers.MaxPooling2D(2), name=f"convlstm_pool{index}")(values)
    values = layers.TimeDistributed(layers.GlobalAveragePooling2D(), name="spatial_pool")(values)
    values = MaskedMean(name="masked_mean")(values, mask)
    values = layers.Dropout(params["dropout"], name="head_dropout")(values)
    outputs = layers.Dense(spec.num_classes, activation="softmax", name="probabilities")(values)
    return keras.Model({"frames": frames, "mask": mask}, outputs, name="convlstm")


BUILDERS: dict[str, Callable[[ModelSpec], keras.Model]] = {
    "pose": build_pose_model,
    "rgb": build_rgb_model,
    "fusion": build_fusion_model,
    "lrcn": build_lrcn_model,
    "convlstm": build_convlstm_model,
}


def build_model(name: str, feature_config: FeatureConfig, num_classes: int, params: dict | None = None, *,
                batch_size: int | None = None, embedding_dim: int | None = None,
                unroll: bool = False) -> keras.Model:
    """The named model, uncompiled. `batch_size=1, unroll=True` is the form TFLite converts."""
    if name not in BUILDERS:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    if num_classes < 2:
        raise InputError(f"a classifier needs at least 2 classes, got {num_classes}")
    spec = ModelSpec(feature_config=feature_config, num_classes=num_classes, params=resolve_params(params),
                     batch_size=batch_size, embedding_dim=embedding_dim, unroll=unroll)
    return BUILDERS[name](spec)


def compile_model(model: keras.Model, params: dict | None = None) -> keras.Model:
    """Adam + sparse categorical cross-entropy; labels are class indices into labels.json."""
    learning_rate = float(resolve_params(params)["learning_rate"])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def static_copy(model: keras.Model, name: str, feature_config: FeatureConfig, num_classes: int,
                params: dict | None = None, *, embedding_dim: int | None = None) -> keras.Model:
    """The same model and weights with batch size 1 and unrolled LSTMs: the form TFLite converts.

    Keras LSTMs convert only with fully static shapes; unrolled, they become plain matmuls
    (no TensorList ops, no Flex delegate), which the TensorFlow-free LiteRT runtime runs.
    """
    copy = build_model(name, feature_config, num_classes, params, batch_size=1, embedding_dim=embedding_dim,
                       unroll=True)
    copy.set_weights(model.get_weights())
    return copy
