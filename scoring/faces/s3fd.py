"""S3FD face detector (Zhang et al. 2017) with the module layout of `sfd_face.pth`.

Detection follows the syncnet_python pipeline: the frame is scaled (0.25 by default) with
bilinear interpolation, fed as RGB minus (123, 117, 104), and the face scores are decoded
against the prior boxes, reduced by NMS at IoU 0.3 (at most 5000 candidates in, 750 out),
thresholded, scaled to frame pixels and reduced once more by NMS at IoU 0.1.

Boxes scoring at or below the final threshold can never suppress a higher-scoring box in greedy
NMS, so filtering them first gives the same boxes and keeps the per-frame cost low.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scoring.runtime.nms import box_nms

RGB_MEAN = np.array([123.0, 117.0, 104.0], dtype=np.float32)
PRIOR_STEPS = (4, 8, 16, 32, 64, 128)
PRIOR_SIZES = (16, 32, 64, 128, 256, 512)
VARIANCES = (0.1, 0.2)
CANDIDATE_THRESHOLD = 0.05
NMS_CANDIDATES = 5000
NMS_KEEP = 750
FIRST_NMS_IOU = 0.3
FINAL_NMS_IOU = 0.1


class L2Norm(nn.Module):
    def __init__(self, channels: int, scale: float):
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10
        return x / norm * self.weight.view(1, -1, 1, 1)


def _vgg_layers() -> nn.ModuleList:
    layers: list[nn.Module] = []
    channels = 3
    for item in (64, 64, "M", 128, 128, "M", 256, 256, 256, "C", 512, 512, 512, "M", 512, 512, 512, "M"):
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        elif item == "C":
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        else:
            layers += [nn.Conv2d(channels, item, 3, 1, padding=1), nn.ReLU(inplace=True)]
            channels = item
    layers += [
        nn.Conv2d(512, 1024, 3, 1, padding=6, dilation=6),
        nn.ReLU(inplace=True),
        nn.Conv2d(1024, 1024, 1, 1),
        nn.ReLU(inplace=True),
    ]
    return nn.ModuleList(layers)


# Index in `vgg` after which conv3_3, conv4_3, conv5_3 (then fc7, at the end) feed the heads.
_SOURCE_ENDS = (16, 23, 30)


class S3FDNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.vgg = _vgg_layers()
        self.L2Norm3_3 = L2Norm(256, 10)
        self.L2Norm4_3 = L2Norm(512, 8)
        self.L2Norm5_3 = L2Norm(512, 5)
        self.extras = nn.ModuleList(
            [nn.Conv2d(1024, 256, 1, 1), nn.Conv2d(256, 512, 3, 2, padding=1), nn.Conv2d(512, 128, 1, 1), nn.Conv2d(128, 256, 3, 2, padding=1)]
        )
        source_channels = (256, 512, 512, 1024, 512, 256)
        self.loc = nn.ModuleList([nn.Conv2d(c, 4, 3, 1, padding=1) for c in source_channels])
        self.conf = nn.ModuleList(
            [nn.Conv2d(c, 4 if i == 0 else 2, 3, 1, padding=1) for i, c in enumerate(source_channels)]
        )

    def _sources(self, x: torch.Tensor) -> list[torch.Tensor]:
        sources = []
        start = 0
        for end, norm in zip(_SOURCE_ENDS, (self.L2Norm3_3, self.L2Norm4_3, self.L2Norm5_3), strict=True):
            for layer in self.vgg[start:end]:
                x = layer(x)
            sources.append(norm(x))
            start = end
        for layer in self.vgg[start:]:
            x = layer(x)
        sources.append(x)
        for k, layer in enumerate(self.extras):
            x = F.relu(layer(x), inplace=True)
            if k % 2 == 1:
                sources.append(x)
        return sources

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
        """Returns location offsets (N,P,4), face probabilities (N,P) and the feature map sizes."""
        locs, confs, sizes = [], [], []
        for i, source in enumerate(self._sources(x)):
            conf = self.conf[i](source)
            if i == 0:
                # Max-out background label over three channels against small false positives.
                conf = torch.cat([conf[:, :3].amax(dim=1, keepdim=True), conf[:, 3:]], dim=1)
            locs.append(self.loc[i](source).permute(0, 2, 3, 1).reshape(x.shape[0], -1, 4))
            confs.append(conf.permute(0, 2, 3, 1).reshape(x.shape[0], -1, 2))
            sizes.append((source.shape[2], source.shape[3]))
        probabilities = torch.cat(confs, 1).softmax(dim=-1)[..., 1]
        return torch.cat(locs, 1), probabilities, sizes


def prior_boxes(image_size: tuple[int, int], feature_sizes: list[tuple[int, int]]) -> torch.Tensor:
    """Prior boxes (P,4) as centre x, centre y, width, height, normalised to the input size."""
    height, width = image_size
    priors = []
    for (fh, fw), step, size in zip(feature_sizes, PRIOR_STEPS, PRIOR_SIZES, strict=True):
        cy, cx = torch.meshgrid(torch.arange(fh, dtype=torch.float32), torch.arange(fw, dtype=torch.float32), indexing="ij")
        cx = (cx.reshape(-1) + 0.5) / (width / step)
        cy = (cy.reshape(-1) + 0.5) / (height / step)
        priors.append(torch.stack([cx, cy, torch.full_like(cx, size / width), torch.full_like(cy, size / height)], 1))
    return torch.cat(priors, 0)


def decode_boxes(loc: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    centres = priors[:, :2] + loc[:, :2] * VARIANCES[0] * priors[:, 2:]
    sizes = priors[:, 2:] * torch.exp(loc[:, 2:] * VARIANCES[1])
    corners = centres - sizes / 2
    return torch.cat([corners, corners + sizes], 1)


def _final_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy NMS in float64 frame pixels, as the reference applies across scales."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        order = rest[inter / (areas[i] + areas[rest] - inter) <= threshold]
    return np.array(keep, dtype=np.int64)


def select_faces(loc: torch.Tensor, scores: torch.Tensor, priors: torch.Tensor, frame_size: tuple[int, int], threshold: float) -> np.ndarray:
    """Boxes (K,5) = x1, y1, x2, y2, score in frame pixels for one image's network output."""
    candidates = torch.nonzero(scores > max(threshold, CANDIDATE_THRESHOLD)).reshape(-1)
    if candidates.numel() == 0:
        return np.zeros((0, 5))
    top = candidates[torch.argsort(scores[candidates], descending=True, stable=True)[:NMS_CANDIDATES]]
    boxes = decode_boxes(loc[top], priors[top])
    kept = box_nms(boxes, scores[top], FIRST_NMS_IOU)[:NMS_KEEP]
    width, height = frame_size
    pixels = (boxes[kept] * torch.tensor([width, height, width, height])).numpy().astype(np.float64)
    result = np.concatenate([pixels, scores[top][kept].numpy().astype(np.float64)[:, None]], 1)
    return result[_final_nms(result[:, :4], result[:, 4], FINAL_NMS_IOU)]


class S3FD:
    """Face detector over BGR frames. `detect` returns one (K,5) array per frame in frame pixels."""

    name = "s3fd"

    def __init__(self, net: S3FDNet, device: torch.device, scale: float = 0.25, threshold: float = 0.9, batch_size: int = 8):
        self.net = net.to(device).eval().to(memory_format=torch.channels_last)
        self.device = device
        self.scale = scale
        self.threshold = threshold
        self.batch_size = batch_size
        self._priors: dict[tuple, torch.Tensor] = {}

    def _input(self, frame_bgr: np.ndarray) -> np.ndarray:
        scaled = cv2.resize(frame_bgr, (0, 0), fx=self.scale, fy=self.scale, interpolation=cv2.INTER_LINEAR)
        return (scaled[:, :, ::-1].astype(np.float32) - RGB_MEAN).transpose(2, 0, 1)

    @torch.inference_mode()
    def detect(self, frames_bgr: list[np.ndarray]) -> list[np.ndarray]:
        results = []
        for start in range(0, len(frames_bgr), self.batch_size):
            batch = frames_bgr[start : start + self.batch_size]
            inputs = torch.from_numpy(np.stack([self._input(f) for f in batch])).to(self.device)
            loc, scores, sizes = self.net(inputs.contiguous(memory_format=torch.channels_last))
            key = (tuple(inputs.shape[2:]), tuple(sizes))
            if key not in self._priors:
                self._priors[key] = prior_boxes(tuple(inputs.shape[2:]), sizes)
            loc, scores = loc.float().cpu(), scores.float().cpu()
            for i, frame in enumerate(batch):
                height, width = frame.shape[:2]
                results.append(select_faces(loc[i], scores[i], self._priors[key], (width, height), self.threshold))
        return results
