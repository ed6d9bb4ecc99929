"""Published frame detectors: each author's file layout loads and gives the forward of the same network,
recognition by sha256 and by layout, profiles (crop, resize, normalisation, output, aggregation),
ensembles, and the refusals.

The reference forwards here are written with the libraries' own modules (efficientnet_pytorch,
timm), not with the families of scoring.frames.families; bench/parity_frame_detectors.py compares against
the authors' code itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from efficientnet_detector import EfficientNetDetector
from scoring.frames.profiles import area_or_linear, isotropic_centred, polimi_region, square_region, thirds_region
from scoring.frames.register import named_profiles
from scoring.provision import provision
from scoring.settings import Settings, SettingsError
from scoring.weights import catalog
from scoring.weights.catalog import BUNDLED_FRAME_DETECTOR
from scoring.weights.checkpoints import WeightsError
from scoring.weights.files import OfficialFile, sha256_of
from tests.helpers.generated_weights import calibrate_batchnorm

PROFILES = named_profiles()  # the authors' profiles, by name
SIZE = 64  # the networks take any size; small inputs keep B4 quick


def calibrated(module: nn.Module, forward=None, seed: int = 0) -> nn.Module:
    """tests.helpers.generated_weights.calibrate_batchnorm on random faces."""
    return calibrate_batchnorm(module, normalised(faces(8, seed=9), PROFILES["polimi"].normalisation), seed, forward)


def efficientnet_b4(num_classes: int = 1000):
    from efficientnet_pytorch import EfficientNet

    return EfficientNet.from_name("efficientnet-b4", num_classes=num_classes)


def pooled(net, x):
    return net._avg_pooling(net.extract_features(x)).flatten(1)


def polimi_files(attention_bias: float | None = None, siamese: bool = False):
    """polimi's layout from efficientnet_pytorch itself: `{"net": state}`; the reference forward without attention
    (an attention map of sigmoid(+20) = 1 changes nothing, so both must agree)."""
    torch.manual_seed(1)
    net = efficientnet_b4()
    del net._fc
    calibrated(net, net.extract_features)
    classifier = nn.Linear(1792, 1)
    state = {f"efficientnet.{k}": v for k, v in net.state_dict().items()}
    state.update({f"classifier.{k}": v for k, v in classifier.state_dict().items()})
    if attention_bias is not None:
        state["efficientnet.attconv.weight"] = torch.zeros(1, 56, 1, 1)
        state["efficientnet.attconv.bias"] = torch.full((1,), attention_bias)
    if not siamese:
        return {"net": state, "epoch": 3}, lambda x: classifier(pooled(net, x))
    head = nn.Sequential(nn.BatchNorm1d(1792), nn.Linear(1792, 1))
    calibrated(head, lambda x: head(pooled(net, x)), seed=2)
    state = {f"feat_ext.{k}": v for k, v in state.items()} | {f"classifier.{k}": v for k, v in head.state_dict().items()}
    return {"net": state}, lambda x: head(pooled(net, x))


def selimsef_files():
    import timm

    torch.manual_seed(2)
    encoder = timm.create_model("tf_efficientnet_b0.ns_jft_in1k", pretrained=False)
    calibrated(encoder, encoder.forward_features)
    fc = nn.Linear(1280, 1)
    state = {f"module.encoder.{k}": v for k, v in encoder.state_dict().items()}
    state.update({f"module.fc.{k}": v for k, v in fc.state_dict().items()})
    return {"state_dict": state, "bce_best": 0.2}, lambda x: fc(encoder.forward_features(x).mean((2, 3)))


def sbi_files():
    torch.manual_seed(3)
    net = calibrated(efficientnet_b4(num_classes=2))
    return {"model": {f"net.{k}": v for k, v in net.state_dict().items()}}, net


def deepfakebench_files():
    torch.manual_seed(4)
    net = efficientnet_b4()
    net._conv_stem = nn.Conv2d(3, 48, kernel_size=3, stride=2, bias=False)
    net._fc = nn.Identity()
    calibrated(net, net.extract_features)
    last_layer = nn.Linear(1792, 2)
    state = {f"backbone.efficientnet.{k}": v for k, v in net.state_dict().items()}
    state.update({f"backbone.last_layer.{k}": v for k, v in last_layer.state_dict().items()})
    return state, lambda x: last_layer(pooled(net, x))


def deepfakebench_xception_state(net: nn.Module, head_key: str) -> dict[str, torch.Tensor]:
    """timm's legacy_xception saved in DeepfakeBench's layout: under `backbone.`, its `fc` as `last_linear`
    (`head_key`), and the `adjust_channel` every DeepfakeBench file holds."""
    torch.manual_seed(6)
    adjust = nn.Sequential(nn.Conv2d(2048, 512, 1), nn.BatchNorm2d(512))
    state = {f"backbone.{k.replace('fc.', head_key + '.')}": v for k, v in net.state_dict().items()}
    state.update({f"backbone.adjust_channel.{k}": v for k, v in adjust.state_dict().items()})
    return state


def xception_files():
    import timm

    torch.manual_seed(5)
    net = timm.create_model("legacy_xception", pretrained=False, num_classes=2)
    calibrated(net, net.forward_features)
    return deepfakebench_xception_state(net, "last_linear"), net


LAYOUTS = {
    # name: (files, family, profile, normalisation (mean, std), P(real) from the reference output)
    "polimi EfficientNetB4": (
        polimi_files,
        "polimi",
        "polimi-scale-224",
        PROFILES["polimi"].normalisation,
        lambda y: 1 - y[:, 0].sigmoid(),
    ),
    "polimi EfficientNetAutoAttB4": (
        lambda: polimi_files(20.0),
        "polimi",
        "polimi-scale-224",
        PROFILES["polimi"].normalisation,
        lambda y: 1 - y[:, 0].sigmoid(),
    ),
    "polimi EfficientNetB4ST": (
        lambda: polimi_files(siamese=True),
        "polimi-st",
        "polimi-scale-224",
        PROFILES["polimi"].normalisation,
        lambda y: 1 - y[:, 0].sigmoid(),
    ),
    "selimsef DeepFakeClassifier": (
        selimsef_files,
        "selimsef",
        "selimsef-isotropic-380",
        PROFILES["selimsef"].normalisation,
        lambda y: 1 - y[:, 0].sigmoid(),
    ),
    "SelfBlendedImages": (sbi_files, "sbi", "sbi-stretch-380", ((0, 0, 0), (1, 1, 1)), lambda y: y.softmax(1)[:, 0]),
    "DeepfakeBench EfficientNetB4": (
        deepfakebench_files,
        "deepfakebench",
        "deepfakebench-256",
        ((0.5,) * 3, (0.5,) * 3),
        lambda y: y.softmax(1)[:, 0],
    ),
    "DeepfakeBench Xception": (
        xception_files,
        "deepfakebench-xception",
        "deepfakebench-256",
        ((0.5,) * 3, (0.5,) * 3),
        lambda y: y.softmax(1)[:, 0],
    ),
}


def faces(count: int = 3, size: int = SIZE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (count, size, size, 3), dtype=np.uint8)


def normalised(images: np.ndarray, normalisation) -> torch.Tensor:
    mean, std = (torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1) for v in normalisation)
    return (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - mean) / std


@pytest.mark.parametrize("name", LAYOUTS)
def test_each_authors_layout_loads_and_gives_the_forward_of_the_same_network(tmp_path, name):
    make, family, profile, normalisation, real_probability = LAYOUTS[name]
    content, reference = make()
    path = tmp_path / "published.pth"
    torch.save(content, path)
    detector = EfficientNetDetector(path, "cpu")
    model = detector.models[0]
    assert (model.spec.family, model.profile.name) == (family, profile)
    assert model.spec.sources["profile"] == f"the {family} layout" and model.spec.published is None
    images = faces()
    with torch.inference_mode():
        expected = real_probability(reference(normalised(images, normalisation)))
    ours = model.profile.real_probability(detector.outputs(model, images))
    assert float(expected.max() - expected.min()) > 1e-3  # the faces get different answers
    np.testing.assert_allclose(ours.numpy(), expected.numpy(), atol=2e-5)


def band_masks(size: int) -> list[np.ndarray]:
    """F3Net's four bands over the DCT spectrum, by row + column index (both ends included)."""
    total = np.add.outer(np.arange(size), np.arange(size))
    return [((total >= low) & (total <= high)).astype(np.float32) for low, high in ((0, 90), (90, 128), (128, 512), (0, 512))]


def f3net_reference(learnable: list[np.ndarray], backbone: nn.Module):
    """F3Net's forward from scipy's orthonormal DCT: each band of each channel's spectrum, transformed back."""
    from scipy.fft import dctn, idctn

    def forward(x: torch.Tensor) -> torch.Tensor:
        spectrum = dctn(x.double().numpy(), axes=(-2, -1), norm="ortho")
        bands = [
            idctn(spectrum * (mask + 2 / (1 + np.exp(-extra)) - 1), axes=(-2, -1), norm="ortho") for mask, extra in zip(band_masks(256), learnable, strict=True)
        ]
        return backbone(torch.from_numpy(np.concatenate(bands, axis=1)).float())

    return forward


def test_deepfakebench_f3net_loads_and_decomposes_frequencies_as_the_paper_defines(tmp_path):
    import timm
    from scipy.fft import dct

    torch.manual_seed(7)
    backbone = timm.create_model("legacy_xception", pretrained=False, num_classes=2, in_chans=12)
    learnable = [np.random.default_rng(k).normal(0, 1.0, (256, 256)).astype(np.float32) for k in range(4)]
    reference = f3net_reference(learnable, backbone)
    inputs = normalised(faces(4, size=256, seed=3), ((0.5,) * 3, (0.5,) * 3))
    calibrate_batchnorm(backbone, inputs, forward=reference)
    state = deepfakebench_xception_state(backbone, "last_linear.1")
    matrix = torch.from_numpy(dct(np.eye(256), axis=0, norm="ortho")).float()
    state.update({"FAD_head._DCT_all": matrix, "FAD_head._DCT_all_T": matrix.t().contiguous()})
    for k, (mask, extra) in enumerate(zip(band_masks(256), learnable, strict=True)):
        state.update({f"FAD_head.filters.{k}.base": torch.from_numpy(mask), f"FAD_head.filters.{k}.learnable": torch.from_numpy(extra)})
    path = tmp_path / "f3net_best.pth"
    torch.save(state, path)
    detector = EfficientNetDetector(path, "cpu")
    model = detector.models[0]
    assert (model.spec.family, model.profile.name, model.profile.input_size) == ("deepfakebench-f3net", "deepfakebench-256", 256)
    fad = model.network.FAD_head
    for k, mask in enumerate(band_masks(256)):  # our bands, built from the paper, are the file's
        np.testing.assert_array_equal(fad.filters[k].base.numpy(), mask)
    np.testing.assert_allclose(fad._DCT_all.numpy(), matrix.numpy(), atol=1e-6)
    images = faces(4, size=256, seed=3)
    with torch.inference_mode():
        expected = reference(normalised(images, ((0.5,) * 3, (0.5,) * 3))).softmax(1)[:, 0]
    ours = model.profile.real_probability(detector.outputs(model, images))
    assert float(expected.max() - expected.min()) > 1e-3
    np.testing.assert_allclose(ours.numpy(), expected.numpy(), atol=2e-5)
    with pytest.raises(WeightsError, match="built for 256 px"):
        EfficientNetDetector(path, "cpu", {"input_size": 224})


def effort_files(hidden: int = 64, layers: int = 2):
    """Effort's layout for a small CLIP vision tower built by transformers: each attention projection
    saved as its rank-(n-1) part and a residual triplet (its singular value changed, so it matters),
    as the Effort repository's newer files also hold the frozen factors and `module.`; the reference
    is the tower with the summed weights, written here with numpy."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(8)
    config = CLIPVisionConfig(
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 64,
        image_size=224,
        patch_size=14,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
    )
    tower = CLIPVisionModel(config).vision_model.eval()
    with torch.no_grad():
        for module in tower.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.2)
            if isinstance(module, nn.Linear):
                module.weight.mul_(4)
    head = nn.Linear(hidden, 2)
    state = {}
    for key, value in tower.state_dict().items():
        layer, _, name = key.rpartition(".")
        if ".self_attn." in key and name == "weight":
            u, singular, vh = np.linalg.svd(value.double().numpy())
            residual = singular[-1:] + 3 * singular[0]
            main = u[:, :-1] @ np.diag(singular[:-1]) @ vh[:-1]
            with torch.no_grad():
                value.copy_(torch.from_numpy(main + u[:, -1:] @ np.diag(residual) @ vh[-1:]))
            parts = {"weight_main": main, "U_residual": u[:, -1:], "S_residual": residual, "V_residual": vh[-1:]}
            parts.update(U_r=u[:, :-1], S_r=singular[:-1], V_r=vh[:-1])
            state.update({f"module.backbone.{layer}.{part}": torch.from_numpy(np.asarray(array)).float() for part, array in parts.items()})
        else:
            state[f"module.backbone.{key}"] = value
    state["module.backbone.embeddings.position_ids"] = torch.arange(257)[None]
    state.update({f"module.head.{k}": v for k, v in head.state_dict().items()})
    return {"state_dict": state}, lambda x: head(tower(pixel_values=x).pooler_output)


def test_effort_loads_with_its_svd_parts_folded_into_plain_weights(tmp_path):
    content, reference = effort_files()
    path = tmp_path / "effort_clip_L14_trainOn_FaceForensic.pth"
    torch.save(content, path)
    detector = EfficientNetDetector(path, "cpu")
    model = detector.models[0]
    assert (model.spec.family, model.profile.name, model.profile.input_size) == ("effort", "effort-224", 224)
    assert not any(name.endswith(("weight_main", "U_residual")) for name, _ in model.network.named_parameters())
    images = faces(3, size=224, seed=4)
    with torch.inference_mode():
        expected = reference(normalised(images, PROFILES["effort"].normalisation)).softmax(1)[:, 0]
    ours = model.profile.real_probability(detector.outputs(model, images))
    assert float(expected.max() - expected.min()) > 1e-3
    np.testing.assert_allclose(ours.numpy(), expected.numpy(), atol=2e-5)
    (entry,) = detector.explain_image(images[0], (0.0, 0.0, 224.0, 224.0), {"frame_scores": [0.5]})
    assert entry["method"] == "grad-cam"


def test_served_network_is_rebuilt_without_batchnorm_or_padded_copies(tmp_path):
    """The forward test above holds for these rebuilt networks; here: the rebuild happened."""
    content, _ = polimi_files(20.0)
    torch.save(content, tmp_path / "published.pth")
    served = list(EfficientNetDetector(tmp_path / "published.pth", "cpu").models[0].network.modules())
    pads = [m.padding for m in served if isinstance(m, nn.ZeroPad2d)]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in served)
    assert pads and all(left != right or top != bottom for left, right, top, bottom in pads)  # only asymmetric ones stay
    assert any(isinstance(m, nn.SiLU) for m in served)


def test_polimi_attention_multiplies_block_ten_by_its_map(tmp_path):
    (plain, reference), (shut, _) = polimi_files(20.0), polimi_files(-20.0)
    outputs = []
    for content, name in ((plain, "open.pth"), (shut, "shut.pth")):
        torch.save(content, tmp_path / name)
        detector = EfficientNetDetector(tmp_path / name, "cpu")
        outputs.append(detector.outputs(detector.models[0], faces()))
    with torch.inference_mode():
        expected = reference(normalised(faces(), PROFILES["polimi"].normalisation))
    np.testing.assert_allclose(outputs[0].numpy(), expected.numpy(), atol=1e-4)
    assert not torch.allclose(outputs[0], outputs[1], atol=1e-3)  # a closed map changes the logit


def test_a_published_file_is_recognised_by_its_sha256_and_a_renamed_copy_refused(tmp_path, monkeypatch):
    content, _ = polimi_files(20.0)
    path = tmp_path / "downloaded.pth"
    torch.save(content, path)
    digest = sha256_of(path)
    known = catalog._polimi("EfficientNetAutoAttB4", "DFDC", digest)
    monkeypatch.setitem(catalog.PUBLISHED, digest, known)
    spec = EfficientNetDetector(path, "cpu").spec
    assert spec.published.trained_on == "DFDC" and spec.sources["profile"] == "published file (sha256)"
    assert spec.summary()["published"]["licence"].startswith("GPL-3.0")

    impostor = tmp_path / catalog.DEFAULT_FRAME_DETECTOR.file.name  # the release's name, other bytes
    torch.save(polimi_files()[0], impostor)
    with pytest.raises(WeightsError, match="ALLOW_UNVERIFIED_WEIGHTS"):
        EfficientNetDetector(impostor, "cpu")
    assert EfficientNetDetector(impostor, "cpu", allow_unverified_weights=True).spec.published is None


def test_sidecar_gives_a_plain_file_an_authors_profile_and_the_environment_wins(tmp_path):
    net = efficientnet_b4(num_classes=2)
    path = tmp_path / "sbi_exported.pt"
    torch.save(net.state_dict(), path)  # a bare efficientnet_pytorch state dict: the layout alone says "square"
    assert EfficientNetDetector(path, "cpu").spec.profile.name == "square"
    path.with_name(path.name + ".json").write_text(json.dumps({"profile": "sbi", "input_size": 320}))
    spec = EfficientNetDetector(path, "cpu").spec
    assert (spec.profile.name, spec.profile.input_size, spec.profile.normalisation) == ("sbi-stretch-380", 320, ((0.0,) * 3, (1.0,) * 3))
    assert spec.sources["profile"].startswith("sidecar") and spec.sources["input_size"].startswith("sidecar")
    overridden = EfficientNetDetector(path, "cpu", {"profile": "deepfakebench", "normalization": "imagenet"}).spec
    assert overridden.profile.name == "deepfakebench-256" and overridden.sources["profile"] == "environment: deepfakebench"
    assert overridden.profile.input_size == 320 and overridden.profile.mean == (0.485, 0.456, 0.406)
    path.with_name(path.name + ".json").write_text(json.dumps({"profile": "blazeface"}))
    with pytest.raises(WeightsError, match="unknown profile 'blazeface'"):
        EfficientNetDetector(path, "cpu")


def test_an_unknown_layout_is_refused_naming_what_was_found(tmp_path):
    path = tmp_path / "xception.pth"
    torch.save({"net": {"xception.conv1.weight": torch.zeros(32, 3, 3, 3), "xception.last_linear.weight": torch.zeros(1, 2048)}}, path)
    with pytest.raises(WeightsError, match=r"not a frame detector this service knows.*xception\.conv1\.weight"):
        EfficientNetDetector(path, "cpu")


def two_architectures(tmp_path) -> list[Path]:
    paths = []
    for index, make in enumerate((polimi_files, sbi_files)):
        paths.append(tmp_path / f"m{index}.pth")
        torch.save(make()[0], paths[-1])
    return paths


def test_an_ensemble_scores_the_same_frames_and_averages_the_files_video_scores(tmp_path):
    paths = two_architectures(tmp_path)
    ensemble = EfficientNetDetector(paths, "cpu", num_frames=4)
    images = list(faces(4, size=96))
    report = ensemble.predict_frames(images)
    singles = [EfficientNetDetector(p, "cpu").predict_frames(images) for p in paths]
    assert [m["profile"] for m in report["models"]] == ["polimi-scale-224", "sbi-stretch-380"]
    assert report["detector"] == "ensemble of 2"
    assert report["score"] == pytest.approx(np.mean([s["score"] for s in singles]), abs=1e-4)
    np.testing.assert_allclose(report["frame_scores"], np.mean([s["frame_scores"] for s in singles], axis=0), atol=1e-4)
    assert ensemble.num_frames == 4 and EfficientNetDetector(paths[0], "cpu").num_frames == PROFILES["polimi"].frames


def test_an_ensemble_weighs_each_file_by_its_share_and_names_each_prediction(tmp_path):
    paths = two_architectures(tmp_path)
    images = list(faces(4, size=96))
    singles = [EfficientNetDetector(p, "cpu").predict_frames(images) for p in paths]
    report = EfficientNetDetector(paths, "cpu", shares=(3.0, 1.0)).predict_frames(images)
    assert report["score"] == pytest.approx(0.75 * singles[0]["score"] + 0.25 * singles[1]["score"], abs=1e-4)
    np.testing.assert_allclose(
        report["frame_scores"], 0.75 * np.array(singles[0]["frame_scores"]) + 0.25 * np.array(singles[1]["frame_scores"]), atol=1e-4
    )
    assert [m["weight"] for m in report["models"]] == [0.75, 0.25]
    assert report["model_predictions"] == {"m0.pth": singles[0]["score"], "m1.pth": singles[1]["score"]}
    assert report["models_used"] == ["m0.pth", "m1.pth"] and "models_unavailable" not in report


def test_a_file_that_cannot_load_is_left_out_and_named_while_enough_files_load(tmp_path):
    paths = two_architectures(tmp_path)
    broken = tmp_path / "unknown_layout.pth"
    torch.save({"net": {"xception.conv1.weight": torch.zeros(32, 3, 3, 3)}}, broken)
    images = list(faces(2, size=96))
    ensemble = EfficientNetDetector([paths[0], broken, paths[1]], "cpu", shares=(0.25, 0.5, 0.25), min_models=2)
    report = ensemble.predict_frames(images)
    assert report["models_used"] == ["m0.pth", "m1.pth"] and [m["weight"] for m in report["models"]] == [0.5, 0.5]
    (missing,) = report["models_unavailable"]
    assert missing["file"] == "unknown_layout.pth" and "not a frame detector this service knows" in missing["reason"]
    assert ensemble.describe()["models_unavailable"] == [missing] and ensemble.describe()["min_models"] == 2
    with pytest.raises(WeightsError, match=r"1 of 2 files loaded, 2 needed \(unknown_layout\.pth: not a frame detector"):
        EfficientNetDetector([paths[0], broken], "cpu", min_models=2)


def test_settings_read_shares_and_the_line_up_documents_name(tmp_path):
    paths = two_architectures(tmp_path)
    settings = Settings.from_env({"FRAME_DETECTORS": f"{paths[0]}:0.25,{paths[1]}:0.75", "EFFICIENTNET_MIN_MODELS": "2"})
    assert settings.efficientnet.weights == tuple(paths) and settings.efficientnet.shares == (0.25, 0.75)
    assert settings.efficientnet.min_models == 2
    assert Settings.from_env({"EFFICIENTNET_WEIGHTS": f"{paths[0]},{paths[1]}"}).efficientnet.shares == ()
    for bad, message in (
        (f"{paths[0]}:0.5,{paths[1]}", "every file a share"),
        (f"{paths[0]}:0,{paths[1]}:0", "not all 0"),
    ):
        with pytest.raises(SettingsError, match=message):
            Settings.from_env({"EFFICIENTNET_WEIGHTS": bad})
    with pytest.raises(SettingsError, match="EFFICIENTNET_MIN_MODELS"):
        Settings.from_env({"EFFICIENTNET_WEIGHTS": str(paths[0]), "EFFICIENTNET_MIN_MODELS": "2"})


def test_polimi_region_adds_blazeface_margin_then_takes_the_square_of_the_longer_side():
    frame = np.arange(480 * 640 * 3, dtype=np.uint32).reshape(480, 640, 3).astype(np.uint8)
    region = polimi_region(frame, (200.0, 100.0, 300.0, 250.0))
    # height 150 -> offset 30: box (170, 40, 330, 280) is 160 x 240 -> a 240 square around (250, 160).
    assert region.shape == (240, 240, 3)
    np.testing.assert_array_equal(region, frame[40:280, 130:370])
    clipped = polimi_region(frame, (560.0, 10.0, 640.0, 90.0))
    assert clipped.shape[0] < 112 and clipped.shape[1] < 112  # their crop shrinks at the border, it does not pad


def test_square_region_pads_outside_the_frame():
    frame = np.full((100, 100, 3), 200, np.uint8)
    crop = area_or_linear(square_region(frame, np.array([-20.0, 10, 40, 70]), margin=0.25), 64)
    assert crop.shape == (64, 64, 3)
    assert crop[:, :10].max() == 0 and crop[8:, -10:].min() == 200  # left of x=0 and above y=0: padding


def test_selimsef_region_and_isotropic_resize_keep_the_aspect_on_black():
    frame = np.full((480, 640, 3), 200, np.uint8)
    region = thirds_region(frame, (300.7, 100.2, 390.9, 220.5))  # int box 300,100,390,220: w 90, h 120
    assert region.shape == (120 + 2 * 40, 90 + 2 * 30, 3)
    resized = isotropic_centred(region, 380)
    assert resized.shape == (380, 380, 3)
    columns = np.flatnonzero(resized[190, :, 0])
    width = int(150 * (380 / 200))  # their arithmetic: w * (size / h), truncated
    assert resized[190, 0, 0] == 0 and len(columns) == width and columns[0] == (380 - width) // 2


@pytest.mark.parametrize(
    "p_fake, expected_fake",
    [
        ([0.9] * 14 + [0.1] * 6, 0.9),  # over 11 and over 40 % confident fakes: their mean
        ([0.1] * 19 + [0.5], 0.1),  # over 90 % confident reals: their mean
        ([0.9] * 5 + [0.1] * 15, 0.3),  # otherwise the plain mean
    ],
)
def test_selimsef_confident_strategy(p_fake, expected_fake):
    logits = torch.logit(torch.tensor(p_fake, dtype=torch.float64)).view(-1, 1)
    assert PROFILES["selimsef"].video_real_probability(logits) == pytest.approx(1 - expected_fake, abs=1e-6)


def test_polimi_video_score_is_the_sigmoid_of_the_mean_logit():
    logits = torch.tensor([[3.0], [-1.0], [1.0]])
    assert PROFILES["polimi"].video_real_probability(logits) == pytest.approx(1 - torch.sigmoid(torch.tensor(1.0)).item())


def test_settings_name_every_profile_and_default_to_the_bundled_model_offline(tmp_path):
    assert Settings.from_env({"MODELS_DIR": str(tmp_path)}).efficientnet.weights == (BUNDLED_FRAME_DETECTOR.path,)
    (tmp_path / catalog.DEFAULT_FRAME_DETECTOR.file.name).write_bytes(b"installed by setup")
    installed = Settings.from_env({"MODELS_DIR": str(tmp_path)}).efficientnet.weights
    assert installed == (tmp_path / catalog.DEFAULT_FRAME_DETECTOR.file.name,)
    both = Settings.from_env({"EFFICIENTNET_WEIGHTS": f"{BUNDLED_FRAME_DETECTOR.path},{installed[0]}"}).efficientnet.weights
    assert both == (BUNDLED_FRAME_DETECTOR.path, installed[0])


def test_provisioning_checks_the_digest_and_installs_an_unverified_file_only_when_allowed(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "detector.pth").write_bytes(b"weights")
    good = OfficialFile("detector.pth", "https://invalid.example/detector.pth", None, sha256_of(source / "detector.pth"), "a detector")
    assert provision(good, tmp_path / "a", source, 5)[0] and (tmp_path / "a" / "detector.pth").read_bytes() == b"weights"
    wrong = OfficialFile("detector.pth", good.url, None, "0" * 64, "a detector")
    ok, message = provision(wrong, tmp_path / "b", source, 5, missing_means="the bundled model scores")
    assert not ok and not (tmp_path / "b" / "detector.pth").exists() and "the bundled model scores" in message
    ok, message = provision(wrong, tmp_path / "c", source, 5, allow_unverified=True)
    assert not ok and "UNVERIFIED" in message and (tmp_path / "c" / "detector.pth").is_file()
