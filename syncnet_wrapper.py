"""The design document's SyncNet front door: `SyncNetWrapper` and `python -m syncnet_wrapper VIDEO [--json]`.

    wrapper = SyncNetWrapper.from_settings(load_settings(), torch.device("cpu"))
    wrapper.process_video("clip.mp4", reference="session-1")        # SyncNet alone
    wrapper.process_video_ensemble("clip.mp4", "session-1", EfficientNetDetector(path, "cpu"))

The detector itself is `scoring.syncnet.detector.SyncNetDetector` (what the service runs); this
adds the document's calls on one video file. The command line is `scoring.syncnet.cli`.
"""

from __future__ import annotations

import dataclasses
import sys
from functools import cached_property
from pathlib import Path

from scoring.detectors import Detectors
from scoring.faces.tracking import FaceTracker
from scoring.media.video import DecodeLimits
from scoring.runtime.timing import Stopwatch
from scoring.service import ScoringService
from scoring.settings import load_settings
from scoring.syncnet.cli import main
from scoring.syncnet.detector import SyncNetDetector
from scoring.syncnet.standalone import measure_file, tracker_for

__all__ = ["SyncNetWrapper", "main"]


class SyncNetWrapper(SyncNetDetector):
    @cached_property
    def face_tracker(self) -> FaceTracker:
        return tracker_for(self)

    def process_video(
        self, path: str | Path, reference: str | None = None, limits: DecodeLimits = DecodeLimits(), watch: Stopwatch | None = None
    ) -> dict:
        """Decode, track and measure one video on its own; `reference` (the caller's id for the video,
        e.g. a session id) is echoed in the result."""
        return {**measure_file(self, self.face_tracker, path, limits, watch), "reference": reference}

    def process_video_ensemble(self, video_path: str | Path, reference: str | None = None, efficientnet_detector=None) -> dict:
        """The service's own pipeline and response for one video, with this SyncNet and
        `efficientnet_detector` (an EfficientNetDetector, or None: SyncNet alone)."""
        settings = load_settings().replace(syncnet=self.settings, faces=self.faces, allow_unverified_weights=self.allow_unverified_weights)
        if efficientnet_detector is not None:
            settings = settings.replace(efficientnet=dataclasses.replace(settings.efficientnet, weights=efficientnet_detector.paths))
        models = {self.name: self, "efficientnet": efficientnet_detector}
        detectors = Detectors.given(settings, self.scorer.device, models, self.face_tracker)
        return ScoringService(settings, detectors).score(Path(video_path), reference)


if __name__ == "__main__":
    sys.exit(main())
