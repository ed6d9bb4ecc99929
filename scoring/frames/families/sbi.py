"""SelfBlendedImages (Shiohara and Yamasaki, CVPR 2022): efficientnet_pytorch B4 with two outputs, under `net`.
Research-only licence (mapooon/SelfBlendedImages); its files publish no digest and are recognised by layout."""

from __future__ import annotations

import torch
from torch import nn

from scoring.frames.backbones import efficientnet_pytorch
from scoring.frames.profiles import UNIT, Profile
from scoring.frames.register import Family, Match, register

PROFILE = Profile("sbi-stretch-380", "eighths", "stretch", 380, UNIT, ("real", "fake"), "mean", 32, face_box="RetinaFace")


class SBINet(nn.Module):
    """mapooon SelfBlendedImages Detector: efficientnet_pytorch B4 with two outputs, under `net`."""

    def __init__(self):
        super().__init__()
        self.net = efficientnet_pytorch("b4", num_classes=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


register(
    Family(
        "sbi",
        "SelfBlendedImages EfficientNet-B4",
        ("net._conv_stem.weight",),
        lambda state: Match("SBI Detector (efficientnet-b4)", "b4", 2),
        lambda spec, state, **_: SBINet(),
        PROFILE,
        "research use only (mapooon/SelfBlendedImages)",
        profile_name="sbi",
    )
)
