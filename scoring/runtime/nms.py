"""Non-maximum suppression of face boxes: S3FD's, and torchvision's `nms` where its compiled ops cannot load."""

from __future__ import annotations

import numpy as np
import torch


def box_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression with torchvision's semantics (no +1 in box areas).

    Returns the indices of kept boxes, highest score first. The loop runs over numpy arrays of the
    boxes' own dtype (the same IEEE arithmetic as torch's): per kept box it costs microseconds where
    small torch ops cost tens, and MTCNN calls this for every pyramid scale of every frame batch.
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    order = torch.argsort(scores, descending=True, stable=True)
    x1, y1, x2, y2 = boxes[order].detach().cpu().numpy().T
    areas = (x2 - x1) * (y2 - y1)
    suppressed = np.zeros(len(areas), dtype=bool)
    keep = []
    for i in range(len(areas)):
        if suppressed[i]:
            continue
        keep.append(i)
        rest = slice(i + 1, None)
        inter_w = np.maximum(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0)
        inter_h = np.maximum(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0)
        inter = inter_w * inter_h
        suppressed[rest] |= inter / (areas[i] + areas[rest] - inter) > iou_threshold
    return order[torch.tensor(keep, dtype=torch.long, device=boxes.device)]
