"""The verification page in a real headless Chromium against the real gunicorn service.

Chromium's fake capture devices play a shared talking clip (a .y4m and a .wav made from it here),
the page records and uploads it, and the verdict must appear. Debian's `chromium` is driven through
playwright; outside CI the tests skip when no Chromium is installed (`.ci/run` installs it).
"""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np
import pytest

from scoring.local_server import gunicorn_server
from scoring.video import decode_video
from tests.conftest import MEDIA, service_env, shared, system_program


def write_y4m(frames: list[np.ndarray], target: Path, fps: int = 25) -> Path:
    """YUV4MPEG2 (4:2:0), the format Chromium's fake camera reads, from BGR frames."""
    import cv2

    height, width = frames[0].shape[:2]
    with target.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return target


def write_wav(pcm: np.ndarray, target: Path, rate: int = 16000) -> Path:
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.astype("<i2").tobytes())
    return target


@pytest.fixture(scope="module")
def fake_capture(tmp_path_factory) -> tuple[Path, Path]:
    decoded = decode_video(shared(MEDIA / "talking" / "akash_video_8s.mp4"))
    folder = tmp_path_factory.mktemp("capture")
    return write_y4m(decoded.frames, folder / "talking.y4m"), write_wav(decoded.audio, folder / "talking.wav")


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


def launch(playwright, *extra_args: str):
    return playwright.chromium.launch(executable_path=system_program("chromium", "chromium-browser", package="chromium"), headless=True, args=["--no-sandbox", *extra_args])


def test_the_page_records_a_webm_and_shows_the_verdict(playwright, page_url, fake_capture, tmp_path):
    video, audio = fake_capture
    browser = launch(
        playwright,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
        f"--use-file-for-fake-audio-capture={audio}",
    )
    try:
        page = browser.new_page(viewport={"width": 900, "height": 1400})
        page.goto(page_url + "/")
        page.wait_for_function("document.getElementById('phrase').textContent.split(' ').length === 4")
        phrase = page.text_content("#phrase")
        page.click("#camera")
        page.wait_for_function("document.getElementById('preview').videoWidth > 0", timeout=20_000)
        page.select_option("#seconds", "5")
        page.click("#record")
        page.wait_for_selector("#countdown:not([hidden])")
        page.wait_for_selector("#result:not([hidden])", timeout=180_000)
        answer = page.evaluate("window.lastResponse")
        assert answer["status"] == 200
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
        # PAGE_SCREENSHOT=docs/page/result.png refreshes the README's picture.
        screenshot = Path(os.environ.get("PAGE_SCREENSHOT") or tmp_path / "result.png")
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.stat().st_size > 10_000
    finally:
        browser.close()


def test_a_refused_camera_and_a_refused_file_show_their_messages(playwright, page_url, tmp_path):
    browser = launch(playwright)  # no fake UI: the permission prompt is dismissed, as when a person refuses
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
