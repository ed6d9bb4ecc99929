"""The frame-classifier half of the ensemble: does the face look generated?

`EfficientNetDetector(model_path, device)` loads any checkpoint `scoring.efficientnet.layouts`
recognises; `predict_frames(face_crops)` returns P(real) per crop and their aggregate:

- score = mean P(real); is_real = score > 0.5; confidence = max(score, 1 - score);
- consistency = 1 - min(2 x std, 1): 1 when every frame agrees, 0 when they scatter widely.

In the service it is one detector of `scoring.contract`: `measure` crops frames sampled uniformly
along the face track the service shares (`scoring.faces.crops`), so no second face-detection pass
runs. The checkpoint's spec holds its normalisation and output meaning, which training uses too.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from frame_extractor import DecodedVideo
from scoring.contract import Measurement
from scoring.efficientnet.layouts import load_checkpoint
from scoring.faces.crops import crops_from_tracking
from scoring.faces.tracking import FaceTrack, TrackingResult
from scoring.settings import Settings
from scoring.timing import Stopwatch
from scoring.weights.checkpoints import WeightsError
from scoring.weights.files import OfficialFile


def aggregate(frame_scores: np.ndarray) -> dict:
    scores = np.asarray(frame_scores, dtype=np.float64)
    mean, std = float(scores.mean()), float(scores.std())
    return {
        "is_real": mean > 0.5,
        "score": round(mean, 4),
        "confidence": round(max(mean, 1 - mean), 4),
        "consistency": round(1 - min(2 * std, 1.0), 4),
        "num_frames": int(scores.size),
        "probabilities": {"fake": round(1 - mean, 4), "real": round(mean, 4)},
        "frame_scores": [round(float(s), 4) for s in scores],
        "statistics": {
            "mean": round(mean, 4),
            "std": round(std, 4),
            "min": round(float(scores.min()), 4),
            "max": round(float(scores.max()), 4),
        },
    }


class EfficientNetDetector:
    name = "efficientnet"
    title = "EfficientNet"
    always_reported = False  # null when it did not run, as in the design document

    def __init__(
        self,
        model_path: str | Path,
        device: str | torch.device = "cpu",
        overrides: dict | None = None,
        batch_size: int = 20,
        num_frames: int = 20,
        crop_margin: float = 0.15,
    ):
        self.model_path = Path(model_path)
        self.device = torch.device(device)
        model, self.spec = load_checkpoint(self.model_path, overrides)
        self.model = model.to(self.device).to(memory_format=torch.channels_last)
        self.batch_size = batch_size
        self.num_frames = num_frames
        self.crop_margin = crop_margin

    @classmethod
    def from_settings(cls, settings: Settings, device: torch.device) -> "EfficientNetDetector":
        e = settings.efficientnet
        if e.weights is None:
            raise WeightsError("no EfficientNet checkpoint is configured (EFFICIENTNET_WEIGHTS is empty)")
        overrides = {"class_order": e.class_order, "input_size": e.input_size, "normalization": e.normalization}
        return cls(e.weights, device, overrides, e.batch_size, e.num_frames, e.crop_margin)

    @staticmethod
    def weights_file(settings: Settings) -> tuple[Path | None, OfficialFile | None]:
        return settings.efficientnet.weights, None

    @property
    def input_size(self) -> int:
        return self.spec.input_size

    def preprocess(self, images: list) -> torch.Tensor:
        """Face images (PIL images or RGB uint8 arrays, any size) -> the network's input, resized to its
        input size and normalised as the checkpoint says."""
        crops = np.stack([self._as_input(image) for image in images])
        return self.spec.normalise(torch.from_numpy(crops).to(self.device).permute(0, 3, 1, 2))

    def _as_input(self, image) -> np.ndarray:
        array = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else np.asarray(image)
        if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
            raise ValueError(f"expected an RGB image (H x W x 3, uint8), got shape {array.shape} {array.dtype}")
        size = self.spec.input_size
        if array.shape[:2] == (size, size):
            return array
        interpolation = cv2.INTER_AREA if max(array.shape[:2]) > size else cv2.INTER_LINEAR
        return cv2.resize(array, (size, size), interpolation=interpolation)

    @torch.inference_mode()
    def real_probabilities(self, images_rgb: list[np.ndarray]) -> np.ndarray:
        probabilities = []
        for start in range(0, len(images_rgb), self.batch_size):
            logits = self.model(self.preprocess(images_rgb[start : start + self.batch_size]))
            probabilities.append(self.spec.real_probability(logits).cpu().numpy())
        return np.concatenate(probabilities) if probabilities else np.zeros(0)

    def predict_frames(self, frames: list) -> dict:
        """P(real) per face image (PIL or RGB array, any size) and their aggregate."""
        if len(frames) == 0:
            raise ValueError("no frames to classify")
        return aggregate(self.real_probabilities(frames))

    def predict_image(self, image) -> dict:
        """One face image (PIL or RGB array, any size): is_real, score (P(real)), confidence, probabilities."""
        result = self.predict_frames([image])
        return {k: result[k] for k in ("is_real", "score", "confidence", "probabilities")}

    def measure(self, video: DecodedVideo, tracking: TrackingResult, track: FaceTrack | None, watch: Stopwatch) -> Measurement:
        """Crops along `track` (else the longest track, else single detections); raises CannotScore without a face."""
        with watch.stage("classifier_crops"):
            faces = crops_from_tracking(video, tracking, self.num_frames, self.crop_margin, self.input_size, track)
        with watch.stage("classifier"):
            report = {
                **self.predict_frames(faces.crops_rgb),
                "frame_indices": [int(i) for i in faces.frame_indices],
                "face_source": faces.source,
            }
        return Measurement(report, faces.track)

    def describe(self) -> dict:
        return {"checkpoint": self.spec.summary()}
