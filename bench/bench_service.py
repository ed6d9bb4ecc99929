"""Whole-request time and worker memory: clips scored through the app, in one process.

    python bench/bench_service.py [VIDEO ...]   (default: every clip under ../shared/media)

Uses the configuration from the environment, as a gunicorn worker would, and prints each clip's
`processing_time_ms`, which detectors ran, and the process's peak resident memory so far (the
figure to size a worker by: models plus the frames of the video being scored).
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

from app import create_app
from scoring.media.files import collect

ROOT = Path(__file__).resolve().parents[1]

def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux reports KiB


def main(argv: list[str]) -> int:
    videos = collect([Path(a) for a in argv] or [ROOT.parent / "shared" / "media"])
    client = create_app().test_client()
    print(f"peak memory after start-up: {peak_rss_gb():.2f} GB")
    print(f"{'clip':40s} {'secs':>5s} {'size':>9s} {'status':>6s} {'ms':>8s}  {'detectors':22s} peak GB")
    for video in videos:
        with open(video, "rb") as stream:
            response = client.post("/score", data={"video": (stream, video.name)}, content_type="multipart/form-data")
        body = response.get_json()
        info = body.get("video", {})
        ran = ",".join(name for name in ("syncnet", "efficientnet") if body.get(name)) or body.get("error", "")
        size = f"{info.get('width', 0)}x{info.get('height', 0)}"
        print(
            f"{video.name[:40]:40s} {info.get('duration_s', 0):5.1f} {size:>9s} {response.status_code:6d} "
            f"{body.get('processing_time_ms', 0):8.0f}  {ran:22s} {peak_rss_gb():.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
