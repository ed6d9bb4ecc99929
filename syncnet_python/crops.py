"""SyncNet's face crops, in the reference geometry.

Half-size s = max(w, h)/2 and the centre are median-filtered over 13 frames, the crop spans s above
and 1.8 s below the centre and 1.4 s to either side (crop scale 0.40), is padded with grey 110
outside the frame and resized to 224x224.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.signal import medfilt

SYNCNET_CROP = 224
SMOOTHING_TAPS = 13
PAD_VALUE = 110


class Crops:
    """224x224 BGR crops of a track's frames by track-relative index: `crop(i)`, and `crops(indices)` stacked."""

    def crop(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        return np.stack([self.crop(int(i)) for i in indices])


class SyncNetCropper(Crops):
    """224x224 BGR mouth-and-face crops of a face track, with the reference's smoothing and geometry.

    `boxes` holds the track's face box (x1, y1, x2, y2, ...) on each of its frames, the first of
    them `frames[first_frame]`.
    """

    def __init__(self, frames: list[np.ndarray], boxes: np.ndarray, first_frame: int = 0, crop_scale: float = 0.40):
        self.frames = frames
        self.first_frame = first_frame
        self.crop_scale = crop_scale
        self.half_size = medfilt(np.maximum(boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]) / 2, SMOOTHING_TAPS)
        self.centre_y = medfilt((boxes[:, 1] + boxes[:, 3]) / 2, SMOOTHING_TAPS)
        self.centre_x = medfilt((boxes[:, 0] + boxes[:, 2]) / 2, SMOOTHING_TAPS)

    def crop(self, index: int) -> np.ndarray:
        frame = self.frames[self.first_frame + index]
        height, width = frame.shape[:2]
        cs, bs = self.crop_scale, self.half_size[index]
        pad = int(bs * (1 + 2 * cs))
        # Coordinates in the reference's frame padded by `pad` on every side, clipped to it.
        my, mx = self.centre_y[index] + pad, self.centre_x[index] + pad
        top, bottom = int(my - bs), int(my + bs * (1 + 2 * cs))
        left, right = int(mx - bs * (1 + cs)), int(mx + bs * (1 + cs))
        top, left = max(top, 0), max(left, 0)
        bottom, right = min(bottom, height + 2 * pad), min(right, width + 2 * pad)
        return cv2.resize(_grey_padded(frame, top - pad, bottom - pad, left - pad, right - pad), (SYNCNET_CROP, SYNCNET_CROP))

    def window_key(self, start: int, length: int) -> np.ndarray:
        """What the crops of frames start .. start+length-1 are made from, besides the frames' pixels:
        each frame's index in the video and its smoothed geometry. Within one decoded video, where a
        frame index names one picture, equal keys mean equal crops."""
        rows = slice(start, start + length)
        return np.stack([np.arange(rows.start, rows.stop) + self.first_frame, self.half_size[rows], self.centre_y[rows], self.centre_x[rows]], axis=1)


def _grey_padded(frame: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """frame[top:bottom, left:right] on a PAD_VALUE canvas, so the part outside the frame is grey
    (what the reference gets by padding the whole frame first, without copying the whole frame)."""
    canvas = np.full((max(bottom - top, 1), max(right - left, 1), 3), PAD_VALUE, dtype=frame.dtype)
    height, width = frame.shape[:2]
    inside_top, inside_left = max(top, 0), max(left, 0)
    inside_bottom, inside_right = min(bottom, height), min(right, width)
    if inside_bottom > inside_top and inside_right > inside_left:
        canvas[inside_top - top : inside_bottom - top, inside_left - left : inside_right - left] = frame[
            inside_top:inside_bottom, inside_left:inside_right
        ]
    return canvas


class WholeFrameCrops(Crops):
    """Crops for video that is already a face crop (the reference's demo clip, `--precropped`): each
    frame as it is, resized to 224x224 when it is not already."""

    def __init__(self, frames: list[np.ndarray]):
        self.frames = frames

    def crop(self, index: int) -> np.ndarray:
        frame = self.frames[index]
        return frame if frame.shape[:2] == (SYNCNET_CROP, SYNCNET_CROP) else cv2.resize(frame, (SYNCNET_CROP, SYNCNET_CROP))

    def window_key(self, start: int, length: int) -> np.ndarray:
        """As `SyncNetCropper.window_key`: the frames' indices."""
        return np.arange(start, start + length, dtype=np.float64)
