"""Recognise and strictly load deepfake EfficientNet checkpoints of the layouts found in the wild.

Recognised from keys and shapes, never from the file name:
- library: `efficientnet_pytorch` (`_conv_stem`, `_blocks`, `_fc`) or torchvision `efficientnet_bN`
  (`features.*`, `classifier.*`);
- variant B0-B7 from the head width and the number of MBConv blocks;
- head: one linear layer, alone or after a dropout (`_fc.weight`, `_fc.1.weight`,
  `classifier.1.weight`, `classifier.weight`), with 1 output (sigmoid) or 2 (softmax);
- wrapping: a bare state dict, or one under "state_dict" / "model" / "model_state_dict", with or
  without a `module.` (DataParallel) or `model.` (Lightning) prefix.

What the outputs mean comes from a sidecar JSON beside the weights (`<weights>.json`), overridden
by environment variables, else from the documented default of the layout:

| layout                         | class order (index 0, 1) | one logit means | input | normalisation |
|--------------------------------|--------------------------|-----------------|-------|---------------|
| torchvision efficientnet_bN    | real, fake               | P(fake)         | 224   | ImageNet      |
| efficientnet_pytorch           | fake, real               | P(fake)         | 224   | ImageNet      |

(torchvision's default follows DeepfakeDetector `best_model-v3.pt`, class 0 = REAL; the
efficientnet_pytorch default follows the design document's own loader, class 0 = FAKE.)
Where each setting came from is reported, so a default is never applied silently.
A checkpoint that fits none of this is refused with what was found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from scoring import torch_env  # noqa: F401  (torchvision import fix)
from scoring.weights.checkpoints import WeightsError, load_strict, read_checkpoint

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")
PREFIXES = ("module.", "model.")
# (head channels, MBConv blocks) -> variant; identical in both libraries.
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
LAYOUT_DEFAULTS = {
    "torchvision": {"class_order": ("real", "fake")},
    "efficientnet_pytorch": {"class_order": ("fake", "real")},
}


@dataclass
class CheckpointSpec:
    library: str
    variant: str
    num_outputs: int
    head_key: str  # e.g. "_fc.1" or "classifier.1"
    class_order: tuple[str, ...] = ("real", "fake")  # label of output 0, 1 (for one output: of the sigmoid)
    input_size: int = 224
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def real_index(self) -> int:
        return self.class_order.index("real")

    def normalise(self, batch_uint8: torch.Tensor) -> torch.Tensor:
        """RGB uint8 NCHW -> the network's input (float, channels-last); training and serving share it."""
        mean = torch.tensor(self.mean, device=batch_uint8.device).view(1, 3, 1, 1) * 255
        std = torch.tensor(self.std, device=batch_uint8.device).view(1, 3, 1, 1) * 255
        return ((batch_uint8.float() - mean) / std).contiguous(memory_format=torch.channels_last)

    def real_probability(self, logits: torch.Tensor) -> torch.Tensor:
        """P(real) per row of the network's output, whatever its head and class order."""
        logits = logits.float()
        if self.num_outputs == 1:
            positive = torch.sigmoid(logits[:, 0])
            return positive if self.class_order[0] == "real" else 1 - positive
        return logits.softmax(dim=1)[:, self.real_index]

    def sidecar(self) -> dict:
        """What `apply_settings` reads back from `<weights>.json`."""
        imagenet = (self.mean, self.std) == (IMAGENET_MEAN, IMAGENET_STD)
        return {
            "class_order": list(self.class_order),
            "input_size": self.input_size,
            "normalization": "imagenet" if imagenet else {"mean": list(self.mean), "std": list(self.std)},
        }

    def summary(self) -> dict:
        data = asdict(self)
        data["class_order"] = list(self.class_order)
        return data


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


def _head(state: dict[str, torch.Tensor], candidates: tuple[str, ...]) -> tuple[str, int]:
    attribute = candidates[0]
    head_keys = sorted(k for k in state if k == attribute or k.startswith(attribute + "."))
    for key in candidates:
        weight = state.get(f"{key}.weight")
        if weight is not None and weight.dim() == 2 and set(head_keys) <= {f"{key}.weight", f"{key}.bias"}:
            return key, weight.shape[0]
    raise WeightsError(f"unsupported classifier head: expected one linear layer, found keys {head_keys[:6]}")


def identify(state: dict[str, torch.Tensor]) -> CheckpointSpec:
    if "_conv_stem.weight" in state and "_conv_head.weight" in state:
        library = "efficientnet_pytorch"
        head_channels = state["_conv_head.weight"].shape[0]
        blocks = len({k.split(".")[1] for k in state if k.startswith("_blocks.")})
        head_key, outputs = _head(state, ("_fc", "_fc.1", "_fc.0"))
    elif "features.0.0.weight" in state and "features.8.0.weight" in state:
        library = "torchvision"
        head_channels = state["features.8.0.weight"].shape[0]
        blocks = len({tuple(k.split(".")[1:3]) for k in state if re.match(r"features\.[1-7]\.\d+\.", k)})
        head_key, outputs = _head(state, ("classifier.1", "classifier", "classifier.0"))
    else:
        sample = ", ".join(sorted(state)[:5])
        raise WeightsError(f"not an EfficientNet state dict from efficientnet_pytorch or torchvision (keys: {sample}, ...)")
    variant = VARIANTS.get((head_channels, blocks))
    if variant is None:
        raise WeightsError(f"{library} EfficientNet with {blocks} blocks and a {head_channels}-channel head is not B0-B7")
    if outputs not in (1, 2):
        raise WeightsError(f"the classifier head has {outputs} outputs; a real/fake classifier has 1 or 2")
    return CheckpointSpec(library, variant, outputs, head_key)


def _parse_class_order(value) -> tuple[str, ...]:
    order = tuple(v.strip().lower() for v in (value.split(",") if isinstance(value, str) else value))
    if sorted(order) != ["fake", "real"]:
        raise WeightsError(f"class order must name 'real' and 'fake' once each, got {value!r}")
    return order


def _parse_normalization(value) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if value in ("imagenet", None):
        return IMAGENET_MEAN, IMAGENET_STD
    if isinstance(value, str):
        parts = dict(part.split("=", 1) for part in value.split(";"))
        value = {k.strip(): [float(x) for x in v.split(",")] for k, v in parts.items()}
    mean, std = tuple(value["mean"]), tuple(value["std"])
    if len(mean) != 3 or len(std) != 3:
        raise WeightsError("normalisation needs three means and three standard deviations")
    return mean, std


def sidecar_path(weights: Path) -> Path:
    return weights.with_name(weights.name + ".json")


def apply_settings(spec: CheckpointSpec, weights: Path, overrides: Mapping[str, object]) -> CheckpointSpec:
    """Fill class order, input size and normalisation: overrides, then sidecar, then layout default."""
    sidecar: dict = {}
    if sidecar_path(weights).is_file():
        try:
            sidecar = json.loads(sidecar_path(weights).read_text())
        except json.JSONDecodeError as exc:
            raise WeightsError(f"{sidecar_path(weights).name} is not valid JSON: {exc}") from None
    defaults = {"input_size": 224, "normalization": "imagenet", **LAYOUT_DEFAULTS[spec.library]}
    for name in ("class_order", "input_size", "normalization"):
        if overrides.get(name) is not None:
            value, source = overrides[name], "environment"
        elif name in sidecar:
            value, source = sidecar[name], f"sidecar {sidecar_path(weights).name}"
        else:
            value, source = defaults[name], f"default for {spec.library} checkpoints"
        if name == "class_order":
            spec.class_order = _parse_class_order(value)
        elif name == "input_size":
            spec.input_size = int(value)
        else:
            spec.mean, spec.std = _parse_normalization(value)
        spec.sources[name] = source
    return spec


def build_model(spec: CheckpointSpec) -> nn.Module:
    if spec.library == "efficientnet_pytorch":
        from efficientnet_pytorch import EfficientNet

        model = EfficientNet.from_name(f"efficientnet-{spec.variant}", num_classes=spec.num_outputs, image_size=spec.input_size)
        features = model._fc.in_features
        model._fc = _head_module(spec.head_key, "_fc", features, spec.num_outputs, model._global_params.dropout_rate)
        return model
    import torchvision

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


def load_checkpoint(weights: Path, overrides: Mapping[str, object] | None = None) -> tuple[nn.Module, CheckpointSpec]:
    """Model with the checkpoint loaded strictly, in eval mode, and what its outputs mean."""
    state = unwrap(read_checkpoint(weights))
    spec = apply_settings(identify(state), weights, overrides or {})
    model = build_model(spec)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    load_strict(model, state, f"{spec.library} efficientnet-{spec.variant} ({weights.name})")
    return model.eval(), spec
