"""selimsef/dfdc_deepfake_challenge (Seferbekov, DFDC winner 2020): timm's Noisy-Student EfficientNet, one fake
logit. MIT; its 7 files are known by sha256 (`scoring.weights.catalog`).

Keys `encoder.*` (timm tf_efficientnet_bN_ns, its ImageNet head kept in the file, unused) and `fc.*` (Linear(C, 1)).
"""

from __future__ import annotations

import torch
from torch import nn

from scoring.frames.backbones import efficientnet_variant
from scoring.frames.profiles import IMAGENET, Profile
from scoring.frames.register import Family, Match, register
from scoring.runtime.torchvision_ops import prepare_torchvision
from scoring.weights.catalog import SELIMSEF_LICENCE

TIMM_NAMES = {variant: f"tf_efficientnet_{variant}.ns_jft_in1k" for variant in ("b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7")}
PROFILE = Profile("selimsef-isotropic-380", "thirds", "isotropic", 380, IMAGENET, ("fake", "real"), "confident", 32, face_box="MTCNN")


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


def _describe(state) -> Match:
    variant = efficientnet_variant(state, "encoder.conv_head.weight", r"encoder\.blocks\.\d+\.\d+\.", 4, "a timm encoder")
    return Match(f"DeepFakeClassifier tf_efficientnet_{variant}_ns", variant, 1)


register(
    Family(
        "selimsef",
        "selimsef DFDC EfficientNet",
        ("encoder.conv_stem.weight", "fc.weight"),
        _describe,
        lambda spec, state, **_: SelimsefNet(spec.variant),
        PROFILE,
        SELIMSEF_LICENCE,
        profile_name="selimsef",
    )
)
