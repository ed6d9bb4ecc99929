"""A live recording (`WS /score/live`): decoded while the person speaks, guidance on the way, the verdict at stop.

One `LiveSession` per socket. Its chunks go into a `GrowingStream` (memory only, at most
MAX_UPLOAD_MB); a decoder thread reads it as it grows through the upload's own decode
(`scoring.media.video.decode_video`), so at `stop` the decoded video is the one an upload of the same
bytes gives, and `ScoringService.score_live` answers what `POST /score` answers for them.

Beside it a search thread does the verdict's work as the frames arrive (`ArrivingFrames`): the
shot boundaries, the face search on the frames the face stage will search, and then, while it has
nothing newer to look at, the detectors' work ahead on the frames and audio so far
(`Detector.measure_ahead`: SyncNet embeds its audio and lip windows, the frame classifier judges the
faces, the voice reads the windows it will read). The networks remember their results by the
content of each input (`scoring.runtime.memo`), so at `stop` the verdict, the upload's own
pipeline, finds them and computes only the tail. Each searched frame also gives a `progress` event
(the faces in it, the faces judged so far) and a `guidance` event when what a person should change
changes.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from scoring.contract import Detector, RecordingSoFar
from scoring.errors import ServiceError
from scoring.faces.guidance import GUIDANCE, GuidanceReader, codes_given
from scoring.faces.scenes import ShotBoundaries
from scoring.faces.tracking import FaceTracker, TrackingResult
from scoring.media.stream import GrowingStream, StreamAborted
from scoring.media.video import FPS, DecodedVideo, decode_video
from scoring.operations import metrics
from scoring.runtime import torch_env
from scoring.runtime.memo import ContentMemo, remembering
from scoring.runtime.timing import Stopwatch
from scoring.service import ScoringService


@dataclass(frozen=True)
class LiveRequest:
    session_id: str | None
    phrase: str | None  # of the session's challenge token, used up at its start
    explain: bool = False


@dataclass
class ArrivingFrames:
    """A recording's frames as the decoder places them, and the work done on them so far: the shots,
    the faces on the frames the face stage searches (each shot's every `stride`-th frame and its last),
    and what the detectors found judging ahead."""

    tracker: FaceTracker
    ahead: dict[str, Detector]
    heard: Callable[[], np.ndarray | None] = lambda: None  # the audio decoded so far (`DecodeObserver.audio_opened`)
    shots: ShotBoundaries = field(default_factory=ShotBoundaries)
    frames: list[np.ndarray] = field(default_factory=list)
    detections: dict[int, np.ndarray] = field(default_factory=dict)
    judged: dict[str, list[dict]] = field(default_factory=dict)
    notes: dict[str, dict] = field(default_factory=dict)  # each detector's own between its steps ahead
    _previous: tuple[int, Future] | None = None

    def arrive(self, slot: int, image: Future) -> list[int]:
        """A source frame at its first 25 fps slot: the one before it now knows its slots and is placed.
        Returns the frames searched for faces."""
        searched = []
        if self._previous is not None:
            first, before = self._previous
            searched = self._place(before.result(), slot - first)
        self._previous = (slot, image)
        return searched

    def complete(self, frames: list[np.ndarray]) -> list[tuple[int, int]]:
        """The decoded video's shots: the frames not placed yet (the last source frame's) added."""
        for frame in frames[len(self.frames) :]:
            self.shots.add(frame)
        return self.shots.scenes()

    def step_ahead(self) -> bool:
        """One step of a detector's work ahead on the tracks so far; False when none had any left."""
        recording = RecordingSoFar(self.frames, self.heard(), self.tracking_so_far())
        for name, detector in self.ahead.items():
            found = detector.measure_ahead(recording, self.notes.setdefault(name, {}))
            if found is not None:
                self.judged.setdefault(name, []).append(found)
                return True
        return False

    def tracking_so_far(self) -> TrackingResult:
        scenes = self.shots.scenes_so_far()
        tracks = self.tracker.tracks_in(self.tracker.searched_scenes(scenes), self.detections)
        return TrackingResult(tracks=tracks, scenes=scenes, detections=self.detections, detector=self.tracker.detector.name)

    def _place(self, frame: np.ndarray, slots: int) -> list[int]:
        searched = []
        for _ in range(slots):
            index = len(self.frames)
            self.frames.append(frame)
            self.shots.add(frame)
            for searchable in self._to_search(index):
                self.detections[searchable] = self.tracker.detector.detect([self.frames[searchable]])[0]
                searched.append(searchable)
        return searched

    def _to_search(self, index: int) -> list[int]:
        """The frames the face stage will search once `index` is placed: every `stride`-th of its shot,
        and, where a shot begins at it, the last of the shot before."""
        start = self.shots.scenes_so_far()[-1][0]
        ended = [index - 1] if index == start and index > 0 and index - 1 not in self.detections else []
        return ended + ([index] if (index - start) % self.tracker.stride == 0 else [])


class LiveSession:
    """One recording as it arrives; `emit(event)` is called from this session's threads. It follows
    its own decode (a `scoring.media.video.DecodeObserver`)."""

    def __init__(self, service: ScoringService, request: LiveRequest, emit: Callable[[dict], None]):
        self.service, self.request, self.emit = service, request, emit
        self.stream = GrowingStream(service.settings.max_upload_bytes)
        self.failure: ServiceError | None = None
        self._decoded: DecodedVideo | None = None
        self._arrivals: queue.Queue = queue.Queue()  # (slot, image) from the decoder, None at its end
        self._guidance: list[str] | None = None
        cover = service.detectors.mouth_cover.get()
        self._reader = GuidanceReader(cover)
        self.guidance_given = codes_given(cover)
        self.remembered = ContentMemo()  # what this session's networks gave on its inputs, for its verdict
        tracker = service.detectors.face_tracker.get()
        loaded = {name: lazy.value for name, lazy in service.detectors.models.items() if lazy.get() is not None}
        ahead = dict(sorted(loaded.items(), key=lambda item: item[1].ahead_rank))
        self.arriving = ArrivingFrames(tracker, ahead) if tracker is not None else None
        self._decoder = threading.Thread(target=self._decode, name="live-decode", daemon=True)
        self._searcher = threading.Thread(target=self._search, name="live-search", daemon=True)
        self._decoder.start()
        self._searcher.start()

    def feed(self, chunk: bytes) -> None:
        """One MediaRecorder chunk; 413 past MAX_UPLOAD_MB, or the decode's own refusal (415, 413) as soon as it is known."""
        if self.failure is not None:
            raise self.failure
        self.stream.append(chunk)

    def finish(self) -> dict:
        """The recording is complete: the rest of its decode, then the verdict, as `POST /score` gives it."""
        self.stream.finish()
        self._decoder.join()
        self._searcher.join()
        if self.failure is not None:
            raise self.failure
        scenes = self.arriving.complete(self._decoded.frames) if self.arriving is not None else None
        with remembering(self.remembered):
            return self.service.score_live(self._decoded, self.request.session_id, self.request.phrase, self.request.explain, scenes)

    def close(self) -> None:
        """End the session on any path: the decode stops and the bytes are let go."""
        self.stream.abort()
        self._decoder.join()
        self._searcher.join()

    def _decode(self) -> None:
        try:
            self._decoded = decode_video(self.stream, self.service.limits, Stopwatch(), observer=self)
        except StreamAborted:
            pass  # closed by the socket's side, which has told the client why
        except ServiceError as exc:
            metrics.SCORING_ERRORS.labels(exc.code).inc()  # as the upload's decode counts it (the verdict's own errors count in score_live)
            self.failure = exc
        finally:
            self._arrivals.put(None)

    def frame_placed(self, slot: int, image: Future) -> None:
        self._arrivals.put((slot, image))

    def audio_opened(self, so_far: Callable[[], np.ndarray | None]) -> None:
        if self.arriving is not None:
            self.arriving.heard = so_far

    def _search(self) -> None:
        torch_env.apply_threads_in_this_thread()
        with remembering(self.remembered):
            self._search_as_frames_arrive()

    def _search_as_frames_arrive(self) -> None:
        """Frames first, as they arrive; work ahead while none is waiting; done when the decode is."""
        busy = False
        while True:
            try:
                item = self._arrivals.get(block=not busy)
            except queue.Empty:
                busy = self.arriving.step_ahead()
                continue
            if item is None:
                return
            if self.arriving is not None and (searched := self.arriving.arrive(*item)):
                self._report(searched[-1])
                busy = True

    def _report(self, index: int) -> None:
        faces = self.arriving.detections[index]
        seconds = round(index / FPS, 2)
        judged = {name: list(found) for name, found in self.arriving.judged.items()}  # a copy: the socket's thread sends it
        self.emit({"type": "progress", "seconds": seconds, "bytes": self.stream.received, "faces": len(faces), "judged": judged})
        codes = self._reader.read(self.arriving.frames, index, faces)
        if codes != self._guidance:
            self._guidance = codes
            self.emit({"type": "guidance", "seconds": seconds, "codes": codes, "messages": [GUIDANCE[code] for code in codes]})
