"""SyncNet on one video file without the service: decode, track faces, measure every track."""

from __future__ import annotations

from pathlib import Path

from scoring.faces.stage import build_tracker
from scoring.faces.tracking import FaceTracker
from scoring.media.video import DecodeLimits, decode_video
from scoring.runtime.timing import Stopwatch
from scoring.syncnet.detector import SyncNetDetector


def tracker_for(detector: SyncNetDetector) -> FaceTracker:
    """The face stage `detector`'s settings ask for; exact mode detects faces on every frame."""
    tracker, _ = build_tracker(
        detector.faces, detector.scorer.device, detector.allow_unverified_weights, every_frame=detector.settings.mode == "exact"
    )
    return tracker


def measure_file(
    detector: SyncNetDetector, tracker: FaceTracker, path: str | Path, limits: DecodeLimits = DecodeLimits(), watch: Stopwatch | None = None
) -> dict:
    """SyncNet's report on the video at `path`: offset, confidence, the speaker's track and the others."""
    watch = watch or Stopwatch()
    with watch.stage("decode"):
        decoded = decode_video(path, limits, watch)
    tracking = tracker.track(decoded.frames, watch)
    return detector.measure(decoded, tracking, None, watch).report
