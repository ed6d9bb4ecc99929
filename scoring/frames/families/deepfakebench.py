"""SCLBD DeepfakeBench (Yan et al., NeurIPS 2023 datasets track): their EfficientNet-B4, Xception and F3Net
detectors, as their files hold them. CC BY-NC 4.0 (non-commercial); no digests are published, so files are
recognised by layout.

- `deepfakebench`: `backbone.efficientnet.*`, `backbone.last_layer.*`; B4 with an unpadded stem conv,
  `_fc` = Identity; Linear(1792, 2).
- `deepfakebench-xception`: `backbone.conv1..conv4`, `backbone.block1..12`, `backbone.last_linear.*`;
  Xception (Cadene's names, timm's `legacy_xception` layers), an unused `adjust_channel`; Linear(2048, 2).
- `deepfakebench-f3net`: `FAD_head.*` + the Xception's keys; frequency-aware decomposition (DCT bands)
  into a 12-channel Xception; Dropout + Linear(2048, 2).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scoring.frames.backbones import efficientnet_features, efficientnet_pytorch
from scoring.frames.profiles import HALF, Profile
from scoring.frames.register import Family, Match, register
from scoring.runtime.torchvision_ops import prepare_torchvision
from scoring.weights.checkpoints import WeightsError

LICENCE = "CC BY-NC 4.0 (SCLBD/DeepfakeBench)"
PROFILE = Profile("deepfakebench-256", "square", "stretch_cubic", 256, HALF, ("real", "fake"), "mean", 32, margin=0.15, face_box="dlib landmarks")


class DeepfakeBenchBackbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.efficientnet = efficientnet_pytorch("b4")
        # DeepfakeBench replaces the stem with a plain convolution (no padding) and drops `_fc`.
        self.efficientnet._conv_stem = nn.Conv2d(3, 48, kernel_size=3, stride=2, bias=False)
        self.efficientnet._fc = nn.Identity()
        self.last_layer = nn.Linear(1792, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = efficientnet_features(self.efficientnet, x)
        return self.last_layer(nn.functional.adaptive_avg_pool2d(x, 1).flatten(1))


class DeepfakeBenchNet(nn.Module):
    """A SCLBD DeepfakeBench detector as its files hold it: the whole network under `backbone`
    (`DeepfakeBenchBackbone` for their EfficientNet-B4, `DeepfakeBenchXceptionBackbone` for Xception)."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)


# Xception's layers in the order they run, under the names DeepfakeBench's files use.
XCEPTION_LAYERS = (
    "conv1",
    "bn1",
    "act1",
    "conv2",
    "bn2",
    "act2",
    *(f"block{i}" for i in range(1, 13)),
    "conv3",
    "bn3",
    "act3",
    "conv4",
    "bn4",
    "act4",
)


class DeepfakeBenchXceptionBackbone(nn.Module):
    """Chollet's Xception as DeepfakeBench saves it: Cadene's parameter names, which timm's
    `legacy_xception` keeps, so timm builds the layers; the head `last_linear` (after a dropout in
    F3Net) reads the rectified, average-pooled 2048 channels. `adjust_channel` is declared only so
    their files load key for key: every file holds it, their "original" mode never runs it."""

    def __init__(self, in_channels: int = 3, dropout: float = 0.0):
        super().__init__()
        prepare_torchvision()
        import timm

        xception = timm.create_model("legacy_xception", pretrained=False, num_classes=0, in_chans=in_channels)
        for name in XCEPTION_LAYERS:
            self.add_module(name, getattr(xception, name))
        linear = nn.Linear(2048, 2)
        self.last_linear = nn.Sequential(nn.Dropout(dropout), linear) if dropout else linear
        self.adjust_channel = nn.Sequential(nn.Conv2d(2048, 512, 1), nn.BatchNorm2d(512), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in XCEPTION_LAYERS:
            x = getattr(self, name)(x)
        return self.last_linear(F.adaptive_avg_pool2d(x, 1).flatten(1))


def dct_matrix(size: int) -> np.ndarray:
    """The orthonormal DCT-II matrix D (float64): D @ x is the DCT of the columns of x."""
    rows, columns = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    scale = np.where(rows == 0, np.sqrt(1 / size), np.sqrt(2 / size))
    return scale * np.cos((columns + 0.5) * np.pi * rows / size)


class FrequencyBand(nn.Module):
    """One band of F3Net's decomposition: a fixed mask over the DCT spectrum (frequencies whose
    row + column index lies in [low, high]) plus a learnt adjustment in (-1, 1)."""

    def __init__(self, size: int, low: float, high: float):
        super().__init__()
        rows, columns = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
        mask = ((rows + columns >= low) & (rows + columns <= high)).astype(np.float32)
        self.base = nn.Parameter(torch.from_numpy(mask), requires_grad=False)
        self.learnable = nn.Parameter(torch.zeros(size, size))

    def forward(self, spectrum: torch.Tensor) -> torch.Tensor:
        return spectrum * (self.base + 2 * torch.sigmoid(self.learnable) - 1)


class FrequencyAwareDecomposition(nn.Module):
    """F3Net's FAD (Qian et al., ECCV 2020): each colour channel's 2-D DCT split into low, middle,
    high and all frequencies, each band transformed back: 12 channels. The DCT size fixes the
    input size. It runs in float32 whatever the serving precision: its sums span a whole row."""

    def __init__(self, size: int = 256):
        super().__init__()
        dct = torch.from_numpy(dct_matrix(size)).float()
        self._DCT_all = nn.Parameter(dct, requires_grad=False)
        self._DCT_all_T = nn.Parameter(dct.t().contiguous(), requires_grad=False)
        bands = ((0, size // 2.82), (size // 2.82, size // 2), (size // 2, size * 2), (0, size * 2))
        self.filters = nn.ModuleList(FrequencyBand(size, low, high) for low, high in bands)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            spectrum = self._DCT_all.float() @ x @ self._DCT_all_T.float()
            return torch.cat([self._DCT_all_T.float() @ band(spectrum) @ self._DCT_all.float() for band in self.filters], dim=1)


class DeepfakeBenchF3Net(nn.Module):
    """DeepfakeBench's F3Net detector (`f3net_best.pth`): `FAD_head`, then a 12-channel Xception."""

    input_size = 256

    def __init__(self):
        super().__init__()
        self.FAD_head = FrequencyAwareDecomposition(self.input_size)
        self.backbone = DeepfakeBenchXceptionBackbone(in_channels=12, dropout=0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.FAD_head(x))


def _f3net(spec, state, **_) -> DeepfakeBenchF3Net:
    if spec.profile.input_size != DeepfakeBenchF3Net.input_size:
        raise WeightsError(f"F3Net's frequency head is built for {DeepfakeBenchF3Net.input_size} px inputs, not {spec.profile.input_size}")
    return DeepfakeBenchF3Net()


XCEPTION_KEYS = ("backbone.conv4.pointwise.weight",)
F3NET_KEY = "FAD_head.filters.0.learnable"

register(
    Family(
        "deepfakebench",
        "DeepfakeBench EfficientNet-B4",
        ("backbone.efficientnet._conv_head.weight", "backbone.last_layer.weight"),
        lambda state: Match("DeepfakeBench EfficientDetector (efficientnet-b4)", "b4", 2),
        lambda spec, state, **_: DeepfakeBenchNet(DeepfakeBenchBackbone()),
        PROFILE,
        LICENCE,
        profile_name="deepfakebench",
    ),
    Family(
        "deepfakebench-xception",
        "DeepfakeBench Xception",
        (*XCEPTION_KEYS, "backbone.last_linear.weight"),
        lambda state: Match("DeepfakeBench Xception", "xception", 2),
        lambda spec, state, **_: DeepfakeBenchNet(DeepfakeBenchXceptionBackbone()),
        PROFILE,
        LICENCE,
        excludes=(F3NET_KEY,),
        profile_name="deepfakebench",
    ),
    Family(
        "deepfakebench-f3net",
        "DeepfakeBench F3Net",
        (F3NET_KEY, *XCEPTION_KEYS),
        lambda state: Match("DeepfakeBench F3Net (Xception over frequency-aware inputs)", "xception", 2),
        _f3net,
        PROFILE,
        LICENCE,
        profile_name="deepfakebench",
    ),
)
