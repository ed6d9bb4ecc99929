"""Face crops from the tracks: the square crops the frame classifier reads, and the padded
region helper every crop geometry shares."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from frame_extractor import DecodedVideo, FrameExtractor, uniform_indices
from scoring.errors import CannotScore, Code
from scoring.faces.tracking import FaceTrack, TrackingResult


def padded_region(frame: np.ndarray, top: int, bottom: int, left: int, right: int, value) -> np.ndarray:
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


def square_face_crop(frame: np.ndarray, box: np.ndarray, margin: float, size: int) -> np.ndarray:
    """Square crop of side max(w, h) * (1 + 2 * margin) around the box centre, resized to `size`."""
    x1, y1, x2, y2 = box[:4]
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    extent = max(1, int(round(side)))
    region = padded_region(frame, top, top + extent, left, left + extent, (0, 0, 0))
    interpolation = cv2.INTER_AREA if extent > size else cv2.INTER_LINEAR
    return cv2.resize(region, (size, size), interpolation=interpolation)


@dataclass
class FaceCrops:
    frame_indices: np.ndarray
    crops_rgb: list[np.ndarray]
    source: str  # "track" or "detections"
    track: FaceTrack | None = None


def crops_from_tracking(
    decoded: DecodedVideo,
    tracking: TrackingResult,
    num_frames: int,
    margin: float,
    size: int,
    preferred: FaceTrack | None = None,
) -> FaceCrops:
    """Face crops for the classifier: from the preferred (else longest) track, or else from the
    largest face on the frames where faces were detected. Raises CannotScore without any face."""

    def crop(index: int, box: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(square_face_crop(decoded.frames[index], box, margin, size)[:, :, ::-1])

    track = preferred or max(tracking.tracks, key=lambda t: (t.length, t.face_size), default=None)
    if track is not None:
        offsets = FrameExtractor(max_frames=num_frames).sample_indices(track.length)
        return FaceCrops(track.start + offsets, [crop(track.start + o, track.boxes[o]) for o in offsets], "track", track)
    with_faces = sorted(f for f, boxes in tracking.detections.items() if len(boxes))
    if not with_faces:
        raise CannotScore(Code.NO_FACE, f"no face was found ({tracking.detected_frames} frames searched)")
    chosen = [with_faces[i] for i in uniform_indices(len(with_faces), num_frames)]
    largest = [max(tracking.detections[f], key=lambda b: (b[2] - b[0]) * (b[3] - b[1])) for f in chosen]
    return FaceCrops(np.array(chosen), [crop(f, box) for f, box in zip(chosen, largest)], "detections")
