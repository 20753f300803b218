"""Windows of processed frames: when one ends, and the model's inputs of it.

A window is the run's training-clip duration ("window" seconds in config.json) of the most
recent processed frames; `window_features` runs the SAME `features.build_features` on it as
training runs on a whole clip, so a model sees at inference exactly the arrays it was trained
on. `WindowReader` is the one window logic whole videos (`Recognizer.predict_video`) and
streams (`Stream.update`) share.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from pose_action.errors import InputError
from pose_action.features import build_features, nearest_rows, scene_frame_numbers
from pose_action.inference.backends import KerasBackend, LiteBackend
from pose_action.inference.frames import FrameExtractor, FrameRecord
from pose_action.landmarks import LandmarkSequence
from pose_action.runs import Run, RunConfig


@functools.lru_cache(maxsize=256)  # depends only on the two ints; called for every window
def sampler_positions(available: int, count: int | None) -> tuple[int, ...]:
    """Which of `available` processed frames extraction keeps thumbnails of (its FrameSampler).

    Asking the real sampler (with 1-pixel stand-in frames) keeps inference on the frames
    training saw: build_features then picks the same nearest thumbnail for each sampled frame.
    """
    if not count:
        return tuple(range(available))
    from pose_action.extraction.appearance import FrameSampler

    sampler = FrameSampler(count, sizes=(1,))
    stand_in = np.zeros((1, 1, 3), dtype=np.uint8)
    for position in range(available):
        sampler.offer(position, stand_in)
    return tuple(int(position) for position in sampler.result().frame_index)


class EmbeddingCache:
    """Frozen-CNN embeddings of window frames, computed once per frame and only when a window uses it."""

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.vectors: dict[int, np.ndarray] = {}

    def __call__(self, records: list[FrameRecord]) -> np.ndarray:
        missing = [record for record in records if record.frame not in self.vectors]
        if missing:
            computed = self.embedder.embed(np.stack([_made(record.image, "thumbnail") for record in missing]))
            for record, vector in zip(missing, computed):
                # stored as extraction stores them (float16), so training and inference agree
                self.vectors[record.frame] = np.asarray(vector).astype(np.float16).astype(np.float32)
        oldest = min(record.frame for record in records)
        for frame in [frame for frame in self.vectors if frame < oldest]:
            del self.vectors[frame]
        return np.stack([self.vectors[record.frame] for record in records])


def _made(value: np.ndarray | None, what: str) -> np.ndarray:
    """A frame's `what`, which the extractor makes for every frame when the run's features use it."""
    assert value is not None, f"a processed frame without its {what}"
    return value


def records_sequence(records: list[FrameRecord], *, fps: float, width: int, height: int) -> LandmarkSequence:
    """The landmarks of processed frames as a sequence of a video with this rate and size."""
    return LandmarkSequence.from_frames([(record.frame, record.timestamp_ms, record.landmarks) for record in records],
                                        fps=fps, width=width, height=height)


def window_features(records: list[FrameRecord], config: RunConfig, *, fps: float, width: int, height: int,
                    embed: EmbeddingCache | None = None,
                    second: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Model inputs of a window of processed frames: build_features on them, as on a training clip.

    `second` (runs trained with the second person: FrameExtractor.second_person) goes to
    build_features as training's people file does."""
    features = config.features
    sequence = records_sequence(records, fps=fps, width=width, height=height)
    # every processed frame, as stored
    motion = ((sequence.frame, np.stack([_made(record.motion, "motion vector") for record in records]))
              if features.motion else None)
    if features.appearance == "none":
        return build_features(sequence, features, motion=motion, second=second)
    kept = [records[position] for position in sampler_positions(len(records), config.appearance_frames)]
    kept_frames = np.array([record.frame for record in kept], dtype=np.int64)
    if features.appearance == "thumbs":
        thumbs = np.stack([_made(r.image, "thumbnail") for r in kept])
        return build_features(sequence, features, appearance=(kept_frames, thumbs), motion=motion, second=second)
    if embed is None:
        raise InputError("this model needs frozen CNN embeddings: load it with backend='keras'")
    used = np.unique(nearest_rows(scene_frame_numbers(sequence, features), kept_frames))  # embed only what is picked
    vectors = embed([kept[row] for row in used])
    return build_features(sequence, features, appearance=(kept_frames[used], vectors), motion=motion, second=second)


@dataclass
class WindowReader:
    """The windows of one video or stream: a window of `size` processed frames ends every `step`
    processed frames once `size` are there, is read as its main actor's (the same for the whole
    window, as a training clip's landmark CSV) and becomes the model's inputs."""

    config: RunConfig
    extractor: FrameExtractor
    size: int
    step: int
    fps: float
    embed: EmbeddingCache | None = None
    second_person: bool = False  # runs trained with the second person as input

    def due(self, processed: int) -> bool:
        """Whether a window ends at the `processed`-th processed frame."""
        return processed >= self.size and (processed - self.size) % self.step == 0

    def read(self, records: list[FrameRecord], *, width: int, height: int
             ) -> tuple[list[FrameRecord], dict[str, np.ndarray]]:
        """The window's records as its main actor's, and the model's inputs of them."""
        chosen = self.extractor.choose_main(records)
        second = self.extractor.second_person(chosen) if self.second_person else None
        return chosen, window_features(chosen, self.config, fps=self.fps, width=width, height=height,
                                       embed=self.embed, second=second)


def load_embedder(run: Run, backend: KerasBackend | LiteBackend):
    """The frozen CNN extraction embedded thumbnails with (same backbone and weights)."""
    from pose_action.extraction.embeddings import Embedder

    backbone = run.feature_config.backbone
    assert backbone is not None  # only runs trained on embeddings load an embedder, and they name a backbone
    embedder = Embedder(backbone, run.config.embedding_weights)
    expected = backend.input_shapes.get("embeddings")
    if expected and int(expected[-1]) != int(embedder.dim):
        raise InputError(f"{run.path}: the model reads {expected[-1]}-d embeddings but "
                         f"{run.feature_config.backbone} gives {embedder.dim}")
    return embedder
