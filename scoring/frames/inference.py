"""A loaded frame network rebuilt for serving: the same function in fewer passes over memory.

EfficientNet is memory-bound on a CPU (its depthwise convolutions do little arithmetic per byte),
and efficientnet_pytorch's modules, written for training, spend passes that inference does not need:

- BatchNorm after every convolution: folded into the convolution's weights and bias;
- swish as an autograd Function of two kernels (sigmoid, then multiply): torch's one-kernel SiLU;
- TensorFlow's "same" padding as a zero-padded copy of each input: the convolution's own padding,
  wherever the padding is symmetric (every stride-1 layer);
- under bfloat16 autocast, every convolution's weights cast again on every call: cast once here,
  which gives autocast's numbers exactly (it rounds the same float32 weights the same way).

On polimi's EfficientNet-B4 (16 faces at 224 px, bfloat16, 2 cores) this took the forward from
0.69 to 0.44 s; `bench/bench_frame_detectors.py` measures the served networks. Other families
(timm, torchvision) keep their layers and get the one-time cast only. Serving rebuilds a network
only after its file loaded strictly into the authors' module tree, so every file is still checked
against their layout.
"""

from __future__ import annotations

import torch
from efficientnet_pytorch import EfficientNet
from torch import nn

from scoring.runtime.folding import fold_batchnorm

# efficientnet_pytorch's (convolution, BatchNorm) attribute pairs: the network's stem and head, and
# each MBConv block's expansion, depthwise and projection layers.
BATCHNORM_AFTER = (
    ("_conv_stem", "_bn0"),
    ("_conv_head", "_bn1"),
    ("_expand_conv", "_bn0"),
    ("_depthwise_conv", "_bn1"),
    ("_project_conv", "_bn2"),
)


def for_inference(network: nn.Module, precision: torch.dtype) -> nn.Module:
    """`network` (in eval mode) rebuilt in place for inference at `precision`, to run under
    `serving_autocast`; returns it."""
    for module in list(network.modules()):  # a list: folding replaces modules
        _fold_efficientnet_batchnorm(module)
    for module in network.modules():
        _pad_inside_convolution(module)
        if isinstance(module, EfficientNet):
            module.set_swish(memory_efficient=False)
        if precision != torch.float32 and isinstance(module, (nn.Conv2d, nn.Linear)):  # what autocast runs at reduced precision
            module.to(precision)
    return network


def serving_autocast(device: torch.device, precision: torch.dtype) -> torch.autocast:
    """The context a network rebuilt for `precision` runs in: autocast to it, off for float32."""
    return torch.autocast(device.type, precision, enabled=precision != torch.float32)


def _fold_efficientnet_batchnorm(module: nn.Module) -> None:
    for conv_name, bn_name in BATCHNORM_AFTER:
        conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            setattr(module, conv_name, fold_batchnorm(conv, bn))
            setattr(module, bn_name, nn.Identity())


def _pad_inside_convolution(module: nn.Module) -> None:
    padding = getattr(module, "static_padding", None)
    if isinstance(module, nn.Conv2d) and isinstance(padding, nn.ZeroPad2d):
        left, right, top, bottom = padding.padding
        if left == right and top == bottom:
            module.padding = (top, left)
            module.static_padding = nn.Identity()
