"""Detection metrics on P(real) scores: ROC, AUC, EER, accuracy, Brier score and reliability. Label 1 = real, 0 = fake."""

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
        "brier": brier(labels, scores),
        "balanced_brier": balanced_brier(labels, scores),
    }


def brier(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean squared error of P(real) against the label: 0 is perfect, a constant 0.5 scores 0.25."""
    return float(np.mean((np.asarray(scores, dtype=np.float64) - np.asarray(labels, dtype=np.float64)) ** 2))


def balanced_brier(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """The Brier score with genuine and fake videos weighing half each: what a service sees whatever share of
    its users are genuine (the plain score rewards calling everyone fake on a mostly-fake test set)."""
    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():
        return None
    scores = np.asarray(scores, dtype=np.float64)
    return float((brier(labels[labels], scores[labels]) + brier(labels[~labels], scores[~labels])) / 2)


def reliability(labels: np.ndarray, scores: np.ndarray, bins: int = 5) -> list[dict]:
    """Per equal-width bin of the score: how many videos, their mean score, the share that is real, and that
    share with genuine and fake videos weighing half each overall (what a balanced calibration aims at)."""
    labels, scores = np.asarray(labels, dtype=bool), np.asarray(scores, dtype=np.float64)
    weights = np.where(labels, 0.5 / max(labels.sum(), 1), 0.5 / max((~labels).sum(), 1))
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    table = []
    for index in range(bins):
        inside = which == index
        row = {"bin": [round(edges[index], 3), round(edges[index + 1], 3)], "n": int(inside.sum())}
        if inside.any():
            row["mean_score"] = float(scores[inside].mean())
            row["real_fraction"] = float(labels[inside].mean())
            row["balanced_real_fraction"] = float(weights[inside & labels].sum() / weights[inside].sum())
        table.append(row)
    return table
