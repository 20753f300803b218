"""Metrics and plots of a run: accuracy, macro F1, per-class report, confusion matrix, curves.

Plain NumPy (no scikit-learn dependency) and matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from pose_action.files import write_bytes_atomic, write_text_atomic


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts; rows = true class, columns = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def classification_metrics(true: np.ndarray, predicted: np.ndarray, labels: list[str]) -> dict:
    """accuracy, macro_f1 (over classes present in the test set) and per-class precision/recall/F1."""
    matrix = confusion_matrix(true, predicted, len(labels))
    support = matrix.sum(axis=1)
    predicted_counts = matrix.sum(axis=0)
    hits = np.diag(matrix)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted_counts > 0, hits / np.maximum(predicted_counts, 1), 0.0)
        recall = np.where(support > 0, hits / np.maximum(support, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    present = support > 0
    total = int(support.sum())
    per_class = {label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                         "support": int(support[i])} for i, label in enumerate(labels)}
    return {
        "accuracy": float(hits.sum() / total) if total else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }


def report_table(metrics: dict) -> pd.DataFrame:
    """The per-class report as a table (one row per class, then macro avg and accuracy)."""
    rows = [{"class": label, **values} for label, values in metrics["per_class"].items()]
    table = pd.DataFrame(rows, columns=["class", "precision", "recall", "f1", "support"])
    present = table[table["support"] > 0]
    total = int(table["support"].sum())
    table.loc[len(table)] = ["macro avg", present["precision"].mean(), present["recall"].mean(),
                             metrics["macro_f1"], total]
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
    write_bytes_atomic(path, _figure_bytes(figure))


def plot_curves(path: str | os.PathLike, history: pd.DataFrame, title: str = "") -> None:
    """Loss and accuracy per epoch, training and validation."""
    plt = _pyplot()
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = history["epoch"] if "epoch" in history else np.arange(1, len(history) + 1)
    for column, axes in (("loss", loss_axes), ("accuracy", accuracy_axes)):
        for prefix, style in (("", "-"), ("val_", "--")):
            if prefix + column in history:
                axes.plot(epochs, history[prefix + column], style, label=(prefix or "train_") + column)
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
