"""Metrics and plots of a run: accuracy, macro F1, per-class report, confusion matrix, curves.

Metrics come from scikit-learn; plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, precision_recall_fscore_support

from pose_action.files import write_bytes_atomic, write_text_atomic


def classification_metrics(true: np.ndarray, predicted: np.ndarray, labels: list[str]) -> dict:
    """accuracy, macro F1, per-class precision/recall/F1/support and the confusion matrix (scikit-learn).

    Macro averages are taken over the classes present in the test set (support > 0): a class
    the test set does not hold has no recall to average, and counting it as 0 would punish
    a split for its composition. Every class of `labels` still gets its per-class row.
    `true` and `predicted` are indices into `labels`; confusion rows are true classes.
    """
    indices = list(range(len(labels)))
    present = sorted({int(index) for index in true})
    if not present:
        return {"accuracy": 0.0, "macro_f1": 0.0, "macro_avg": {"precision": 0.0, "recall": 0.0, "f1": 0.0},
                "per_class": {label: {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0} for label in labels},
                "confusion_matrix": np.zeros((len(labels), len(labels)), dtype=int).tolist()}
    report = classification_report(true, predicted, labels=indices, target_names=labels, output_dict=True,
                                   zero_division=0)
    precision, recall, f1, _ = precision_recall_fscore_support(true, predicted, labels=present, average="macro",
                                                               zero_division=0)
    return {
        "accuracy": float(accuracy_score(true, predicted)),
        "macro_f1": float(f1),
        "macro_avg": {"precision": float(precision), "recall": float(recall), "f1": float(f1)},
        "per_class": {label: {"precision": float(report[label]["precision"]), "recall": float(report[label]["recall"]),
                              "f1": float(report[label]["f1-score"]), "support": int(report[label]["support"])}
                      for label in labels},
        "confusion_matrix": confusion_matrix(true, predicted, labels=indices).tolist(),
    }


def report_table(metrics: dict) -> pd.DataFrame:
    """The per-class report as a table (one row per class, then macro avg and accuracy)."""
    rows = [{"class": label, **values} for label, values in metrics["per_class"].items()]
    table = pd.DataFrame(rows, columns=["class", "precision", "recall", "f1", "support"])
    total = int(table["support"].sum())
    macro = metrics["macro_avg"]
    table.loc[len(table)] = ["macro avg", macro["precision"], macro["recall"], macro["f1"], total]
    table.loc[len(table)] = ["accuracy", np.nan, np.nan, metrics["accuracy"], total]
    return table


def write_report_csv(path: str | os.PathLike, metrics: dict) -> None:
    write_text_atomic(path, report_table(metrics).to_csv(index=False, float_format="%.4f"))


def _figure_bytes(figure) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(path: str | os.PathLike, matrix: np.ndarray, labels: list[str], title: str = "") -> None:
    """Row-normalized confusion matrix (recall per true class) with the counts written in."""
    write_bytes_atomic(path, confusion_png(matrix, labels, title))


def confusion_png(matrix: np.ndarray, labels: list[str], title: str = "") -> bytes:
    """plot_confusion's figure as PNG bytes (also what `train --tensorboard` logs as an image)."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1, keepdims=True)
    normalized = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=float), where=rows > 0)
    side = max(4.0, 0.45 * len(labels) + 2.0)
    figure, axes = plt.subplots(figsize=(side + 1, side))
    image = axes.imshow(normalized, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if len(labels) <= 30:
        for (row, column), count in np.ndenumerate(matrix):
            if count:
                axes.text(column, row, str(count), ha="center", va="center", fontsize=7,
                          color="white" if normalized[row, column] > 0.5 else "black")
    axes.set_title(title or "confusion matrix (row-normalized)")
    figure.colorbar(image, ax=axes, fraction=0.046)
    return _figure_bytes(figure)


def plot_reliability(path: str | os.PathLike, bins: list[dict], ece: float, title: str = "",
                     raw_ece: float | None = None) -> None:
    """Reliability diagram: accuracy per confidence bin against the diagonal of a calibrated model,
    with how many clips each bin holds (a bar of 2 clips says little)."""
    plt = _pyplot()
    figure, (axes, counts) = plt.subplots(2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    centres = [(row["low"] + row["high"]) / 2 for row in bins]
    width = bins[0]["high"] - bins[0]["low"] if bins else 0.1
    accuracy = [row["accuracy"] if row["clips"] else 0.0 for row in bins]
    confidence = [row["confidence"] if row["clips"] else centre for row, centre in zip(bins, centres)]
    axes.bar(centres, accuracy, width=width * 0.95, color="#4c72b0", edgecolor="black", label="accuracy")
    axes.bar(centres, [c - a for c, a in zip(confidence, accuracy)], bottom=accuracy, width=width * 0.95,
             color="#dd8452", alpha=0.35, edgecolor="#dd8452", label="gap to confidence")
    axes.plot([0, 1], [0, 1], "k--", linewidth=1, label="calibrated")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_ylabel("accuracy")
    axes.legend(loc="upper left", fontsize=8)
    raw = f", raw {raw_ece:.3f}" if raw_ece is not None else ""
    axes.set_title(f"{title + ': ' if title else ''}ECE {ece:.3f}{raw}", fontsize=9)
    counts.bar(centres, [row["clips"] for row in bins], width=width * 0.95, color="grey")
    counts.set_xlabel("confidence (top class)")
    counts.set_ylabel("clips")
    write_bytes_atomic(path, _figure_bytes(figure))


def plot_curves(path: str | os.PathLike, history: pd.DataFrame, title: str = "") -> None:
    """Loss and accuracy per epoch, training (solid) and validation (dashed), of every head a model has."""
    plt = _pyplot()
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = history["epoch"] if "epoch" in history else np.arange(1, len(history) + 1)
    for column, axes in (("loss", loss_axes), ("accuracy", accuracy_axes)):
        for name in [name for name in history.columns if name.endswith(column)]:
            style = "--" if name.startswith("val_") else "-"
            axes.plot(epochs, history[name], style, label=name if name.startswith("val_") else f"train_{name}")
        axes.set_xlabel("epoch")
        axes.set_ylabel(column)
        axes.legend()
        axes.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    write_bytes_atomic(path, _figure_bytes(figure))


def write_history_csv(path: str | Path, history: pd.DataFrame) -> None:
    write_text_atomic(path, history.to_csv(index=False, float_format="%.6g"))


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (ddof=1; 0 for one value), for cross-validation summaries."""
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0
