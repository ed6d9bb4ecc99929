"""The register of frame families: each checkpoint fits exactly one family, unknown layouts are refused
naming the families, profiles are offered by name, and a new family is one record."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from scoring.detectors import Detectors
from scoring.frames.detector import FrameDetector
from scoring.frames.layouts import identify, load_checkpoint
from scoring.frames.profiles import IMAGENET, square_profile
from scoring.frames.register import FAMILIES, Family, Match, family_of, named_profiles
from scoring.settings import Settings, SettingsError
from scoring.weights.catalog import PUBLISHED_DETECTORS
from scoring.weights.checkpoints import WeightsError


def signature_state(family: Family) -> dict[str, torch.Tensor]:
    return {key: torch.zeros(1) for key in family.signature}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_each_familys_signature_fits_that_family_alone(name):
    assert family_of(signature_state(FAMILIES[name])) is FAMILIES[name]


def test_f3net_is_not_taken_for_the_xception_it_contains():
    both = {**signature_state(FAMILIES["deepfakebench-xception"]), **signature_state(FAMILIES["deepfakebench-f3net"])}
    assert family_of(both).name == "deepfakebench-f3net"


def test_a_file_that_fits_two_families_is_refused_as_ambiguous():
    with pytest.raises(WeightsError, match="fits several frame families"):
        family_of({**signature_state(FAMILIES["clip"]), **signature_state(FAMILIES["sbi"])})


def test_an_unknown_layout_is_refused_naming_the_families_and_its_keys():
    with pytest.raises(WeightsError, match=r"fit none of the families \(.*CLIP probe.*\) \(keys: stem\.weight"):
        family_of({"stem.weight": torch.zeros(1)})


def test_every_published_file_names_a_registered_family():
    assert {detector.family for detector in PUBLISHED_DETECTORS} <= set(FAMILIES)


def test_the_authors_profiles_are_offered_by_name_and_an_unknown_name_stops_the_start():
    assert {"polimi", "selimsef", "sbi", "deepfakebench", "deepfakedetector", "effort"} == set(named_profiles())
    base = Settings.from_env({})
    Detectors(base.replace(efficientnet=dataclasses.replace(base.efficientnet, profile="sbi")), torch.device("cpu"))
    with pytest.raises(SettingsError, match="EFFICIENTNET_PROFILE: 'blazeface' is not one of deepfakebench, "):
        Detectors(base.replace(efficientnet=dataclasses.replace(base.efficientnet, profile="blazeface")), torch.device("cpu"))


class TinyNet(nn.Module):
    """A family that exists only in this test: two convolutions and a linear head of two outputs."""

    def __init__(self):
        super().__init__()
        self.tiny_features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, padding=1))
        self.tiny_head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tiny_head(self.tiny_features(x).mean(dim=(2, 3)))


def test_a_new_family_is_one_record(monkeypatch, tmp_path):
    tiny = Family(
        "tiny",
        "tiny test network",
        ("tiny_head.weight",),
        lambda state: Match("TinyNet", "t1", 2),
        lambda spec, state, **_: TinyNet(),
        square_profile(("real", "fake"), 32, IMAGENET, 0.1, 4),
        "test only",
    )
    monkeypatch.setitem(FAMILIES, "tiny", tiny)
    torch.manual_seed(0)
    path = tmp_path / "tiny.pt"
    torch.save(TinyNet().state_dict(), path)

    network, spec = load_checkpoint(path)
    assert (spec.family, spec.title, spec.licence, spec.heat_map) == ("tiny", "tiny test network", "test only", "grad-cam")
    assert identify(torch.load(path, weights_only=True)).sources["profile"] == "the tiny layout"
    detector = FrameDetector(path, "cpu")
    assert detector.title == "The frame classifier (tiny test network)"
    face = np.random.default_rng(1).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    report = detector.judge_image(face, (4.0, 4.0, 44.0, 44.0))
    (heat_map,) = detector.explain_image(face, (4.0, 4.0, 44.0, 44.0), report)
    assert 0 <= report["score"] <= 1 and heat_map["method"] == "grad-cam" and heat_map["png"]


def test_a_torchvision_mobilenet_v2_file_loads_key_for_key(tmp_path):
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(weights=None, num_classes=2).eval()
    path = tmp_path / "mobilenet.pt"
    torch.save(model.state_dict(), path)
    loaded, spec = load_checkpoint(path)
    faces = torch.rand(2, 3, 64, 64)
    assert (spec.family, spec.head_key, spec.num_outputs) == ("torchvision-mobilenet_v2", "classifier.1", 2)
    assert torch.equal(loaded(faces), model(faces))
