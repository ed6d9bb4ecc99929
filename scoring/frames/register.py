"""The register of frame-classifier families: what recognises a family's file, builds its network and feeds it.

Modelled on timm's `register_model` with its pretrained configs: each family is one module under
`scoring.frames.families` that declares one `Family` record per layout and calls `register` with
it. A record holds

- the **key signature** that recognises a checkpoint of the family (keys every such file holds,
  and keys that would mean another family), and `describe`, which reads the file's exact
  architecture off its keys and shapes;
- its **builder**: the network the file loads into, key for key;
- its authors' **profile** (crop, resize, input size, normalisation, what the outputs mean,
  per-video aggregation), by the name EFFICIENTNET_PROFILE gives it where users may pick it;
- its **heat-map method** (`scoring.frames.explain.METHODS`) and its **licence**.

A file is placed by what it holds, never by its name: exactly one family's signature must fit.
Adding a family is one module with its records, imported by `scoring.frames.families`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from scoring.frames.clip.tower import FloatTowerEncoder
from scoring.frames.profiles import Profile
from scoring.verdict.calibration import PlattScaling
from scoring.weights.catalog import PublishedDetector
from scoring.weights.checkpoints import WeightsError
from scoring.weights.files import PackagedFile


@dataclass(frozen=True)
class Match:
    """What `Family.describe` reads off a file."""

    architecture: str
    variant: str
    num_outputs: int
    head_key: str | None = None  # plain layouts: e.g. "_fc.1" or "classifier.1"
    heat_map: str | None = None  # where this file's network differs from its family's method


@dataclass
class CheckpointSpec:
    """One file as the service reads it: its family, network and profile, and where each setting came from."""

    family: str
    architecture: str
    variant: str
    num_outputs: int
    profile: Profile
    heat_map: str
    title: str  # what a person is told runs, e.g. "CLIP probe"
    licence: str
    head_key: str | None = None
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


State = Mapping[str, torch.Tensor]


def _unchanged(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return state


@dataclass(frozen=True)
class Family:
    name: str  # CheckpointSpec.family, as /health reports it
    title: str
    signature: tuple[str, ...]  # keys every file of the family holds
    describe: Callable[[State], Match]
    build: Callable[..., nn.Module]  # (spec, state, allow_unverified=, device=) -> the network, weights not loaded
    profile: Profile
    licence: str
    heat_map: str = "grad-cam"
    excludes: tuple[str, ...] = ()  # keys that mean another family
    profile_name: str | None = None  # EFFICIENTNET_PROFILE's name for `profile`; None: not offered to other files
    profile_source: str | None = None  # what /health says chose the profile (default: "the <name> layout")
    encoder: PackagedFile | None = None  # a packaged file the network reads beside its own
    prepare_state: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] = _unchanged  # the file's tensors as the network's keys

    def fits(self, state: State) -> bool:
        return all(key in state for key in self.signature) and not any(key in state for key in self.excludes)

    def spec(self, state: State, published: PublishedDetector | None) -> CheckpointSpec:
        match = self.describe(state)
        spec = CheckpointSpec(
            self.name,
            match.architecture,
            match.variant,
            match.num_outputs,
            self.profile,
            match.heat_map or self.heat_map,
            self.title,
            self.licence,
            match.head_key,
            published,
            encoder=self.encoder,
        )
        spec.sources["profile"] = "published file (sha256)" if published else self.profile_source or f"the {self.name} layout"
        return spec


FAMILIES: dict[str, Family] = {}


def register(*families: Family) -> None:
    for family in families:
        if family.name in FAMILIES:
            raise ValueError(f"frame family {family.name} is registered twice")
        FAMILIES[family.name] = family


def family_of(state: State) -> Family:
    """The one registered family whose signature fits `state`; WeightsError naming what was found otherwise."""
    fitting = [family for family in FAMILIES.values() if family.fits(state)]
    if len(fitting) == 1:
        return fitting[0]
    if fitting:
        raise WeightsError(f"the file fits several frame families ({', '.join(f.name for f in fitting)}): its layout is ambiguous")
    titles = ", ".join(family.title for family in FAMILIES.values())
    sample = ", ".join(sorted(state)[:5])
    raise WeightsError(f"not a frame detector this service knows: its keys fit none of the families ({titles}) (keys: {sample}, ...)")


def family(name: str) -> Family:
    return FAMILIES[name]


def named_profiles() -> dict[str, Profile]:
    """The authors' profiles a user may name (EFFICIENTNET_PROFILE, a sidecar's `profile`)."""
    return {f.profile_name: f.profile for f in FAMILIES.values() if f.profile_name}
