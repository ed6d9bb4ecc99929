"""The voice detector under the detector contract: is the speech a recorded person, or synthesised?

AASIST (clovaai/aasist, MIT; `scoring.voice.scorer`) judges the audio the request already decoded.
It judges the voice, not a face, so it never stands alone: a clip in which no face could be judged
gets no verdict from the voice. Its share of the fused score is `FUSION_WEIGHT_VOICE`, 0 by default
because on the recordings measured here it does not tell real from synthetic speech
(docs/voice.md); it is still measured and reported in every response. A score under
`VOICE_SUSPECT_BELOW` (calibrated P(bona fide)) is named in the risk note as a suspected synthetic
voice; 0 by default, so never: on held-out speech the note named 2 of 41 genuine recordings and 2
of 45 synthetic ones.
"""

from __future__ import annotations

from pathlib import Path

import torch

from scoring.contract import UNIT, UNIT_OR_NULL, Detector, Measurement, RecordingSoFar, schema_object, stand_in_schema
from scoring.errors import CannotScore, Code
from scoring.faces.tracking import FaceTrack, TrackingResult
from scoring.media.video import DecodedVideo
from scoring.runtime.timing import Stopwatch
from scoring.runtime.torch_env import dtype_name, resolve_precision
from scoring.settings import Settings
from scoring.voice.scorer import NoSpeechError, VoiceScorer
from scoring.weights.catalog import VOICE_FILES
from scoring.weights.checkpoints import WeightsError
from scoring.weights.files import OfficialFile


class VoiceDetector(Detector):
    name = "voice"
    ahead_rank = 0  # a window judged ahead stays the verdict's unless a louder word moves the speech span
    title = "AASIST voice anti-spoofing"
    always_reported = True  # `voice: {score, available, ...}` in every response
    stands_alone = False  # a voice is not a face: no verdict from it alone
    needs_faces = False  # measured while the faces are found
    image_reason = "a still image has no sound: the voice is judged on videos only"

    def __init__(self, scorer: VoiceScorer, max_windows: int | None = None, suspect_below: float = 0.0):
        self.scorer = scorer
        self.max_windows = max_windows
        self.suspect_below = suspect_below

    @classmethod
    def from_settings(cls, settings: Settings, device: torch.device) -> VoiceDetector:
        path, _ = cls.weights_file(settings)
        if path is None:
            raise WeightsError("turned off (VOICE_WEIGHTS=off)")
        voice = settings.voice
        precision = resolve_precision(voice.precision, torch.device(device))
        return cls(VoiceScorer.load(path, device, settings.allow_unverified_weights, precision=precision), voice.max_windows, voice.suspect_below)

    @staticmethod
    def weights_file(settings: Settings) -> tuple[Path | None, OfficialFile | None]:
        path = settings.voice.weights
        return path, next((official for official in VOICE_FILES if path is not None and official.name == path.name), None)

    def measure(self, video: DecodedVideo, tracking: TrackingResult | None, track: FaceTrack | None, watch: Stopwatch) -> Measurement:
        with watch.stage("voice"):
            try:
                result = self.scorer.score(video.audio, self.max_windows)
            except NoSpeechError as exc:
                code = Code.NO_AUDIO if not video.has_audio else Code.SILENT_AUDIO
                raise CannotScore(code, f"the voice cannot be judged: {exc}") from None
        score = self.scorer.bona_fide_probability(result.logit)
        report = {
            "score": round(score, 4),
            "available": True,
            "calibrated": self.scorer.calibration is not None,
            "suspected_synthetic": score < self.suspect_below,
            "model": self.scorer.variant,
            **result.to_json(),
        }
        for window in report["windows"]:
            window["score"] = round(self.scorer.bona_fide_probability(window["logit"]), 4)
        return Measurement(report, track=None)

    def measure_ahead(self, recording: RecordingSoFar, notes: dict) -> dict | None:
        """One window `measure` will read, judged while the recording arrives (`VoiceScorer.judge_ahead`)."""
        window = self.scorer.judge_ahead(recording.audio, self.max_windows)
        if window is None:
            return None
        return {
            "start_s": round(window.start_s, 3),
            "end_s": round(window.end_s, 3),
            "score": round(self.scorer.bona_fide_probability(window.logit), 4),
        }

    def describe(self) -> dict:
        return {
            **self.scorer.summary(),
            "max_windows": self.max_windows,
            "precision": dtype_name(self.scorer.precision),
            "suspect_below": self.suspect_below,
        }

    @staticmethod
    def risk_note(report: dict | None) -> str | None:
        """Named when the voice's score suspects a synthetic one, whatever its fusion weight."""
        if not report or not report.get("suspected_synthetic"):
            return None
        return f"the voice may be synthetic (AASIST P(bona fide) {report['score']:.2f})"

    @classmethod
    def report_schema(cls) -> dict:
        window = schema_object({"start_s": {"type": "number", "minimum": 0}, "end_s": {"type": "number", "minimum": 0}, "logit": {"type": "number"}, "score": UNIT})
        measured = schema_object(
            {
                "score": UNIT,
                "available": {"const": True},
                "calibrated": {"type": "boolean"},
                "suspected_synthetic": {"type": "boolean"},
                "model": {"type": "string"},
                "logit": {"type": "number"},
                "speech": schema_object({"start_s": {"type": "number"}, "end_s": {"type": "number"}, "seconds": {"type": "number", "minimum": 0}}),
                "windows": {"type": "array", "items": window, "minItems": 1},
            },
            {"probability": UNIT_OR_NULL},
        )
        return {"oneOf": [measured, stand_in_schema()]}
