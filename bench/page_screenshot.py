"""The README's picture of the verification page, taken from the real service as installed.

    python bench/page_screenshot.py [--clip ../shared/media/talking/akash_video_8s.mp4] [--out docs/page/result.png]

Starts gunicorn with the environment as it is (the detectors `setup.sh` installed: offline, SyncNet
is unavailable and the bundled frame classifier scores), has Debian's Chromium record `--clip`
through the page as a user's camera and microphone would deliver it, waits for the verdict and
saves the whole page. A recorded clip cannot say the phrase the page asks for, so the picture
shows the spoken-phrase check failing. Prints the verdict the picture shows.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from scoring.media.video import decode_video
from tests.helpers.browser import fake_capture, launch_with_capture, record_on_the_page
from tools.local_server import gunicorn_server

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=ROOT.parent / "shared" / "media" / "talking" / "akash_video_8s.mp4")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "page" / "result.png")
    parser.add_argument(
        "--seconds", type=int, default=3, choices=[3, 5, 8, 10], help="the recording length the page is set to (the clip loops after its end)"
    )
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        parser.error("Debian's chromium is needed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="page-screenshot-") as scratch, gunicorn_server() as url, sync_playwright() as driver:
        browser = launch_with_capture(driver, chromium, fake_capture(decode_video(args.clip), Path(scratch)))
        try:
            page = browser.new_page(viewport={"width": 900, "height": 1400})
            phrase, answer = record_on_the_page(page, url, args.seconds)
            page.screenshot(path=str(args.out), full_page=True)
        finally:
            browser.close()
    body = answer["body"]
    print(f"{args.out}: HTTP {answer['status']}, {body.get('risk_level')} {body.get('combined_score')} (phrase asked: {phrase!r})")
    for name in ("syncnet", "efficientnet"):
        print(f"  {name}: {(body.get(name) or {}).get('score')} {(body.get(name) or {}).get('error') or ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
