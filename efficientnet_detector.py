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

import numpy as np
import torch

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

    def preprocess(self, images_rgb: list[np.ndarray]) -> torch.Tensor:
        """RGB uint8 crops of the input size -> the network's input, normalised as the checkpoint says."""
        size = self.spec.input_size
        for image in images_rgb:
            if image.shape != (size, size, 3):
                raise ValueError(f"expected {size}x{size} RGB crops, got {image.shape}")
        return self.spec.normalise(torch.from_numpy(np.stack(images_rgb)).to(self.device).permute(0, 3, 1, 2))

    @torch.inference_mode()
    def real_probabilities(self, images_rgb: list[np.ndarray]) -> np.ndarray:
        probabilities = []
        for start in range(0, len(images_rgb), self.batch_size):
            logits = self.model(self.preprocess(images_rgb[start : start + self.batch_size]))
            probabilities.append(self.spec.real_probability(logits).cpu().numpy())
        return np.concatenate(probabilities) if probabilities else np.zeros(0)

    def predict_frames(self, frames_rgb: list[np.ndarray]) -> dict:
        if not frames_rgb:
            raise ValueError("no frames to classify")
        return aggregate(self.real_probabilities(frames_rgb))

    def predict_image(self, image_rgb: np.ndarray) -> dict:
        result = self.predict_frames([image_rgb])
        return {k: result[k] for k in ("is_real", "score", "confidence")}

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
