"""Chromium driving the verification page, for the page test and bench/page_screenshot.py.

Chromium's fake capture devices play a .y4m and a .wav (written here from a decoded clip) as the
camera and microphone, so the page records and uploads a real person's clip as a user's browser would.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from scoring.media.video import DecodedVideo


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


def fake_capture(decoded: DecodedVideo, folder: Path) -> tuple[Path, Path]:
    """The clip as Chromium's fake camera (.y4m) and microphone (.wav)."""
    return write_y4m(decoded.frames, folder / "talking.y4m"), write_wav(decoded.audio, folder / "talking.wav")


def launch(playwright, chromium: str, *extra_args: str):
    return playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", *extra_args])


def launch_with_capture(playwright, chromium: str, capture: tuple[Path, Path]):
    """Chromium whose camera and microphone play `capture` and whose permission prompts say yes."""
    video, audio = capture
    return launch(
        playwright,
        chromium,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
        f"--use-file-for-fake-audio-capture={audio}",
    )


def record_on_the_page(page, url: str, seconds: int = 5, explain: bool = False) -> tuple[str, dict]:
    """Opens the page, records `seconds` from the camera (asking for heat maps with `explain`), waits
    for the verdict; returns the phrase the page showed and the service's answer as the page received
    it ({"status", "body"})."""
    page.goto(url + "/")
    page.wait_for_function("document.getElementById('phrase').textContent !== '\u2026'")  # the page's placeholder
    phrase = page.text_content("#phrase")
    if explain:
        page.check("#explain")
    page.click("#camera")
    page.wait_for_function("document.getElementById('preview').videoWidth > 0", timeout=20_000)
    page.select_option("#seconds", str(seconds))
    page.click("#record")
    page.wait_for_selector("#countdown:not([hidden])")
    page.wait_for_selector("#result:not([hidden])", timeout=180_000)
    return phrase, page.evaluate("window.lastResponse")
