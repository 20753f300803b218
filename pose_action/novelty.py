"""How unlike every training clip a window is: the `unknown` answer for what the model never saw.

A softmax must share its probability among the classes it knows, so a window of something
else (another exercise, a gesture it was not taught) can still get a confident answer. What
the model's last layer reads (the head input: for a fusion with a head mix, that of the head
the mix trusts most, NOVELTY_READS) tells better: a window of a known action lies near some
training clip of it, one of an unknown action further from all of them. The novelty of a window
is the cosine distance from its head input to the nearest training clip's (0 the same direction, 2 the opposite);
nearest clip rather than nearest class mean because a class may be filmed in several ways.
On the open-set benchmark (docs/benchmarks.md) it separates unknown from known clips better
than the (calibrated) top probability on every set and model measured.

A run stores its training clips' head inputs, scaled to unit length, as `known_clips.npy`,
and in config.json `novelty` the threshold: the distance that at most MAX_REJECTED of the
correctly classified clips of people the known clips do not show exceed (its validation
clips, or each training clip against the other groups': NOVELTY_SOURCES). predict and live read
`unknown` when the smoothed novelty is above it (inference.predictions.UnknownRule). Runs made
before it, and models without a head layer, have no novelty: the calibrated confidence decides.
Nothing here needs TensorFlow.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np

from pose_action.calibration import MAX_REJECTED, MIN_THRESHOLD_CLIPS
from pose_action.errors import InputError

# Where a run's novelty threshold comes from, the first with enough right answers (training.evaluate.run_novelty)
NOVELTY_SOURCES = ("validation", "out-of-fold", "training groups")
# What a fusion serving a head mix measures novelty in (model param novelty_reads). "top": the input of
# the head the mix trusts most, whose distances are those that held for new people (on the open-set
# benchmark it separated unknown clips better than "mix" on every set: docs/benchmarks.md); "mix":
# every served head weighted by its share (fusion runs saved before "top").
NOVELTY_READS = ("top", "mix")
NOVELTY_OFF = 2.0  # the largest cosine distance: a novelty threshold this high turns the novelty off


class OutOfFold(NamedTuple):
    """Clips answered by inner models that never saw their groups (a learned head mix's): each clip's
    novelty against its inner model's training clips, and whether the mix answered it right."""

    distances: np.ndarray
    correct: np.ndarray


def unit(values: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (cosine similarity is then a dot product), as float32."""
    values = np.asarray(values, dtype=np.float32)
    return values / np.maximum(np.linalg.norm(values, axis=-1, keepdims=True), np.float32(1e-12))


def novelty(head_inputs: np.ndarray, known: np.ndarray) -> np.ndarray:
    """(N,) cosine distance of each head input to the nearest of the `known` (unit-length) rows."""
    head_inputs = np.asarray(head_inputs, dtype=np.float32)
    if not len(head_inputs):
        return np.zeros(0, dtype=np.float32)
    similarity = unit(head_inputs) @ np.asarray(known, dtype=np.float32).T
    return np.clip(1.0 - similarity.max(axis=1), 0.0, 2.0).astype(np.float32)


def novelty_parts(heads: list[str], shares: list[float], reads: str) -> list[tuple[float, str]]:
    """(share, head) of what a fusion serving a head mix measures novelty in (NOVELTY_READS): "top",
    the head with the largest share (the first of equals); "mix", every served head by its share."""
    if reads not in NOVELTY_READS:
        raise InputError(f"novelty_reads must be one of {NOVELTY_READS}, got {reads!r}")
    if reads == "top":
        return [(1.0, heads[int(np.argmax(shares))])]
    return [(share, head) for head, share in zip(heads, shares) if share > 0]


def mixed_head_inputs(parts: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """(share, head inputs) of the heads a mix serves -> each at unit length times sqrt(share / total),
    side by side: training.models.MixedHeadInputs, for head inputs read from a training form."""
    served = [(share, values) for share, values in parts if share > 0]
    total = sum(share for share, _ in served)
    return np.concatenate([unit(values) * np.float32(math.sqrt(share / total)) for share, values in served], axis=-1)


def novelty_across_groups(known: np.ndarray, groups: list[str]) -> np.ndarray:
    """(N,) each known clip's novelty against the known clips of the other groups: how far an unseen
    person's clip of a known action lies, measured without holding any clip out (inf: no other group)."""
    known = np.asarray(known, dtype=np.float32)
    codes = np.unique(np.asarray(groups), return_inverse=True)[1]
    similarity = known @ known.T
    similarity[codes[:, None] == codes[None, :]] = -np.inf
    nearest = similarity.max(axis=1)
    return np.where(np.isfinite(nearest), np.clip(1.0 - nearest, 0.0, 2.0), np.inf).astype(np.float32)


def novelty_threshold(distances: np.ndarray, correct: np.ndarray,
                      max_rejected: float = MAX_REJECTED) -> tuple[float | None, str]:
    """The lowest distance that rejects at most `max_rejected` of the correct held-out clips, and the rule.

    A clip is rejected when its novelty is above the threshold, so the threshold is the
    (k+1)-th highest novelty of the correct clips, k = floor(max_rejected x correct clips).
    Fewer than MIN_THRESHOLD_CLIPS correct clips cannot place that point (the highest of six
    is about the 14% point, and a few clips of one person say little of the next): None, the
    novelty is not used and the probability alone decides.
    """
    distances = np.asarray(distances, dtype=np.float64)
    right = np.sort(distances[np.asarray(correct, dtype=bool) & np.isfinite(distances)])[::-1]
    if len(right) < MIN_THRESHOLD_CLIPS:
        return None, f"none: {len(right)} right answers, fewer than {MIN_THRESHOLD_CLIPS}"
    allowed = int(math.floor(max_rejected * len(right) + 1e-9))
    # rounded up as config.json stores it: rejects no more than the rule says
    threshold = math.ceil(float(right[allowed]) * 1e6) / 1e6
    return threshold, f"rejects at most {max_rejected:.0%} of {len(right)} right answers"


@dataclass(frozen=True)
class Novelty:
    """config.json `novelty`: the threshold on a window's novelty and the held-out clips it came from.

    `threshold` None: the run has no novelty (made before it, or its model has no Dense head).
    `fitted_on`: one of NOVELTY_SOURCES, or "none".
    """

    threshold: float | None = None
    fitted_on: str = "none"
    clips: int = 0
    rule: str = "none"
    known_clips: int = 0  # rows of known_clips.npy
    max_rejected: float = MAX_REJECTED

    @classmethod
    def none(cls) -> Novelty:
        return cls()

    @property
    def used(self) -> bool:
        return self.threshold is not None

    def to_dict(self) -> dict:
        return {name: (round(value, 6) if isinstance(value, float) else value) for name, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: Any, where: str | os.PathLike = "config.json") -> Novelty:
        """A checked novelty; None or a missing key gives none."""
        if values is None:
            return cls.none()
        if not isinstance(values, dict):
            raise InputError(f"{where}: 'novelty' must be a JSON object")
        novelty_config = cls(**{name: values[name] for name in cls.__dataclass_fields__ if name in values})
        threshold = novelty_config.threshold
        if threshold is not None and not (isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
                                          and 0.0 <= threshold <= 2.0):
            raise InputError(f"{where}: 'novelty.threshold' must be between 0 and 2 or null, got {threshold!r}")
        return novelty_config


def fit_novelty(distances: np.ndarray, correct: np.ndarray, fitted_on: str, known_clips: int,
                max_rejected: float = MAX_REJECTED) -> Novelty:
    """The run's novelty from its held-out clips' novelty and whether each was classified right."""
    threshold, rule = novelty_threshold(distances, correct, max_rejected)
    return Novelty(threshold=threshold, fitted_on=fitted_on if threshold is not None else "none",
                   clips=int(len(distances)), rule=rule, known_clips=int(known_clips), max_rejected=max_rejected)
