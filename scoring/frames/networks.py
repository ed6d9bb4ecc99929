"""The networks of the published frame detectors, built here so their files load key for key.

Each class reproduces the module tree its authors saved, so `load_state_dict(strict=True)` takes
their file as published (after the `module.` prefix DataParallel adds): the attribute names are
the checkpoint's key prefixes. Architectures follow the papers and the authors' public model
definitions; the code is ours.

| family        | keys                                         | backbone                                  | head                          |
|---------------|----------------------------------------------|-------------------------------------------|-------------------------------|
| polimi        | `efficientnet.*`, `classifier.*`             | efficientnet_pytorch B4, `_fc` removed    | Linear(1792, 1)               |
| polimi (att.) | + `efficientnet.attconv.*`                   | + a 1x1 attention map after block 9       | Linear(1792, 1)               |
| polimi (ST)   | `feat_ext.*`, `classifier.0/1.*`             | either of the above, its head unused      | BatchNorm1d + Linear(1792, 1) |
| selimsef      | `encoder.*`, `fc.*`                          | timm tf_efficientnet_bN_ns, head unused   | Linear(C, 1)                  |
| sbi           | `net.*`                                      | efficientnet_pytorch B4                   | `net._fc` = Linear(1792, 2)   |
| deepfakebench | `backbone.efficientnet.*`, `backbone.last_layer.*` | B4 with an unpadded stem conv, `_fc` = Identity | Linear(1792, 2)   |
| deepfakebench-xception | `backbone.conv1..conv4`, `backbone.block1..12`, `backbone.last_linear.*` | Xception (Cadene's names, timm's `legacy_xception` layers), an unused `adjust_channel` | Linear(2048, 2) |
| deepfakebench-f3net | `FAD_head.*` + the Xception's keys | frequency-aware decomposition (DCT bands) into a 12-channel Xception | Dropout + Linear(2048, 2) |

| effort | `backbone.embeddings.*`, `backbone.encoder.layers.*`, `head.*` | CLIP ViT-L/14 vision tower (transformers' names), its attention projections stored as SVD parts and folded back at load | Linear(1024, 2) on the pooled CLS token |

DeepfakeBench's and Effort's code and weights are CC BY-NC 4.0 (non-commercial).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scoring.frames.clip.tower import tower_shapes, vision_config, without_initialising
from scoring.runtime.torchvision_ops import prepare_torchvision

# The attention map of EfficientNetAutoAtt sits after this MBConv block of B4 (56 channels).
ATTENTION_BLOCK = 9
ATTENTION_CHANNELS = 56
TIMM_NAMES = {variant: f"tf_efficientnet_{variant}.ns_jft_in1k" for variant in ("b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7")}


def efficientnet_pytorch(variant: str, num_classes: int = 1000, image_size: int | None = None) -> nn.Module:
    """efficientnet_pytorch's EfficientNet without weights; `image_size` fixes its static "same" padding,
    which is why files trained through `from_pretrained` need the variant's own size (380 for B4)."""
    from efficientnet_pytorch import EfficientNet

    overrides = {"image_size": image_size} if image_size else {}
    return EfficientNet.from_name(f"efficientnet-{variant}", num_classes=num_classes, **overrides)


def _features(net: nn.Module, x: torch.Tensor, attention: nn.Module | None = None) -> torch.Tensor:
    """efficientnet_pytorch's stem, blocks and head convolution; with `attention`, the block output after
    ATTENTION_BLOCK is multiplied by sigmoid(attention(x)), as in EfficientNetAutoAtt."""
    x = net._swish(net._bn0(net._conv_stem(x)))
    for index, block in enumerate(net._blocks):
        x = block(x)  # drop connect only acts in training
        if attention is not None and index == ATTENTION_BLOCK:
            x = x * torch.sigmoid(attention(x))
    return net._swish(net._bn1(net._conv_head(x)))


class PolimiNet(nn.Module):
    """polimi-ispl EfficientNetB4 / EfficientNetAutoAttB4: one fake logit."""

    def __init__(self, attention: bool):
        super().__init__()
        self.efficientnet = efficientnet_pytorch("b4")
        del self.efficientnet._fc
        if attention:
            self.efficientnet.attconv = nn.Conv2d(ATTENTION_CHANNELS, 1, kernel_size=1)
        self.classifier = nn.Linear(self.efficientnet._conv_head.out_channels, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = _features(self.efficientnet, x, getattr(self.efficientnet, "attconv", None))
        return self.efficientnet._avg_pooling(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class PolimiSiameseNet(nn.Module):
    """polimi-ispl's siamese-tuned ("ST") variants: the features of a PolimiNet, a BatchNorm1d + Linear head."""

    def __init__(self, attention: bool):
        super().__init__()
        self.feat_ext = PolimiNet(attention)
        features = self.feat_ext.classifier.in_features
        self.classifier = nn.Sequential(nn.BatchNorm1d(features), nn.Linear(features, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.feat_ext.features(x))


class SelimsefNet(nn.Module):
    """selimsef DeepFakeClassifier: a timm Noisy-Student EfficientNet encoder (its ImageNet classifier kept
    in the file, unused), average pooling, one fake logit."""

    def __init__(self, variant: str):
        super().__init__()
        prepare_torchvision()  # timm imports torchvision
        import timm

        self.encoder = timm.create_model(TIMM_NAMES[variant], pretrained=False)
        self.fc = nn.Linear(self.encoder.num_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.encoder.forward_features(x).mean(dim=(2, 3)))


class SBINet(nn.Module):
    """mapooon SelfBlendedImages Detector: efficientnet_pytorch B4 with two outputs, under `net`."""

    def __init__(self):
        super().__init__()
        self.net = efficientnet_pytorch("b4", num_classes=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DeepfakeBenchBackbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.efficientnet = efficientnet_pytorch("b4")
        # DeepfakeBench replaces the stem with a plain convolution (no padding) and drops `_fc`.
        self.efficientnet._conv_stem = nn.Conv2d(3, 48, kernel_size=3, stride=2, bias=False)
        self.efficientnet._fc = nn.Identity()
        self.last_layer = nn.Linear(1792, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _features(self.efficientnet, x)
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


class EffortNet(nn.Module):
    """Effort (Yan et al., ICML 2025): CLIP's vision tower (transformers' CLIPVisionTransformer, built
    from a config read off the file's shapes, so nothing is downloaded) and Linear(hidden, 2) on its
    pooled output (the CLS token after the last LayerNorm). Its file stores each attention projection
    as a frozen rank-r part plus a trained residual; `fold_effort` makes them plain weights first."""

    def __init__(self, hidden: int, layers: int, intermediate: int, patch: int, image: int, initialise: bool = True):
        """`initialise=False` leaves the tower's weights undrawn, for a caller that loads them all next."""
        super().__init__()
        config = vision_config(hidden, layers, intermediate, patch, image)
        from transformers import CLIPVisionModel

        self.backbone = (CLIPVisionModel(config) if initialise else without_initialising(CLIPVisionModel, config)).vision_model
        self.head = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(pixel_values=x).pooler_output)

    def transformer_blocks(self) -> nn.ModuleList:
        return self.backbone.encoder.layers

    @classmethod
    def for_state(cls, state: dict[str, torch.Tensor]) -> "EffortNet":
        """The network whose shapes `state` has (ViT-L/14 at 224 px for the published file), to load it into."""
        return cls(**tower_shapes(state, "backbone."), initialise=False)


SVD_PARTS = ("weight_main", "U_residual", "S_residual", "V_residual")


def fold_effort(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Effort's SVD projections as plain Linear weights: weight_main + U_residual diag(S_residual) V_residual,
    the product their forward computes on every call, summed once in float64. The frozen factors
    some versions also save (`U_r`, `S_r`, `V_r`) and the old `position_ids` buffer are not weights."""
    folded = {}
    for key, value in state.items():
        layer, _, name = key.rpartition(".")
        if name in ("U_r", "S_r", "V_r", "U_residual", "S_residual", "V_residual") or key.endswith("position_ids"):
            continue
        if name == "weight_main":
            residual = (
                state[f"{layer}.U_residual"].double() @ torch.diag(state[f"{layer}.S_residual"].double()) @ state[f"{layer}.V_residual"].double()
            )
            folded[f"{layer}.weight"] = (value.double() + residual).float()
            continue
        folded[key] = value
    return folded
