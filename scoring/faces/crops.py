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


def face_step(track_length: int, num_frames: int) -> int:
    """The spacing of the frames a track's faces are chosen from: the largest power of two that still
    leaves `num_frames` of them (1 for a track no longer than that)."""
    step = 1
    while 2 * step < track_length and -(-track_length // (2 * step)) >= num_frames:
        step *= 2
    return step


def face_lattice(track_length: int, num_frames: int) -> np.ndarray:
    """The frames a track's faces are chosen from: every `face_step`-th from its first, `num_frames` to
    twice as many."""
    return np.arange(0, track_length, face_step(track_length, num_frames))


def halving_order(count: int) -> list[int]:
    """0 .. count-1 in bit-reversed order (0, 8, 4, 12, 2, ... for 16): each next one halves a gap."""
    bits = max(1, (count - 1).bit_length())
    return sorted(range(count), key=lambda i: int(format(i, f"0{bits}b")[::-1], 2))


def track_offsets(track_length: int, num_frames: int) -> np.ndarray:
    """The `num_frames` faces judged along a track (all its frames, if fewer): every other frame of its
    lattice, and the rest from the frames in between, in `halving_order`.

    As the track grows one lattice frame at a time, the choice changes by at most one face, the newest
    frame; when the lattice's step doubles, the faces are the old choice's every-other frames. So a
    live session that judges the current choice as frames arrive (`scoring.live`) leaves at most the
    faces after its last look to `stop`, however long the recording grows."""
    lattice = face_lattice(track_length, num_frames)
    if len(lattice) <= num_frames:
        return lattice
    between = [2 * i + 1 for i in halving_order(num_frames) if 2 * i + 1 < len(lattice)]
    every_other = lattice[::2]
    return np.sort(np.concatenate([every_other, lattice[between[: num_frames - len(every_other)]]]))


def longest_track(tracking: TrackingResult) -> FaceTrack | None:
    return max(tracking.tracks, key=lambda t: (t.length, t.face_size), default=None)


def sample_faces(tracking: TrackingResult, num_frames: int, preferred: FaceTrack | None = None) -> FaceSamples:
    """Faces along the preferred (else longest) track (`track_offsets`), or else `num_frames` of the largest
    faces on the frames where faces were detected. Raises CannotScore without any face."""
    track = preferred or longest_track(tracking)
    if track is not None:
        offsets = track_offsets(track.length, num_frames)
        return FaceSamples(track.start + offsets, [track.boxes[o] for o in offsets], "track", track)
    with_faces = sorted(f for f, boxes in tracking.detections.items() if len(boxes))
    if not with_faces:
        raise CannotScore(Code.NO_FACE, f"no face was found ({tracking.detected_frames} frames searched)")
    chosen = [with_faces[i] for i in uniform_indices(len(with_faces), num_frames)]
    largest = [max(tracking.detections[f], key=lambda b: (b[2] - b[0]) * (b[3] - b[1])) for f in chosen]
    return FaceSamples(np.array(chosen), largest, "detections")
