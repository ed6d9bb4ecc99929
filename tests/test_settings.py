"""Settings (`scoring.settings`) from the environment and .env.example: parsing, aliases, refusals, risk cut-offs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scoring.settings import ALIASES, PROJECT_ROOT, VARIABLES, Settings, SettingsError
from scoring.verdict.fusion import Thresholds


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
    committed = "models/clip/clip_vitb16_probe.pt"
    assert Settings.from_env({"EFFICIENTNET_WEIGHTS": committed}).efficientnet.weights == (PROJECT_ROOT / committed,)
    for bad in ({"SYNCNET_MODE": "turbo"}, {"MAX_UPLOAD_MB": "lots"}, {"ALLOW_UNVERIFIED_WEIGHTS": "maybe"}):
        with pytest.raises(SettingsError):
            Settings.from_env(bad)


def test_the_design_documents_names_are_aliases_of_ours():
    committed = "models/clip/clip_vitb16_probe.pt"
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
