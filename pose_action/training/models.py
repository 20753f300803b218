"""Sequence models, built by name: keypoints | pose | rgb | fusion | lrcn | convlstm | motion (pose_action.catalog).

Every model takes named inputs that match `features.build_features` keys and uses the subset
it needs: "pose" (T, P) float32, "mask" (T,) float32 (1 = real frame, 0 = padding),
"frames" (T, S, S, 3) uint8 (rescaled inside the model), "embeddings" (T, D) float32 and
"motion" (T, M) float32 (optical-flow vectors, extract --motion; fusion reads it with train --motion).

Masking does not use Keras' implicit `mask=` machinery: that path does not survive TFLite
conversion well and hides what happens. Instead the per-frame vectors are multiplied by the
mask and the mask is fed as one more channel; the LSTM returns every step and a masked mean
pools only real frames. `sample_indices` pads only at the END of a window, so a
unidirectional LSTM's outputs at real frames never see padding: the pooling is exact.

Any model can be rebuilt with `batch_size=1` (fully static shapes), which is what the
TFLite converter needs for LSTMs; `static_copy` does that and copies the weights.

The temporal head of pose, rgb and fusion is a param (`head`): `lstm` (an LSTM over the
frames, masked mean of its outputs), `attention` (the same LSTM, pooled by learned attention
weights over the real frames) or `tcn` (causal dilated 1D convolutions over time, masked
mean). All three export to TFLite with builtin ops only.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import keras
import numpy as np
from keras import layers, ops

from pose_action.catalog import MODEL_NAMES
from pose_action.errors import InputError
from pose_action.features import FeatureConfig, locomotion_columns
from pose_action.novelty import NOVELTY_READS, novelty_parts
from pose_action.training.recipes import Recipe

HEADS = ("lstm", "attention", "tcn")
# Training unrolls the LSTMs over the T frames (T is fixed): on CPU the unrolled steps train
# faster than Keras' while loop (scripts/bench_train.py); the weights are the same either way.
UNROLL_TRAINING = True
FUSION_GATES = ("confidence", "learned", "none")
# fusion_gate "learned": the heads the served mix weighs, in this order (motion_only with train --motion)
MIX_HEADS = ("pose_only", "appearance_only", "motion_only", "fused")
CNN_OPENINGS = ("stem", "conv")
# batch norm's momentum per image the thumbnail CNN sees (Keras' default); per step it is this ** A
FRAME_MOMENTUM = 0.99
POSE_HEADS = ("own", "shared")

# Defaults are small on purpose: training runs on 2 CPU cores.
DEFAULT_PARAMS: dict[str, object] = {
    "head": "lstm",  # temporal head of pose/rgb/fusion: lstm | attention | tcn
    "lstm_units": 64,  # per LSTM layer (and the width of the tcn and attention heads)
    "lstm_layers": 1,  # LSTM layers (tcn: convolution layers, dilations 1, 2, 4, ...)
    "tcn_kernel": 5,  # tcn: frames each convolution looks at
    "dropout": 0.3,  # before the classifier and after per-frame projections
    "pose_units": 64,  # per-frame projection of the pose vector
    "appearance_units": 32,  # per-frame projection of the appearance vector
    "appearance_dropout": 0.5,  # appearance overfits to the training actors' looks first
    "modality_dropout": 0.5,  # fusion: share of training clips whose appearance (and, apart, motion) is hidden entirely
    "motion_units": 32,  # per-frame projection of the motion vector (motion, fusion with motion)
    # fusion: learned (a head per stream, mixed by shares fitted on out-of-fold answers of the training
    # groups: HeadMix) | confidence (the pose-only answer weighs by its confidence) | none (one head)
    "fusion_gate": "learned",
    # fusion's pose_only head: own (its own per-frame projection: the standalone pose model, layer for
    # layer) | shared (reads the fused head's pose projection, as runs saved before "own")
    "pose_head": "own",
    # fusion: the fused head reads the pose vectors' locomotion channels too (false: only the pose_only head,
    # where it has its own projection; read by every head they cost clips on ud810_ps7 and the drawn sets:
    # docs/benchmarks.md, "Speed and place")
    "fused_locomotion": False,
    # fusion_gate learned: what its novelty (the `unknown` answer) reads (pose_action.novelty.NOVELTY_READS):
    # top (the input of the head the mix gives the largest share) | mix (every served head by its share)
    "novelty_reads": "top",
    "mix_folds": 2,  # learned: inner group folds of the training clips whose out-of-fold answers set the mix
    "mix_epochs": 0.5,  # learned: each inner model trains this share of the recipe's epochs
    # fusion_gate confidence: weight = confidence ** gate_power (1: never worse than 2 when re-gated)
    "gate_power": 1.0,
    "cnn_filters": [16, 32, 64],  # small thumbnail CNN (rgb/fusion with thumbs)
    "cnn": "stem",  # its first layer: stem (4x4 stride 4, a quarter of the pixels) | conv (3x3 stride 2)
    "lrcn_filters": [16, 32, 64, 64],  # the classic LRCN frame CNN
    "convlstm_filters": [8, 16],  # ConvLSTM2D stack
    "convlstm_downsample": 2,  # average-pool thumbnails by this factor before ConvLSTM2D
    "learning_rate": None,  # None: the model's training recipe (training.recipes)
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


@keras.saving.register_keras_serializable(package="pose_action")
class DropColumns(layers.Layer):
    """(B, T, F) -> (B, T, F - len(columns)): the values without the given last-axis columns."""

    def __init__(self, columns: list[int], width: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.columns, self.width = list(columns), width
        dropped = set(self.columns)
        self.kept = [column for column in range(width) if column not in dropped]

    def call(self, values):
        return ops.take(values, self.kept, axis=-1)

    def compute_output_shape(self, values_shape):
        return (*values_shape[:-1], len(self.kept))

    def get_config(self) -> dict:
        return super().get_config() | {"columns": self.columns, "width": self.width}


@keras.saving.register_keras_serializable(package="pose_action")
class MaskedAttention(layers.Layer):
    """(B, T, F) x (B, T) -> (B, F): a learned weighting of the real frames (softmax over time).

    Scores come from a small tanh layer per frame; masked frames get a large negative score,
    so they receive no weight, and an all-masked window pools to zeros.
    """

    def __init__(self, units: int = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.hidden = layers.Dense(units, activation="tanh", name="score_hidden")
        self.score = layers.Dense(1, name="score")

    def build(self, values_shape, mask_values_shape=None) -> None:
        self.hidden.build(values_shape)
        self.score.build((*values_shape[:-1], self.units))

    def call(self, values, mask_values):
        weights_mask = ops.cast(mask_values, values.dtype)
        scores = ops.squeeze(self.score(self.hidden(values)), -1) + (1.0 - weights_mask) * -1e9
        weights = ops.softmax(scores, axis=-1) * weights_mask
        return ops.sum(values * ops.expand_dims(weights, -1), axis=1)

    def compute_output_shape(self, values_shape, mask_values_shape):
        return (values_shape[0], values_shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="pose_action")
class ModalityDropout(layers.Layer):
    """(B, T, F) -> the same, with whole clips zeroed at `rate` in training; unchanged at inference.

    Unlike Dropout, kept clips are not rescaled: a zeroed stream is then exactly the "stream
    absent" condition the model trained on, which the fusion's pose-only pass feeds it.
    """

    def __init__(self, rate: float = 0.5, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, values, training=None):
        if not training or self.rate <= 0:
            return values
        keep = keras.random.uniform((ops.shape(values)[0], 1, 1), seed=self.seed_generator) >= self.rate
        return values * ops.cast(keep, values.dtype)

    def compute_output_shape(self, values_shape):
        return values_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="pose_action")
class FoldFrames(layers.Layer):
    """(B, A, ...) -> (B * A, ...): the A frames of every clip become one batch for a per-frame CNN.

    One CNN call on B * A images instead of TimeDistributed's Python loop of A calls, so the
    training step traces one copy of the CNN (the first epoch of a fusion training is mostly
    tracing) and runs one larger convolution per layer. UnfoldFrames undoes it.
    """

    def call(self, values):
        return ops.reshape(values, (-1, *values.shape[2:]))

    def compute_output_shape(self, values_shape):
        batch, steps = values_shape[0], values_shape[1]
        return (None if batch is None or steps is None else batch * steps, *values_shape[2:])


@keras.saving.register_keras_serializable(package="pose_action")
class UnfoldFrames(layers.Layer):
    """(B * A, F) -> (B, A, F): per-frame vectors back into clips (`steps` = A)."""

    def __init__(self, steps: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.steps = int(steps)

    def call(self, values):
        return ops.reshape(values, (-1, self.steps, *values.shape[1:]))

    def compute_output_shape(self, values_shape):
        batch = values_shape[0]
        return (None if batch is None else batch // self.steps, self.steps, *values_shape[1:])

    def get_config(self) -> dict:
        return {**super().get_config(), "steps": self.steps}


@keras.saving.register_keras_serializable(package="pose_action")
class SpreadScene(layers.Layer):
    """(B, A, F) -> (B, T, F): each of the T frames takes the appearance vector of its group.

    `groups` is FeatureConfig.scene_groups() (frame t -> appearance frame floor(t * A / T)): the
    thumbnail CNN runs on A frames and the temporal head still reads T. A constant gather, a
    TFLite builtin.
    """

    def __init__(self, groups: list[int], **kwargs) -> None:
        super().__init__(**kwargs)
        self.groups = [int(group) for group in groups]

    def call(self, values):
        return ops.take(values, ops.convert_to_tensor(self.groups, dtype="int32"), axis=1)

    def compute_output_shape(self, values_shape):
        return (values_shape[0], len(self.groups), values_shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "groups": self.groups}


@keras.saving.register_keras_serializable(package="pose_action")
class ConfidenceGate(layers.Layer):
    """[pose-only probabilities, fused probabilities] -> what the fusion model answers.

    Only the served model has it (training fits both heads, each on its own loss; the
    `training` branch is the fused answer). It answers w * pose_only + (1 - w) * fused, with
    w = ((max pose_only - 1/C) / (1 - 1/C)) ** power, the pose-only head's confidence above
    chance. A skeleton that tells the action answers for itself; the
    scene decides only what the skeleton leaves open (the same swing on a court or a field)
    or when there is no one to see. Appearance learned from a few dozen clips mostly knows the
    training people's rooms and clothes, so it must not overrule a clear skeleton.
    """

    def __init__(self, power: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.power = float(power)

    def call(self, pose_only, fused, training=None):
        if training:
            return fused
        classes = ops.shape(pose_only)[-1]
        chance = 1.0 / ops.cast(classes, pose_only.dtype)
        confidence = (ops.max(pose_only, axis=-1, keepdims=True) - chance) / (1.0 - chance)
        weight = ops.clip(confidence, 0.0, 1.0) ** self.power
        return weight * pose_only + (1.0 - weight) * fused

    def compute_output_shape(self, pose_only_shape, fused_shape):
        return fused_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "power": self.power}


@keras.saving.register_keras_serializable(package="pose_action")
class HeadMix(layers.Layer):
    """[head probabilities, ...] -> sum_i mix_i * head_i: what a fusion_gate "learned" model answers.

    `mix` is a non-trainable weight (saved with the model, copied into the TFLite form): the
    share of each per-stream head (pose, appearance, motion, fused), learned by training on
    out-of-fold answers of models trained on part of the training groups
    (training.train.learn_head_mix). A stream that did not generalize to people it had not
    seen gets little or no weight, so the served answer is not worse than the best head's
    where that held on the held-out groups, and a mix where the heads disagree usefully.
    """

    def __init__(self, heads: list[str], novelty: str = "mix", **kwargs) -> None:
        super().__init__(**kwargs)
        self.heads = [str(head) for head in heads]
        self.novelty = str(novelty)  # what novelty reads (novelty_parts); "mix" in models saved before it

    def build(self, input_shapes=None) -> None:
        self.mix = self.add_weight(name="mix", shape=(len(self.heads),),
                                   initializer=keras.initializers.Constant(1.0 / len(self.heads)), trainable=False)

    def call(self, probabilities):
        total = probabilities[0] * self.mix[0]
        for index in range(1, len(self.heads)):
            total = total + probabilities[index] * self.mix[index]
        return total

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "heads": self.heads, "novelty": self.novelty}


class MixedHeadInputs(layers.Layer):
    """The inputs of the heads a HeadMix serves, each at unit length and scaled by the square root of
    its share, side by side: the cosine similarity of two such vectors is the share-weighted mean of
    the heads' own, so novelty reads the streams as much as the served answer does."""

    def __init__(self, shares: list[float], **kwargs) -> None:
        super().__init__(**kwargs)
        self.shares = [float(share) for share in shares]

    def call(self, head_inputs):
        parts = []
        for share, values in zip(self.shares, head_inputs):
            length = ops.sqrt(ops.maximum(ops.sum(values * values, axis=-1, keepdims=True), 1e-12))
            parts.append(values * (share ** 0.5) / length)
        return ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shapes):
        return (*input_shapes[0][:-1], sum(int(shape[-1]) for shape in input_shapes))

    def get_config(self) -> dict:
        return {**super().get_config(), "shares": self.shares}


# The softmax Dense layer every model answers through (a fusion serving a mix or gate of heads: its fused
# head, which reads every stream); what it reads is the head input novelty measures (pose_action.novelty).
HEAD_LAYER = "probabilities"


@dataclass(frozen=True)
class ModelSpec:
    """What a builder gets: input shapes from the feature config, sizes from params."""

    feature_config: FeatureConfig
    num_classes: int
    params: dict
    batch_size: int | None
    embedding_dim: int | None
    unroll: bool = False  # unrolled LSTMs: no while loop, so TFLite needs only builtin ops
    training_outputs: bool = False  # the form that trains: every head a model has as its own output


# params that name one of a few choices
CHOICES = {"head": HEADS, "cnn": CNN_OPENINGS, "fusion_gate": FUSION_GATES, "pose_head": POSE_HEADS,
           "novelty_reads": NOVELTY_READS}


def resolve_params(params: dict | None) -> dict:
    """Defaults overlaid with the given params; unknown names are an error (typos stay visible)."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULT_PARAMS))
    if unknown:
        raise InputError(f"unknown model params {unknown}; known: {sorted(DEFAULT_PARAMS)}")
    resolved = {**DEFAULT_PARAMS, **params}
    for name, choices in CHOICES.items():
        if resolved[name] not in choices:
            raise InputError(f"--param {name}={resolved[name]}: choose one of {', '.join(choices)}")
    if int(resolved["mix_folds"]) < 0 or not 0.0 < float(resolved["mix_epochs"]) <= 1.0:
        raise InputError("--param mix_folds must be >= 0 and mix_epochs in (0, 1]")
    return resolved


def _input(spec: ModelSpec, name: str, shape: tuple, dtype: str = "float32") -> keras.KerasTensor:
    return keras.Input(shape=shape, batch_size=spec.batch_size, name=name, dtype=dtype)


def _pose_and_mask(spec: ModelSpec) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    frames = spec.feature_config.frames
    return _input(spec, "pose", (frames, spec.feature_config.pose_dim)), _input(spec, "mask", (frames,))


def _mask_input(spec: ModelSpec) -> keras.KerasTensor:
    return _input(spec, "mask", (spec.feature_config.frames,))


def _frames_input(spec: ModelSpec) -> keras.KerasTensor:
    size = spec.feature_config.thumb_size
    return _input(spec, "frames", (spec.feature_config.scene_steps, size, size, 3), dtype="uint8")


def _project(values: keras.KerasTensor, units: int, dropout: float, name: str) -> keras.KerasTensor:
    """Per-frame Dense (applied on the last axis of (B, T, F)) + dropout."""
    values = layers.Dense(units, activation="relu", name=f"{name}_dense")(values)
    return layers.Dropout(dropout, name=f"{name}_dropout")(values)


def _small_cnn(size: int, filters: list[int], name: str, first: str = "stem", frames: int = 1) -> keras.Model:
    """Thumbnail -> vector: strided conv + batch norm, global average pooling (trained end to end).

    `first` "stem" opens with a 4x4 convolution of stride 4 (non-overlapping patches, as
    vision transformers and ConvNeXt start): the next layers see a quarter of the positions a
    3x3 stride-2 opening ("conv", the first release) leaves them, and the whole CNN trains
    about twice as fast on CPU. Scene context needs no fine detail at 64 px.
    `frames`: the clip frames in each image batch (FoldFrames). The moving statistics of batch
    norm update once a step for all of them, so their momentum is FRAME_MOMENTUM ** frames: the pace
    of one update per frame (TimeDistributed), without which a few hundred steps of a small training set
    leave them far from the data's statistics at inference.
    """
    image = keras.Input(shape=(size, size, 3), dtype="uint8", name=f"{name}_image")
    values = layers.Rescaling(1.0 / 255.0, name=f"{name}_rescale")(image)
    for index, count in enumerate(filters):
        kernel, stride = (4, 4) if index == 0 and first == "stem" and size >= 16 else (3, 2)
        values = layers.Conv2D(count, kernel, strides=stride, padding="same", use_bias=False,
                               name=f"{name}_conv{index}")(values)
        values = layers.BatchNormalization(momentum=FRAME_MOMENTUM ** frames, name=f"{name}_norm{index}")(values)
        values = layers.Activation("relu", name=f"{name}_relu{index}")(values)
    values = layers.GlobalAveragePooling2D(name=f"{name}_pool")(values)
    return keras.Model(image, values, name=name)


def _appearance_branch(spec: ModelSpec) -> tuple[list[keras.KerasTensor], keras.KerasTensor]:
    """The appearance inputs (A = scene_steps frames) and a (B, T, appearance_units) per-frame vector."""
    params, config = spec.params, spec.feature_config
    if config.appearance == "thumbs":
        appearance = _frames_input(spec)
        cnn = _small_cnn(config.thumb_size, list(params["cnn_filters"]), "frame_cnn", str(params["cnn"]),
                         frames=config.scene_steps)
        folded = FoldFrames(name="fold_frames")(appearance)
        values = UnfoldFrames(config.scene_steps, name="unfold_frames")(cnn(folded))
    elif config.appearance == "embeddings":
        if not spec.embedding_dim:
            raise InputError("appearance 'embeddings' needs the embedding size (params from the features)")
        appearance = _input(spec, "embeddings", (config.scene_steps, spec.embedding_dim))
        values = layers.Dropout(params["appearance_dropout"], name="embeddings_dropout")(appearance)
    else:
        raise InputError(f"this model needs appearance (thumbs or embeddings), got {config.appearance!r}")
    values = _project(values, params["appearance_units"], params["appearance_dropout"], "appearance")
    if config.scene_steps < config.frames:
        values = SpreadScene(config.scene_groups().tolist(), name="spread_scene")(values)
    return [appearance], values


def _motion_branch(spec: ModelSpec) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The "motion" input and a (B, T, motion_units) per-frame vector.

    Flow magnitudes span orders of magnitude (a still tripod shot to a camera pan), so the
    vectors are batch-normalized per channel (statistics of the training clips) before the
    projection; padding is zeroed afterwards by the head's mask like every stream's.
    """
    config = spec.feature_config
    motion = _input(spec, "motion", (config.frames, config.motion_dim))
    values = layers.BatchNormalization(name="motion_norm")(motion)
    return motion, _project(values, spec.params["motion_units"], spec.params["dropout"], "motion")


def _sequence_head(per_frame: keras.KerasTensor, mask: keras.KerasTensor, spec: ModelSpec,
                   prefix: str = "") -> keras.KerasTensor:
    """Masked per-frame vectors -> temporal head (lstm | attention | tcn) -> dropout -> softmax.

    `prefix` names the layers of a second head in the same model.
    """
    params = spec.params
    head, units, depth = params["head"], int(params["lstm_units"]), int(params["lstm_layers"])
    values = MaskFrames(name=f"{prefix}mask_frames")(per_frame, mask)
    if head == "tcn":
        # causal: a frame's output never sees later frames, so end-of-window padding cannot
        # leak into real frames (the same guarantee the unidirectional LSTM gives)
        for index in range(depth + 1):
            values = layers.Conv1D(units, int(params["tcn_kernel"]), padding="causal", dilation_rate=2 ** index,
                                   activation="relu", name=f"{prefix}tcn{index}")(values)
    else:
        for index in range(depth):
            values = layers.LSTM(units, return_sequences=True, unroll=spec.unroll,
                                 name=f"{prefix}lstm{index}")(values)
    if head == "attention":
        values = MaskedAttention(max(units // 2, 8), name=f"{prefix}attention_pool")(values, mask)
    else:
        values = MaskedMean(name=f"{prefix}masked_mean")(values, mask)
    values = layers.Dropout(params["dropout"], name=f"{prefix}head_dropout")(values)
    return layers.Dense(spec.num_classes, activation="softmax", name=f"{prefix}{HEAD_LAYER}")(values)


def build_keypoints_model(spec: ModelSpec) -> keras.Model:
    """The "MediaPipe + LSTM" tutorials' model, layer for layer: the baseline to beat.

    Raw keypoints (no normalization; zeros where no pose) -> LSTM 64 -> LSTM 128 -> LSTM 64
    (ReLU activations, the last returns one vector) -> Dense 64 -> Dense 32 -> softmax.
    """
    frames, size = spec.feature_config.frames, spec.feature_config.pose_dim
    pose = _input(spec, "pose", (frames, size))
    values = pose
    for index, (units, sequences) in enumerate(((64, True), (128, True), (64, False))):
        values = layers.LSTM(units, return_sequences=sequences, activation="relu", unroll=spec.unroll,
                             name=f"lstm{index}")(values)
    values = layers.Dense(64, activation="relu", name="dense0")(values)
    values = layers.Dense(32, activation="relu", name="dense1")(values)
    outputs = layers.Dense(spec.num_classes, activation="softmax", name=HEAD_LAYER)(values)
    return keras.Model({"pose": pose}, outputs, name="keypoints")


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
    """The main model: per-frame [pose vector, appearance vector] -> temporal head -> softmax.

    Whole clips train without their appearance (modality_dropout), so the pose stream cannot
    lean on the training people's looks. Beside the fused head a second head reads the pose
    vectors alone and trains on its own loss (the training form has both as outputs, `pose_only`
    and `fused`). With `fusion_gate` "learned" (default) a head per stream is added
    (`appearance_only`, `motion_only` with motion; each its own loss) and the model serves
    HeadMix, the heads mixed by shares learned on out-of-fold answers: which stream to trust is
    measured on people the heads did not see, not assumed. With "confidence" the pose-only
    answer weighs by its confidence (ConfidenceGate). "none" is plain early fusion.
    """
    params = spec.params
    pose, mask = _pose_and_mask(spec)
    locomotion = locomotion_columns(spec.feature_config)
    # fused_locomotion false leaves the speed to a pose-only head with its own projection; a model
    # without one (one early-fusion head, or a projection shared with the fused head) reads it everywhere
    own_pose_head = params["fusion_gate"] != "none" and params["pose_head"] == "own"
    fused_pose = (pose if params["fused_locomotion"] or not locomotion or not own_pose_head
                  else DropColumns(locomotion, spec.feature_config.pose_dim, name="pose_without_locomotion")(pose))
    pose_vector = _project(fused_pose, params["pose_units"], params["dropout"], "pose")
    appearance_inputs, appearance_seen = _appearance_branch(spec)
    appearance_vector = ModalityDropout(params["modality_dropout"], name="modality_dropout")(appearance_seen)
    inputs = {"pose": pose, "mask": mask} | {tensor.name: tensor for tensor in appearance_inputs}
    streams = [pose_vector, appearance_vector]
    motion_seen = None
    if spec.feature_config.motion:  # train --motion: a third stream, hidden apart from appearance
        motion, motion_seen = _motion_branch(spec)
        inputs["motion"] = motion
        streams.append(ModalityDropout(params["modality_dropout"], name="motion_modality_dropout")(motion_seen))
    if params["fusion_gate"] == "none":
        per_frame = layers.Concatenate(name="fuse")(streams)
        return keras.Model(inputs, _sequence_head(per_frame, mask, spec), name="fusion")
    fused = _sequence_head(layers.Concatenate(name="fuse")(streams), mask, spec)
    # "own": the fused head's gradients do not shape what the pose-only head reads, so it
    # answers as the standalone pose model does (a shared projection served 0.74 where pose
    # alone scored 0.89 on the same folds of ud810_ps7)
    pose_only_vector = (_project(pose, params["pose_units"], params["dropout"], "pose_only_pose")
                        if params["pose_head"] == "own" else pose_vector)
    pose_only = _sequence_head(pose_only_vector, mask, spec, prefix="pose_only_")
    if params["fusion_gate"] == "learned":
        heads = {"pose_only": pose_only,
                 "appearance_only": _sequence_head(appearance_seen, mask, spec, prefix="appearance_only_")}
        if motion_seen is not None:
            heads["motion_only"] = _sequence_head(motion_seen, mask, spec, prefix="motion_only_")
        heads["fused"] = fused
        if spec.training_outputs:  # every head learns from its own loss
            return keras.Model(inputs, heads, name="fusion")
        names = mix_heads(spec.feature_config)
        mix = HeadMix(names, params["novelty_reads"], name="head_mix")
        return keras.Model(inputs, mix([heads[name] for name in names]), name="fusion")
    if spec.training_outputs:  # both heads learn, each from its own loss
        return keras.Model(inputs, {"pose_only": pose_only, "fused": fused}, name="fusion")
    outputs = ConfidenceGate(params["gate_power"], name="confidence_gate")(pose_only, fused)
    return keras.Model(inputs, outputs, name="fusion")


def mix_heads(feature_config: FeatureConfig) -> list[str]:
    """The heads a fusion_gate "learned" model mixes, in HeadMix order."""
    return [name for name in MIX_HEADS if name != "motion_only" or feature_config.motion]


def build_motion_model(spec: ModelSpec) -> keras.Model:
    """Optical flow only (extract --motion): sees movement where no skeleton is found, blind to posture."""
    mask = _mask_input(spec)
    motion, per_frame = _motion_branch(spec)
    return keras.Model({"motion": motion, "mask": mask}, _sequence_head(per_frame, mask, spec), name="motion")


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
    outputs = layers.Dense(spec.num_classes, activation="softmax", name=HEAD_LAYER)(values)
    return keras.Model({"frames": frames, "mask": mask}, outputs, name="convlstm")


BUILDERS: dict[str, Callable[[ModelSpec], keras.Model]] = {
    "keypoints": build_keypoints_model,
    "pose": build_pose_model,
    "rgb": build_rgb_model,
    "fusion": build_fusion_model,
    "lrcn": build_lrcn_model,
    "convlstm": build_convlstm_model,
    "motion": build_motion_model,
}


def build_model(name: str, feature_config: FeatureConfig, num_classes: int, params: dict | None = None, *,
                batch_size: int | None = None, embedding_dim: int | None = None,
                unroll: bool = False, training_outputs: bool = False) -> keras.Model:
    """The named model, uncompiled. `batch_size=1, unroll=True` is the form TFLite converts.

    `training_outputs`: the form that trains, with every head as its own output (see
    `inference_copy`); the same layers in the same order, so weights move between the forms.
    """
    if name not in BUILDERS:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    if num_classes < 2:
        raise InputError(f"a classifier needs at least 2 classes, got {num_classes}")
    spec = ModelSpec(feature_config=feature_config, num_classes=num_classes, params=resolve_params(params),
                     batch_size=batch_size, embedding_dim=embedding_dim, unroll=unroll,
                     training_outputs=training_outputs)
    return BUILDERS[name](spec)


def output_names(model: keras.Model) -> list[str] | None:
    """The names of a training form's outputs (None: one output, the class probabilities)."""
    return sorted(model.output) if isinstance(model.output, dict) else None


def head_layer_name(head: str) -> str:
    """The HEAD_LAYER of a fusion's head (MIX_HEADS): the fused head's is HEAD_LAYER itself."""
    return HEAD_LAYER if head == "fused" else f"{head}_{HEAD_LAYER}"


_Made = TypeVar("_Made")


def once_per_model(make: Callable[[keras.Model], _Made]) -> Callable[[keras.Model], _Made]:
    """`make(model)` built on the first call for a model object and kept while that model lives: Keras
    traces a new predict function for every model object, about a second each, and training asks
    the same model for several sets of clips in turn."""
    made: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @functools.wraps(make)
    def cached(model: keras.Model) -> _Made:
        if model not in made:
            made[model] = make(model)
        return made[model]

    return cached


HEAD_INPUT_KEY = "{}_reads"  # heads_reader's key of what a head's layer reads


@once_per_model
def heads_reader(trainee: keras.Model) -> keras.Model:
    """A training form with several heads answering, in one pass, each head's probabilities (head name ->
    values, in the heads' order) and what each head layer reads (HEAD_INPUT_KEY). The learned head
    mix's folds and the final model restart one trainee, so its predict is traced once."""
    names = list(trainee.output) if isinstance(trainee.output, dict) else []
    return keras.Model(trainee.input, {**{name: trainee.output[name] for name in names},
                                       **{HEAD_INPUT_KEY.format(name): trainee.get_layer(head_layer_name(name)).input
                                          for name in names}})


def head_layer(model: keras.Model) -> layers.Dense | None:
    """The model's HEAD_LAYER (None: a model without one, e.g. loaded from elsewhere)."""
    try:
        layer = model.get_layer(HEAD_LAYER)
    except ValueError:
        return None
    return layer if isinstance(layer, layers.Dense) else None


@once_per_model
def with_head_input(model: keras.Model) -> keras.Model | None:
    """The served model answering (probabilities, head input) in one call; None without a HEAD_LAYER.
    Made once per served model, whose weights (the HeadMix shares too) no longer change.

    The head input is what the HEAD_LAYER reads; for a fusion serving a HeadMix, what
    novelty_parts says (HeadMix.novelty): the input of the head it trusts most, or the inputs of
    the heads it mixes weighted by their shares (MixedHeadInputs)."""
    layer = head_layer(model)
    if layer is None:
        return None
    head_input = layer.input
    mix = next((candidate for candidate in model.layers if isinstance(candidate, HeadMix)), None)
    if mix is not None:
        shares = [float(share) for share in np.asarray(mix.get_weights()[0])]
        served = [(share, model.get_layer(head_layer_name(head)).input)
                  for share, head in novelty_parts(mix.heads, shares, mix.novelty)]
        if served:
            total = sum(share for share, _ in served)
            head_input = MixedHeadInputs([share / total for share, _ in served], name="mixed_head_inputs")(
                [values for _, values in served])
    return keras.Model(model.input, [model.output, head_input], name=f"{model.name}_with_head_input")


def inference_copy(model: keras.Model, name: str, feature_config: FeatureConfig, num_classes: int,
                   params: dict | None = None, *, embedding_dim: int | None = None,
                   mix: list[float] | None = None) -> keras.Model:
    """The one-output model that is saved and served, with the weights of its training form.

    `mix`: the HeadMix shares (fusion_gate "learned"), which the training form does not have.
    """
    if output_names(model) is None:
        return model
    copy = build_model(name, feature_config, num_classes, params, embedding_dim=embedding_dim)
    copy_weights(model, copy)
    if mix is not None:
        head_mix = copy.get_layer("head_mix")
        if len(mix) != len(head_mix.heads):
            raise ValueError(f"{len(mix)} mix shares for the heads {head_mix.heads}")
        head_mix.set_weights([np.asarray(mix, dtype="float32")])
    return copy


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Layer by layer, by name: two forms of one model list their layers in different orders.

    A HeadMix the source lacks (a training form) keeps its shares: inference_copy sets them. Runs
    saved before FoldFrames wrap the thumbnail CNN in a TimeDistributed: its inner CNN is found by name.
    """
    layers_of = {layer.name: layer for layer in source.layers}
    layers_of |= {layer.layer.name: layer.layer for layer in source.layers
                  if isinstance(layer, layers.TimeDistributed) and layer.layer.name not in layers_of}
    for layer in target.layers:
        if layer.weights:
            if isinstance(layer, HeadMix) and layer.name not in layers_of:
                continue
            layer.set_weights(layers_of[layer.name].get_weights())


# compile_model's cosine schedule of each optimizer (restart_from sets its length)
_SCHEDULES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compile_model(model: keras.Model, recipe: Recipe, steps_per_epoch: int, params: dict | None = None) -> keras.Model:
    """The recipe's optimizer, schedule and loss; targets are one-hot rows over labels.json.

    AdamW (Adam when weight_decay is 0) with a cosine decay over the whole run to 1% of the
    learning rate, or a constant rate; categorical cross-entropy with the recipe's label smoothing.
    """
    learning_rate = resolve_params(params)["learning_rate"] or recipe.learning_rate
    rate: object = float(learning_rate)
    schedule = None
    if recipe.schedule == "cosine":
        schedule = keras.optimizers.schedules.CosineDecay(float(learning_rate), decay_steps=max(
            recipe.epochs * steps_per_epoch, 1), alpha=0.01)
        rate = schedule
    optimizer = (keras.optimizers.AdamW(rate, weight_decay=recipe.weight_decay) if recipe.weight_decay > 0
                 else keras.optimizers.Adam(rate))
    if schedule is not None:
        _SCHEDULES[optimizer] = schedule
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
    names = output_names(model)
    if names is None:
        model.compile(optimizer=optimizer, metrics=["accuracy"], loss=loss)
    else:  # every head its own loss (summed) and accuracy
        model.compile(optimizer=optimizer, loss={name: loss for name in names},
                      metrics={name: ["accuracy"] for name in names})
    return model


def restartable(trainee: keras.Model) -> keras.Model:
    """`trainee` (compiled, not yet fitted) ready for restart_from: the length of its learning-rate
    schedule is read at each step instead of being written into the traced step.

    Its compile config then no longer loads in plain Keras, so save its inference_copy, never it.
    """
    schedule = _SCHEDULES.get(trainee.optimizer)
    if schedule is not None and not isinstance(schedule.decay_steps, keras.Variable):
        schedule.decay_steps = keras.Variable(schedule.decay_steps, dtype="int64", trainable=False,
                                              name="decay_steps")
    return trainee


def restart_from(trainee: keras.Model, fresh: keras.Model) -> None:
    """Set `trainee` (made restartable, fitted before) to where `fresh` (the same model built and compiled
    anew, never fitted) starts: its weights and random-number state, its optimizer's state and
    schedule. Fitting the trainee then trains as fitting `fresh` would, with the training and
    prediction steps it has already traced (a trace is 10-25 s of a small run's fit).
    """
    def pairs(targets: list, sources: list, what: str) -> zip:
        if [tuple(v.shape) for v in targets] != [tuple(v.shape) for v in sources]:
            raise ValueError(f"restart_from: the {what} of {trainee.name} and {fresh.name} differ")
        return zip(targets, sources)

    for target, source in pairs(trainee.variables, fresh.variables, "variables"):  # weights and seed states
        target.assign(source)
    fresh.optimizer.build(fresh.trainable_variables)
    for target, source in pairs(trainee.optimizer.variables, fresh.optimizer.variables, "optimizer states"):
        target.assign(source)
    schedule, fresh_schedule = _SCHEDULES.get(trainee.optimizer), _SCHEDULES.get(fresh.optimizer)
    if schedule is not None and fresh_schedule is not None:
        if not isinstance(schedule.decay_steps, keras.Variable):
            raise ValueError(f"restart_from: {trainee.name} was fitted before restartable() was called")
        schedule.decay_steps.assign(fresh_schedule.decay_steps)
    elif schedule is not None or fresh_schedule is not None:
        raise ValueError("restart_from: one model decays its learning rate, the other does not")


def static_copy(model: keras.Model, name: str, feature_config: FeatureConfig, num_classes: int,
                params: dict | None = None, *, embedding_dim: int | None = None) -> keras.Model:
    """The same model and weights with batch size 1 and unrolled LSTMs: the form TFLite converts.

    Keras LSTMs convert only with fully static shapes; unrolled, they become plain matmuls
    (no TensorList ops, no Flex delegate), which the TensorFlow-free LiteRT runtime runs.
    """
    copy = build_model(name, feature_config, num_classes, params, batch_size=1, embedding_dim=embedding_dim,
                       unroll=True)
    copy_weights(model, copy)
    return copy
