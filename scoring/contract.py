"""What every detector is to the service, as a model-serving handler is to its server.

A detector is loaded once per worker (`from_settings`, raising WeightsError when its weights are
absent or wrong), then measures one decoded, tracked video at a time (`measure`, raising
CannotScore when this video gives it nothing to judge) and reports its model (`describe`).
`ScoringService` runs every detector through the same steps, in the order of
`scoring.detectors.DETECTOR_TYPES`; each one sees the face track its predecessors judged.

Beside `measure`, as TorchServe's `explain_handle` sits beside `handle`, a detector may offer
hooks; each is "not applicable" by default, so the service, the OpenAPI document, the audit trail
and the metrics name no detector:

- `judge_image`: the report for one face of a still image (`image_reason` says why a detector
  that does not judge photos has no score for one);
- `explain` / `explain_image`: heat maps of what it judged, on request;
- `measure_ahead`: while a live recording arrives, part of the work `measure` will ask for, done on
  what has arrived and remembered, so that at `stop` only the tail is left;
- `report_schema`: the JSON schema of its report in responses;
- `check_settings` and `health_config`: what is wrong with its settings at start, and what
  /health's `config` says of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from scoring.faces.tracking import FaceTrack, TrackingResult
from scoring.media.video import DecodedVideo
from scoring.runtime.timing import Stopwatch
from scoring.settings import Settings
from scoring.weights.files import OfficialFile

# Working ahead, a recording is taken to last at least the page's usual 5 s (at 25 fps): what a
# shorter one would choose along a track is mostly dropped again as it grows.
AHEAD_FRAMES = 125


@dataclass(frozen=True)
class RecordingSoFar:
    """What a live recording holds when a detector works ahead: its frames (BGR, 25 fps), its audio
    (int16, 16 kHz, aligned to the frames; None before any), each a prefix of the decoded video's,
    and the face tracks linked from the searches so far."""

    frames_bgr: Sequence[np.ndarray]
    audio: np.ndarray | None
    tracking: TrackingResult


# JSON-schema fragments for reports (and scoring.web.openapi's other schemas).
UNIT = {"type": "number", "minimum": 0, "maximum": 1}
UNIT_OR_NULL = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
COUNT = {"type": "integer", "minimum": 0}
NO_SCORE = {"score": {"type": "null"}, "confidence": {"type": "null"}, "code": {"type": "string"}}


def schema_object(required: dict, optional: dict | None = None, closed: bool = False) -> dict:
    """A JSON-schema object with `required` properties, and `optional` ones; `closed`: no others."""
    schema = {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}
    if closed:
        schema["additionalProperties"] = False
    return schema


def stand_in_schema() -> dict:
    """The object a detector the clients always read answers with when it has no score."""
    return schema_object(NO_SCORE, {"available": {"type": "boolean"}, "reason": {"type": "string"}})


@dataclass
class Measurement:
    report: dict  # the detector's JSON object in the response; report["score"] is its 0..1, 1 = real
    track: FaceTrack | None  # the face it judged, so the next detector judges the same person


class Detector:
    name: ClassVar[str]  # its key in responses, fusion weights and /health
    title: ClassVar[str]  # its name in messages (a loaded detector may say more: which model runs)
    always_reported: ClassVar[bool]  # an object with score null (not null) in responses when it did not run
    stands_alone: ClassVar[bool]  # its score alone may make a verdict (a face detector), or only beside one (the voice)
    needs_faces: ClassVar[bool]  # measured after face tracking; without, while the faces are found (tracking is None then)
    image_reason: ClassVar[str | None] = None  # why it gives no score for a still image; None: it judges them (judge_image)
    # Working ahead, lower ranks go first: work a longer recording is less likely to undo (a live
    # session's search thread may not have time for every detector's).
    ahead_rank: ClassVar[int] = 0

    @classmethod
    def from_settings(cls, settings: Settings, device: torch.device) -> Detector:
        raise NotImplementedError

    @staticmethod
    def weights_file(settings: Settings) -> tuple[Path | None, OfficialFile | None]:
        raise NotImplementedError

    def measure(self, video: DecodedVideo, tracking: TrackingResult | None, track: FaceTrack | None, watch: Stopwatch) -> Measurement:
        raise NotImplementedError

    def describe(self) -> dict:
        raise NotImplementedError

    @classmethod
    def judges_images(cls) -> bool:
        return cls.image_reason is None

    def judge_image(self, image_rgb: np.ndarray, box: Sequence[float]) -> dict:
        """The report for the face at `box` (x1, y1, x2, y2 in the image's pixels)."""
        raise NotImplementedError(f"{self.title} does not judge still images: {self.image_reason}")

    def measure_ahead(self, recording: RecordingSoFar, notes: dict) -> dict | None:
        """One step of what `measure` will need if the recording goes on, done now on what has arrived
        and remembered by content; what it found (a progress figure), or None when nothing is left to
        do on it. `notes`: this detector's own, on this recording, kept between its steps."""
        return None

    def explain(self, video: DecodedVideo, tracking: TrackingResult, measurement: Measurement) -> list[dict] | None:
        """Heat maps of what `measure` judged; None: this detector draws none."""
        return None

    def explain_image(self, image_rgb: np.ndarray, box: Sequence[float], report: dict) -> list[dict] | None:
        """Heat maps of the face `judge_image` reported on; None: this detector draws none."""
        return None

    @staticmethod
    def risk_note(report: dict | None) -> str | None:
        """What the verdict's risk note says of its report, if anything."""
        return None

    @classmethod
    def report_schema(cls) -> dict:
        """The JSON schema of its object in responses."""
        return {"type": ["object", "null"]}

    @classmethod
    def check_settings(cls, settings: Settings) -> list[str]:
        """What in its settings stops the service from starting (scoring.settings.SettingsError)."""
        return []

    @classmethod
    def health_config(cls, settings: Settings, device: torch.device) -> dict:
        """Its entries in /health's `config`, read from the settings without loading anything."""
        return {}
