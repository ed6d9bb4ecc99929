"""Recognise a frame-detector file, build its network and load it strictly, with its profile.

A file is placed by what it holds, never by its name:

1. a published file known by its sha256 (`scoring.frames.published`) gets its family and
   its authors' profile;
2. otherwise its keys name the family (`scoring.frames.networks`): polimi-ispl (with or
   without attention, siamese-tuned or not), selimsef, SelfBlendedImages, DeepfakeBench (its
   EfficientNet-B4, Xception and F3Net), each
   with its authors' profile; or the project's CLIP probe (`scoring.frames.clip`), whose encoder is the
   packaged file `scoring.frames.clip.encoder` checks;
3. otherwise a plain EfficientNet of `efficientnet_pytorch` (`_conv_stem`, `_blocks`, `_fc`) or
   torchvision (`features.*`, `classifier.*`), B0-B7 from the head width and block count, one
   linear head (alone or after a dropout) with 1 or 2 outputs. torchvision files get the profile of
   DeepfakeDetector `best_model-v3.pt` (class 0 = REAL); efficientnet_pytorch files (the project's own,
   the design document's) get a square crop, and what their outputs mean from their sidecar, else
   the design document's guess (class 0 = FAKE).

A sidecar JSON beside the weights (`<weights>.json`) and the environment may override any of
`profile` (a family's profile by name), `class_order`, `input_size`, `normalization` and
`face_crop_margin`; where each setting came from is reported. The sidecar may also hold a
`calibration` (scoring.verdict.calibration) fitted on held-out videos. Wrappers (`state_dict`, `model`,
`model_state_dict`, `net`) and the `module.` / `model.` prefixes are removed first. A file that
fits none of this is refused with what was found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from scoring.frames import networks
from scoring.frames.clip.encoder import CLIP_VIT_B16_INT8, PackagedFile, encoder_file
from scoring.frames.clip.probe import ClipProbe
from scoring.frames.clip.tower import FloatTowerEncoder
from scoring.frames.profiles import IMAGENET, NORMALISATIONS, PROFILES, Profile, clip_profile, square_profile
from scoring.frames.published import PUBLISHED, PublishedDetector
from scoring.runtime.torchvision_ops import prepare_torchvision
from scoring.verdict.calibration import PlattScaling
from scoring.weights.checkpoints import WeightsError, load_strict, read_checkpoint
from scoring.weights.files import sha256_of

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net")
PREFIXES = ("module.", "model.")
# (head channels, MBConv blocks) -> variant; the same in efficientnet_pytorch, torchvision and timm.
VARIANTS = {
    (1280, 16): "b0",
    (1280, 23): "b1",
    (1408, 23): "b2",
    (1536, 26): "b3",
    (1792, 32): "b4",
    (2048, 39): "b5",
    (2304, 45): "b6",
    (2560, 55): "b7",
}
DEFAULT_MARGIN = 0.15
DEFAULT_FRAMES = 20
GENERIC_CLASS_ORDER = {"torchvision": ("real", "fake"), "efficientnet_pytorch": ("fake", "real"), "torchvision-mobilenet_v2": ("real", "fake")}


@dataclass
class CheckpointSpec:
    family: str  # polimi | polimi-st | selimsef | sbi | deepfakebench(-xception, -f3net) | clip | efficientnet_pytorch | torchvision
    architecture: str
    variant: str
    num_outputs: int
    profile: Profile
    head_key: str | None = None  # plain layouts: e.g. "_fc.1" or "classifier.1"
    published: PublishedDetector | None = None
    calibration: PlattScaling | None = None  # raw P(real) -> P(genuine), fitted on held-out videos
    sources: dict[str, str] = field(default_factory=dict)
    encoder: PackagedFile | None = None  # the CLIP probe's packaged encoder

    def encoder_summary(self) -> dict:
        """The packaged encoder and the arithmetic it runs in."""
        return {**self.encoder.summary(), "arithmetic": FloatTowerEncoder.arithmetic}

    def summary(self) -> dict:
        return {
            "family": self.family,
            "architecture": self.architecture,
            "variant": self.variant,
            "num_outputs": self.num_outputs,
            "published": self.published.summary() if self.published else None,
            "profile": self.profile.summary(),
            "calibration": self.calibration.to_json() if self.calibration else None,
            "sources": dict(self.sources),
            **({"encoder": self.encoder_summary()} if self.encoder else {}),
        }


def unwrap(obj: object) -> dict[str, torch.Tensor]:
    """The tensor state dict inside a checkpoint, with wrapper prefixes removed."""
    for _ in range(2):
        if isinstance(obj, Mapping) and not _is_tensor_map(obj):
            inner = next((obj[k] for k in WRAPPER_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
            if inner is None:
                found = ", ".join(sorted(map(str, obj.keys()))[:8])
                raise WeightsError(f"no state dict found in the checkpoint (top-level keys: {found})")
            obj = inner
    if not isinstance(obj, Mapping) or not _is_tensor_map(obj):
        raise WeightsError(f"the checkpoint holds a {type(obj).__name__}, not a state dict of tensors")
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    for prefix in PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def _is_tensor_map(obj: Mapping) -> bool:
    return bool(obj) and sum(isinstance(v, torch.Tensor) for v in obj.values()) >= max(1, len(obj) // 2)


def _variant(state: dict[str, torch.Tensor], head_conv: str, block_pattern: str, depth: int, what: str) -> str:
    channels = state[head_conv].shape[0]
    blocks = len({tuple(k.split(".")[:depth]) for k in state if re.match(block_pattern, k)})
    variant = VARIANTS.get((channels, blocks))
    if variant is None:
        raise WeightsError(f"{what} with {blocks} blocks and a {channels}-channel head is not an EfficientNet B0-B7")
    return variant


def _head(state: dict[str, torch.Tensor], candidates: tuple[str, ...]) -> tuple[str, int]:
    attribute = candidates[0]
    head_keys = sorted(k for k in state if k == attribute or k.startswith(attribute + "."))
    for key in candidates:
        weight = state.get(f"{key}.weight")
        if weight is not None and weight.dim() == 2 and set(head_keys) <= {f"{key}.weight", f"{key}.bias"}:
            return key, weight.shape[0]
    raise WeightsError(f"unsupported classifier head: expected one linear layer, found keys {head_keys[:6]}")


def _published_family(state: dict[str, torch.Tensor]) -> tuple[str, str, str, int] | None:
    """(family, architecture, variant, outputs) of a published layout, or None."""
    if "efficientnet._conv_stem.weight" in state and "classifier.weight" in state:
        attention = "efficientnet.attconv.weight" in state
        return "polimi", "EfficientNetAutoAttB4" if attention else "EfficientNetB4", "b4", 1
    if "feat_ext.efficientnet._conv_stem.weight" in state:
        attention = "feat_ext.efficientnet.attconv.weight" in state
        return "polimi-st", "EfficientNetAutoAttB4ST" if attention else "EfficientNetB4ST", "b4", 1
    if "encoder.conv_stem.weight" in state and "fc.weight" in state:
        variant = _variant(state, "encoder.conv_head.weight", r"encoder\.blocks\.\d+\.\d+\.", 4, "a timm encoder")
        return "selimsef", f"DeepFakeClassifier tf_efficientnet_{variant}_ns", variant, 1
    if "net._conv_stem.weight" in state:
        return "sbi", "SBI Detector (efficientnet-b4)", "b4", 2
    if "backbone.efficientnet._conv_head.weight" in state and "backbone.last_layer.weight" in state:
        return "deepfakebench", "DeepfakeBench EfficientDetector (efficientnet-b4)", "b4", 2
    if "FAD_head.filters.0.learnable" in state and "backbone.conv4.pointwise.weight" in state:
        return "deepfakebench-f3net", "DeepfakeBench F3Net (Xception over frequency-aware inputs)", "xception", 2
    if "backbone.conv4.pointwise.weight" in state and "backbone.last_linear.weight" in state:
        return "deepfakebench-xception", "DeepfakeBench Xception", "xception", 2
    if "backbone.encoder.layers.0.self_attn.q_proj.weight_main" in state and "head.weight" in state:
        return "effort", "Effort (CLIP ViT-L/14, SVD-split attention folded)", "vit-l14", 2
    if "clip_head.weight" in state:
        return "clip", "CLIP ViT-B/16 image tower (dequantised to float32) + linear probe", "vit-b16", 2
    return None


def _plain_family(state: dict[str, torch.Tensor]) -> tuple[str, str, str, int]:
    """(library, architecture, variant, outputs) of a plain EfficientNet; sets nothing else."""
    if "_conv_stem.weight" in state and "_conv_head.weight" in state:
        variant = _variant(state, "_conv_head.weight", r"_blocks\.\d+\.", 2, "efficientnet_pytorch EfficientNet")
        head_key, outputs = _head(state, ("_fc", "_fc.1", "_fc.0"))
        return "efficientnet_pytorch", head_key, variant, outputs
    if "features.18.0.weight" in state and "features.1.conv.0.0.weight" in state:
        head_key, outputs = _head(state, ("classifier.1", "classifier", "classifier.0"))
        return "torchvision-mobilenet_v2", head_key, "v2", outputs
    if "features.0.0.weight" in state and "features.8.0.weight" in state:
        variant = _variant(state, "features.8.0.weight", r"features\.[1-7]\.\d+\.", 3, "torchvision EfficientNet")
        head_key, outputs = _head(state, ("classifier.1", "classifier", "classifier.0"))
        return "torchvision", head_key, variant, outputs
    sample = ", ".join(sorted(state)[:5])
    raise WeightsError(
        "not a frame detector this service knows: neither a published layout (polimi, selimsef, SBI, DeepfakeBench EfficientNet-B4, Xception, F3Net) "
        f"nor an efficientnet_pytorch / torchvision EfficientNet (keys: {sample}, ...)"
    )


def identify(state: dict[str, torch.Tensor], published: PublishedDetector | None = None) -> CheckpointSpec:
    """Family, network and the default profile of a state dict (before sidecar and environment)."""
    found = _published_family(state)
    if found is not None:
        family, architecture, variant, outputs = found
        profile = clip_profile(DEFAULT_MARGIN, DEFAULT_FRAMES) if family == "clip" else PROFILES[family.split("-")[0]]
        spec = CheckpointSpec(family, architecture, variant, outputs, profile, published=published)
        if family == "clip":
            spec.encoder = CLIP_VIT_B16_INT8
        spec.sources["profile"] = "published file (sha256)" if published else f"the {family} layout"
        return spec
    library, head_key, variant, outputs = _plain_family(state)
    if outputs not in (1, 2):
        raise WeightsError(f"the classifier head has {outputs} outputs; a real/fake classifier has 1 or 2")
    architecture = "torchvision mobilenet_v2" if library == "torchvision-mobilenet_v2" else f"{library} efficientnet-{variant}"
    if library == "torchvision":
        spec = CheckpointSpec(library, architecture, variant, outputs, PROFILES["deepfakedetector"], head_key)
        spec.sources["profile"] = "default for torchvision checkpoints (DeepfakeDetector best_model-v3)"
        return spec
    profile = square_profile(GENERIC_CLASS_ORDER[library], 224, IMAGENET, DEFAULT_MARGIN, DEFAULT_FRAMES)
    spec = CheckpointSpec(library, architecture, variant, outputs, profile, head_key)
    spec.sources["profile"] = f"default for {library} checkpoints (square crop)"
    return spec


def _parse_class_order(value) -> tuple[str, ...]:
    order = tuple(v.strip().lower() for v in (value.split(",") if isinstance(value, str) else value))
    if sorted(order) != ["fake", "real"]:
        raise WeightsError(f"class order must name 'real' and 'fake' once each, got {value!r}")
    return order


def _parse_normalization(value) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if isinstance(value, str) and value in NORMALISATIONS:
        return NORMALISATIONS[value]
    try:
        if isinstance(value, str):
            parts = dict(part.split("=", 1) for part in value.split(";"))
            value = {k.strip(): [float(x) for x in v.split(",")] for k, v in parts.items()}
        mean, std = tuple(float(x) for x in value["mean"]), tuple(float(x) for x in value["std"])
    except (ValueError, KeyError, TypeError):
        raise WeightsError(f"normalisation must be one of {sorted(NORMALISATIONS)} or mean=r,g,b;std=r,g,b, got {value!r}") from None
    if len(mean) != 3 or len(std) != 3:
        raise WeightsError("normalisation needs three means and three standard deviations")
    return mean, std


def _parse_profile(value) -> Profile:
    if value not in PROFILES:
        raise WeightsError(f"unknown profile {value!r}; known: {', '.join(sorted(PROFILES))}")
    return PROFILES[value]


def sidecar_path(weights: Path) -> Path:
    return weights.with_name(weights.name + ".json")


def read_sidecar(weights: Path) -> dict:
    path = sidecar_path(weights)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path.name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise WeightsError(f"{path.name} must hold a JSON object")
    return data


def sidecar_of(profile: Profile) -> dict:
    """What `apply_settings` reads back from `<weights>.json` for a square-crop profile."""
    named = next((name for name, value in NORMALISATIONS.items() if value == profile.normalisation), None)
    return {
        "class_order": list(profile.class_order),
        "input_size": profile.input_size,
        "normalization": named or {"mean": list(profile.mean), "std": list(profile.std)},
        "face_crop_margin": profile.margin,
    }


SETTINGS = {
    # sidecar / environment name: (Profile field, parser)
    "class_order": ("class_order", _parse_class_order),
    "input_size": ("input_size", int),
    "normalization": ("normalisation", _parse_normalization),
    "face_crop_margin": ("margin", float),
}


def apply_settings(spec: CheckpointSpec, weights: Path, overrides: Mapping[str, object]) -> CheckpointSpec:
    """The profile, then each of its settings: environment, else sidecar, else what identify() chose."""
    sidecar = read_sidecar(weights)
    for name, source in ((overrides.get("profile"), "environment"), (sidecar.get("profile"), f"sidecar {sidecar_path(weights).name}")):
        if name is not None:
            spec.profile, spec.sources["profile"] = _parse_profile(name), f"{source}: {name}"
            break
    changes = {}
    for name, (attribute, parse) in SETTINGS.items():
        if overrides.get(name) is not None:
            value, source = overrides[name], "environment"
        elif name in sidecar:
            value, source = sidecar[name], f"sidecar {sidecar_path(weights).name}"
        else:
            continue
        try:
            changes[attribute] = parse(value)
        except (TypeError, ValueError) as exc:
            raise WeightsError(f"{name} from the {source}: {exc}") from None
        spec.sources[name] = source
    spec.profile = spec.profile.with_overrides(**changes)
    if "calibration" in sidecar:
        try:
            spec.calibration = PlattScaling.from_json(sidecar["calibration"])
        except ValueError as exc:
            raise WeightsError(f"{sidecar_path(weights).name}: {exc}") from None
        spec.sources["calibration"] = f"sidecar {sidecar_path(weights).name}"
    return spec


def build_model(
    spec: CheckpointSpec, allow_unverified: bool = False, state: dict[str, torch.Tensor] | None = None, device: torch.device | None = None
) -> nn.Module:
    """The network a file of `spec` loads into; the CLIP probe's encoder is checked (sha256) and opened
    here, on `device` (it is not a submodule, so moving the probe does not move it)."""
    if spec.family == "clip":
        return ClipProbe(FloatTowerEncoder(encoder_file(spec.encoder, allow_unverified), device))
    if spec.family in ("polimi", "polimi-st"):
        attention = "Att" in spec.architecture
        return networks.PolimiNet(attention) if spec.family == "polimi" else networks.PolimiSiameseNet(attention)
    if spec.family == "selimsef":
        return networks.SelimsefNet(spec.variant)
    if spec.family == "sbi":
        return networks.SBINet()
    if spec.family == "deepfakebench":
        return networks.DeepfakeBenchNet(networks.DeepfakeBenchBackbone())
    if spec.family == "effort":
        return networks.EffortNet.for_state(state)
    if spec.family == "deepfakebench-xception":
        return networks.DeepfakeBenchNet(networks.DeepfakeBenchXceptionBackbone())
    if spec.family == "deepfakebench-f3net":
        if spec.profile.input_size != networks.DeepfakeBenchF3Net.input_size:
            raise WeightsError(
                f"F3Net's frequency head is built for {networks.DeepfakeBenchF3Net.input_size} px inputs, not {spec.profile.input_size}"
            )
        return networks.DeepfakeBenchF3Net()
    if spec.family == "efficientnet_pytorch":
        model = networks.efficientnet_pytorch(spec.variant, spec.num_outputs, image_size=spec.profile.input_size)
        model._fc = _head_module(spec.head_key, "_fc", model._fc.in_features, spec.num_outputs, model._global_params.dropout_rate)
        return model
    prepare_torchvision()
    import torchvision

    if spec.family == "torchvision-mobilenet_v2":
        model = torchvision.models.mobilenet_v2(weights=None, num_classes=spec.num_outputs)
        model.classifier = _head_module(spec.head_key, "classifier", model.classifier[-1].in_features, spec.num_outputs, model.classifier[0].p)
        return model
    model = getattr(torchvision.models, f"efficientnet_{spec.variant}")(weights=None, num_classes=spec.num_outputs)
    features = model.classifier[-1].in_features
    model.classifier = _head_module(spec.head_key, "classifier", features, spec.num_outputs, model.classifier[0].p)
    return model


def _head_module(head_key: str, attribute: str, features: int, outputs: int, dropout: float) -> nn.Module:
    """A head whose keys are `head_key`: a bare Linear, or a Linear at index 0/1 of a Sequential."""
    linear = nn.Linear(features, outputs)
    if head_key == attribute:
        return linear
    index = int(head_key.rsplit(".", 1)[1])
    return nn.Sequential(nn.Dropout(dropout), linear) if index == 1 else nn.Sequential(linear)


def load_checkpoint(
    weights: Path, overrides: Mapping[str, object] | None = None, allow_unverified: bool = False, device: torch.device | None = None
) -> tuple[nn.Module, CheckpointSpec]:
    """Model with the file loaded strictly, in eval mode, and its spec (family, profile, where each setting came from).

    `allow_unverified` accepts a packaged encoder whose sha256 differs from the pinned one; `device`
    is where a packaged encoder runs (the model itself is moved by its caller)."""
    weights = Path(weights)
    state = unwrap(read_checkpoint(weights))
    spec = apply_settings(identify(state, PUBLISHED.get(sha256_of(weights))), weights, overrides or {})
    if spec.family == "effort":
        state = networks.fold_effort(state)
    model = build_model(spec, allow_unverified, state, device)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    load_strict(model, state, f"{spec.architecture} ({weights.name})")
    return model.eval(), spec
