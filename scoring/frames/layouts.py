"""Recognise a frame-detector file, build its network and load it strictly, with its profile.

A file is placed by what it holds, never by its name: its keys must fit exactly one family of the
register (`scoring.frames.register`, the families in `scoring.frames.families`), which names the
network, its authors' profile and its heat-map method. A published file known by its sha256
(`scoring.weights.catalog`) is reported as that release.

A sidecar JSON beside the weights (`<weights>.json`) and the environment may override any of
`profile` (a family's profile by name), `class_order`, `input_size`, `normalization`,
`face_crop_margin` and (sidecar only) `aggregation`, how a video's frames become its score; where
each setting came from is reported. The sidecar may also hold a
`calibration` (scoring.verdict.calibration) fitted on held-out videos. Wrappers (`state_dict`, `model`,
`model_state_dict`, `net`) and the `module.` / `model.` prefixes are removed first. A file that
fits no family is refused with what was found.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from scoring.frames.profiles import AGGREGATIONS, NORMALISATIONS, Profile
from scoring.frames.register import CheckpointSpec, family, family_of, named_profiles
from scoring.verdict.calibration import PlattScaling
from scoring.weights.catalog import PUBLISHED, PublishedDetector, sidecar_path
from scoring.weights.checkpoints import WeightsError, load_strict, read_checkpoint
from scoring.weights.files import sha256_of

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net")
PREFIXES = ("module.", "model.")


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


def identify(state: dict[str, torch.Tensor], published: PublishedDetector | None = None) -> CheckpointSpec:
    """Family, network and the default profile of a state dict (before sidecar and environment)."""
    return family_of(state).spec(state, published)


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
    profiles = named_profiles()
    if value not in profiles:
        raise WeightsError(f"unknown profile {value!r}; known: {', '.join(sorted(profiles))}")
    return profiles[value]


def _parse_aggregation(value) -> str:
    if value not in AGGREGATIONS:
        raise ValueError(f"must be one of {', '.join(AGGREGATIONS)}, got {value!r}")
    return value


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
        "aggregation": profile.aggregation,
    }


SETTINGS = {
    # sidecar / environment name: (Profile field, parser)
    "class_order": ("class_order", _parse_class_order),
    "input_size": ("input_size", int),
    "normalization": ("normalisation", _parse_normalization),
    "face_crop_margin": ("margin", float),
    "aggregation": ("aggregation", _parse_aggregation),
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
    """The network a file of `spec` loads into, by its family's builder; `device` is where a packaged
    encoder runs, `allow_unverified` accepts one whose sha256 differs from the catalogue's."""
    return family(spec.family).build(spec, state, allow_unverified=allow_unverified, device=device)


def load_checkpoint(
    weights: Path, overrides: Mapping[str, object] | None = None, allow_unverified: bool = False, device: torch.device | None = None
) -> tuple[nn.Module, CheckpointSpec]:
    """Model with the file loaded strictly, in eval mode, and its spec (family, profile, where each setting came from).

    `allow_unverified` accepts a packaged encoder whose sha256 differs from the pinned one; `device`
    is where a packaged encoder runs (the model itself is moved by its caller)."""
    weights = Path(weights)
    state = unwrap(read_checkpoint(weights))
    spec = apply_settings(identify(state, PUBLISHED.get(sha256_of(weights))), weights, overrides or {})
    state = family(spec.family).prepare_state(state)
    model = build_model(spec, allow_unverified, state, device)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    load_strict(model, state, f"{spec.architecture} ({weights.name})")
    return model.eval(), spec
