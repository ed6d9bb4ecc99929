"""BatchNorm folded into the layer before it, for inference: one pass less over every activation.

In eval mode BatchNorm is y = (x - mean) * gamma / sqrt(var + eps) + beta per channel, so it merges
into the weights and bias of the convolution or linear layer that produced x.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def fold_batchnorm(layer: nn.Module, bn: nn.Module) -> nn.Module:
    """A copy of `layer` (a convolution or linear layer, with or without bias) computing bn(layer(x))."""
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    shape = (-1,) + (1,) * (layer.weight.dim() - 1)
    bias = layer.bias.detach() if layer.bias is not None else torch.zeros_like(bn.running_mean)
    merged = copy.deepcopy(layer)
    merged.weight = nn.Parameter(layer.weight.detach() * scale.view(shape))
    merged.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias.detach())
    return merged
