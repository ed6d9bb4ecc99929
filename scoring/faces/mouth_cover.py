"""Is a face's mouth covered (a hand, a mask, an object)? A linear probe on MTCNN's ONet features.

ONet, the last of MTCNN's three networks (facenet-pytorch's bundled weights, MIT), was trained to
find faces on 48x48 crops and to place their eyes, nose and mouth corners, so its last hidden layer
(256 values) describes the parts of a face; where the mouth's part looks like no mouth, the probe reads
it covered. Colour rules on the lips were tried first and dropped: beards, moustaches, teeth and
lipstick set them off on bare faces (docs/measurements.md, "Mouth hidden").

The probe file (`models/guidance/mouth_cover.pt`, made by `python -m training.fit_mouth_cover`) keeps
the features' mean and deviation with its weights, and the logit above which a mouth reads hidden.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from scoring.runtime.torchvision_ops import prepare_torchvision
from scoring.weights.checkpoints import load_strict, read_checkpoint, tensor_state

FACE_SIDE = 48  # ONet's input
FEATURES = 256  # ONet's last hidden layer


def box_pixels(frame_bgr: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The part of the frame within the (x1, y1, x2, y2) box: empty when the box lies outside it."""
    height, width = frame_bgr.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box[:4])
    return frame_bgr[max(0, y1) : min(height, y2), max(0, x1) : min(width, x2)]


def face_inputs(frames_bgr: list[np.ndarray], boxes: np.ndarray) -> torch.Tensor:
    """(N, 3, 48, 48) ONet inputs: each frame's box, squeezed to 48x48, RGB scaled to [-1, 1].
    Frames where their box holds no pixels are left out."""
    faces = [
        cv2.resize(face, (FACE_SIDE, FACE_SIDE), interpolation=cv2.INTER_AREA)[:, :, ::-1]
        for face in (box_pixels(frame, box) for frame, box in zip(frames_bgr, boxes, strict=True))
        if face.size
    ]
    if not faces:
        return torch.zeros((0, 3, FACE_SIDE, FACE_SIDE))
    # channels-last: ONet's max-pools ran 2.5x faster so (15 against 36 ms for 12 faces), features equal to 1e-6
    return ((torch.from_numpy(np.stack(faces)).float() - 127.5) / 128.0).permute(0, 3, 1, 2)


class CoverProbe(nn.Module):
    """What the probe file holds: the features' statistics, one linear layer, the threshold of its logit."""

    def __init__(self):
        super().__init__()
        self.register_buffer("feature_mean", torch.zeros(FEATURES))
        self.register_buffer("feature_std", torch.ones(FEATURES))
        self.head = nn.Linear(FEATURES, 1)
        self.register_buffer("threshold", torch.zeros(()))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head((features - self.feature_mean) / self.feature_std)[:, 0]


class MouthCover(nn.Module):
    def __init__(self, probe: CoverProbe | None = None):
        super().__init__()
        prepare_torchvision()  # facenet-pytorch imports torchvision
        from facenet_pytorch.models.mtcnn import ONet

        self.onet = ONet(pretrained=True).eval()
        self.probe = probe if probe is not None else CoverProbe()

    def features(self, faces: torch.Tensor) -> torch.Tensor:
        """ONet's 256 hidden values of each face (its layers up to its three heads)."""
        onet = self.onet
        x = onet.pool1(onet.prelu1(onet.conv1(faces)))
        x = onet.pool2(onet.prelu2(onet.conv2(x)))
        x = onet.pool3(onet.prelu3(onet.conv3(x)))
        x = onet.prelu4(onet.conv4(x))
        return onet.prelu5(onet.dense5(x.permute(0, 3, 2, 1).reshape(len(x), -1)))  # ONet's own (Caffe) flattening order

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        """The logit of each face's mouth being covered."""
        return self.probe(self.features(faces))

    @torch.inference_mode()
    def hidden(self, frames_bgr: list[np.ndarray], boxes: np.ndarray) -> bool:
        """Whether the mouth of the face, in its box on each frame, reads covered on most of the frames."""
        faces = face_inputs(frames_bgr, boxes)
        return len(faces) > 0 and float(self(faces).median()) > float(self.probe.threshold)


def load_mouth_cover(path: Path) -> MouthCover:
    probe = CoverProbe()
    load_strict(probe, tensor_state(read_checkpoint(path), "mouth cover probe"), f"mouth cover probe ({path.name})", may_lack=())
    return MouthCover(probe.eval()).eval()
