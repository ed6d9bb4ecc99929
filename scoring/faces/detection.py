"""Face detectors behind one interface: `detect(frames_bgr) -> [(K,5) x1,y1,x2,y2,score per frame]`.

S3FD (the reference's detector) needs `sfd_face.pth`; MTCNN ships inside facenet-pytorch and
works offline. `FACE_DETECTOR=auto` takes S3FD when its weights load and MTCNN otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch

from scoring.faces.s3fd import S3FD, S3FDNet
from scoring.runtime import memo
from scoring.runtime.torchvision_ops import prepare_torchvision
from scoring.weights.catalog import S3FD as S3FD_OFFICIAL
from scoring.weights.checkpoints import WeightsError, load_strict, read_checkpoint, require_official, tensor_state

S3FD_SCALE = 0.25
MTCNN_SCALE = 0.5


class FaceDetector(Protocol):
    name: str
    scale: float

    def detect(self, frames_bgr: list[np.ndarray]) -> list[np.ndarray]: ...


def _channels_last(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """MTCNN's max-pools ran 2.5-4x faster on channels-last tensors here (a third of its time went
    to them in the default layout); the boxes agree to 1e-4 px."""
    return tuple(x.contiguous(memory_format=torch.channels_last) for x in inputs)


class MTCNNDetector:
    """facenet-pytorch's MTCNN on downscaled RGB frames; boxes returned in frame pixels."""

    name = "mtcnn"

    def __init__(self, device: torch.device, scale: float = MTCNN_SCALE, threshold: float = 0.9, batch_size: int = 16):
        prepare_torchvision()  # facenet-pytorch imports torchvision
        from facenet_pytorch import MTCNN

        self.mtcnn = MTCNN(keep_all=True, device=device, post_process=False, select_largest=False)
        for stage in (self.mtcnn.pnet, self.mtcnn.rnet, self.mtcnn.onet):
            stage.register_forward_pre_hook(_channels_last)
        self.scale = scale
        self.threshold = threshold
        self.batch_size = batch_size

    def detect(self, frames_bgr: list[np.ndarray]) -> list[np.ndarray]:
        results = []
        for start in range(0, len(frames_bgr), self.batch_size):
            batch = np.stack(
                [
                    cv2.resize(f, (0, 0), fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)[:, :, ::-1]
                    for f in frames_bgr[start : start + self.batch_size]
                ]
            )
            with torch.inference_mode():
                boxes, probs = self.mtcnn.detect(batch)
            for frame_boxes, frame_probs in zip(boxes, probs, strict=True):
                results.append(self._to_frame(frame_boxes, frame_probs))
        return results

    def _to_frame(self, boxes, probs) -> np.ndarray:
        if boxes is None:
            return np.zeros((0, 5))
        found = np.concatenate([np.asarray(boxes, dtype=float) / self.scale, np.asarray(probs, dtype=float)[:, None]], 1)
        found = found[found[:, 4] >= self.threshold]
        return found[np.argsort(-found[:, 4], kind="stable")]


class RememberingDetector:
    """A detector that searches each frame alone, and within a live session remembers what it found by
    the frame's content, so a frame searched while the recording arrived is not searched again for its
    verdict (`scoring.runtime.memo`)."""

    def __init__(self, detector: FaceDetector):
        self.detector = detector
        self.name, self.scale = detector.name, detector.scale

    def detect(self, frames_bgr: list[np.ndarray]) -> list[np.ndarray]:
        return memo.each(frames_bgr, lambda frame: self.detector.detect([frame])[0], scope=self)


def load_s3fd_net(path: Path) -> S3FDNet:
    net = S3FDNet()
    load_strict(net, tensor_state(read_checkpoint(path), "S3FD"), f"S3FD ({path.name})", may_lack=())
    return net


@dataclass
class DetectorChoice:
    detector: FaceDetector
    requested: str
    notes: list[str] = field(default_factory=list)


def create_face_detector(
    requested: str,
    s3fd_weights: Path,
    device: torch.device,
    scale: float | None = None,
    threshold: float = 0.9,
    allow_unverified_weights: bool = False,
) -> DetectorChoice:
    """The configured detector. `auto` falls back to MTCNN, saying why, when S3FD cannot load."""
    notes = []
    if requested in ("auto", "s3fd"):
        try:
            if not allow_unverified_weights:
                require_official(s3fd_weights, S3FD_OFFICIAL)
            net = load_s3fd_net(s3fd_weights)
            return DetectorChoice(S3FD(net, device, scale or S3FD_SCALE, threshold), requested)
        except WeightsError as exc:
            if requested == "s3fd":
                raise
            notes.append(f"S3FD unavailable ({exc}); using MTCNN")
    return DetectorChoice(MTCNNDetector(device, scale or MTCNN_SCALE, threshold), requested, notes)
