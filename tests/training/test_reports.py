"""Reported metrics against values worked out by hand on a small case."""

from __future__ import annotations

import numpy as np
import pytest

from pose_action.training.reports import classification_metrics, report_table

# 3 classes; class 2 ("c") is never in the test set but is predicted once.
LABELS = ["a", "b", "c"]
TRUE = np.array([0, 0, 0, 0, 1, 1])
PREDICTED = np.array([0, 0, 1, 2, 1, 0])


def test_metrics_match_hand_computed_values():
    metrics = classification_metrics(TRUE, PREDICTED, LABELS)
    # confusion (rows true, columns predicted): a -> a,a,b,c ; b -> b,a
    assert metrics["confusion_matrix"] == [[2, 1, 1], [1, 1, 0], [0, 0, 0]]
    assert metrics["accuracy"] == pytest.approx(3 / 6)
    # a: precision 2/3 (a predicted 3 times, right twice), recall 2/4, F1 = 2PR/(P+R) = 4/7
    a = metrics["per_class"]["a"]
    assert (a["precision"], a["recall"], a["f1"], a["support"]) == pytest.approx((2 / 3, 1 / 2, 4 / 7, 4))
    # b: precision 1/2, recall 1/2, F1 1/2
    b = metrics["per_class"]["b"]
    assert (b["precision"], b["recall"], b["f1"], b["support"]) == pytest.approx((1 / 2, 1 / 2, 1 / 2, 2))
    # c: predicted once, never true: precision 0, recall 0 (no support), F1 0
    c = metrics["per_class"]["c"]
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == (0.0, 0.0, 0.0, 0)
    # macro F1 over the classes present in the test set (a, b): (4/7 + 1/2) / 2 = 15/28
    assert metrics["macro_f1"] == pytest.approx(15 / 28)
    assert metrics["macro_avg"]["precision"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert metrics["macro_avg"]["recall"] == pytest.approx(1 / 2)


def test_report_table_rows_and_totals():
    table = report_table(classification_metrics(TRUE, PREDICTED, LABELS)).set_index("class")
    assert list(table.index) == ["a", "b", "c", "macro avg", "accuracy"]
    assert table.loc["macro avg", "f1"] == pytest.approx(15 / 28)
    assert table.loc["accuracy", "f1"] == pytest.approx(0.5) and table.loc["accuracy", "support"] == 6


def test_perfect_predictions():
    metrics = classification_metrics(np.array([0, 1, 1]), np.array([0, 1, 1]), ["x", "y"])
    assert metrics["accuracy"] == metrics["macro_f1"] == 1.0
    assert metrics["confusion_matrix"] == [[1, 0], [0, 2]]
