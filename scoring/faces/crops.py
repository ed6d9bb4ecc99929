"""Which faces the frame classifier reads (frames and boxes from the tracks), and the padded-region
helper every crop geometry shares. How a face is cut and resized is the classifier's profile."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from scoring.errors import CannotScore, Code
from scoring.faces.tracking import FaceTrack, TrackingResult
from scoring.media.video import uniform_indices


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


@dataclass
class FaceSamples:
    """The frames the frame classifier judges and the face box on each (x1, y1, x2, y2, ...)."""

    frame_indices: np.ndarray
    boxes: list[np.ndarray]
    source: str  # "track" or "detections"
    track: FaceTrack | None = None


def sample_faces(tracking: TrackingResult, num_frames: int, preferred: FaceTrack | None = None) -> FaceSamples:
    """`num_frames` faces spread over the preferred (else longest) track, or else the largest face on the
    frames where faces were detected. Raises CannotScore without any face."""
    track = preferred or max(tracking.tracks, key=lambda t: (t.length, t.face_size), default=None)
    if track is not None:
        offsets = uniform_indices(track.length, num_frames)
        return FaceSamples(track.start + offsets, [track.boxes[o] for o in offsets], "track", track)
    with_faces = sorted(f for f, boxes in tracking.detections.items() if len(boxes))
    if not with_faces:
        raise CannotScore(Code.NO_FACE, f"no face was found ({tracking.detected_frames} frames searched)")
    chosen = [with_faces[i] for i in uniform_indices(len(with_faces), num_frames)]
    largest = [max(tracking.detections[f], key=lambda b: (b[2] - b[0]) * (b[3] - b[1])) for f in chosen]
    return FaceSamples(np.array(chosen), largest, "detections")
