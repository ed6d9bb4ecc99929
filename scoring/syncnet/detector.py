"""The SyncNet half of the ensemble: does the mouth move with the voice?

`SyncNetDetector.measure(decoded, tracking)` (the detector contract of `scoring.contract`) measures
every face track on the decode and the tracks the service shares with the frame classifier. Fast mode shares `fast_max_windows`
evenly spaced lip windows among the tracks (exact mode embeds them all), so a request's cost is
bounded whatever the weights; the speaker is the track with the highest confidence.

The 0..1 score is `logistic((confidence - conf_midpoint) / conf_scale)`, multiplied by an offset
factor that is 1 while |offset| <= offset_tolerance frames and falls linearly to 0 at offset_limit:
synced real speech typically gives confidence 5-8 at offsets within a few frames, unrelated audio
gives confidence near 0 or a large offset. A curve whose minimum is not statistically clear
(`settled: false`, see syncnet_python.sync.is_decisive) has found no sync, so its score is at most
UNSETTLED_SCORE (cannot tell) whatever its confidence. Lip-sync generators trained against a SyncNet-like
critic can score as high as real video, so this score alone never clears a video.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scoring.contract import AHEAD_FRAMES, UNIT, Detector, Measurement, RecordingSoFar, schema_object, stand_in_schema
from scoring.errors import CannotScore, Code
from scoring.faces.tracking import FaceTrack, TrackingResult
from scoring.media.video import SAMPLES_PER_FRAME, DecodedVideo
from scoring.runtime.timing import Stopwatch
from scoring.runtime.torch_env import dtype_name, precision_name, resolve_precision
from scoring.settings import FaceSettings, Settings, SyncNetSettings
from scoring.syncnet.inference import load_syncnet_v2
from scoring.syncnet.scorer import SyncNetScorer
from scoring.weights.catalog import SYNCNET_V2
from scoring.weights.checkpoints import require_official
from scoring.weights.files import OfficialFile
from syncnet_python.audio import is_silent
from syncnet_python.crops import SyncNetCropper
from syncnet_python.sync import SyncMeasurement

FRAME_MS = 40
UNSETTLED_SCORE = 0.5
MIN_TRACK_WINDOWS = 16


def sync_score(confidence: float, offset: int, settings: SyncNetSettings, settled: bool = True) -> float:
    confident = 1.0 / (1.0 + math.exp(-(confidence - settings.conf_midpoint) / settings.conf_scale))
    excess = max(0, abs(offset) - settings.offset_tolerance)
    band = max(1, settings.offset_limit - settings.offset_tolerance)
    score = confident * max(0.0, 1.0 - excess / band)
    return score if settled else min(score, UNSETTLED_SCORE)


@dataclass
class TrackMeasurement:
    track: FaceTrack
    measurement: SyncMeasurement | None

    def report(self, settings: SyncNetSettings) -> dict:
        report = self.track.summary()
        if self.measurement is None:
            report["skipped"] = "audio too short for a 5-frame window"
            return report
        m = self.measurement
        report.update(
            offset_frames=m.offset,
            lag_ms=m.offset * FRAME_MS,
            confidence=round(m.confidence, 4),
            min_dist=round(m.min_dist, 4),
            score=round(sync_score(m.confidence, m.offset, settings, m.decisive), 4),
            settled=m.decisive,
            windows_used=m.windows_used,
            windows_available=m.available_windows,
        )
        return report


class SyncNetDetector(Detector):
    name = "syncnet"
    ahead_rank = 1  # its audio windows stay; a few lip windows leave the choice as the track grows
    title = "SyncNet"
    always_reported = True  # the document's clients read result['syncnet']['score'] even when it did not run
    stands_alone = True
    needs_faces = True
    image_reason = "a still image has no lip movement or sound: lip sync is measured on videos only"

    def __init__(self, scorer: SyncNetScorer, settings: SyncNetSettings, faces: FaceSettings, allow_unverified_weights: bool = False):
        self.scorer = scorer
        self.settings = settings
        self.faces = faces
        self.allow_unverified_weights = allow_unverified_weights

    @classmethod
    def from_settings(cls, settings: Settings, device: torch.device) -> SyncNetDetector:
        """Load the weights strictly; raises scoring.weights.checkpoints.WeightsError when they are absent or wrong.

        Unless `allow_unverified_weights`, only the byte-exact official syncnet_v2.model is accepted.
        """
        weights = settings.syncnet.weights
        if not settings.allow_unverified_weights:
            require_official(weights, SYNCNET_V2)
        device = torch.device(device)
        precision = resolve_precision(settings.syncnet.stream_precision, device)
        scorer = SyncNetScorer(load_syncnet_v2(weights), device, settings.syncnet.batch_size, precision)
        return cls(scorer, settings.syncnet, settings.faces, settings.allow_unverified_weights)

    @staticmethod
    def weights_file(settings: Settings) -> tuple[Path | None, OfficialFile | None]:
        return settings.syncnet.weights, SYNCNET_V2

    def window_budget(self, tracks: int) -> int | None:
        """Lip windows per track: fast mode shares `fast_max_windows` evenly among the tracks (at least
        MIN_TRACK_WINDOWS each, so only a crowd exceeds the cap); exact mode embeds them all (None)."""
        if self.settings.mode != "fast":
            return None
        return max(MIN_TRACK_WINDOWS, self.settings.fast_max_windows // max(1, tracks))

    def measure_tracks(self, decoded: DecodedVideo, tracks: list[FaceTrack], watch: Stopwatch) -> list[TrackMeasurement]:
        """Each track on its share of the window budget; tracks spanning the same frames (faces side by
        side in one shot) share one embedding of their audio."""
        budget = self.window_budget(len(tracks))
        audio_by_span: dict[tuple[int, int], torch.Tensor] = {}
        measured = []
        for track in tracks:
            span = (track.start, track.end)
            pcm = decoded.audio[track.start * SAMPLES_PER_FRAME : track.end * SAMPLES_PER_FRAME]
            m = self.scorer.measure(
                self.cropper(decoded.frames, track), track.length, pcm, self.settings.vshift, budget, watch, audio_by_span.get(span)
            )
            if m is not None:
                audio_by_span[span] = m.audio
            measured.append(TrackMeasurement(track, m))
        return measured

    def cropper(self, frames: Sequence[np.ndarray], track: FaceTrack) -> SyncNetCropper:
        return SyncNetCropper(frames, track.boxes, track.start, self.settings.crop_scale)

    def measure(
        self, video: DecodedVideo, tracking: TrackingResult, track: FaceTrack | None = None, watch: Stopwatch | None = None
    ) -> Measurement:
        """Every track measured, the speaker (highest confidence) reported; raises CannotScore when none can be.

        SyncNet finds the speaker itself, so a `track` judged before it is not needed.
        """
        watch = watch or Stopwatch()
        if not video.has_audio:
            raise CannotScore(Code.NO_AUDIO, "the video has no audio track, so lip sync cannot be measured")
        if is_silent(video.audio):
            raise CannotScore(Code.SILENT_AUDIO, "the audio track is silent, so lip sync cannot be measured")
        if not tracking.tracks:
            raise CannotScore(Code.NO_FACE_TRACK, no_track_message(tracking, self.faces))
        measured = self.measure_tracks(video, tracking.tracks, watch)
        usable = [m for m in measured if m.measurement is not None]
        if not usable:
            raise CannotScore(Code.TOO_SHORT, "the audio is too short to cover a 5-frame window of any face track")
        speaker = max(usable, key=lambda m: (m.measurement.confidence, m.track.length))
        main = speaker.report(self.settings)
        main["framewise_confidence"] = [round(float(v), 3) for v in speaker.measurement.framewise_confidence]
        main["framewise_start_frames"] = [int(speaker.track.start + v) for v in speaker.measurement.window_starts]
        report = {
            "offset_frames": main["offset_frames"],
            "lag_ms": main["lag_ms"],
            "confidence": main["confidence"],
            "min_dist": main["min_dist"],
            "score": main["score"],
            "settled": main["settled"],
            "mode": self.settings.mode,
            "vshift": self.settings.vshift,
            "face_detector": tracking.detector,
            "speaker_track": main,
            "other_tracks": [m.report(self.settings) for m in measured if m is not speaker],
        }
        return Measurement(report, speaker.track)

    def measure_ahead(self, recording: RecordingSoFar, notes: dict) -> dict | None:
        """One pass of what `measure` will embed on the tracks so far if the recording ends now
        (`SyncNetScorer.embed_ahead`), on each track's share of the window budget."""
        if recording.audio is None:
            return None
        tracks = recording.tracking.tracks
        budget = self.window_budget(len(tracks))
        for track in tracks:
            pcm = recording.audio[track.start * SAMPLES_PER_FRAME : track.end * SAMPLES_PER_FRAME]
            crops = self.cropper(recording.frames_bgr, track)
            found = self.scorer.embed_ahead(crops, track.length, pcm, budget, notes.setdefault(track.start, {}), AHEAD_FRAMES)
            if found is not None:
                return {"track_start_frame": track.start, **found}
        return None

    def describe(self) -> dict:
        return {"precision": dtype_name(self.scorer.precision)}

    @classmethod
    def report_schema(cls) -> dict:
        measured = schema_object(
            {"score": UNIT, "confidence": {"type": "number"}},
            {"offset_frames": {"type": "integer"}, "lag_ms": {"type": "number"}, "min_dist": {"type": "number"}, "settled": {"type": "boolean"}},
        )
        return {"oneOf": [measured, stand_in_schema()]}

    @classmethod
    def health_config(cls, settings: Settings, device: torch.device) -> dict:
        s = settings.syncnet
        return {"syncnet_mode": s.mode, "syncnet_fast_max_windows": s.fast_max_windows, "syncnet_precision": precision_name(s.stream_precision, device)}


def no_track_message(tracking: TrackingResult, settings: FaceSettings) -> str:
    if tracking.detected_frames == 0:
        return f"no shot lasts the {settings.min_track_frames} frames a face track needs"
    if tracking.faces_seen == 0:
        return f"no face was found ({tracking.detected_frames} frames searched with {tracking.detector})"
    return f"faces were seen but none was tracked for {settings.min_track_frames} frames at more than {settings.min_face_size} px"
