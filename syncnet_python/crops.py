"""SyncNet's face crops, in the reference geometry.

Half-size s = max(w, h)/2 and the centre are median-filtered over 13 frames, the crop spans s above
and 1.8 s below the centre and 1.4 s to either side (crop scale 0.40), is padded with grey 110
outside the frame and resized to 224x224.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.signal import medfilt

from scoring.faces.crops import padded_region
from scoring.faces.tracking import FaceTrack

SYNCNET_CROP = 224
SMOOTHING_TAPS = 13
PAD_VALUE = 110


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
        region = padded_region(frame, top - pad, bottom - pad, left - pad, right - pad, (PAD_VALUE,) * 3)
        return cv2.resize(region, (SYNCNET_CROP, SYNCNET_CROP))

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        return np.stack([self.crop(int(i)) for i in indices])


def whole_frame_crops(frames: list[np.ndarray]):
    """Crops for video that is already a face crop (the reference's demo clip, `--precropped`):
    each frame as it is, resized to 224x224 when it is not already."""

    def as_crop(frame: np.ndarray) -> np.ndarray:
        return frame if frame.shape[:2] == (SYNCNET_CROP, SYNCNET_CROP) else cv2.resize(frame, (SYNCNET_CROP, SYNCNET_CROP))

    return lambda indices: np.stack([as_crop(frames[i]) for i in indices])
