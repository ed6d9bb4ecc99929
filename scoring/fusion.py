"""Combining the detectors' 0..1 scores (1 = real) into one score and a risk level."""

from __future__ import annotations

from collections.abc import Mapping

RISK_LEVELS = ((0.8, "LOW"), (0.6, "MEDIUM"), (0.4, "HIGH"))
LIKELY_REAL_ABOVE = 0.6


def risk_level(score: float) -> str:
    for floor, level in RISK_LEVELS:
        if score >= floor:
            return level
    return "CRITICAL"


def fuse(scores: Mapping[str, float | None], weights: Mapping[str, float]) -> tuple[float, dict[str, float]]:
    """Weighted mean over the detectors that produced a score, and the weights actually applied.

    A detector without a score gets weight 0 and the others are renormalised, so a lone
    detector's score stands for itself, even when its configured weight is 0 (a weight of 0 means
    "leave it out while another detector has a score", never "no answer").
    """
    scored = [name for name, score in scores.items() if score is not None]
    if not scored:
        raise ValueError("no detector produced a score")
    present = {name: weights.get(name, 0.0) for name in scored if weights.get(name, 0.0) > 0}
    present = present or {name: 1.0 for name in scored}
    total = sum(present.values())
    applied = {name: round(present.get(name, 0.0) / total, 4) for name in scores}
    combined = sum(scores[name] * weight for name, weight in present.items()) / total
    return round(combined, 4), applied


def verdict(combined: float) -> dict:
    return {
        "combined_score": combined,
        "risk_level": risk_level(combined),
        "is_likely_real": combined > LIKELY_REAL_ABOVE,
    }


def with_failed_challenge(judged: dict) -> dict:
    """A person who did not say the phrase is at least HIGH risk, whatever the detectors think;
    the fused score itself is left as the detectors made it."""
    capped = RISK_LEVELS.index((0.4, "HIGH"))
    lowest_allowed = [level for _, level in RISK_LEVELS[capped:]] + ["CRITICAL"]
    level = judged["risk_level"] if judged["risk_level"] in lowest_allowed else "HIGH"
    return {**judged, "risk_level": level, "is_likely_real": False, "risk_note": "the spoken phrase did not match the challenge"}
