"""One scoring request from file to JSON: decode once, track faces once, run every detector, fuse.

The stages follow a model-serving handler: admission (`scoring.operations.admission`: a bounded number of
jobs per worker, a bounded number waiting, the rest 503 at once), preprocessing (decode, face tracks),
inference (SyncNet on the tracks and audio, the frame classifier on crops of the same tracks) and
postprocessing (fusion, the response). A still image (`score_image`) takes the same path with one
face and the frame classifier alone. Every detector goes through the same steps
(`scoring.contract`); one that is unavailable or cannot judge this video is reported in `degraded` and the other detector's score stands alone; with no score at
all the request fails with the reason, never with a made-up number.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from scoring import __version__
from scoring.contract import Detector, Measurement
from scoring.detectors import Detectors
from scoring.errors import CannotScore, Code, DetectorFailed, DetectorUnavailable, ServiceError
from scoring.faces.tracking import FaceTrack, FaceTracker, TrackingResult
from scoring.liveness.speech import PhraseVerifier
from scoring.media.images import decode_image
from scoring.media.video import DecodedVideo, DecodeLimits, decode_video
from scoring.operations import metrics
from scoring.operations.admission import Admission
from scoring.runtime import torch_env
from scoring.runtime.timing import Stopwatch
from scoring.settings import Settings
from scoring.verdict.fusion import fuse, joined_note, with_failed_challenge

log = logging.getLogger("deepfake_scoring")


@dataclass
class Outcome:
    """What one detector gave for this video: its measurement, or why it has none."""

    measurement: Measurement | None = None
    error: ServiceError | None = None

    @property
    def report(self) -> dict | None:
        return self.measurement.report if self.measurement is not None else None

    def degraded_entry(self) -> dict | None:
        return None if self.error is None else {"code": self.error.code, "message": self.error.message}


class ScoringService:
    def __init__(self, settings: Settings, detectors: Detectors):
        self.settings = settings
        self.detectors = detectors
        self.admission = Admission(settings.max_concurrent_jobs, settings.max_queued_jobs, settings.queue_timeout_s)
        self.limits = DecodeLimits(settings.max_duration_s, settings.max_source_side, settings.frame_max_side)
        self.phrases = PhraseVerifier()
        self._beside = ThreadPoolExecutor(max_workers=self.admission.capacity, thread_name_prefix="beside-faces")

    def admitted(self) -> AbstractContextManager:
        """A place in this worker for one request, running or waiting, or 503 server_busy at once:
        taken before the request's upload is read, so a full worker refuses without reading it."""
        return self.admission.ticket()

    def score(self, video_path: Path, session_id: str | None = None, phrase: str | None = None, explain: bool = False) -> dict:
        """The response for one video; with `phrase` (a redeemed challenge), also whether it was said;
        with `explain`, heat maps of the frames the frame classifier scored lowest."""
        return self._answer(session_id, lambda watch: self._score(self._decoded(video_path, watch), watch, phrase, explain), "video")

    @contextmanager
    def live_slot(self):
        """A live recording's place in this worker, held from its start to its verdict (503 at once when full):
        it is a video being scored, only spread over the time the person speaks."""
        with self.admission.ticket(), self.admission.slot():
            yield

    def score_live(
        self,
        decoded: DecodedVideo,
        session_id: str | None = None,
        phrase: str | None = None,
        explain: bool = False,
        scenes: list[tuple[int, int]] | None = None,
    ) -> dict:
        """The response for a live recording decoded as it arrived (its `scenes` found on the way), inside
        its `live_slot`: what `score` gives for the same bytes."""
        return self._answer(session_id, lambda watch: self._score(decoded, watch, phrase, explain, scenes), "video", slot_held=True)

    def score_image(self, data: bytes, session_id: str | None = None, explain: bool = False) -> dict:
        """The response for one still image: its largest face judged by the frame classifier."""
        return self._answer(session_id, lambda watch: self._score_image(data, watch, explain), "image")

    def score_images(self, images: list[bytes], session_id: str | None = None, explain: bool = False) -> dict:
        """One answer for several still images: each image's response, or its error, and the counts."""

        def judge_each(watch: Stopwatch) -> dict:
            results = [self._image_result(data, watch, explain) for data in images]
            real = sum(1 for r in results if r.get("is_likely_real") is True)
            failed = sum(1 for r in results if "error" in r)
            return {"results": results, "counts": {"images": len(results), "real": real, "fake": len(results) - real - failed, "failed": failed}}

        return self._answer(session_id, judge_each, "image")

    def _answer(self, session_id: str | None, judge, kind: str, slot_held: bool = False) -> dict:
        """`judge(watch)` run in one of this worker's slots (`slot_held`: the caller's), within the deadline,
        timed and counted (`scoring.operations.metrics`)."""
        started = time.perf_counter()
        with nullcontext() if slot_held else self.admission.slot():
            torch_env.apply_threads_in_this_thread()
            watch = Stopwatch(deadline=time.monotonic() + self.settings.processing_timeout_s)
            try:
                response = judge(watch)
            except ServiceError as exc:
                metrics.SCORING_ERRORS.labels(exc.code).inc()
                raise
        response["session_id"] = session_id
        response["processing_time_ms"] = round((time.perf_counter() - started) * 1000)
        response["timings_ms"] = watch.milliseconds()
        metrics.record_answer(response, kind)
        return response

    def model_digests(self) -> dict[str, str | None]:
        """Each detector's weights sha256, once the worker has computed it (for the audit trail)."""
        return {name: self.detectors.file_info(name).get("sha256") for name in self.detectors.types}

    def health(self, queue=None) -> dict:
        """The design document's fields (`status`, `detectors` as booleans, `config`), our details beside
        them. `queue` (a scoring.queue.JobQueue, in queue mode) adds the Redis queue's state."""
        settings, detectors = self.settings, self.detectors
        states = detectors.status()
        available = {name: state["available"] for name, state in states.items()}
        queue_state = queue.health() if queue is not None else None
        return {
            **({"queue": queue_state} if queue_state is not None else {}),
            "status": _health_status(available, detectors.judges, queue_state),
            "service": settings.service_name,
            "version": __version__,
            "detectors": available,
            "detector_details": states,
            "face_detector": detectors.face_detector_status(),
            "jobs": self.admission.summary(),
            "config": {
                "max_video_size_mb": settings.max_upload_mb,
                "processing_timeout": settings.processing_timeout_s,
                "max_upload_mb": settings.max_upload_mb,
                "max_duration_s": settings.max_duration_s,
                "min_duration_s": settings.min_duration_s,
                "processing_timeout_s": settings.processing_timeout_s,
                "fusion_weights": settings.fusion_weights,
                "thresholds": settings.thresholds.to_json(),
                **{key: value for kind in detectors.types.values() for key, value in kind.health_config(settings, detectors.device).items()},
                "device": str(detectors.device),
                "torch_threads": torch.get_num_threads(),
                "video_path_requests": bool(settings.allowed_video_dirs),
            },
        }

    def require_a_judge(self) -> None:
        """503 when no detector that may give a verdict can be loaded: checked before any work on a video."""
        judges = [self.detectors.models[name] for name in self.detectors.judges]  # the voice alone is no verdict
        if all(lazy.get() is None for lazy in judges):
            reasons = "; ".join(lazy.error for lazy in judges if lazy.error)
            raise ServiceError(Code.NO_DETECTOR_AVAILABLE, f"no detector is available: {reasons}")

    def _decoded(self, video_path: Path, watch: Stopwatch) -> DecodedVideo:
        self.require_a_judge()
        with watch.stage("decode"):
            return decode_video(video_path, self.limits, watch)

    def _score(self, decoded: DecodedVideo, watch: Stopwatch, phrase: str | None, explain: bool, scenes: list[tuple[int, int]] | None = None) -> dict:
        models = self.detectors.models
        if decoded.duration_s < self.settings.min_duration_s:
            raise ServiceError(
                Code.VIDEO_TOO_SHORT,
                f"the clip is {decoded.duration_s:.2f} s long; at least {self.settings.min_duration_s:.1f} s is needed",
            )
        # A detector that needs no face (the voice) runs beside the face search, which leaves a core idle.
        types = self.detectors.types
        beside = {name: self._beside.submit(self._run_beside, name, decoded, watch) for name in models if not types[name].needs_faces}
        tracking = self._face_tracker().track(decoded.frames, watch, scenes)

        outcomes: dict[str, Outcome] = {}
        track = None  # every detector judges the face its predecessors judged (SyncNet's speaker)
        for name in models:
            outcomes[name] = beside[name].result() if name in beside else self._run(name, decoded, tracking, track, watch)
            if track is None and outcomes[name].measurement is not None:
                track = outcomes[name].measurement.track
        if explain:
            self._explain(decoded, tracking, outcomes, watch)
        response = self._respond(decoded, tracking, outcomes)
        if phrase is None:
            return response
        with watch.stage("challenge"):
            check = self.phrases.check(decoded.audio, phrase)
        judged = response if check.passed else with_failed_challenge(response)
        return {**judged, "challenge": check.to_json()}

    def _face_tracker(self) -> FaceTracker:
        tracker = self.detectors.face_tracker.get()
        if tracker is None:
            raise ServiceError(Code.NO_DETECTOR_AVAILABLE, f"no face detector could be loaded: {self.detectors.face_tracker.error}")
        return tracker

    def _explain(self, decoded: DecodedVideo, tracking: TrackingResult, outcomes: dict[str, Outcome], watch: Stopwatch) -> None:
        """Heat maps into the reports of the detectors that scored and draw them."""
        with watch.stage("explain"):
            for name, outcome in outcomes.items():
                if outcome.measurement is not None:
                    maps = self.detectors.models[name].value.explain(decoded, tracking, outcome.measurement)
                    if maps is not None:
                        outcome.report["explanations"] = maps

    def _image_result(self, data: bytes, watch: Stopwatch, explain: bool) -> dict:
        """One image of a batch: its response, or its error as /score/image answers it (a timeout ends the batch)."""
        try:
            return self._score_image(data, watch, explain)
        except ServiceError as exc:
            if exc.code in (Code.PROCESSING_TIMEOUT, Code.NO_DETECTOR_AVAILABLE):
                raise
            return {**exc.to_json(), "status": exc.status}

    def _score_image(self, data: bytes, watch: Stopwatch, explain: bool) -> dict:
        with watch.stage("decode"):
            image = decode_image(data, self.limits)
        types = self.detectors.types
        judges = {name: self.detectors.models[name] for name, kind in types.items() if kind.judges_images()}
        if all(lazy.get() is None for lazy in judges.values()):
            titles = " and ".join(types[name].title.lower() for name in judges)
            reasons = "; ".join(lazy.error for lazy in judges.values() if lazy.error)
            raise ServiceError(Code.NO_DETECTOR_AVAILABLE, f"a photo is judged by {titles} alone, and it is not available: {reasons}")
        tracker = self._face_tracker()
        with watch.stage("face_detection"):
            faces = tracker.detector.detect([image.bgr])[0]
        if len(faces) == 0:
            raise ServiceError(Code.NO_FACE, "no face was found in the image")
        box = max(faces, key=lambda face: (face[2] - face[0]) * (face[3] - face[1]))[:4]
        reports = {name: self._judge_image(lazy.value, image.rgb, box, explain, watch) for name, lazy in judges.items() if lazy.value is not None}
        combined, applied = fuse({**dict.fromkeys(types), **{name: report["score"] for name, report in reports.items()}}, self.settings.fusion_weights)
        return {
            **self.settings.thresholds.verdict(combined),
            **{name: reports.get(name) or self._image_stand_in(name) for name in types},
            "weights": applied,
            "degraded": None,
            "image": image.summary(),
            "faces": {"detector": tracker.detector.name, "found": len(faces), "box": [round(float(v), 1) for v in box]},
            "models": self._models_used(reports, tracker.detector.name),
        }

    @staticmethod
    def _judge_image(detector: Detector, image_rgb, box, explain: bool, watch: Stopwatch) -> dict:
        with watch.stage("classifier"):
            report = detector.judge_image(image_rgb, box)
        if explain:
            with watch.stage("explain"):
                maps = detector.explain_image(image_rgb, box, report)
            if maps is not None:
                report["explanations"] = maps
        return report

    def _image_stand_in(self, name: str) -> dict | None:
        """A detector's object in a photo's answer when it gave no score: why, for one the clients always read."""
        kind = self.detectors.types[name]
        if not kind.always_reported:
            return None
        reason = kind.image_reason or f"{kind.title} is not available: {self.detectors.models[name].error}"
        return {"score": None, "confidence": None, "available": self.detectors.available(name), "code": "not_applicable", "reason": reason}

    def _run_beside(self, name: str, decoded: DecodedVideo, watch: Stopwatch) -> Outcome:
        torch_env.apply_threads_in_this_thread()
        return self._run(name, decoded, None, None, watch)

    def _run(self, name: str, decoded: DecodedVideo, tracking: TrackingResult | None, track: FaceTrack | None, watch: Stopwatch) -> Outcome:
        lazy = self.detectors.models[name]
        detector = lazy.get()
        if detector is None:
            title = self.detectors.types[name].title
            return Outcome(error=DetectorUnavailable(Code.UNAVAILABLE, f"{title} is not available: {lazy.error}"))
        try:
            return Outcome(detector.measure(decoded, tracking, track, watch))
        except CannotScore as exc:
            return Outcome(error=exc)
        except ServiceError:  # the request's own answer (a timeout): not this detector's failure
            raise
        except Exception:
            log.exception("%s failed on this video; the other detectors still score it", name)
            return Outcome(
                error=DetectorFailed(Code.DETECTOR_FAILED, f"{detector.title} failed on this video; the other detectors scored it")
            )

    def _respond(self, decoded: DecodedVideo, tracking: TrackingResult, outcomes: dict[str, Outcome]) -> dict:
        types = self.detectors.types
        scores = {name: (o.report["score"] if o.report else None) for name, o in outcomes.items()}
        judges = self.detectors.judges
        if all(scores[name] is None for name in judges):
            raise _no_score_error({name: outcomes[name] for name in judges})
        combined, applied = fuse(scores, self.settings.fusion_weights, judges)
        degraded = {name: o.degraded_entry() for name, o in outcomes.items() if o.error is not None}
        fallback = {"error": "; ".join(f"{name}: {entry['message']}" for name, entry in degraded.items())} if degraded else {}
        note = joined_note(*(types[name].risk_note(o.report) for name, o in outcomes.items()))
        return {
            **self.settings.thresholds.verdict(combined),
            **({"risk_note": note} if note else {}),
            **{name: self._report(name, o) for name, o in outcomes.items()},
            **fallback,
            "weights": applied,
            "degraded": degraded or None,
            "video": decoded.summary(),
            "faces": {
                "detector": tracking.detector,
                "tracks": len(tracking.tracks),
                "scenes": len(tracking.scenes),
                "frames_searched": tracking.detected_frames,
            },
            "models": self._models_used({name: o.report for name, o in outcomes.items() if o.measurement is not None}, tracking.detector),
        }

    def _report(self, name: str, outcome: Outcome) -> dict | None:
        """The detector's object; for one the document's clients always read, a stand-in saying why it has no score."""
        if outcome.report is not None or not self.detectors.types[name].always_reported:
            return outcome.report
        error = outcome.error
        return {
            "score": None,
            "confidence": None,
            "available": not isinstance(error, DetectorUnavailable),
            "code": error.code,
            "reason": error.message,
        }

    def _models_used(self, reports: dict[str, dict], face_detector: str) -> dict:
        """The files behind the detectors that produced `reports`, and the face detector's."""
        files = self.detectors.weight_files()
        used = {}
        for name, report in reports.items():
            path, _ = files[name]
            used[name] = {"file": path.name, "sha256": self.detectors.short_hash(name)}
            if "models" in report:  # a detector of several files (an ensemble) names each
                used[name]["models"] = [{k: m[k] for k in ("file", "architecture", "profile", "encoder") if k in m} for m in report["models"]]
        face = {"name": face_detector}
        if face_detector == "s3fd":
            face.update(file=files["s3fd"][0].name, sha256=self.detectors.short_hash("s3fd"))
        used["face_detector"] = face
        return used


def _no_score_error(outcomes: dict[str, Outcome]) -> Exception:
    """The answer when no detector produced a score: the 422 of the most telling reason a detector
    could not judge the video, or, when every detector that ran broke on it, their 500."""
    reasons = "; ".join(f"{name}: {o.error.message}" for name, o in outcomes.items())
    judged = [o.error.code for o in outcomes.values() if isinstance(o.error, CannotScore)]
    if not judged:
        return ServiceError(Code.DETECTOR_FAILED, f"no detector could score this video ({reasons})")
    code = Code.NO_FACE if {Code.NO_FACE, Code.NO_FACE_TRACK} & set(judged) else judged[0]
    return ServiceError(code, f"no detector could score this video ({reasons})")


def _health_status(available: dict[str, bool], judges: list[str], queue: dict | None) -> str:
    """healthy: every detector; degraded: some, or queue mode without a live worker; unavailable:
    none of the `judges` (the detectors that may stand alone), or queue mode without its Redis."""
    status = "healthy" if all(available.values()) else ("degraded" if any(available[name] for name in judges) else "unavailable")
    if queue is None:
        return status
    if not queue["reachable"]:
        return "unavailable"
    return "degraded" if queue["workers"] == 0 and status == "healthy" else status
