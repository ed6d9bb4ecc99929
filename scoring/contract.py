"""What every detector is to the service, as a model-serving handler is to its server.

A detector is loaded once per worker (`from_settings`, raising WeightsError when its weights are
absent or wrong), then measures one decoded, tracked video at a time (`measure`, raising
CannotScore when this video gives it nothing to judge) and reports its model (`describe`).
`ScoringService` runs every detector through the same steps, in the order of
`scoring.detectors.DETECTOR_TYPES`; each one sees the face track its predecessors judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

import torch

from scoring.faces.tracking import FaceTrack, TrackingResult
from scoring.media.video import DecodedVideo
from scoring.runtime.timing import Stopwatch
from scoring.settings import Settings
from scoring.weights.files import OfficialFile


@dataclass
class Measurement:
    report: dict  # the detector's JSON object in the response; report["score"] is its 0..1, 1 = real
    track: FaceTrack | None  # the face it judged, so the next detector judges the same person


class Detector(Protocol):
    name: ClassVar[str]  # its key in responses, fusion weights and /health
    title: ClassVar[str]  # its name in messages
    always_reported: ClassVar[bool]  # an object with score null (not null) in responses when it did not run
    stands_alone: ClassVar[bool]  # its score alone may make a verdict (a face detector), or only beside one (the voice)
    needs_faces: ClassVar[bool]  # measured after face tracking; without, while the faces are found (tracking is None then)

    @classmethod
    def from_settings(cls, settings: Settings, device: torch.device) -> "Detector": ...

    @staticmethod
    def weights_file(settings: Settings) -> tuple[Path | None, OfficialFile | None]: ...

    def measure(self, video: DecodedVideo, tracking: TrackingResult | None, track: FaceTrack | None, watch: Stopwatch) -> Measurement: ...

    def describe(self) -> dict: ...

    @staticmethod
    def risk_note(report: dict | None) -> str | None: ...  # what the verdict's risk note says of its report, if anything
