"""polimi-ispl/icpr2020dfdc (Bonettini et al., ICPR 2020): EfficientNet-B4, with or without an attention map, and
their siamese-tuned ("ST") variants. GPL-3.0; their 8 files are known by sha256 (`scoring.weights.catalog`).

| layout        | keys                                | network                                          | head                          |
|---------------|-------------------------------------|--------------------------------------------------|-------------------------------|
| polimi        | `efficientnet.*`, `classifier.*`    | efficientnet_pytorch B4, `_fc` removed           | Linear(1792, 1)               |
| polimi (att.) | + `efficientnet.attconv.*`          | + a 1x1 attention map after block 9              | Linear(1792, 1)               |
| polimi (ST)   | `feat_ext.*`, `classifier.0/1.*`    | either of the above, its head unused             | BatchNorm1d + Linear(1792, 1) |
"""

from __future__ import annotations

import torch
from torch import nn

from scoring.frames.backbones import efficientnet_features, efficientnet_pytorch
from scoring.frames.profiles import IMAGENET, Profile
from scoring.frames.register import Family, Match, register
from scoring.weights.catalog import POLIMI_LICENCE

# The attention map of EfficientNetAutoAtt sits after this MBConv block of B4 (56 channels).
ATTENTION_BLOCK = 9
ATTENTION_CHANNELS = 56
PROFILE = Profile("polimi-scale-224", "polimi", "pil_bilinear", 224, IMAGENET, ("fake", "real"), "mean_logit", 32, face_box="BlazeFace")


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
        x = efficientnet_features(self.efficientnet, x, getattr(self.efficientnet, "attconv", None), ATTENTION_BLOCK)
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


def _describe(prefix: str, suffix: str):
    def describe(state) -> Match:
        attention = f"{prefix}efficientnet.attconv.weight" in state
        architecture = ("EfficientNetAutoAttB4" if attention else "EfficientNetB4") + suffix
        return Match(architecture, "b4", 1, heat_map="attention" if attention else None)

    return describe


def _attention(spec) -> bool:
    return "Att" in spec.architecture


register(
    Family(
        "polimi",
        "polimi-ispl EfficientNet-B4",
        ("efficientnet._conv_stem.weight", "classifier.weight"),
        _describe("", ""),
        lambda spec, state, **_: PolimiNet(_attention(spec)),
        PROFILE,
        POLIMI_LICENCE,
        profile_name="polimi",
    ),
    Family(
        "polimi-st",
        "polimi-ispl EfficientNet-B4 (siamese-tuned)",
        ("feat_ext.efficientnet._conv_stem.weight",),
        _describe("feat_ext.", "ST"),
        lambda spec, state, **_: PolimiSiameseNet(_attention(spec)),
        PROFILE,
        POLIMI_LICENCE,
        profile_name="polimi",
    ),
)
