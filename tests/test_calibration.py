"""Calibration: Platt scaling with balanced classes, the sidecar that carries it into the service,
and the metrics and tool that fit and judge it (Brier score, reliability, leave one group out)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from efficientnet_detector import EfficientNetDetector
from scoring.verdict.calibration import PlattScaling
from scoring.weights.checkpoints import WeightsError
from training import calibrate, metrics


def informative(count=400, seed=0):
    """Scores squeezed into 0.2-0.55 like the bundled model's, but ranking genuine videos higher."""
    rng = np.random.default_rng(seed)
    labels = rng.random(count) < 0.3
    scores = np.clip(0.33 + 0.08 * labels + rng.normal(0, 0.05, count), 0.2, 0.55)
    return labels, scores


def test_platt_scaling_makes_squeezed_scores_probabilities():
    labels, scores = informative()
    fit = PlattScaling.fit(labels, scores)
    calibrated = fit(scores)
    assert fit.a > 1 and metrics.auc(labels, calibrated) == pytest.approx(metrics.auc(labels, scores))  # monotone
    balanced = np.where(labels, 0.5 / labels.sum(), 0.5 / (~labels).sum())
    assert np.sum(balanced * (calibrated - labels) ** 2) < 0.75 * np.sum(balanced * (scores - labels) ** 2)
    assert calibrated[labels].mean() > 0.55 and calibrated[~labels].mean() < 0.45


def test_a_detector_that_cannot_tell_is_calibrated_to_about_one_half():
    rng = np.random.default_rng(1)
    labels = rng.random(300) < 0.3  # mostly fakes: an unweighted fit would call everyone fake
    fit = PlattScaling.fit(labels, rng.uniform(0.2, 0.5, 300))
    assert abs(fit.a) < 0.3
    assert np.all(np.abs(fit(np.linspace(0.2, 0.5, 7)) - 0.5) < 0.05)


def test_perfectly_separated_scores_stay_finite_and_one_class_is_refused():
    fit = PlattScaling.fit(np.array([0, 0, 1, 1]), np.array([0.2, 0.3, 0.6, 0.7]))
    assert np.isfinite([fit.a, fit.b]).all() and fit(0.7) > 0.9 and fit(0.2) < 0.1
    with pytest.raises(ValueError, match="genuine and fake"):
        PlattScaling.fit(np.array([1, 1]), np.array([0.2, 0.3]))


def test_the_fit_reaches_the_loss_minimum_on_few_genuine_and_many_fakes():
    """A plain Newton step overshot here (a -> 304, b -> -5e11: every clip called fake); the fit
    must land where a general-purpose optimiser of the same loss does."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(2)
    logits = np.r_[rng.normal(1.0, 2.5, 12), rng.normal(-6, 1.5, 288)]
    labels = np.r_[np.ones(12), np.zeros(288)]
    fitted = PlattScaling.fit(labels, 1 / (1 + np.exp(-logits)))
    weights = np.where(labels == 1, 0.5 / 12, 0.5 / 288)

    def loss(params):
        z = params[0] * logits + params[1]
        return np.sum(weights * (np.logaddexp(0, z) - labels * z)) + 1e-2 / 2 * params[0] ** 2

    best = minimize(loss, np.array([1.0, 0.0]), method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-12}).x
    assert fitted.a == pytest.approx(best[0], abs=1e-3) and fitted.b == pytest.approx(best[1], abs=1e-3)


def test_metrics_brier_and_reliability():
    labels, scores = np.array([1, 0, 1, 0]), np.array([0.9, 0.1, 0.6, 0.4])
    assert metrics.brier(labels, scores) == pytest.approx((0.01 + 0.01 + 0.16 + 0.16) / 4)
    assert metrics.brier(labels, np.full(4, 0.5)) == 0.25
    skewed = np.array([1, 0, 0, 0])
    assert metrics.balanced_brier(skewed, np.zeros(4)) == 0.5 and metrics.brier(skewed, np.zeros(4)) == 0.25
    table = metrics.reliability(labels, scores, bins=2)
    assert [b["n"] for b in table] == [2, 2] and table[1]["real_fraction"] == 1.0 and table[1]["mean_score"] == pytest.approx(0.75)
    skewed = metrics.reliability(np.array([1, 0, 0, 0]), np.array([0.9, 0.8, 0.2, 0.1]), bins=2)
    assert skewed[1]["real_fraction"] == 0.5 and skewed[1]["balanced_real_fraction"] == pytest.approx(0.75)


def test_the_sidecar_calibration_maps_the_service_score_and_keeps_the_raw_one(tmp_path):
    from efficientnet_pytorch import EfficientNet

    torch.manual_seed(0)
    path = tmp_path / "own.pt"
    torch.save(EfficientNet.from_name("efficientnet-b0", num_classes=2).state_dict(), path)
    sidecar = {"class_order": ["real", "fake"], "input_size": 64}
    path.with_name("own.pt.json").write_text(json.dumps(sidecar))
    faces = list(np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8))
    raw = EfficientNetDetector(path, "cpu").predict_frames(faces)
    fit = PlattScaling(a=2.0, b=0.5, fitted_on="test", videos=10)
    path.with_name("own.pt.json").write_text(json.dumps({**sidecar, "calibration": fit.to_json()}))
    detector = EfficientNetDetector(path, "cpu")
    assert detector.spec.sources["calibration"].startswith("sidecar") and detector.spec.summary()["calibration"]["a"] == 2.0
    report = detector.predict_frames(faces)
    (model,) = report["models"]
    assert model["raw_score"] == raw["score"] and model["calibration"] == "platt"
    assert report["score"] == pytest.approx(float(fit(raw["score"])), abs=2e-4)
    assert report["frame_scores"] == pytest.approx(fit(np.array(raw["frame_scores"])).tolist(), abs=2e-4)
    path.with_name("own.pt.json").write_text(json.dumps({**sidecar, "calibration": {"method": "isotonic"}}))
    with pytest.raises(WeightsError, match="calibration must be"):
        EfficientNetDetector(path, "cpu")


def test_calibrate_scores_each_group_with_a_fit_that_never_saw_it_and_writes_the_sidecar(tmp_path, capsys):
    labels, scores = informative(120, seed=3)
    videos = [
        {"path": f"v{i}.mp4", "label": "REAL" if y else "FAKE", "group": f"g{i % 6}", "efficientnet_raw": float(s)}
        for i, (y, s) in enumerate(zip(labels, scores, strict=True))
    ]
    videos.append({"path": "refused.mp4", "label": "REAL", "group": "g0", "refused": "422 no_face: no face"})
    results = tmp_path / "heldout.json"
    results.write_text(json.dumps({"videos": videos}))
    weights = tmp_path / "model.pt"
    weights.with_name("model.pt.json").write_text(json.dumps({"input_size": 128}))
    argv = [str(results), "--weights", str(weights), "--reliability", str(tmp_path / "r.png"), "--write"]
    assert calibrate.main(argv) == 0
    report = json.loads(capsys.readouterr().out.split("\nreliability diagram")[0])
    after, before = report["after (leave one group out)"], report["before"]
    assert report["videos"] == 120 and report["groups"] == 6
    assert after["balanced_brier"] < before["balanced_brier"] and sum(after["genuine_risk_levels"].values()) == labels.sum()
    assert before["genuine_risk_levels"]["LOW"] == before["genuine_risk_levels"]["MEDIUM"] == 0  # raw: no genuine video passes
    stored = json.loads(weights.with_name("model.pt.json").read_text())
    assert stored["input_size"] == 128 and stored["calibration"]["method"] == "platt"
    assert (tmp_path / "r.png").stat().st_size > 0
    held_out = PlattScaling.fit(labels[np.arange(120) % 6 != 0], scores[np.arange(120) % 6 != 0])
    np.testing.assert_allclose(
        calibrate.leave_one_group_out(labels, scores, np.array([f"g{i % 6}" for i in range(120)]))[::6], held_out(scores[::6])
    )
