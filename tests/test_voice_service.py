"""The voice detector in the service: reported in every response, fused only by its setting, never alone."""

from __future__ import annotations

import numpy as np
import pytest

from app import create_app
from scoring.settings import Settings, SettingsError, VoiceSettings
from scoring.verdict.fusion import with_failed_challenge
from scoring.voice.detector import VoiceDetector
from tests.helpers import media
from tests.helpers.paths import MEDIA, shared
from tests.helpers.service import app_settings, post_images, upload

REAL_PERSON = MEDIA / "talking" / "akash_video_8s.mp4"


def post(client, clip):
    return upload(client, clip, name=clip.name)


@pytest.fixture(scope="module")
def faceless_speech(tmp_path_factory):
    folder = tmp_path_factory.mktemp("voice-clips")
    pcm = media.flite_speech("a person reads the phrase on the screen out loud", "slt", folder / "speech.wav")
    frames = [np.full((480, 640, 3), 90, np.uint8)] * (pcm.size * 25 // media.SAMPLE_RATE + 1)
    return media.write_video(folder / "faceless.mkv", frames, audio=pcm, audio_codec="pcm_s16le")


def test_the_voice_is_measured_reported_and_left_out_of_the_fusion_by_default(weights_dir, upload_dir, classifier):
    client = create_app(app_settings(weights_dir, upload_dir, classifier)).test_client()
    body = post(client, shared(REAL_PERSON)).get_json()
    voice = body["voice"]
    assert voice["available"] is True and voice["model"] == "AASIST" and 0 <= voice["score"] <= 1
    assert voice["windows"] and all(w["end_s"] > w["start_s"] for w in voice["windows"])
    assert voice["speech"]["seconds"] > 3 and body["models"]["voice"]["file"] == "AASIST.pth"
    assert voice["suspected_synthetic"] is False and "risk_note" not in body  # a real person, and AASIST's lowest here is 0.2
    assert body["weights"]["voice"] == 0 and body["timings_ms"]["voice"] > 0
    off = create_app(app_settings(weights_dir, upload_dir, classifier, voice=VoiceSettings(weights=None))).test_client()
    without = post(off, shared(REAL_PERSON)).get_json()
    assert without["voice"] == {**without["voice"], "score": None, "available": False, "code": "unavailable"}
    assert without["combined_score"] == body["combined_score"]


def test_a_fusion_weight_gives_the_voice_its_share(weights_dir, upload_dir, classifier):
    client = create_app(app_settings(weights_dir, upload_dir, classifier, fusion_weight_voice=1.0)).test_client()
    body = post(client, shared(REAL_PERSON)).get_json()
    scores = {name: body[name]["score"] for name in ("syncnet", "efficientnet", "voice")}
    applied = body["weights"]
    assert applied["voice"] == pytest.approx(1.0 / 2.0, abs=1e-3)
    expected = sum(scores[name] * applied[name] for name in scores if scores[name] is not None)
    assert body["combined_score"] == pytest.approx(expected, abs=2e-3)


def test_the_window_cap_spreads_the_windows_and_bfloat16_stays_close(weights_dir, upload_dir, classifier):
    capped = create_app(app_settings(weights_dir, upload_dir, classifier, voice=VoiceSettings(max_windows=1, precision="float32"))).test_client()
    one = post(capped, shared(REAL_PERSON)).get_json()["voice"]
    full = create_app(app_settings(weights_dir, upload_dir, classifier, voice=VoiceSettings(max_windows=8, precision="float32"))).test_client()
    every = post(full, shared(REAL_PERSON)).get_json()["voice"]
    assert len(one["windows"]) == 1 and len(every["windows"]) == 4
    assert one["windows"][0] == every["windows"][0]  # the first window is always kept
    lower = create_app(app_settings(weights_dir, upload_dir, classifier, voice=VoiceSettings(max_windows=8, precision="bfloat16"))).test_client()
    approximate = post(lower, shared(REAL_PERSON)).get_json()["voice"]
    assert max(abs(a["logit"] - b["logit"]) for a, b in zip(approximate["windows"], every["windows"], strict=True)) < 0.1


def test_the_voice_never_judges_a_clip_without_a_face(weights_dir, upload_dir, classifier, faceless_speech):
    client = create_app(app_settings(weights_dir, upload_dir, classifier, fusion_weight_voice=1.0)).test_client()
    response = post(client, faceless_speech)
    assert response.status_code == 422 and response.get_json()["error"] == "no_face"


def test_no_audio_is_a_reason_not_a_failure(weights_dir, upload_dir, classifier, clips):
    body = post(create_app(app_settings(weights_dir, upload_dir, classifier)).test_client(), clips["mute"]).get_json()
    assert body["voice"]["score"] is None and body["voice"]["code"] == "no_audio" and body["voice"]["available"] is True
    assert body["degraded"]["voice"]["code"] == "no_audio" and body["combined_score"] == body["efficientnet"]["score"]


def test_a_photo_says_the_voice_does_not_apply(weights_dir, upload_dir, classifier):
    client = create_app(app_settings(weights_dir, upload_dir, classifier)).test_client()
    photo = post_images(client, media.PHOTO.read_bytes())
    assert photo.get_json()["voice"]["code"] == "not_applicable"


def test_the_risk_note_names_a_suspected_synthetic_voice():
    assert VoiceDetector.risk_note({"score": 0.12, "suspected_synthetic": True}) == "the voice may be synthetic (AASIST P(bona fide) 0.12)"
    assert VoiceDetector.risk_note({"score": 0.7, "suspected_synthetic": False}) is None and VoiceDetector.risk_note(None) is None
    judged = with_failed_challenge({"risk_level": "LOW", "is_likely_real": True, "risk_note": "the voice may be synthetic"})
    assert judged["risk_note"] == "the voice may be synthetic; the spoken phrase did not match the challenge"


def test_the_suspected_voice_note_is_off_unless_a_deployment_sets_its_threshold(weights_dir, upload_dir, classifier, tmp_path):
    """On held-out speech the note named genuine and synthetic voices alike (docs/voice.md): off by default."""
    assert Settings.from_env({}).voice.suspect_below == 0
    clip = media.video_with_speech(shared(REAL_PERSON), "a person reads the phrase on the screen out loud", "slt", tmp_path / "slt.mkv")
    default = post(create_app(app_settings(weights_dir, upload_dir, classifier)).test_client(), clip).get_json()
    assert default["voice"]["score"] < 0.05 and default["voice"]["suspected_synthetic"] is False and "risk_note" not in default
    chosen = app_settings(weights_dir, upload_dir, classifier, voice=VoiceSettings(suspect_below=0.05))
    named = post(create_app(chosen).test_client(), clip).get_json()
    assert named["voice"]["suspected_synthetic"] is True and "the voice may be synthetic" in named["risk_note"]


def test_the_voice_settings_are_checked_and_shown(weights_dir, upload_dir, classifier):
    with pytest.raises(SettingsError, match="FUSION_WEIGHT_VOICE"):
        Settings.from_env({"FUSION_WEIGHT_VOICE": "-0.1"})
    assert Settings.from_env({"VOICE_WEIGHTS": "off"}).voice.weights is None
    health = create_app(app_settings(weights_dir, upload_dir, classifier, fusion_weight_voice=0.2)).test_client().get("/health").get_json()
    assert health["config"]["fusion_weights"]["voice"] == 0.2 and health["detectors"]["voice"] is True
