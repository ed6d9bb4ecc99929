"""Plain EfficientNets and MobileNetV2 without a published layout: efficientnet_pytorch (`_conv_stem`, `_blocks`,
`_fc`; the project's own and the design document's), torchvision EfficientNet (`features.*`, `classifier.*`) and
torchvision MobileNetV2. B0-B7 come from the head width and block count; the head is one linear layer (alone or
after a dropout) with 1 or 2 outputs. The licence is the file's own.

torchvision EfficientNets get the profile of DeepfakeDetector `best_model-v3.pt` (class 0 = REAL);
efficientnet_pytorch files get a square crop and, unless their sidecar says otherwise, the design
document's guess of what their outputs mean (class 0 = FAKE).
"""

from __future__ import annotations

from torch import nn

from scoring.frames.backbones import efficientnet_pytorch, efficientnet_variant
from scoring.frames.profiles import DEFAULT_FRAMES, DEFAULT_MARGIN, IMAGENET, Profile, square_profile
from scoring.frames.register import Family, Match, register
from scoring.runtime.torchvision_ops import prepare_torchvision
from scoring.weights.checkpoints import WeightsError

LICENCE = "the file's own"
DEEPFAKEDETECTOR = Profile("deepfakedetector-224", "square", "pil_bilinear", 224, IMAGENET, ("real", "fake"), "mean", 10, margin=0.15, face_box="none")


def _head(state, candidates: tuple[str, ...]) -> tuple[str, int]:
    """The key and outputs of the one linear head, at the first candidate that holds it."""
    attribute = candidates[0]
    head_keys = sorted(k for k in state if k == attribute or k.startswith(attribute + "."))
    for key in candidates:
        weight = state.get(f"{key}.weight")
        if weight is not None and weight.dim() == 2 and set(head_keys) <= {f"{key}.weight", f"{key}.bias"}:
            if weight.shape[0] not in (1, 2):
                raise WeightsError(f"the classifier head has {weight.shape[0]} outputs; a real/fake classifier has 1 or 2")
            return key, weight.shape[0]
    raise WeightsError(f"unsupported classifier head: expected one linear layer, found keys {head_keys[:6]}")


def _head_module(head_key: str, attribute: str, features: int, outputs: int, dropout: float) -> nn.Module:
    """A head whose keys are `head_key`: a bare Linear, or a Linear at index 0/1 of a Sequential."""
    linear = nn.Linear(features, outputs)
    if head_key == attribute:
        return linear
    index = int(head_key.rsplit(".", 1)[1])
    return nn.Sequential(nn.Dropout(dropout), linear) if index == 1 else nn.Sequential(linear)


def _efficientnet_pytorch(state) -> Match:
    variant = efficientnet_variant(state, "_conv_head.weight", r"_blocks\.\d+\.", 2, "efficientnet_pytorch EfficientNet")
    head_key, outputs = _head(state, ("_fc", "_fc.1", "_fc.0"))
    return Match(f"efficientnet_pytorch efficientnet-{variant}", variant, outputs, head_key)


def _build_efficientnet_pytorch(spec, state, **_) -> nn.Module:
    model = efficientnet_pytorch(spec.variant, spec.num_outputs, image_size=spec.profile.input_size)
    model._fc = _head_module(spec.head_key, "_fc", model._fc.in_features, spec.num_outputs, model._global_params.dropout_rate)
    return model


def _torchvision_efficientnet(state) -> Match:
    variant = efficientnet_variant(state, "features.8.0.weight", r"features\.[1-7]\.\d+\.", 3, "torchvision EfficientNet")
    head_key, outputs = _head(state, ("classifier.1", "classifier", "classifier.0"))
    return Match(f"torchvision efficientnet-{variant}", variant, outputs, head_key)


def _build_torchvision(spec, state, **_) -> nn.Module:
    """torchvision's network of the file's family and variant, with the file's head."""
    prepare_torchvision()
    import torchvision

    constructor = "mobilenet_v2" if spec.family == "torchvision-mobilenet_v2" else f"efficientnet_{spec.variant}"
    model = getattr(torchvision.models, constructor)(weights=None, num_classes=spec.num_outputs)
    model.classifier = _head_module(spec.head_key, "classifier", model.classifier[-1].in_features, spec.num_outputs, model.classifier[0].p)
    return model


def _mobilenet_v2(state) -> Match:
    head_key, outputs = _head(state, ("classifier.1", "classifier", "classifier.0"))
    return Match("torchvision mobilenet_v2", "v2", outputs, head_key)


register(
    Family(
        "efficientnet_pytorch",
        "EfficientNet",
        ("_conv_stem.weight", "_conv_head.weight"),
        _efficientnet_pytorch,
        _build_efficientnet_pytorch,
        square_profile(("fake", "real"), 224, IMAGENET, DEFAULT_MARGIN, DEFAULT_FRAMES),
        LICENCE,
        profile_source="default for efficientnet_pytorch checkpoints (square crop)",
    ),
    Family(
        "torchvision",
        "EfficientNet (torchvision)",
        ("features.0.0.weight", "features.8.0.weight"),
        _torchvision_efficientnet,
        _build_torchvision,
        DEEPFAKEDETECTOR,
        LICENCE,
        profile_name="deepfakedetector",
        profile_source="default for torchvision checkpoints (DeepfakeDetector best_model-v3)",
    ),
    Family(
        "torchvision-mobilenet_v2",
        "MobileNetV2 (torchvision)",
        ("features.18.0.weight", "features.1.conv.0.0.weight"),
        _mobilenet_v2,
        _build_torchvision,
        square_profile(("real", "fake"), 224, IMAGENET, DEFAULT_MARGIN, DEFAULT_FRAMES),
        LICENCE,
        profile_source="default for torchvision-mobilenet_v2 checkpoints (square crop)",
    ),
)
