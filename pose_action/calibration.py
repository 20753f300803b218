"""Calibrated confidence: temperature scaling, the expected calibration error and the rejection threshold.

A small model trained on a few dozen clips is sure of itself far more often than it is right
(label smoothing only softens that), so its top probability is not "how likely it is right".
Temperature scaling fixes most of that with one number fitted on clips the model did not
train on: p_i ** (1/T) renormalised, i.e. softmax(log p / T). It never changes which class is
on top (accuracy stays the same), only how sure the model says it is. Every model here
outputs probabilities (fusion's served answer is a gated mix of two heads' probabilities), so
the temperature applies to log probabilities rather than to logits; for a plain softmax head
this is exactly the usual logit scaling.

The fitted temperature and the `unknown` threshold derived from the same held-out predictions
are stored in the run's config.json as `calibration` (see `Calibration`); the Keras backend
applies the temperature after the model and the exported TFLite model has it built in, so
predict, live and evaluate all read calibrated probabilities. Nothing here needs TensorFlow.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pose_action.errors import InputError

BACKGROUND = "background"  # the class of "no action" clips (idle people, empty scenes): read as "no action"
ECE_BINS = 10  # equal-width confidence bins of the expected calibration error and the reliability diagram
MAX_REJECTED = 0.05  # the stored threshold rejects at most this share of the correctly classified held-out clips
FLOOR = 1e-12  # probabilities are clipped here before the log (a softmax in float32 can round to 0)
TEMPERATURE_RANGE = (0.05, 20.0)  # searched in log space; outside it the held-out clips are too few to say
FALLBACK_THRESHOLD = 0.5  # the `unknown` threshold of a run with no held-out clips to choose one from
# Fewer correct held-out clips than this cannot place the 5% point (the lowest of 6 is about the 14% point):
# the threshold is then no stricter than FALLBACK_THRESHOLD.
MIN_THRESHOLD_CLIPS = 20

# where a run's calibration came from (config.json `calibration.fitted_on`)
FITTED_ON = ("validation", "out-of-fold", "test", "none")


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) along the last axis, as float32: T > 1 softens, T < 1 sharpens, T = 1 is p itself."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if temperature == 1.0:
        return probabilities
    logits = np.log(np.maximum(probabilities, FLOOR)) / np.float32(temperature)
    logits -= logits.max(axis=-1, keepdims=True)
    scaled = np.exp(logits)
    return (scaled / scaled.sum(axis=-1, keepdims=True)).astype(np.float32)


def negative_log_likelihood(probabilities: np.ndarray, true: np.ndarray) -> float:
    """Mean -log p(true class): what temperature scaling minimises."""
    chosen = np.asarray(probabilities, dtype=np.float64)[np.arange(len(true)), np.asarray(true, dtype=np.int64)]
    return float(-np.log(np.maximum(chosen, FLOOR)).mean())


def fit_temperature(probabilities: np.ndarray, true: np.ndarray) -> float:
    """The temperature that minimises the held-out clips' negative log-likelihood (1.0 for no clips).

    With a standard normal prior on log T (the penalty (log T)^2 / 2n): a few held-out clips that
    are all right would otherwise drive T towards 0 (certainty), and a few wrong ones towards
    infinity; the more clips, the less the prior matters."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    true = np.asarray(true, dtype=np.int64)
    if len(true) == 0:
        return 1.0
    from scipy.optimize import minimize_scalar

    log_p = np.log(np.maximum(probabilities, FLOOR))
    rows = np.arange(len(true))

    def loss(log_temperature: float) -> float:
        scaled = log_p / math.exp(log_temperature)
        scaled -= scaled.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(scaled).sum(axis=1))
        return float((log_norm - scaled[rows, true]).mean()) + log_temperature ** 2 / (2 * len(true))

    low, high = (math.log(bound) for bound in TEMPERATURE_RANGE)
    result = minimize_scalar(loss, bounds=(low, high), method="bounded", options={"xatol": 1e-4})
    temperature = math.exp(float(result.x))
    return temperature if loss(float(result.x)) < loss(0.0) else 1.0  # never worse than leaving it alone


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per equal-width bin of top-class confidence: clips, mean confidence and accuracy (None when empty).

    Bin b holds confidences in (b/bins, (b+1)/bins]; a confidence of exactly 0 goes to the first.
    """
    confidence = np.asarray(confidence, dtype=np.float64).reshape(-1)
    correct = np.asarray(correct, dtype=bool).reshape(-1)
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    rows = []
    for index in range(bins):
        inside = which == index
        count = int(inside.sum())
        rows.append({"low": index / bins, "high": (index + 1) / bins, "clips": count,
                     "confidence": float(confidence[inside].mean()) if count else None,
                     "accuracy": float(correct[inside].mean()) if count else None})
    return rows


def calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE from top-class confidences and whether each top class was right: sum over confidence bins of
    (share of clips) x |accuracy - mean confidence|. 0 is perfectly calibrated; 0 for no clips."""
    rows = reliability_bins(confidence, correct, bins)
    total = sum(row["clips"] for row in rows)
    if not total:
        return 0.0
    return float(sum(row["clips"] / total * abs(row["accuracy"] - row["confidence"]) for row in rows if row["clips"]))


def expected_calibration_error(probabilities: np.ndarray, true: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE (10 bins) of (N, C) probabilities against true class indices."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if not len(probabilities):
        return 0.0
    return calibration_error(probabilities.max(axis=1), probabilities.argmax(axis=1) == np.asarray(true), bins)


def rejection_threshold(probabilities: np.ndarray, true: np.ndarray,
                        max_rejected: float = MAX_REJECTED) -> float | None:
    """The highest confidence threshold that rejects at most `max_rejected` of the correctly classified clips.

    A clip is rejected when its top probability is below the threshold, so the threshold is the
    (k+1)-th lowest confidence of the correct clips, k = floor(max_rejected x correct clips).
    None when no clip is correct (nothing to choose from).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    true = np.asarray(true, dtype=np.int64)
    if not len(true):
        return None
    correct = np.sort(probabilities.max(axis=1)[probabilities.argmax(axis=1) == true])
    if not len(correct):
        return None
    allowed = int(math.floor(max_rejected * len(correct) + 1e-9))
    return float(correct[min(allowed, len(correct) - 1)])


@dataclass(frozen=True)
class Calibration:
    """config.json `calibration`: the temperature, the `unknown` threshold and the clips they came from.

    `fitted_on`: "validation" (the run's validation split), "out-of-fold" (a cross-validation
    fold's: the other folds' test predictions), "test" (no clip was held out but the test
    split, so the run's calibrated test figures are in-sample) or "none" (T = 1, the fallback
    threshold). Runs saved before calibration existed load as `Calibration.none()`.
    """

    temperature: float = 1.0
    threshold: float = FALLBACK_THRESHOLD
    fitted_on: str = "none"
    clips: int = 0
    threshold_rule: str = "fallback"  # how the threshold was chosen (FALLBACK_THRESHOLD: none was)
    nll_before: float | None = None
    nll_after: float | None = None
    ece_before: float | None = None
    ece_after: float | None = None
    max_rejected: float = MAX_REJECTED

    @classmethod
    def none(cls) -> Calibration:
        return cls()

    def to_dict(self) -> dict:
        return {name: (round(value, 6) if isinstance(value, float) else value)
                for name, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: Any, where: str | os.PathLike = "config.json") -> Calibration:
        """A checked calibration; None or a missing key gives the uncalibrated default."""
        if values is None:
            return cls.none()
        if not isinstance(values, dict):
            raise InputError(f"{where}: 'calibration' must be a JSON object")
        known = {name: values[name] for name in cls.__dataclass_fields__ if name in values}
        calibration = cls(**known)
        temperature, threshold = calibration.temperature, calibration.threshold
        if not (isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and temperature > 0
                and math.isfinite(temperature)):
            raise InputError(f"{where}: 'calibration.temperature' must be a positive number, got {temperature!r}")
        if not (isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and 0.0 <= threshold <= 1.0):
            raise InputError(f"{where}: 'calibration.threshold' must be between 0 and 1, got {threshold!r}")
        return calibration


def fit_calibration(probabilities: np.ndarray, true: np.ndarray, fitted_on: str,
                    max_rejected: float = MAX_REJECTED) -> Calibration:
    """Temperature and threshold from held-out predictions (raw model probabilities, true class indices)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    true = np.asarray(true, dtype=np.int64)
    if not len(true):
        return Calibration.none()
    # rounded as config.json stores them, so what the run reports is what predict and live apply
    temperature = round(fit_temperature(probabilities, true), 6)
    calibrated = apply_temperature(probabilities, temperature)
    threshold = rejection_threshold(calibrated, true, max_rejected)
    correct = int((calibrated.argmax(axis=1) == true).sum())
    if threshold is None:
        rule = "fallback"
    elif correct < MIN_THRESHOLD_CLIPS:
        threshold, rule = min(threshold, FALLBACK_THRESHOLD), f"lowest of {correct} right answers, at most the fallback"
    else:
        rule = f"rejects at most {max_rejected:.0%} of {correct} right answers"
    threshold = FALLBACK_THRESHOLD if threshold is None else math.floor(threshold * 1e6) / 1e6  # down: rejects no more
    return Calibration(temperature=temperature, threshold=threshold, threshold_rule=rule,
                       fitted_on=fitted_on, clips=int(len(true)),
                       nll_before=negative_log_likelihood(probabilities, true),
                       nll_after=negative_log_likelihood(calibrated, true),
                       ece_before=expected_calibration_error(probabilities, true),
                       ece_after=expected_calibration_error(calibrated, true), max_rejected=max_rejected)
