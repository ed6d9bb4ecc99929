"""Combining the detectors' 0..1 scores (1 = real) into one score and a risk level."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass

RISK_NAMES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")


@dataclass(frozen=True)
class Thresholds:
    """Where each risk level begins and above which a clip is likely real (the design document's
    cut-offs by default; a deployment moves them to pick its own trade-off between false accepts
    and false rejects: RISK_LOW_MIN, RISK_MEDIUM_MIN, RISK_HIGH_MIN, LIKELY_REAL_ABOVE)."""

    low: float = 0.8
    medium: float = 0.6
    high: float = 0.4
    likely_real: float = 0.6

    def risk_level(self, score: float) -> str:
        for floor, level in zip((self.low, self.medium, self.high), RISK_NAMES, strict=False):  # CRITICAL has no floor
            if score >= floor:
                return level
        return "CRITICAL"

    def verdict(self, combined: float) -> dict:
        return {
            "combined_score": combined,
            "risk_level": self.risk_level(combined),
            "is_likely_real": combined > self.likely_real,
        }

    def to_json(self) -> dict:
        return asdict(self)


# The design document's cut-offs: the model cards and training reports count risk levels with these,
# so their tables do not move with a deployment's settings.
DOCUMENT_THRESHOLDS = Thresholds()


def fuse(scores: Mapping[str, float | None], weights: Mapping[str, float], alone: Collection[str] | None = None) -> tuple[float, dict[str, float]]:
    """Weighted mean over the detectors that produced a score, and the weights actually applied.

    A detector without a score gets weight 0 and the others are renormalised, so a lone
    detector's score stands for itself, even when its configured weight is 0 (a weight of 0 means
    "leave it out while another detector has a score", never "no answer"). Only the detectors in
    `alone` (default: all) may stand alone: the voice is weighed beside a face, never instead of one.
    """
    alone = scores.keys() if alone is None else alone
    scored = [name for name, score in scores.items() if score is not None]
    if not any(name in alone for name in scored):
        raise ValueError("no detector that may stand alone produced a score")
    present = {name: weights.get(name, 0.0) for name in scored if weights.get(name, 0.0) > 0}
    present = present or {name: 1.0 for name in scored if name in alone}
    total = sum(present.values())
    applied = {name: round(present.get(name, 0.0) / total, 4) for name in scores}
    combined = sum(scores[name] * weight for name, weight in present.items()) / total
    return round(combined, 4), applied


def with_failed_challenge(judged: dict) -> dict:
    """A person who did not say the phrase is at least HIGH risk, whatever the detectors think;
    the fused score itself is left as the detectors made it."""
    level = judged["risk_level"] if judged["risk_level"] in ("HIGH", "CRITICAL") else "HIGH"
    return {**judged, "risk_level": level, "is_likely_real": False, "risk_note": joined_note(judged.get("risk_note"), "the spoken phrase did not match the challenge")}


def joined_note(*notes: str | None) -> str | None:
    """One risk note of every concern raised, in order; None when there is none."""
    return "; ".join(note for note in notes if note) or None
