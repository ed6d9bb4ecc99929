"""Fusion and risk levels; settings from the environment and .env.example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scoring.settings import ALIASES, PROJECT_ROOT, VARIABLES, Settings, SettingsError
from scoring.verdict.fusion import DOCUMENT_THRESHOLDS, Thresholds, fuse, with_failed_challenge


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


def test_a_deployment_sets_its_own_cut_offs_and_they_are_checked_at_start():
    strict = Settings.from_env({"RISK_LOW_MIN": "0.9", "RISK_MEDIUM_MIN": "0.75", "RISK_HIGH_MIN": "0.5", "LIKELY_REAL_ABOVE": "0.8"})
    assert strict.thresholds == Thresholds(low=0.9, medium=0.75, high=0.5, likely_real=0.8)
    assert strict.thresholds.verdict(0.85) == {"combined_score": 0.85, "risk_level": "MEDIUM", "is_likely_real": True}
    assert strict.thresholds.verdict(0.7) == {"combined_score": 0.7, "risk_level": "HIGH", "is_likely_real": False}
    assert strict.thresholds.risk_level(0.49) == "CRITICAL"
    for unordered in ({"RISK_MEDIUM_MIN": "0.85"}, {"RISK_HIGH_MIN": "0.6"}, {"RISK_LOW_MIN": "1.2"}, {"RISK_HIGH_MIN": "0"}):
        with pytest.raises(SettingsError, match="risk cut-offs must rise"):
            Settings.from_env(unordered)
    for outside in ("1", "-0.1"):
        with pytest.raises(SettingsError, match="LIKELY_REAL_ABOVE"):
            Settings.from_env({"LIKELY_REAL_ABOVE": outside})
    with pytest.raises(SettingsError, match="RISK_LOW_MIN"):
        Settings.from_env({"RISK_LOW_MIN": "high"})


def env_example() -> dict[str, str]:
    text = (PROJECT_ROOT / ".env.example").read_text()
    return {k: v.split("#")[0].strip() for k, v in re.findall(r"^([A-Z0-9_]+)=(.*)$", text, re.M)}


def test_env_example_documents_every_setting_with_its_default():
    documented = env_example()
    assert [name for name in VARIABLES if name not in documented] == []
    assert Settings.from_env(documented) == Settings.from_env({})


def test_environment_values_are_parsed_and_validated():
    settings = Settings.from_env(
        {
            "MAX_UPLOAD_MB": "5",
            "ALLOWED_VIDEO_DIRS": "/data/a:/data/b",
            "SYNCNET_MODE": "exact",
            "FACE_DETECTOR": "mtcnn",
            "EFFICIENTNET_WEIGHTS": "",
            "MODELS_DIR": "/opt/m",
        }
    )
    assert settings.max_upload_bytes == 5 * 1024 * 1024
    assert settings.allowed_video_dirs == (Path("/data/a"), Path("/data/b"))
    assert settings.syncnet.mode == "exact" and settings.faces.face_detector == "mtcnn"
    assert settings.syncnet.weights == Path("/opt/m/syncnet_v2.model")
    assert settings.efficientnet.weights == ()
    committed = "models/efficientnet/effb0_ffpp_scratch.pt"
    assert Settings.from_env({"EFFICIENTNET_WEIGHTS": committed}).efficientnet.weights == (PROJECT_ROOT / committed,)
    for bad in ({"SYNCNET_MODE": "turbo"}, {"MAX_UPLOAD_MB": "lots"}, {"ALLOW_UNVERIFIED_WEIGHTS": "maybe"}):
        with pytest.raises(SettingsError):
            Settings.from_env(bad)


def test_the_design_documents_names_are_aliases_of_ours():
    committed = "models/efficientnet/effb0_ffpp_scratch.pt"
    settings = Settings.from_env({"EFFICIENTNET_MODEL_PATH": committed, "MAX_VIDEO_SIZE_MB": "25", "PROCESSING_TIMEOUT": "30"})
    assert settings.efficientnet.weights == (PROJECT_ROOT / committed,)
    assert settings.max_upload_mb == 25 and settings.processing_timeout_s == 30
    with pytest.raises(SettingsError, match="both set"):
        Settings.from_env({"MAX_VIDEO_SIZE_MB": "25", "MAX_UPLOAD_MB": "50"})
    assert all(alias in (PROJECT_ROOT / ".env.example").read_text() for alias in ALIASES)


@pytest.mark.parametrize(
    "environ, named",
    [
        ({"MAX_UPLOAD_MB": "-1"}, "MAX_UPLOAD_MB"),
        ({"MIN_DURATION_S": "90"}, "MIN_DURATION_S"),
        ({"FUSION_WEIGHT_SYNCNET": "0", "FUSION_WEIGHT_EFFICIENTNET": "0"}, "FUSION_WEIGHT"),
        ({"FUSION_WEIGHT_SYNCNET": "-0.4"}, "FUSION_WEIGHT"),
        ({"SYNCNET_OFFSET_TOLERANCE": "12"}, "SYNCNET_OFFSET_TOLERANCE"),
        ({"EFFICIENTNET_MODEL_PATH": "/no/such/model.pt"}, "does not exist: model.pt"),
        ({"SYNCNET_WEIGHTS": "/no/such/syncnet.model"}, "SYNCNET_WEIGHTS"),
    ],
)
def test_settings_the_service_cannot_start_with_are_refused_with_one_line(environ, named):
    with pytest.raises(SettingsError, match=named) as refused:
        Settings.from_env(environ)
    assert "\n" not in str(refused.value) and "/no/such" not in str(refused.value)


def test_unknown_names_with_our_prefix_are_warned_about():
    assert Settings.from_env({"SYNCNET_MODEE": "exact", "HOME": "/root"}).warnings == (
        "unknown setting SYNCNET_MODEE is ignored (see .env.example for the names)",
    )


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
