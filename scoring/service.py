"""One scoring request from file to JSON: decode once, track faces once, run both detectors, fuse.

The stages follow a model-serving handler: admission (a bounded number of jobs per worker,
others wait up to QUEUE_TIMEOUT_S and then get 503), preprocessing (decode, face tracks),
inference (SyncNet on the tracks and audio, EfficientNet on crops of the same tracks) and
postprocessing (fusion, the response). A detector that is unavailable or cannot judge this
video is reported in `degraded` and the other detector's score stands alone; with no score at
all the request fails with the reason, never with a made-up number.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from efficientnet_detector import crops_from_tracking
from frame_extractor import DecodedVideo, DecodeLimits, decode_video
from scoring.detectors import Detectors
from scoring.errors import CannotScore, ServiceUnavailable, Unprocessable
from scoring.fusion import fuse, verdict
from scoring.settings import Settings
from scoring.timing import Stopwatch
from syncnet_python.tracking import FaceTrack, TrackingResult

DETECTORS = ("syncnet", "efficientnet")


@dataclass
class BranchOutcome:
    result: dict | None = None
    speaker: FaceTrack | None = None
    code: str | None = None
    message: str | None = None
    unavailable: bool = False

    def degraded_entry(self) -> dict | None:
        return None if self.result is not None else {"code": self.code, "message": self.message}


class Admission:
    """At most `capacity` jobs at once per worker; torch already uses every core for one job."""

    def __init__(self, capacity: int, wait_s: float):
        self._slots = threading.BoundedSemaphore(max(1, capacity))
        self.capacity = max(1, capacity)
        self.wait_s = wait_s
        self.running = 0

    @contextmanager
    def slot(self):
        if not self._slots.acquire(timeout=self.wait_s):
            raise ServiceUnavailable(
                f"the server is busy with other videos; retry in a few seconds (waited {self.wait_s:.0f} s)",
                code="server_busy",
            )
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._slots.release()


class ScoringService:
    def __init__(self, settings: Settings, detectors: Detectors):
        self.settings = settings
        self.detectors = detectors
        self.admission = Admission(settings.max_concurrent_jobs, settings.queue_timeout_s)
        self.limits = DecodeLimits(settings.max_duration_s, settings.max_source_side, settings.frame_max_side)

    def score(self, video_path: Path, session_id: str | None = None) -> dict:
        started = time.perf_counter()
        with self.admission.slot():
            watch = Stopwatch(deadline=time.monotonic() + self.settings.processing_timeout_s)
            response = self._score(video_path, watch)
        response["session_id"] = session_id
        response["processing_time_ms"] = round((time.perf_counter() - started) * 1000, 1)
        response["timings_ms"] = watch.milliseconds()
        return response

    def _score(self, video_path: Path, watch: Stopwatch) -> dict:
        syncnet, efficientnet = self.detectors.syncnet.get(), self.detectors.efficientnet.get()
        if syncnet is None and efficientnet is None:
            raise ServiceUnavailable(
                "no detector is available: " + "; ".join(filter(None, (self.detectors.syncnet.error, self.detectors.efficientnet.error))),
                code="no_detector_available",
            )
        with watch.stage("decode"):
            decoded = decode_video(video_path, self.limits, watch.deadline)
        if decoded.duration_s < self.settings.min_duration_s:
            raise Unprocessable(
                f"the clip is {decoded.duration_s:.2f} s long; at least {self.settings.min_duration_s:.1f} s is needed",
                code="video_too_short",
            )
        tracker = self.detectors.face_tracker.get()
        if tracker is None:
            raise ServiceUnavailable(f"no face detector could be loaded: {self.detectors.face_tracker.error}", code="no_detector_available")
        tracking = tracker.track(decoded.frames, watch)

        outcomes = {"syncnet": self._run_syncnet(syncnet, decoded, tracking, watch)}
        # Both detectors judge the same person: the speaker SyncNet found, else the longest track.
        speaker = outcomes["syncnet"].speaker
        outcomes["efficientnet"] = self._run_efficientnet(efficientnet, decoded, tracking, speaker, watch)
        return self._respond(decoded, tracking, outcomes)

    def _run_syncnet(self, syncnet, decoded: DecodedVideo, tracking: TrackingResult, watch: Stopwatch) -> BranchOutcome:
        if syncnet is None:
            return BranchOutcome(code="unavailable", message=f"SyncNet is not available: {self.detectors.syncnet.error}", unavailable=True)
        try:
            measured = syncnet.measure_tracks(decoded, tracking, watch)
            return BranchOutcome(measured.report, measured.speaker)
        except CannotScore as exc:
            return BranchOutcome(code=exc.code, message=exc.message)

    def _run_efficientnet(self, detector, decoded, tracking, speaker: FaceTrack | None, watch: Stopwatch) -> BranchOutcome:
        if detector is None:
            return BranchOutcome(code="unavailable", message=f"EfficientNet is not available: {self.detectors.efficientnet.error}", unavailable=True)
        settings = self.settings.efficientnet
        try:
            with watch.stage("classifier_crops"):
                faces = crops_from_tracking(decoded, tracking, settings.num_frames, settings.crop_margin, detector.input_size, speaker)
        except CannotScore as exc:
            return BranchOutcome(code=exc.code, message=exc.message)
        with watch.stage("classifier"):
            result = detector.predict_frames(faces.crops_rgb)
        result["frame_indices"] = [int(i) for i in faces.frame_indices]
        result["face_source"] = faces.source
        return BranchOutcome(result)

    def _respond(self, decoded: DecodedVideo, tracking: TrackingResult, outcomes: dict[str, BranchOutcome]) -> dict:
        scores = {name: (o.result["score"] if o.result else None) for name, o in outcomes.items()}
        if all(score is None for score in scores.values()):
            raise _no_score_error(outcomes)
        weights = {"syncnet": self.settings.fusion_weight_syncnet, "efficientnet": self.settings.fusion_weight_efficientnet}
        combined, applied = fuse(scores, weights)
        degraded = {name: o.degraded_entry() for name, o in outcomes.items() if o.result is None}
        return {
            **verdict(combined),
            "syncnet": outcomes["syncnet"].result,
            "efficientnet": outcomes["efficientnet"].result,
            "weights": applied,
            "degraded": degraded or None,
            "video": decoded.summary(),
            "faces": {
                "detector": tracking.detector,
                "tracks": len(tracking.tracks),
                "scenes": len(tracking.scenes),
                "frames_searched": tracking.detected_frames,
            },
            "models": self._models_used(outcomes, tracking),
        }

    def _models_used(self, outcomes: dict[str, BranchOutcome], tracking: TrackingResult) -> dict:
        files = self.detectors.weight_files()
        used = {}
        for name in DETECTORS:
            if outcomes[name].result is not None:
                path, _ = files[name]
                used[name] = {"file": path.name, "sha256": self.detectors.short_hash(name)}
        face = {"name": tracking.detector}
        if tracking.detector == "s3fd":
            face.update(file=files["s3fd"][0].name, sha256=self.detectors.short_hash("s3fd"))
        used["face_detector"] = face
        return used


def _no_score_error(outcomes: dict[str, BranchOutcome]) -> Exception:
    reasons = "; ".join(f"{name}: {o.message}" for name, o in outcomes.items())
    judged = [o for o in outcomes.values() if not o.unavailable]
    face_codes = {"no_face", "no_face_track"}
    code = "no_face" if any(o.code in face_codes for o in judged) else judged[0].code
    return Unprocessable(f"no detector could score this video ({reasons})", code=code)
