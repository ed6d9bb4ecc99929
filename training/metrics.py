"""Detection metrics on P(real) scores: ROC, AUC, EER and accuracy. Label 1 = real, 0 = fake."""

from __future__ import annotations

import numpy as np


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False- and true-positive rates ('positive' = real) at every distinct threshold, descending."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    tp = np.cumsum(labels)[last_of_tie]
    fp = np.cumsum(~labels)[last_of_tie]
    positives, negatives = max(labels.sum(), 1), max((~labels).sum(), 1)
    return np.r_[0.0, fp / negatives], np.r_[0.0, tp / positives], np.r_[np.inf, scores[last_of_tie]]


def auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve; None when only one class is present."""
    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():
        return None
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr))


def equal_error_rate(labels: np.ndarray, scores: np.ndarray) -> float | None:
    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():
        return None
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1 - tpr
    i = int(np.argmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2)


def accuracy(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> float:
    return float(np.mean((np.asarray(scores) > threshold) == np.asarray(labels, dtype=bool)))


def summary(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict:
    labels = np.asarray(labels, dtype=bool)
    return {
        "n": int(labels.size),
        "real": int(labels.sum()),
        "fake": int((~labels).sum()),
        "auc": auc(labels, scores),
        "eer": equal_error_rate(labels, scores),
        "accuracy": accuracy(labels, scores, threshold),
    }
