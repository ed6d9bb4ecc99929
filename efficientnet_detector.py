"""The frame-classifier half of the ensemble: does the face look generated?

`EfficientNetDetector(model_path, device)` loads any checkpoint `scoring.efficientnet.layouts`
recognises; `predict_frames(face_crops)` returns P(real) per crop and their aggregate:

- score = mean P(real); is_real = score > 0.5; confidence = max(score, 1 - score);
- consistency = 1 - min(2 x std, 1): 1 when every frame agrees, 0 when they scatter widely.

Crops come from the face tracks (`crops_from_tracking`): frames sampled uniformly along the main
face track, square crops around its boxes with a margin, so no second face-detection pass runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from frame_extractor import DecodedVideo, FrameExtractor, uniform_indices
from scoring.efficientnet.layouts import load_checkpoint
from scoring.errors import CannotScore
from scoring.weights.checkpoints import WeightsError
from syncnet_python.tracking import FaceTrack, TrackingResult, square_face_crop


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
    def __init__(self, model_path: str | Path, device: str | torch.device = "cpu", overrides: dict | None = None, batch_size: int = 20):
        self.model_path = Path(model_path)
        self.device = torch.device(device)
        model, self.spec = load_checkpoint(self.model_path, overrides)
        self.model = model.to(self.device).to(memory_format=torch.channels_last)
        self.batch_size = batch_size
        self._mean = torch.tensor(self.spec.mean, device=self.device).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(self.spec.std, device=self.device).view(1, 3, 1, 1) * 255

    @property
    def input_size(self) -> int:
        return self.spec.input_size

    def preprocess(self, images_rgb: list[np.ndarray]) -> torch.Tensor:
        """RGB uint8 crops of the input size -> normalised NCHW (channels-last) float tensor."""
        size = self.spec.input_size
        for image in images_rgb:
            if image.shape != (size, size, 3):
                raise ValueError(f"expected {size}x{size} RGB crops, got {image.shape}")
        batch = torch.from_numpy(np.stack(images_rgb)).to(self.device).permute(0, 3, 1, 2).float()
        return (batch - self._mean) / self._std

    @torch.inference_mode()
    def real_probabilities(self, images_rgb: list[np.ndarray]) -> np.ndarray:
        probabilities = []
        for start in range(0, len(images_rgb), self.batch_size):
            logits = self.model(self.preprocess(images_rgb[start : start + self.batch_size])).float()
            probabilities.append(self._real_probability(logits).cpu().numpy())
        return np.concatenate(probabilities) if probabilities else np.zeros(0)

    def _real_probability(self, logits: torch.Tensor) -> torch.Tensor:
        if self.spec.num_outputs == 1:
            positive = torch.sigmoid(logits[:, 0])
            return positive if self.spec.class_order[0] == "real" else 1 - positive
        return logits.softmax(dim=1)[:, self.spec.real_index]

    def predict_frames(self, frames_rgb: list[np.ndarray]) -> dict:
        if not frames_rgb:
            raise ValueError("no frames to classify")
        return aggregate(self.real_probabilities(frames_rgb))

    def predict_image(self, image_rgb: np.ndarray) -> dict:
        result = self.predict_frames([image_rgb])
        return {k: result[k] for k in ("is_real", "score", "confidence")}

    def describe(self) -> dict:
        return {"spec": self.spec.summary(), "device": str(self.device)}


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
        raise CannotScore(f"no face was found ({tracking.detected_frames} frames searched)", code="no_face")
    chosen = [with_faces[i] for i in uniform_indices(len(with_faces), num_frames)]
    largest = [max(tracking.detections[f], key=lambda b: (b[2] - b[0]) * (b[3] - b[1])) for f in chosen]
    return FaceCrops(np.array(chosen), [crop(f, box) for f, box in zip(chosen, largest)], "detections")


def load_detector(model_path: Path | None, device: torch.device, overrides: dict, batch_size: int) -> EfficientNetDetector:
    if model_path is None:
        raise WeightsError("no EfficientNet checkpoint is configured (EFFICIENTNET_WEIGHTS is empty)")
    return EfficientNetDetector(model_path, device, overrides, batch_size)

