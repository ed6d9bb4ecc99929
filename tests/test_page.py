"""The verification page in a real headless Chromium against the real gunicorn service.

Chromium's fake capture devices play a shared talking clip (tests/helpers/browser.py), the page records
and uploads it, and the verdict must appear. Debian's `chromium` is driven through
playwright; outside CI the tests skip when no Chromium is installed (`.ci/run` installs it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.media.video import decode_video
from tests.helpers import media
from tests.helpers.browser import fake_capture, launch, launch_with_capture, record_on_the_page
from tests.helpers.paths import MEDIA, shared, system_program
from tests.helpers.service import service_env
from tools.local_server import gunicorn_server


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> tuple[Path, Path]:
    return fake_capture(decode_video(shared(MEDIA / "talking" / "akash_video_8s.mp4")), tmp_path_factory.mktemp("capture"))


@pytest.fixture(scope="module")
def chromium() -> str:
    return system_program("chromium", "chromium-browser", package="chromium")


@pytest.fixture(scope="module")
def page_url(weights_dir, tmp_path_factory):
    uploads = tmp_path_factory.mktemp("page-uploads")
    with gunicorn_server(service_env(weights_dir, uploads)) as url:
        yield url
    assert list(uploads.iterdir()) == []


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


def test_the_page_records_a_webm_and_shows_the_verdict(playwright, chromium, page_url, capture, tmp_path):
    browser = launch_with_capture(playwright, chromium, capture)
    try:
        page = browser.new_page(viewport={"width": 900, "height": 1400})
        phrase, answer = record_on_the_page(page, page_url, explain=True)
        assert len(phrase.split()) == 4 and answer["status"] == 200 and answer["via"] == "live"
        body = answer["body"]
        assert body["video"]["container"].startswith("matroska") or "mp4" in body["video"]["container"]
        assert body["video"]["has_audio"] is True and body["faces"]["tracks"] >= 1
        assert body["video"]["duration_s"] >= 3 and body["session_id"].startswith("web-")
        assert page.text_content("#risk") == body["risk_level"]
        assert page.text_content("#combined") == f"{body['combined_score']:.2f}"
        assert "offset" in page.text_content("#detectors")
        # The page asked /challenge for its phrase and sent the token: the clip says something else.
        assert body["challenge"]["phrase"] == phrase and body["challenge"]["passed"] is False
        assert "NOT said" in page.text_content("#detectors")
        # Heat maps were asked for: the page shows each one under the verdict.
        assert len(body["efficientnet"]["explanations"]) == 3
        assert page.is_visible("#heatmaps-box") and len(page.query_selector_all("#heatmaps img")) == 3
        screenshot = tmp_path / "result.png"
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.stat().st_size > 10_000
    finally:
        browser.close()


def test_the_page_tells_a_person_out_of_view_while_recording(playwright, chromium, page_url, tmp_path):
    faceless = decode_video(media.faceless_clip(tmp_path / "faceless.mp4", seconds=6.0))
    browser = launch_with_capture(playwright, chromium, fake_capture(faceless, tmp_path))
    try:
        page = browser.new_page()
        page.goto(page_url + "/")
        page.click("#camera")
        page.wait_for_function("document.getElementById('preview').videoWidth > 0", timeout=20_000)
        page.select_option("#seconds", "5")
        page.click("#record")
        page.wait_for_selector("#guidance:not([hidden])", timeout=20_000)
        assert "No face is seen" in page.text_content("#guidance")
        assert not page.is_visible("#result") and page.is_visible("#countdown")  # told while still recording
        page.wait_for_selector("#message:not([hidden])", timeout=120_000)
        answer = page.evaluate("window.lastResponse")
        assert answer["via"] == "live" and answer["status"] == 422 and answer["body"]["error"] in ("no_face", "no_face_track")
    finally:
        browser.close()


def test_a_refused_camera_and_a_refused_file_show_their_messages(playwright, chromium, page_url, tmp_path):
    browser = launch(playwright, chromium)  # no fake UI: the permission prompt is dismissed, as when a person refuses
    try:
        page = browser.new_page()
        page.goto(page_url + "/")
        page.click("#camera")
        page.wait_for_selector("#message:not([hidden])", timeout=20_000)
        assert "refused" in page.text_content("#message") or "No camera" in page.text_content("#message")
        text_file = tmp_path / "notes.txt"
        text_file.write_text("<img src=x onerror=alert(1)> not a video")
        page.set_input_files("#file", str(text_file))
        page.wait_for_function("window.lastResponse && window.lastResponse.status === 415", timeout=30_000)
        message = page.text_content("#message")
        assert "415" in message and "not_a_video" in message
        assert page.query_selector("img") is None
    finally:
        browser.close()


def test_the_page_can_be_turned_off(tmp_path):
    from app import create_app
    from scoring.settings import Settings

    on = create_app(Settings.from_env({})).test_client()
    assert on.get("/").status_code == 200 and b"Video verification" in on.get("/").data
    assert on.get("/page/page.js").status_code == 200
    off = create_app(Settings.from_env({"PAGE_ENABLED": "0"})).test_client()
    assert off.get("/").status_code == 404 and off.get("/page/page.js").status_code == 404
    assert off.get("/").get_json()["error"] == "not_found"
