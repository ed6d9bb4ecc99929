"""What a person in front of the camera should change, read from the frames of a live recording.

Each code comes from the faces of one searched frame (`too_dark`, `no_face`, `several_faces`,
`face_too_small`), except `mouth_hidden`: the largest face's mouth is read on every frame since the
search before (`scoring.faces.mouth_cover`), in a box moving from the face found then to the face
found now as the face stage's tracks move, and said hidden when most of them read so, so that one
frame's wide-open mouth or blur does not raise it. A box held still while the head moved reads the
mouth's place wrong, and one frame alone is read wrong too often (a blurred, tilted face), so the
mouth is not judged at the first search nor where the two faces are not one by the tracker's rule.
"""

from __future__ import annotations

import cv2
import numpy as np

from scoring.faces.mouth_cover import MouthCover, box_pixels
from scoring.faces.tracking import IOU_THRESHOLD, iou

DARK_LUMA = 60  # mean luma (0-255) of the face (the frame, without one) below which a webcam's noise hides it
SMALL_FACE_SHARE = 0.12  # a face box narrower than this share of the frame's shorter side: too far
GUIDANCE = {
    "no_face": "No face is seen: look straight into the camera.",
    "several_faces": "More than one face is seen: only the person verifying should be in view.",
    "too_dark": "The picture is too dark: face a light or a window.",
    "face_too_small": "The face is small in the picture: come closer to the camera.",
    "mouth_hidden": "Your mouth is hidden: keep hands, masks and objects away from it.",
}


def largest_face(faces: np.ndarray) -> np.ndarray:
    """The (x1, y1, x2, y2) box of the largest of the faces."""
    return max(faces, key=lambda face: (face[2] - face[0]) * (face[3] - face[1]))[:4]


def lit_region(faces: np.ndarray, frame_bgr: np.ndarray) -> np.ndarray:
    """Where the light is judged: the largest face (a lit face before a dark wall is not too dark), else the frame."""
    if len(faces) == 0:
        return frame_bgr
    region = box_pixels(frame_bgr, largest_face(faces))
    return region if region.size else frame_bgr


def mouth_boxes(box: np.ndarray, before: np.ndarray | None, frames: int) -> np.ndarray | None:
    """A box for each of the last `frames` frames, moving in equal steps from `before` (the face at
    the search before them) to `box` (the face now); None when there is no face before or it is not
    the same face."""
    if before is None or iou(box, before[None])[0] <= IOU_THRESHOLD:
        return None
    return before + (box - before) * (np.arange(1, frames + 1)[:, None] / frames)


def codes_given(cover: MouthCover | None) -> list[str]:
    """The codes a session can say: all of GUIDANCE, but `mouth_hidden` only with the mouth's probe."""
    return [code for code in GUIDANCE if code != "mouth_hidden" or cover is not None]


def guidance_codes(faces: np.ndarray, frames_bgr: list[np.ndarray], cover: MouthCover | None, faces_before: np.ndarray | None = None) -> list[str]:
    """What a person should change, from the faces found on the last of the frames (x1, y1, x2, y2,
    score rows). The frames are those since the search before, which found `faces_before`; `cover`
    reads the mouth on them (without it, `mouth_hidden` is never said)."""
    frame_bgr = frames_bgr[-1]
    codes = []
    too_dark = float(cv2.cvtColor(lit_region(faces, frame_bgr), cv2.COLOR_BGR2GRAY).mean()) < DARK_LUMA
    if too_dark:
        codes.append("too_dark")
    if len(faces) == 0:
        return [*codes, "no_face"]
    if len(faces) > 1:
        codes.append("several_faces")
    widest = float(max(face[2] - face[0] for face in faces))
    if widest < SMALL_FACE_SHARE * min(frame_bgr.shape[:2]):
        codes.append("face_too_small")
    elif cover is not None and not too_dark:  # the mouth is not judged on a dark or tiny face
        before = largest_face(faces_before) if faces_before is not None and len(faces_before) else None
        boxes = mouth_boxes(largest_face(faces), before, len(frames_bgr))
        if boxes is not None and cover.hidden(frames_bgr, boxes):
            codes.append("mouth_hidden")
    return codes


class GuidanceReader:
    """The guidance of one recording, search after search: each read sees the frames since the search
    before, and the faces found then."""

    def __init__(self, cover: MouthCover | None):
        self.cover = cover
        self._before: tuple[int, np.ndarray] | None = None  # the frame searched before, and its faces

    def read(self, frames_bgr: list[np.ndarray], index: int, faces: np.ndarray) -> list[str]:
        """The codes at frame `index` of the frames so far, on which `faces` were found."""
        if self._before is None:
            codes = guidance_codes(faces, [frames_bgr[index]], self.cover)
        else:
            before, faces_before = self._before
            codes = guidance_codes(faces, frames_bgr[before + 1 : index + 1], self.cover, faces_before)
        self._before = (index, faces)
        return codes
