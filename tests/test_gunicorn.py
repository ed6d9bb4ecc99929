"""The real service: gunicorn on a free loopback port, real clips over HTTP, and the CLI client."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
import requests
import torch

from scoring.settings import EfficientNetSettings
from tests.helpers.paths import MEDIA, shared
from tests.helpers.service import service_env
from tools import client
from tools.local_server import gunicorn_server


@pytest.fixture(scope="module")
def service(weights_dir, tmp_path_factory):
    from efficientnet_pytorch import EfficientNet

    folder = tmp_path_factory.mktemp("gunicorn")
    torch.manual_seed(0)
    classifier = folder / "classifier.pt"
    torch.save(EfficientNet.from_name("efficientnet-b0", num_classes=2).state_dict(), classifier)
    uploads = folder / "uploads"
    uploads.mkdir()
    env = service_env(weights_dir, uploads, EFFICIENTNET_WEIGHTS=str(classifier), EFFICIENTNET_INPUT_SIZE="96")
    with gunicorn_server(env) as url:
        yield url, uploads
    assert list(uploads.iterdir()) == []


def post(url, path, **data):
    with path.open("rb") as handle:
        return requests.post(f"{url}/score", files={"video": (path.name, handle)}, data=data, timeout=300)


def test_gunicorn_serves_health_and_scores_a_real_clip(service):
    url, uploads = service
    health = requests.get(f"{url}/health", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    response = post(url, shared(MEDIA / "talking" / "akash_video_8s.mp4"), session_id="gunicorn-1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["session_id"] == "gunicorn-1" and body["video"]["duration_s"] == 8.12
    assert body["syncnet"]["speaker_track"]["frames"] > 150 and body["efficientnet"]["num_frames"] == EfficientNetSettings().max_frames
    assert list(uploads.iterdir()) == []


def test_gunicorn_keeps_serving_after_bad_input(service, tmp_path):
    url, _ = service
    bogus = tmp_path / "bogus.mp4"
    bogus.write_text("not a video")
    response = post(url, bogus)
    assert response.status_code == 415 and response.json()["error"] == "not_a_video"
    assert requests.get(f"{url}/health", timeout=10).status_code == 200


def test_cli_client_prints_results_and_exit_codes(service, tmp_path, capsys):
    url, _ = service
    clip = shared(MEDIA / "talking" / "grid_sbwe5n.mpg")
    assert client.main([str(clip), "--url", url]) == 0
    text = capsys.readouterr().out
    assert "Combined score:" in text and "SyncNet:" in text and "EfficientNet:" in text and "Risk:" in text
    bogus = tmp_path / "bad.mp4"
    bogus.write_text("nope")
    assert client.main([str(clip), str(bogus), "--url", url, "--json"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["status"] for line in lines] == [200, 415]
    assert lines[0]["file"] == str(clip) and 0 <= lines[0]["response"]["combined_score"] <= 1
    assert lines[1]["response"]["error"] == "not_a_video"
    assert client.main([str(clip), "--url", "http://127.0.0.1:9"]) == 1


def read_like_the_design_document(url: str, clip) -> dict:
    """The design document's client: a multipart upload, then the fields its frontend reads."""
    health = requests.get(f"{url}/health", timeout=10).json()
    seen = {
        "status": health["status"],
        "detectors": health["detectors"],
        "config": (health["config"]["max_video_size_mb"], health["config"]["processing_timeout"]),
        "service": (health["service"], health["version"]),
    }
    result = post(url, clip, session_id="design-client").json()
    seen.update(
        combined_score=result["combined_score"],
        risk_level=result["risk_level"],
        is_likely_real=result["is_likely_real"],
        syncnet=(result["syncnet"]["score"], result["syncnet"]["confidence"]),
        efficientnet=(result["efficientnet"]["score"], result["efficientnet"]["confidence"], result["efficientnet"]["consistency"])
        if result.get("efficientnet")
        else None,
        processing_time_ms=result["processing_time_ms"],
        error=result.get("error"),
    )
    return seen


def test_the_design_documents_client_reads_every_field_with_official_format_weights(service):
    url, _ = service
    seen = read_like_the_design_document(url, shared(MEDIA / "talking" / "grid_bbaf2n.mpg"))
    assert seen["status"] == "healthy" and seen["detectors"] == {"syncnet": True, "efficientnet": True, "voice": True}
    assert seen["config"] == (100, 120) and seen["service"][0] == "deepfake-scoring"
    assert 0 <= seen["combined_score"] <= 1 and seen["risk_level"] in {"LOW", "MEDIUM", "HIGH", "CRITICAL"}
    assert all(isinstance(v, float) for v in seen["syncnet"]) and all(isinstance(v, float) for v in seen["efficientnet"])
    assert isinstance(seen["processing_time_ms"], int) and seen["error"] is None


def test_the_design_documents_start_command_and_client_with_syncnet_unavailable(tmp_path):
    env = {"MODELS_DIR": str(tmp_path), "FACE_DETECTOR": "mtcnn", "PROCESSING_TIMEOUT": "90", "GUNICORN_THREADS": "2"}
    with gunicorn_server(env, app_spec="app:app") as url:
        seen = read_like_the_design_document(url, shared(MEDIA / "talking" / "grid_bbaf2n.mpg"))
    assert seen["status"] == "degraded" and seen["detectors"] == {"syncnet": False, "efficientnet": True, "voice": True}
    assert seen["config"] == (100, 90)
    assert seen["syncnet"] == (None, None) and seen["efficientnet"] is not None
    assert seen["combined_score"] == seen["efficientnet"][0] and isinstance(seen["processing_time_ms"], int)
    assert seen["error"].startswith("syncnet: SyncNet is not available") and str(tmp_path) not in seen["error"]


def test_a_bad_setting_stops_gunicorn_at_start_with_one_line(tmp_path):
    with pytest.raises(RuntimeError) as refused, gunicorn_server({"MAX_UPLOAD_MB": "-1"}, startup_timeout=60):
        pass
    assert "configuration error: MAX_UPLOAD_MB must be positive" in str(refused.value)


def test_a_worker_killed_mid_request_leaves_no_upload_and_the_service_recovers(weights_dir, tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    long_clip = shared(MEDIA / "talking" / "ankurbhatia24_test_video_crop.mp4")
    with gunicorn_server(service_env(weights_dir, uploads)) as url:
        answers = []
        client = threading.Thread(target=lambda: answers.append(_post_or_none(url, long_clip)))
        client.start()
        deadline = time.monotonic() + 60
        while not list(uploads.glob("score-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        [in_flight] = list(uploads.glob("score-*"))
        os.kill(int(in_flight.name.split("-")[1]), signal.SIGKILL)
        client.join(60)
        assert answers == [None]  # the connection died with the worker
        deadline = time.monotonic() + 60
        while in_flight.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(uploads.iterdir()) == []
        assert post(url, shared(MEDIA / "talking" / "grid_bbaf2n.mpg")).status_code == 200


def _post_or_none(url, clip):
    try:
        return post(url, clip).status_code
    except requests.RequestException:
        return None
