"""The EfficientNet pieces several families share: efficientnet_pytorch's network, its feature pass,
and the variant (B0-B7) a file's shapes give."""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

from scoring.weights.checkpoints import WeightsError

# (head channels, MBConv blocks) -> variant; the same in efficientnet_pytorch, torchvision and timm.
VARIANTS = {
    (1280, 16): "b0",
    (1280, 23): "b1",
    (1408, 23): "b2",
    (1536, 26): "b3",
    (1792, 32): "b4",
    (2048, 39): "b5",
    (2304, 45): "b6",
    (2560, 55): "b7",
}


def efficientnet_pytorch(variant: str, num_classes: int = 1000, image_size: int | None = None) -> nn.Module:
    """efficientnet_pytorch's EfficientNet without weights; `image_size` fixes its static "same" padding,
    which is why files trained through `from_pretrained` need the variant's own size (380 for B4)."""
    from efficientnet_pytorch import EfficientNet

    overrides = {"image_size": image_size} if image_size else {}
    return EfficientNet.from_name(f"efficientnet-{variant}", num_classes=num_classes, **overrides)


def efficientnet_features(net: nn.Module, x: torch.Tensor, attention: nn.Module | None = None, after_block: int = -1) -> torch.Tensor:
    """efficientnet_pytorch's stem, blocks and head convolution; with `attention`, the output of
    block `after_block` is multiplied by sigmoid(attention(x)), as in polimi's EfficientNetAutoAtt."""
    x = net._swish(net._bn0(net._conv_stem(x)))
    for index, block in enumerate(net._blocks):
        x = block(x)  # drop connect only acts in training
        if attention is not None and index == after_block:
            x = x * torch.sigmoid(attention(x))
    return net._swish(net._bn1(net._conv_head(x)))


def efficientnet_variant(state: Mapping[str, torch.Tensor], head_conv: str, block_pattern: str, depth: int, what: str) -> str:
    """B0-B7 from the head convolution's width and the number of distinct MBConv blocks."""
    channels = state[head_conv].shape[0]
    blocks = len({tuple(k.split(".")[:depth]) for k in state if re.match(block_pattern, k)})
    variant = VARIANTS.get((channels, blocks))
    if variant is None:
        raise WeightsError(f"{what} with {blocks} blocks and a {channels}-channel head is not an EfficientNet B0-B7")
    return variant
