"""SyncNet v2 read from its file and rebuilt for serving.

Every lip layer after the first has a temporal kernel of 1, so the 5-frame Conv3d stack equals a
Conv2d stack whose first layer sees the 5 frames as 15 channels; with BatchNorm folded into the
layers before it and channels-last memory this runs about twice as fast on CPU as the reference's
Conv3d and gives the same numbers to float rounding.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from scoring.runtime.folding import fold_batchnorm
from scoring.weights.checkpoints import load_strict, read_checkpoint, tensor_state
from syncnet_python.model import SyncNetV2


def _as_2d(layer: nn.Module) -> nn.Module:
    if isinstance(layer, nn.Conv3d):
        depth = layer.kernel_size[0]
        conv = nn.Conv2d(
            layer.in_channels * depth, layer.out_channels, layer.kernel_size[1:], layer.stride[1:], layer.padding[1:]
        )
        # (out, in, t, h, w) -> (out, t*in, h, w): channel index t*3+c matches frames stacked in time order.
        weight = layer.weight.detach().permute(0, 2, 1, 3, 4)
        conv.weight = nn.Parameter(weight.reshape(layer.out_channels, -1, *layer.kernel_size[1:]).contiguous())
        conv.bias = nn.Parameter(layer.bias.detach().clone())
        return conv
    if isinstance(layer, nn.BatchNorm3d):
        bn = nn.BatchNorm2d(layer.num_features, eps=layer.eps)
        bn.load_state_dict(layer.state_dict())
        return bn
    if isinstance(layer, nn.MaxPool3d):
        padding = layer.padding if isinstance(layer.padding, int) else layer.padding[1:]
        return nn.MaxPool2d(layer.kernel_size[1:], layer.stride[1:], padding)
    return layer


def _fold_batchnorm(layers: list[nn.Module]) -> list[nn.Module]:
    """Merge each eval-mode BatchNorm into the conv/linear layer before it (one pass less over memory)."""
    folded: list[nn.Module] = []
    for layer in layers:
        previous = folded[-1] if folded else None
        if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)) and isinstance(previous, (nn.Conv2d, nn.Linear)):
            folded[-1] = fold_batchnorm(previous, layer)
        else:
            folded.append(layer)
    return folded


def _pool_before_relu(layers: list[nn.Module]) -> list[nn.Module]:
    """ReLU then max-pool equals max-pool then ReLU; pooling first makes ReLU 4x cheaper."""
    layers = list(layers)
    for i in range(len(layers) - 1):
        if isinstance(layers[i], nn.ReLU) and isinstance(layers[i + 1], nn.MaxPool2d):
            layers[i], layers[i + 1] = layers[i + 1], layers[i]
    return layers


class InferenceStream(nn.Module):
    """One SyncNet stream rebuilt for inference: Conv2d only, BatchNorm folded, channels-last."""

    def __init__(self, features: list[nn.Module], head: nn.Sequential):
        super().__init__()
        self.features = nn.Sequential(*_pool_before_relu(_fold_batchnorm(features)))
        self.head = nn.Sequential(*_fold_batchnorm(list(head)))
        self.eval().to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def lip_stream(model: SyncNetV2) -> InferenceStream:
    """Input (N, 15, 224, 224): 5 BGR frames stacked as channels, frame-major."""
    return InferenceStream([_as_2d(layer) for layer in model.netcnnlip], model.netfclip)


def audio_stream(model: SyncNetV2) -> InferenceStream:
    """Input (N, 1, 13, 20) MFCC windows."""
    return InferenceStream(list(model.netcnnaud), model.netfcaud)


def load_syncnet_v2(path) -> SyncNetV2:
    """The official `syncnet_v2.model` (or a file of the same format), loaded strictly."""
    model = SyncNetV2()
    load_strict(model, tensor_state(read_checkpoint(path), "SyncNet v2"), f"SyncNet v2 ({Path(path).name})")
    return model.eval()
