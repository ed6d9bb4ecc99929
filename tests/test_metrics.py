"""`GET /metrics`: scraped after real requests, in process and through gunicorn's workers."""

from __future__ import annotations

import time

import requests
from prometheus_client.mmap_dict import MmapedDict

from app import create_app
from tests.helpers.prometheus import samples, value
from tests.helpers.service import app_settings, service_env, upload
from tools.local_server import gunicorn_server

REQUESTS = "deepfake_scoring_http_requests_total"


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return samples(response.get_data(as_text=True))


def moved(before: dict, after: dict, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_a_scrape_counts_requests_verdicts_stages_and_detectors(weights_dir, upload_dir, classifier, clips):
    mute = clips["mute"]
    client = create_app(app_settings(weights_dir, upload_dir, classifier)).test_client()
    before = scrape(client)
    scored = upload(client, mute)
    assert scored.status_code == 200
    assert upload(client, data=b"not a video").status_code == 415
    assert client.get("/health").status_code == 200
    assert client.get("/jobs/../../etc/passwd").status_code == 404
    after = scrape(client)

    assert moved(before, after, REQUESTS, route="/score", method="POST", status="200") == 1
    assert moved(before, after, REQUESTS, route="/score", method="POST", status="415") == 1
    assert moved(before, after, REQUESTS, route="/health", method="GET", status="200") == 1
    assert moved(before, after, REQUESTS, route="unmatched", method="GET", status="404") == 1
    assert moved(before, after, "deepfake_scoring_http_request_duration_seconds_count", route="/score") == 2
    assert moved(before, after, "deepfake_scoring_verdicts_total", risk_level=scored.get_json()["risk_level"], kind="video") == 1
    assert moved(before, after, "deepfake_scoring_scoring_errors_total", code="not_a_video") == 1
    assert moved(before, after, "deepfake_scoring_detector_degraded_total", detector="syncnet", code="no_audio") == 1
    assert moved(before, after, "deepfake_scoring_stage_duration_seconds_count", stage="decode") == 1
    decode_seconds = moved(before, after, "deepfake_scoring_stage_duration_seconds_sum", stage="decode")
    assert abs(decode_seconds - scored.get_json()["timings_ms"]["decode"] / 1000) < 1e-3


def test_a_full_worker_counts_its_refusals(weights_dir, upload_dir, classifier):
    app = create_app(app_settings(weights_dir, upload_dir, classifier, max_queued_jobs=0))
    client = app.test_client()
    before = scrape(client)
    with app.extensions["scoring"].service.admission.ticket():
        assert upload(client, data=b"any").status_code == 503
        during = scrape(client)
    assert moved(before, during, "deepfake_scoring_admission_rejections_total") == 1
    assert value(during, "deepfake_scoring_jobs_in_worker", state="waiting") == 1


def test_metrics_are_guarded_by_api_keys_or_their_own_token(weights_dir, upload_dir, classifier):
    key, token = "scoring-key-0123456789", "scraper-token-0123456789"
    keyed = create_app(app_settings(weights_dir, upload_dir, classifier, api_keys=(key,))).test_client()
    assert keyed.get("/metrics").status_code == 401
    assert keyed.get("/metrics", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    tokened = create_app(app_settings(weights_dir, upload_dir, classifier, api_keys=(key,), metrics_token=token)).test_client()
    assert tokened.get("/metrics", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert tokened.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_gunicorn_workers_counts_are_summed_in_every_scrape(weights_dir, tmp_path):
    uploads, counts = tmp_path / "uploads", tmp_path / "metrics"
    uploads.mkdir()
    env = service_env(weights_dir, uploads, WEB_CONCURRENCY="2", PROMETHEUS_MULTIPROC_DIR=str(counts))
    with gunicorn_server(env) as url:
        before = samples(requests.get(f"{url}/metrics", timeout=30).text)
        asked, deadline = 0, time.monotonic() + 120
        while len(health_answerers(counts)) < 2 or asked < 12:  # a new connection each: the workers take turns once both run
            assert time.monotonic() < deadline, "the second worker never answered"
            assert requests.get(f"{url}/health", timeout=30).status_code == 200
            asked += 1
        scrapes = [samples(requests.get(f"{url}/metrics", timeout=30).text) for _ in range(6)]
    for scraped in scrapes:
        assert moved(before, scraped, REQUESTS, route="/health", method="GET", status="200") == asked


def health_answerers(counts) -> set[str]:
    """The worker processes that have counted a /health answer (prometheus_client keeps one file per process)."""
    return {
        path.stem.rsplit("_", 1)[1]
        for path in counts.glob("counter_*.db")
        if any('"/health"' in key for key, *_ in MmapedDict.read_all_values_from_file(str(path)))
    }
