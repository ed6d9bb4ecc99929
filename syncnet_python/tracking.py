"""Face tracks within shots, and the crops both detectors read from them.

Faces are detected on every `stride`-th frame of each shot (and its last frame), linked into
tracks by IoU with the track's last box (a track ends after `max_missed` frames without a
match), and boxes are interpolated linearly over the frames in between. Tracks shorter than
`min_track_frames` or with faces smaller than `min_face_size` pixels are dropped. Unlike the
reference, which counts detections, the minimum length counts frames, so it means the same at
any stride; and each track takes at most one face per frame (the best overlap).

SyncNet crops follow the reference geometry: half-size s = max(w, h)/2 and the centre are
median-filtered over 13 frames, the crop spans s above and 1.8 s below the centre and 1.4 s to
either side (crop scale 0.40), is padded with grey 110 outside the frame and resized to 224x224.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.signal import medfilt

from scoring.timing import Stopwatch
from syncnet_python.face_detection import FaceDetector
from syncnet_python.scenes import detect_scenes

SYNCNET_CROP = 224
SMOOTHING_TAPS = 13
PAD_VALUE = 110
IOU_THRESHOLD = 0.5


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

    def track(self, frames: list[np.ndarray], watch: Stopwatch | None = None) -> TrackingResult:
        watch = watch or Stopwatch()
        with watch.stage("scenes"):
            scenes = detect_scenes(frames)
        long_scenes = [s for s in scenes if s[1] - s[0] >= self.min_track_frames]
        schedule = sorted({f for scene in long_scenes for f in detection_schedule(scene, self.stride)})
        detections: dict[int, np.ndarray] = {}
        with watch.stage("face_detection"):
            for begin in range(0, len(schedule), 16):
                watch.check()
                chunk = schedule[begin : begin + 16]
                detections.update(zip(chunk, self.detector.detect([frames[i] for i in chunk])))
        tracks = []
        with watch.stage("tracking"):
            for scene in long_scenes:
                in_scene = {f: d for f, d in detections.items() if scene[0] <= f < scene[1]}
                for chain in link_detections(in_scene, self.max_missed):
                    track = interpolate(chain, scene)
                    if track.length >= self.min_track_frames and track.face_size > self.min_face_size:
                        tracks.append(track)
        return TrackingResult(tracks=tracks, scenes=scenes, detections=detections, detector=self.detector.name)


def _padded_region(frame: np.ndarray, top: int, bottom: int, left: int, right: int, value) -> np.ndarray:
    """frame[top:bottom, left:right] with the part outside the frame filled with `value`."""
    height, width = frame.shape[:2]
    inner = frame[max(top, 0) : min(bottom, height), max(left, 0) : min(right, width)]
    if inner.size == 0:
        return np.full((max(bottom - top, 1), max(right - left, 1), 3), value, dtype=frame.dtype)
    return cv2.copyMakeBorder(
        inner,
        max(0, -top),
        max(0, bottom - height),
        max(0, -left),
        max(0, right - width),
        cv2.BORDER_CONSTANT,
        value=value,
    )


class SyncNetCropper:
    """224x224 BGR mouth-and-face crops of a track, with the reference's smoothing and geometry."""

    def __init__(self, frames: list[np.ndarray], track: FaceTrack, crop_scale: float = 0.40):
        self.frames = frames
        self.track = track
        self.crop_scale = crop_scale
        boxes = track.boxes
        self.half_size = medfilt(np.maximum(boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]) / 2, SMOOTHING_TAPS)
        self.centre_y = medfilt((boxes[:, 1] + boxes[:, 3]) / 2, SMOOTHING_TAPS)
        self.centre_x = medfilt((boxes[:, 0] + boxes[:, 2]) / 2, SMOOTHING_TAPS)

    def crop(self, index: int) -> np.ndarray:
        frame = self.frames[self.track.start + index]
        height, width = frame.shape[:2]
        cs, bs = self.crop_scale, self.half_size[index]
        pad = int(bs * (1 + 2 * cs))
        # Coordinates in the reference's frame padded by `pad` on every side, clipped to it.
        my, mx = self.centre_y[index] + pad, self.centre_x[index] + pad
        top, bottom = int(my - bs), int(my + bs * (1 + 2 * cs))
        left, right = int(mx - bs * (1 + cs)), int(mx + bs * (1 + cs))
        top, left = max(top, 0), max(left, 0)
        bottom, right = min(bottom, height + 2 * pad), min(right, width + 2 * pad)
        region = _padded_region(frame, top - pad, bottom - pad, left - pad, right - pad, (PAD_VALUE,) * 3)
        return cv2.resize(region, (SYNCNET_CROP, SYNCNET_CROP))

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        return np.stack([self.crop(int(i)) for i in indices])


def whole_frame_crops(frames: list[np.ndarray]):
    """Crops for video that is already a face crop (the reference's demo clip, `--precropped`):
    each frame as it is, resized to 224x224 when it is not already."""

    def as_crop(frame: np.ndarray) -> np.ndarray:
        return frame if frame.shape[:2] == (SYNCNET_CROP, SYNCNET_CROP) else cv2.resize(frame, (SYNCNET_CROP, SYNCNET_CROP))

    return lambda indices: np.stack([as_crop(frames[i]) for i in indices])


def square_face_crop(frame: np.ndarray, box: np.ndarray, margin: float, size: int) -> np.ndarray:
    """Square crop of side max(w, h) * (1 + 2 * margin) around the box centre, resized to `size`."""
    x1, y1, x2, y2 = box[:4]
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    extent = max(1, int(round(side)))
    region = _padded_region(frame, top, top + extent, left, left + extent, (0, 0, 0))
    interpolation = cv2.INTER_AREA if extent > size else cv2.INTER_LINEAR
    return cv2.resize(region, (size, size), interpolation=interpolation)
