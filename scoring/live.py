"""A live recording (`WS /score/live`): decoded while the person speaks, guidance on the way, the verdict at stop.

One `LiveSession` per socket. Its chunks go into a `GrowingStream` (memory only, at most
MAX_UPLOAD_MB); a decoder thread reads it as it grows through the upload's own decode
(`scoring.media.video.decode_video`), so at `stop` the decoded video is the one an upload of the same
bytes gives, and `ScoringService.score_live` answers what `POST /score` answers for them.

On the way, a guide thread looks at the newest frame every GUIDE_INTERVAL_S: the face stage's
detector finds the faces, the frame's light is measured, and the largest face is judged as a photo
is (the frame classifier's P(real) of that frame: a progress figure, not the verdict). What it sees
becomes `progress` events, and `guidance` events when what a person should change changes.
The guide runs behind the stream rather than holding it up: a frame it had no time for is skipped.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import cv2
import numpy as np

from scoring.errors import ServiceError
from scoring.media.stream import GrowingStream, StreamAborted
from scoring.media.video import FPS, DecodedVideo, decode_video
from scoring.operations import metrics
from scoring.runtime import torch_env
from scoring.runtime.timing import Stopwatch
from scoring.service import ScoringService

GUIDE_INTERVAL_S = 0.5
DARK_LUMA = 60  # mean luma (0-255) of the face (the frame, without one) below which a webcam's noise hides it
SMALL_FACE_SHARE = 0.12  # a face box narrower than this share of the frame's shorter side: too far
GUIDANCE = {
    "no_face": "No face is seen: look straight into the camera.",
    "several_faces": "More than one face is seen: only the person verifying should be in view.",
    "too_dark": "The picture is too dark: face a light or a window.",
    "face_too_small": "The face is small in the picture: come closer to the camera.",
}


@dataclass(frozen=True)
class LiveRequest:
    session_id: str | None
    phrase: str | None  # of the session's challenge token, used up at its start
    explain: bool = False


def largest_face(faces: np.ndarray) -> np.ndarray:
    """The (x1, y1, x2, y2) box of the largest of the faces."""
    return max(faces, key=lambda face: (face[2] - face[0]) * (face[3] - face[1]))[:4]


def lit_region(faces: np.ndarray, frame_bgr: np.ndarray) -> np.ndarray:
    """Where the light is judged: the largest face (a lit face before a dark wall is not too dark), else the frame."""
    if len(faces) == 0:
        return frame_bgr
    height, width = frame_bgr.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in largest_face(faces))
    region = frame_bgr[max(0, y1) : min(height, y2), max(0, x1) : min(width, x2)]
    return region if region.size else frame_bgr


def guidance_codes(faces: np.ndarray, frame_bgr: np.ndarray) -> list[str]:
    """What a person should change, from the faces found in one frame (x1, y1, x2, y2, score rows)."""
    codes = []
    if float(cv2.cvtColor(lit_region(faces, frame_bgr), cv2.COLOR_BGR2GRAY).mean()) < DARK_LUMA:
        codes.append("too_dark")
    if len(faces) == 0:
        return [*codes, "no_face"]
    if len(faces) > 1:
        codes.append("several_faces")
    widest = float(max(face[2] - face[0] for face in faces))
    if widest < SMALL_FACE_SHARE * min(frame_bgr.shape[:2]):
        codes.append("face_too_small")
    return codes


class LiveSession:
    """One recording as it arrives; `emit(event)` is called from this session's threads."""

    def __init__(self, service: ScoringService, request: LiveRequest, emit: Callable[[dict], None]):
        self.service, self.request, self.emit = service, request, emit
        settings = service.settings
        self.stream = GrowingStream(settings.max_upload_bytes)
        self.failure: ServiceError | None = None
        self._decoded: DecodedVideo | None = None
        self._frames: queue.Queue = queue.Queue(maxsize=1)
        self._next_guided = 0
        self._guidance: list[str] | None = None
        self._decoder = threading.Thread(target=self._decode, name="live-decode", daemon=True)
        self._guide = threading.Thread(target=self._guide_loop, name="live-guide", daemon=True)
        self._decoder.start()
        self._guide.start()

    def feed(self, chunk: bytes) -> None:
        """One MediaRecorder chunk; 413 past MAX_UPLOAD_MB, or the decode's own refusal (415, 413) as soon as it is known."""
        if self.failure is not None:
            raise self.failure
        self.stream.append(chunk)

    def finish(self) -> dict:
        """The recording is complete: the rest of its decode, then the verdict, as `POST /score` gives it."""
        self.stream.finish()
        self._decoder.join()
        self._guide.join()
        if self.failure is not None:
            raise self.failure
        return self.service.score_live(self._decoded, self.request.session_id, self.request.phrase, self.request.explain)

    def close(self) -> None:
        """End the session on any path: the decode stops and the bytes are let go."""
        self.stream.abort()
        self._decoder.join()
        self._guide.join()

    def _decode(self) -> None:
        try:
            self._decoded = decode_video(self.stream, self.service.limits, Stopwatch(), observer=self._saw)
        except StreamAborted:
            pass  # closed by the socket's side, which has told the client why
        except ServiceError as exc:
            metrics.SCORING_ERRORS.labels(exc.code).inc()  # as the upload's decode counts it (the verdict's own errors count in score_live)
            self.failure = exc
        finally:
            self._frames.put(None)

    def _saw(self, slot: int, image: Future) -> None:
        """The decoder's frames: the newest one at each guide time goes to the guide, unless it is still busy."""
        if slot < self._next_guided:
            return
        self._next_guided = slot + round(GUIDE_INTERVAL_S * FPS)
        with contextlib.suppress(queue.Full):
            self._frames.put_nowait((slot, image))

    def _guide_loop(self) -> None:
        torch_env.apply_threads_in_this_thread()
        while (item := self._frames.get()) is not None:
            slot, image = item
            self._look(slot, image.result())

    def _look(self, slot: int, frame_bgr: np.ndarray) -> None:
        tracker = self.service.detectors.face_tracker.get()
        faces = tracker.detector.detect([frame_bgr])[0] if tracker is not None else np.zeros((0, 5))
        codes = guidance_codes(faces, frame_bgr) if tracker is not None else []
        seconds = round(slot / FPS, 2)
        self.emit({"type": "progress", "seconds": seconds, "bytes": self.stream.received, "faces": len(faces), "frame_scores": self._frame_scores(faces, frame_bgr)})
        if codes != self._guidance:
            self._guidance = codes
            self.emit({"type": "guidance", "seconds": seconds, "codes": codes, "messages": [GUIDANCE[code] for code in codes]})

    def _frame_scores(self, faces: np.ndarray, frame_bgr: np.ndarray) -> dict[str, float]:
        """Each photo-judging detector's P(real) of the frame's largest face."""
        if len(faces) == 0:
            return {}
        box = largest_face(faces)
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        detectors = self.service.detectors
        judging = {name: detectors.models[name].get() for name, kind in detectors.types.items() if kind.judges_images()}
        return {name: detector.judge_image(rgb, box)["score"] for name, detector in judging.items() if detector is not None}
