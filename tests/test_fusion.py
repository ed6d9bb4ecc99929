"""Fusion and risk levels (`scoring.verdict.fusion`): the combined score, its verdict and a failed challenge."""

from __future__ import annotations

import pytest

from scoring.verdict.fusion import DOCUMENT_THRESHOLDS, fuse, with_failed_challenge


@pytest.mark.parametrize(
    "score, level",
    [(1.0, "LOW"), (0.8, "LOW"), (0.7999, "MEDIUM"), (0.6, "MEDIUM"), (0.5, "HIGH"), (0.4, "HIGH"), (0.39, "CRITICAL"), (0.0, "CRITICAL")],
)
def test_risk_levels(score, level):
    assert DOCUMENT_THRESHOLDS.risk_level(score) == level


def test_fusion_weights_both_detectors():
    combined, applied = fuse({"syncnet": 0.9, "efficientnet": 0.5}, {"syncnet": 0.4, "efficientnet": 0.6})
    assert combined == pytest.approx(0.4 * 0.9 + 0.6 * 0.5)
    assert applied == {"syncnet": 0.4, "efficientnet": 0.6}


def test_a_lone_detector_stands_for_itself():
    combined, applied = fuse({"syncnet": None, "efficientnet": 0.72}, {"syncnet": 0.4, "efficientnet": 0.6})
    assert combined == pytest.approx(0.72) and applied == {"syncnet": 0.0, "efficientnet": 1.0}


def test_configured_weights_are_normalised_and_no_score_is_an_error():
    combined, applied = fuse({"syncnet": 1.0, "efficientnet": 0.0}, {"syncnet": 1.0, "efficientnet": 3.0})
    assert combined == pytest.approx(0.25) and applied == {"syncnet": 0.25, "efficientnet": 0.75}
    with pytest.raises(ValueError):
        fuse({"syncnet": None, "efficientnet": None}, {"syncnet": 0.4, "efficientnet": 0.6})


def test_verdict_is_likely_real_above_0_6():
    assert DOCUMENT_THRESHOLDS.verdict(0.61) == {"combined_score": 0.61, "risk_level": "MEDIUM", "is_likely_real": True}
    assert DOCUMENT_THRESHOLDS.verdict(0.6)["is_likely_real"] is False


def test_a_lone_detector_with_weight_zero_still_gives_its_score():
    assert fuse({"syncnet": None, "efficientnet": 0.3}, {"syncnet": 0.4, "efficientnet": 0.0}) == (
        0.3,
        {"syncnet": 0.0, "efficientnet": 1.0},
    )
    assert fuse({"syncnet": 0.9, "efficientnet": 0.3}, {"syncnet": 0.4, "efficientnet": 0.0})[0] == 0.9


def test_a_failed_challenge_makes_the_risk_at_least_high_and_keeps_the_score():
    for score, level in ((0.95, "HIGH"), (0.7, "HIGH"), (0.5, "HIGH"), (0.2, "CRITICAL")):
        judged = with_failed_challenge(DOCUMENT_THRESHOLDS.verdict(score))
        assert judged["risk_level"] == level and judged["combined_score"] == score and judged["is_likely_real"] is False
