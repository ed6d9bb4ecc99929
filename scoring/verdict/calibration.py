"""Turning a detector's 0..1 score into a probability that the video is genuine.

A score is calibrated when, among the videos it gives 0.7, seven in ten are genuine. The bundled
frame classifier's raw scores are not (they sit in 0.2-0.55 whatever the video), so fusion would
average numbers that mean different things. `PlattScaling` maps a score s to
sigmoid(a * logit(s) + b), fitted on held-out labelled videos (`python -m training.calibrate`) and
stored in the sidecar beside the weights, so training and serving share it.

It is fitted with the two classes weighted equally: the result is P(genuine) for a person who is as
likely genuine as not, and a detector that cannot tell (held-out AUC near 0.5) fits a ~ 0, so
every video gets ~0.5 instead of a confident accusation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

EPSILON = 1e-6


def logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p))


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(x, dtype=np.float64)))


@dataclass(frozen=True)
class PlattScaling:
    a: float
    b: float
    fitted_on: str = ""  # what labelled data, for the model card and /health
    videos: int = 0

    method = "platt"

    def __call__(self, scores: np.ndarray | float) -> np.ndarray:
        return sigmoid(self.a * logit(scores) + self.b)

    def to_json(self) -> dict:
        return {"method": self.method, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict) -> PlattScaling:
        if not isinstance(data, dict) or data.get("method") != cls.method:
            raise ValueError(f"calibration must be {{'method': 'platt', 'a': ..., 'b': ...}}, got {data!r}")
        try:
            return cls(float(data["a"]), float(data["b"]), str(data.get("fitted_on", "")), int(data.get("videos", 0)))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"calibration needs numbers a and b, got {data!r}") from None

    @classmethod
    def fit(cls, labels: np.ndarray, scores: np.ndarray, fitted_on: str = "", ridge: float = 1e-2) -> PlattScaling:
        """Weighted logistic regression of the label (1 = genuine) on logit(score), both classes weighing
        the same; a small ridge keeps a and b finite when the held-out scores separate perfectly."""
        y = np.asarray(labels, dtype=np.float64)
        if y.min() == y.max():
            raise ValueError("calibration needs genuine and fake videos")
        x = logit(scores)
        weights = np.where(y == 1, 0.5 / y.sum(), 0.5 / (1 - y).sum())

        def loss(a: float, b: float) -> float:
            z = a * x + b
            return float(np.sum(weights * (np.logaddexp(0, z) - y * z)) + ridge / 2 * a * a)

        a, b = 1.0, 0.0
        for _ in range(100):  # Newton's method on a convex loss, each step halved until the loss falls
            p = sigmoid(a * x + b)
            gradient = np.array([np.sum(weights * (p - y) * x) + ridge * a, np.sum(weights * (p - y))])
            curvature = weights * p * (1 - p)
            hessian = np.array(
                [[np.sum(curvature * x * x) + ridge, np.sum(curvature * x)], [np.sum(curvature * x), np.sum(curvature) + 1e-12]]
            )
            step = np.linalg.solve(hessian, gradient)
            # A full step overshoots where the curvature is nearly flat (well separated, unbalanced classes).
            while loss(a - step[0], b - step[1]) > loss(a, b) and np.abs(step).max() > 1e-12:
                step = step / 2
            a, b = a - step[0], b - step[1]
            if np.abs(step).max() < 1e-10:
                break
        return cls(float(a), float(b), fitted_on, int(y.size))
