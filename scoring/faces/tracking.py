"""Face tracks within shots: the one face-tracking pass both detectors read from.

Faces are detected on every `stride`-th frame of each shot (and its last frame), linked into
tracks by IoU with the track's last box (a track ends after `max_missed` frames without a
match), and boxes are interpolated linearly over the frames in between. Tracks shorter than
`min_track_frames` or with faces smaller than `min_face_size` pixels are dropped. Unlike the
reference, which counts detections, the minimum length counts frames, so it means the same at
any stride; and each track takes at most one face per frame (the best overlap).
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from scoring.faces.detection import FaceDetector
from scoring.faces.scenes import detect_scenes
from scoring.runtime.timing import Stopwatch

IOU_THRESHOLD = 0.5
# Two frames are searched side by side: the detectors' many small tensors leave a core idle
# otherwise. Each frame is searched on its own, so its faces do not depend on which frames were
# searched with it (in a batch they moved by up to 6e-5 px with its size) and a frame searched while
# a recording arrived is found again by its content (`scoring.faces.detection.RememberingDetector`).
SEARCHERS_SIDE_BY_SIDE = 2


@dataclass
class FaceTrack:
    start: int  # absolute index of the first frame
    boxes: np.ndarray  # (n, 4) x1, y1, x2, y2 per frame, interpolated between detections
    scores: np.ndarray  # (n,) detector score, NaN where interpolated
    scene: tuple[int, int]

    @property
    def length(self) -> int:
        return len(self.boxes)

    @property
    def end(self) -> int:
        return self.start + self.length

    @property
    def detections(self) -> int:
        return int(np.isfinite(self.scores).sum())

    @property
    def face_size(self) -> float:
        return float(max(np.mean(self.boxes[:, 2] - self.boxes[:, 0]), np.mean(self.boxes[:, 3] - self.boxes[:, 1])))

    def summary(self) -> dict:
        return {
            "start_frame": self.start,
            "end_frame": self.end - 1,
            "frames": self.length,
            "detections": self.detections,
            "face_size_px": round(self.face_size, 1),
            "mean_box": [round(float(v), 1) for v in self.boxes.mean(0)],
        }


@dataclass
class TrackingResult:
    tracks: list[FaceTrack]
    scenes: list[tuple[int, int]]
    detections: dict[int, np.ndarray]  # frame -> (K,5) boxes, on the frames searched
    detector: str

    @property
    def detected_frames(self) -> int:
        return len(self.detections)

    @property
    def faces_seen(self) -> int:
        return sum(len(boxes) for boxes in self.detections.values())


def iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    w = np.maximum(0.0, np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]))
    h = np.maximum(0.0, np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]))
    inter = w * h
    union = (box[2] - box[0]) * (box[3] - box[1]) + (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1]) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def link_detections(detections: dict[int, np.ndarray], max_missed: int) -> list[list[tuple[int, np.ndarray]]]:
    """Greedy IoU linking, one track at a time over the shot, as the reference does."""
    remaining = {frame: list(faces) for frame, faces in sorted(detections.items()) if len(faces)}
    chains = []
    while any(remaining.values()):
        chain: list[tuple[int, np.ndarray]] = []
        for frame, faces in remaining.items():
            if not faces:
                continue
            if not chain:
                chain.append((frame, faces.pop(0)))
                continue
            if frame - chain[-1][0] > max_missed:
                break
            overlaps = iou(chain[-1][1], np.stack(faces))
            best = int(np.argmax(overlaps))
            if overlaps[best] > IOU_THRESHOLD:
                chain.append((frame, faces.pop(best)))
        chains.append(chain)
    return chains


def interpolate(chain: list[tuple[int, np.ndarray]], scene: tuple[int, int]) -> FaceTrack:
    frames = np.array([frame for frame, _ in chain])
    faces = np.stack([face for _, face in chain])
    every = np.arange(frames[0], frames[-1] + 1)
    boxes = np.stack([np.interp(every, frames, faces[:, k]) for k in range(4)], 1)
    scores = np.full(len(every), np.nan)
    scores[frames - frames[0]] = faces[:, 4]
    return FaceTrack(start=int(frames[0]), boxes=boxes, scores=scores, scene=scene)


def detection_schedule(scene: tuple[int, int], stride: int) -> list[int]:
    start, end = scene
    frames = list(range(start, end, max(1, stride)))
    if frames[-1] != end - 1:
        frames.append(end - 1)
    return frames


class FaceTracker:
    def __init__(
        self,
        detector: FaceDetector,
        stride: int = 6,
        min_track_frames: int = 20,
        min_face_size: float = 50,
        max_missed: int = 25,
    ):
        self.detector = detector
        self.stride = stride
        self.min_track_frames = min_track_frames
        self.min_face_size = min_face_size
        self.max_missed = max_missed

    def track(self, frames: list[np.ndarray], watch: Stopwatch | None = None, scenes: list[tuple[int, int]] | None = None) -> TrackingResult:
        """The tracks of `frames`; `scenes`, when given, are theirs already found (a live recording's)."""
        watch = watch or Stopwatch()
        with watch.stage("scenes"):
            scenes = detect_scenes(frames) if scenes is None else scenes
        long_scenes = self.searched_scenes(scenes)
        schedule = sorted({f for scene in long_scenes for f in detection_schedule(scene, self.stride)})
        with watch.stage("face_detection"):
            detections = self.search(frames, schedule, watch)
        with watch.stage("tracking"):
            tracks = self.tracks_in(long_scenes, detections)
        return TrackingResult(tracks=tracks, scenes=scenes, detections=detections, detector=self.detector.name)

    def searched_scenes(self, scenes: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The shots long enough to hold a track: the only ones searched."""
        return [s for s in scenes if s[1] - s[0] >= self.min_track_frames]

    def search(self, frames: list[np.ndarray], schedule: list[int], watch: Stopwatch) -> dict[int, np.ndarray]:
        """The faces on each frame of `schedule`, each frame searched alone."""

        def detect(index: int) -> np.ndarray:
            watch.check()
            return self.detector.detect([frames[index]])[0]

        with ThreadPoolExecutor(SEARCHERS_SIDE_BY_SIDE, thread_name_prefix="face-detection") as searchers:
            # each search in a copy of the caller's context: a live session's memory goes with it
            found = [searchers.submit(contextvars.copy_context().run, detect, index) for index in schedule]
            return {index: future.result() for index, future in zip(schedule, found, strict=True)}

    def tracks_in(self, scenes: list[tuple[int, int]], detections: dict[int, np.ndarray]) -> list[FaceTrack]:
        """The detections linked into tracks within each shot, short tracks and small faces left out."""
        tracks = []
        for scene in scenes:
            in_scene = {f: d for f, d in detections.items() if scene[0] <= f < scene[1]}
            for chain in link_detections(in_scene, self.max_missed):
                track = interpolate(chain, scene)
                if track.length >= self.min_track_frames and track.face_size > self.min_face_size:
                    tracks.append(track)
        return tracks
