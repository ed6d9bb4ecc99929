"""The design document's frame-classifier front door: `EfficientNetDetector(model_path, device)`.

    detector = EfficientNetDetector("models/EfficientNetAutoAttB4_DFDC_bestval-....pth", "cpu")
    detector.predict_image(face)            # is_real, score (P(real)), confidence, probabilities
    detector.predict_frames(faces)          # the same for several faces of one video, per frame too

Any file `scoring.frames.layouts` recognises loads, with its authors' preprocessing; the
service's own detector is `scoring.frames.detector.FrameDetector`, which this extends with
the document's calls on face images that are already cut out.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from scoring.frames.detector import FrameDetector, FrameModel

__all__ = ["EfficientNetDetector"]


class EfficientNetDetector(FrameDetector):
    def predict_frames(self, frames: list) -> dict:
        """P(real) per face image (PIL or RGB array, any size; each model resizes it its way) and the verdict."""
        if len(frames) == 0:
            raise ValueError("no frames to classify")
        return self.judge([_resized_faces(model, frames) for model in self.models])

    def predict_image(self, image) -> dict:
        """One face image (PIL or RGB array, any size): is_real, score (P(real)), confidence, probabilities."""
        result = self.predict_frames([image])
        return {k: result[k] for k in ("is_real", "score", "confidence", "probabilities")}


def _resized_faces(model: FrameModel, images: list) -> np.ndarray:
    """Face images (PIL images or RGB uint8 arrays, any size) resized as `model`'s profile says."""
    return np.stack([model.profile.resize_face(_rgb_array(image)) for image in images])


def _rgb_array(image) -> np.ndarray:
    array = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected an RGB image (H x W x 3, uint8), got shape {array.shape} {array.dtype}")
    return array
