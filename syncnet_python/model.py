"""SyncNet v2 ("Out of time", Chung & Zisserman 2016): an audio and a lip stream into one space.

`SyncNetV2` has the official module layout, so `syncnet_v2.model` loads into it key for key.
"""

from __future__ import annotations

import torch
from torch import nn

EMBEDDING_SIZE = 1024
LIP_FRAMES = 5
MFCC_FRAMES = 20


def _conv_bn_relu(conv: nn.Module, bn: nn.Module) -> list[nn.Module]:
    return [conv, bn, nn.ReLU(inplace=True)]


def _embedding_head() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(512, 512),
        nn.BatchNorm1d(512),
        nn.ReLU(),
        nn.Linear(512, EMBEDDING_SIZE),
    )


class SyncNetV2(nn.Module):
    """Official SyncNet v2 layout. Inputs: MFCC (N,1,13,20); lips (N,3,5,224,224) BGR 0..255."""

    def __init__(self):
        super().__init__()
        self.netcnnaud = nn.Sequential(
            *_conv_bn_relu(nn.Conv2d(1, 64, 3, 1, 1), nn.BatchNorm2d(64)),
            nn.MaxPool2d(1, 1),
            *_conv_bn_relu(nn.Conv2d(64, 192, 3, 1, 1), nn.BatchNorm2d(192)),
            nn.MaxPool2d(3, (1, 2)),
            *_conv_bn_relu(nn.Conv2d(192, 384, 3, padding=1), nn.BatchNorm2d(384)),
            *_conv_bn_relu(nn.Conv2d(384, 256, 3, padding=1), nn.BatchNorm2d(256)),
            *_conv_bn_relu(nn.Conv2d(256, 256, 3, padding=1), nn.BatchNorm2d(256)),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 512, (5, 4)),
            nn.BatchNorm2d(512),
            nn.ReLU(),
        )
        self.netfcaud = _embedding_head()
        self.netfclip = _embedding_head()
        self.netcnnlip = nn.Sequential(
            *_conv_bn_relu(nn.Conv3d(3, 96, (5, 7, 7), (1, 2, 2)), nn.BatchNorm3d(96)),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            *_conv_bn_relu(nn.Conv3d(96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), nn.BatchNorm3d(256)),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            *_conv_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256)),
            *_conv_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256)),
            *_conv_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256)),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            *_conv_bn_relu(nn.Conv3d(256, 512, (1, 6, 6)), nn.BatchNorm3d(512)),
        )

    def forward_audio(self, mfcc: torch.Tensor) -> torch.Tensor:
        return self.netfcaud(self.netcnnaud(mfcc).flatten(1))

    def forward_lip(self, frames: torch.Tensor) -> torch.Tensor:
        return self.netfclip(self.netcnnlip(frames).flatten(1))
