"""Heat maps for a reviewer: where on a face the frame classifier saw signs of a fake.

Each map covers the model's own input crop, in 0..1, and is chosen by what the network is:

- **Grad-CAM** (Selvaraju et al., ICCV 2017) for convolutional networks in torch: the activations
  of the network's last convolution with a spatial extent, each channel weighted by the mean
  gradient of the fake evidence (the logit of P(fake)) over it, summed and rectified; for a vision
  transformer (Effort, the CLIP probe's float tower), the same on the patch tokens the last block
  reads (the block before it), laid out on their grid.
- **The network's own attention map** where it has one: polimi-ispl's EfficientNetAutoAtt
  multiplies block 10's output by sigmoid(a 1x1 convolution); that map, stretched to its range.
- **Occlusion** (Zeiler and Fergus, ECCV 2014) for any other network: a square of the crop's
  mean colour slides over the face, and each place's heat is how much hiding it raises P(real),
  smoothed over a patch's width so the grid of positions does not show.

Grad-CAM is written here rather than taken from the `grad-cam` package: that package pulls in
`opencv-python`, which would replace the headless OpenCV the service installs.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

OCCLUSION_PATCH = 0.3  # of the crop's side
# Positions per axis (patches overlap by about a third): 26 runs of the network per face, 1.6 s for
# the CLIP probe on 2 cores.
OCCLUSION_STEPS = 5
OVERLAY_OPACITY = 0.6  # of the colour where the map is 1; where it is 0 the face shows as it is


def last_spatial_convolution(network: nn.Module, inputs: torch.Tensor) -> nn.Conv2d | None:
    """The last convolution (in execution order) whose output still has a spatial extent, or None."""
    seen: list[tuple[nn.Conv2d, tuple]] = []
    hooks = [
        module.register_forward_hook(lambda m, _, out: seen.append((m, tuple(out.shape[2:]))))
        for module in network.modules()
        if isinstance(module, nn.Conv2d)
    ]
    try:
        with torch.inference_mode():
            network(inputs[:1])
    finally:
        for hook in hooks:
            hook.remove()
    spatial = [module for module, (height, width) in seen if height > 1 and width > 1]
    return spatial[-1] if spatial else None


def read_transformer_block(network: nn.Module) -> nn.Module:
    """The block whose patch tokens a CLS-pooled vision transformer reads last: the one before the
    last. The last block's own patch tokens feed nothing (only its class token is pooled), so
    their gradients are zero and a map of them is empty. For a network that names its blocks
    (`transformer_blocks()`: Effort, the CLIP probe)."""
    return network.transformer_blocks()[-2]


def token_grid(hidden: torch.Tensor) -> torch.Tensor:
    """A vision transformer block's (N, 1 + h w, C) hidden states as (N, C, h, w), the class token left out."""
    tokens = hidden[:, 1:]
    side = int(round(tokens.shape[1] ** 0.5))
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], side, side)


def grad_cam(
    network: nn.Module,
    layer: nn.Module,
    inputs: torch.Tensor,
    fake_evidence: Callable[[torch.Tensor], torch.Tensor],
    to_grid: Callable = lambda output: output,
) -> np.ndarray:
    """(N, H, W) maps in 0..1 for normalised (N, 3, H, W) inputs; `fake_evidence(outputs)` is one value
    per row; `to_grid` turns `layer`'s output (the first of a tuple) into (N, C, h, w) (for a
    transformer block: `token_grid`)."""
    captured = {}
    hook = layer.register_forward_hook(lambda _, __, out: captured.__setitem__("output", out[0] if isinstance(out, tuple) else out))
    try:
        with torch.inference_mode(False), torch.enable_grad():
            inputs = inputs.detach().clone().requires_grad_(True)
            evidence = fake_evidence(network(inputs))
            (gradients,) = torch.autograd.grad(evidence.sum(), captured["output"])
    finally:
        hook.remove()
    activations, gradients = to_grid(captured["output"].detach()).float(), to_grid(gradients).float()
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    cams = F.relu((weights * activations).sum(dim=1, keepdim=True))
    cams = F.interpolate(cams, size=inputs.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    return np.stack([_unit(cam) for cam in cams.numpy()])


def attention_map(network: nn.Module, attention: nn.Module, inputs: torch.Tensor) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """(N, H, W) maps of sigmoid(`attention`'s output) over normalised (N, 3, H, W) inputs, each stretched
    to 0..1, and each map's own range before stretching."""
    captured = {}
    hook = attention.register_forward_hook(lambda _, __, out: captured.__setitem__("logits", out))
    try:
        with torch.inference_mode():
            network(inputs)
    finally:
        hook.remove()
    weights = torch.sigmoid(captured["logits"].float())
    maps = F.interpolate(weights, size=inputs.shape[2:], mode="bilinear", align_corners=False)[:, 0].numpy()
    ranges = [(float(m.min()), float(m.max())) for m in weights[:, 0].numpy()]
    return np.stack([_unit(m - m.min()) for m in maps]), ranges


def occlusion(p_real: Callable[[np.ndarray], np.ndarray], face: np.ndarray) -> tuple[np.ndarray, float]:
    """(S, S) map in 0..1 for one S x S x 3 uint8 face: how much hiding each place raises P(real);
    and the largest rise itself (0: hiding no single place makes the face look more genuine, and the
    map is empty)."""
    size = face.shape[0]
    patch = max(1, round(size * OCCLUSION_PATCH))
    positions = list(itertools.product(np.linspace(0, size - patch, OCCLUSION_STEPS).round().astype(int), repeat=2))
    fill = face.reshape(-1, 3).mean(axis=0).astype(face.dtype)
    hidden = []
    for top, left in positions:
        variant = face.copy()
        variant[top : top + patch, left : left + patch] = fill
        hidden.append(variant)
    scores = p_real(np.stack([face, *hidden]))
    gains = np.clip(scores[1:] - scores[0], 0, None)
    heat, cover = np.zeros((size, size)), np.zeros((size, size))
    for (top, left), gain in zip(positions, gains, strict=True):
        heat[top : top + patch, left : left + patch] += gain
        cover[top : top + patch, left : left + patch] += 1
    return _unit(cv2.GaussianBlur(heat / np.maximum(cover, 1), (0, 0), patch / 2)), float(gains.max())


def overlay_png(face_rgb: np.ndarray, heat: np.ndarray) -> str:
    """The face with the map over it as base64 PNG: JET colours (red = most), as opaque as the map is hot."""
    heat = np.clip(heat, 0, 1)
    colours = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET).astype(np.float32)
    opacity = OVERLAY_OPACITY * heat[:, :, None]
    blended = (1 - opacity) * face_rgb[:, :, ::-1].astype(np.float32) + opacity * colours
    ok, png = cv2.imencode(".png", blended.round().astype(np.uint8))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return base64.b64encode(png.tobytes()).decode("ascii")


HeatMaps = list[tuple[np.ndarray, dict]]  # per crop: its map, and how it was made


def attention_maps(network: nn.Module, inputs: torch.Tensor, crops: np.ndarray, fake_evidence, p_real) -> HeatMaps:
    """The network's own attention map (the module named `attconv`: polimi's EfficientNetAutoAtt)."""
    attention = next(module for name, module in network.named_modules() if name.endswith("attconv"))
    maps, ranges = attention_map(network, attention, inputs)
    return [(heat, {"method": "attention", "attention_range": [round(low, 4), round(high, 4)]}) for heat, (low, high) in zip(maps, ranges, strict=True)]


def transformer_maps(network: nn.Module, inputs: torch.Tensor, crops: np.ndarray, fake_evidence, p_real) -> HeatMaps:
    """Grad-CAM on the patch tokens a CLS-pooled vision transformer's class token reads (Effort, the CLIP probe)."""
    block = read_transformer_block(network)
    return [(heat, {"method": "grad-cam"}) for heat in grad_cam(network, block, inputs, fake_evidence, token_grid)]


def convolution_maps(network: nn.Module, inputs: torch.Tensor, crops: np.ndarray, fake_evidence, p_real) -> HeatMaps:
    """Grad-CAM on the last convolution with a spatial extent; occlusion for a network without one
    (with the largest rise in P(real) that hiding one place gave)."""
    layer = last_spatial_convolution(network, inputs)
    if layer is not None:
        return [(heat, {"method": "grad-cam"}) for heat in grad_cam(network, layer, inputs, fake_evidence)]
    maps = [occlusion(p_real, crop) for crop in crops]
    return [(heat, {"method": "occlusion", "max_rise": round(rise, 4)}) for heat, rise in maps]


# A family's heat-map method (scoring.frames.register.Family.heat_map) -> how its maps are made:
# (network, normalised inputs, the uint8 crops, fake evidence of outputs, P(real) of uint8 faces) -> maps.
METHODS: dict[str, Callable[..., HeatMaps]] = {"attention": attention_maps, "transformer": transformer_maps, "grad-cam": convolution_maps}


def _unit(values: np.ndarray) -> np.ndarray:
    top = float(values.max())
    return (values / top if top > 0 else np.zeros_like(values)).astype(np.float32)
