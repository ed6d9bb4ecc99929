"""The audit trail: one JSON line per decision, with what an auditor needs and nothing it must not hold."""

from __future__ import annotations

import hashlib
import io
import json

import pytest

from app import create_app
from scoring.settings import Settings, SettingsError
from tests.helpers import media
from tests.helpers.service import app_settings

KEY = "audit-test-key-0123456789"


def post(client, clip, **headers):
    with clip.open("rb") as video:
        data = {"video": (video, "clip.mp4"), "session_id": "case-7"}
        return client.post("/score", data=data, content_type="multipart/form-data", headers=headers)


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_each_decision_is_one_line_naming_models_and_the_key_digest_never_the_key(weights_dir, upload_dir, classifier, clips, tmp_path):
    trail = tmp_path / "audit.jsonl"
    client = create_app(app_settings(weights_dir, upload_dir, classifier, audit_log=str(trail), api_keys=(KEY,))).test_client()
    scored = post(client, clips["talking"], Authorization=f"Bearer {KEY}").get_json()
    refused = post(client, clips["noface"], Authorization=f"Bearer {KEY}")
    assert post(client, clips["talking"]).status_code == 401  # no key: not a decision
    first, second = lines(trail)
    assert KEY not in trail.read_text() and first["client_key_id"] == hashlib.sha256(KEY.encode()).hexdigest()[:12]
    assert (first["route"], first["status"], first["outcome"], first["session_id"]) == ("/score", 200, "scored", "case-7")
    assert (first["combined_score"], first["risk_level"], first["is_likely_real"]) == (
        scored["combined_score"],
        scored["risk_level"],
        scored["is_likely_real"],
    )
    for name in ("syncnet", "efficientnet"):
        detector = first["detectors"][name]
        assert detector["score"] == scored[name]["score"] and detector["file"] == scored["models"][name]["file"]
        assert detector["sha256"].startswith(scored["models"][name]["sha256"])
    assert first["degraded"] == {} and first["challenge"] is None and first["processing_time_ms"] == scored["processing_time_ms"]
    assert (second["status"], second["outcome"]) == (refused.status_code, refused.get_json()["error"])
    assert all(str(upload_dir) not in json.dumps(line) for line in (first, second))


def test_a_batch_of_images_gives_a_line_per_image(weights_dir, upload_dir, classifier, tmp_path):
    trail = tmp_path / "audit.jsonl"
    client = create_app(app_settings(weights_dir, upload_dir, classifier, audit_log=str(trail))).test_client()
    photo = media.PHOTO.read_bytes()
    data = {"image": [(io.BytesIO(photo), "a.jpg"), (io.BytesIO(b"not an image"), "b.jpg")]}
    assert client.post("/score/images", data=data, content_type="multipart/form-data").status_code == 200
    first, second = lines(trail)
    assert (first["item"], first["outcome"], first["route"]) == (0, "scored", "/score/images")
    assert (second["item"], second["outcome"], second["status"]) == (1, "not_an_image", 415)


def test_stderr_is_the_default_sink_and_off_writes_nothing(weights_dir, upload_dir, classifier, clips, tmp_path, capfd):
    for sink, expected in (("stderr", 1), ("off", 0)):
        client = create_app(app_settings(weights_dir, upload_dir, classifier, audit_log=sink)).test_client()
        capfd.readouterr()
        assert post(client, clips["talking"]).status_code == 200
        audit_lines = [line for line in capfd.readouterr().err.splitlines() if '"outcome": "scored"' in line]
        assert len(audit_lines) == expected
    assert Settings.from_env({}).audit_log == "stderr"
    with pytest.raises(SettingsError, match="AUDIT_LOG"):
        Settings.from_env({"AUDIT_LOG": str(tmp_path / "missing" / "audit.jsonl")})
