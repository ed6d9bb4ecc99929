"""The frame detector on plain EfficientNet files (`scoring.frames.detector`, through the `EfficientNetDetector`
front door): checkpoint formats, overrides, refusals, aggregation, the faces it samples, bfloat16 against float32."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from efficientnet_detector import EfficientNetDetector
from scoring.errors import CannotScore
from scoring.faces.crops import sample_faces
from scoring.faces.tracking import TrackingResult, interpolate
from scoring.frames.detector import aggregate
from scoring.frames.layouts import load_checkpoint
from scoring.media.video import decode_video
from scoring.runtime.timing import Stopwatch
from scoring.weights.catalog import BUNDLED_FRAME_DETECTOR
from scoring.weights.checkpoints import WeightsError
from tests.helpers import media
from tests.helpers.paths import FFPP, MEDIA, shared

IMAGENET = (torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
ROUNDING = 6e-5  # responses carry scores to 4 decimals


def crops(count=3, size=224, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in range(count)]


def direct_logits(model: nn.Module, images, size=224) -> torch.Tensor:
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    with torch.inference_mode():
        return model.eval()((batch - IMAGENET[0]) / IMAGENET[1])


def effpt(variant="b0", head="dropout_linear", outputs=2, seed=0):
    from efficientnet_pytorch import EfficientNet

    torch.manual_seed(seed)
    model = EfficientNet.from_name(f"efficientnet-{variant}", num_classes=outputs)
    if head == "dropout_linear":
        model._fc = nn.Sequential(nn.Dropout(0.4), nn.Linear(model._fc.in_features, outputs))
    return model


def torchvision_model(variant="b0", head="dropout_linear", outputs=2, seed=0):
    import torchvision

    torch.manual_seed(seed)
    model = getattr(torchvision.models, f"efficientnet_{variant}")(weights=None, num_classes=outputs)
    if head == "dropout_linear":
        model.classifier = nn.Sequential(nn.Dropout(0.4), nn.Linear(model.classifier[1].in_features, outputs))
    elif head == "linear":
        model.classifier = nn.Linear(model.classifier[1].in_features, outputs)
    return model


def randomise_batchnorm(model: nn.Module) -> nn.Module:
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1, generator=generator)
            module.running_var.uniform_(0.5, 1.5, generator=generator)
    return model


FORMATS = {
    # name: (model factory, how the file wraps the state dict, P(real) from the logits)
    "efficientnet_pytorch design-doc head (class 0 = FAKE)": (
        lambda: effpt(head="dropout_linear"),
        lambda sd: sd,
        lambda logits: logits.softmax(1)[:, 1],
    ),
    "efficientnet_pytorch plain _fc": (lambda: effpt(head="linear"), lambda sd: sd, lambda logits: logits.softmax(1)[:, 1]),
    "efficientnet_pytorch one logit (sigmoid = P(fake))": (
        lambda: effpt(head="linear", outputs=1),
        lambda sd: {"state_dict": {f"model.{k}": v for k, v in sd.items()}},
        lambda logits: 1 - torch.sigmoid(logits[:, 0]),
    ),
    "torchvision b0 as DeepfakeDetector best_model-v3 (class 0 = REAL)": (
        lambda: torchvision_model("b0"),
        lambda sd: sd,
        lambda logits: logits.softmax(1)[:, 0],
    ),
    "torchvision b1 in model_state_dict": (
        lambda: torchvision_model("b1"),
        lambda sd: {"model_state_dict": sd, "epoch": 7},
        lambda logits: logits.softmax(1)[:, 0],
    ),
    "torchvision b0 DataParallel under state_dict, bare Linear head": (
        lambda: torchvision_model("b0", head="linear"),
        lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}},
        lambda logits: logits.softmax(1)[:, 0],
    ),
}



def frame_scores(detector: EfficientNetDetector, images: list) -> np.ndarray:
    """P(real) per face as the response reports it (to 4 decimals)."""
    return np.array(detector.predict_frames(images)["frame_scores"])


@pytest.mark.parametrize("name", FORMATS)
def test_checkpoint_formats_load_and_match_a_direct_forward(tmp_path, name):
    make, wrap, real_probability = FORMATS[name]
    model = randomise_batchnorm(make())
    path = tmp_path / "model.pt"
    torch.save(wrap(model.state_dict()), path)
    detector = EfficientNetDetector(path, "cpu")
    images = crops()
    expected = real_probability(direct_logits(model, images)).numpy()
    np.testing.assert_allclose(frame_scores(detector, images), expected, rtol=1e-4, atol=ROUNDING)
    assert detector.spec.sources["profile"].startswith("default for")


def test_variant_is_inferred_from_shapes(tmp_path):
    for variant in ("b0", "b1", "b4"):
        path = tmp_path / f"{variant}.pt"
        torch.save(effpt(variant).state_dict(), path)
        assert load_checkpoint(path)[1].variant == variant


def test_sidecar_and_environment_set_what_outputs_mean(tmp_path):
    model = randomise_batchnorm(torchvision_model("b0"))
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    path.with_name("model.pt.json").write_text(json.dumps({"class_order": ["fake", "real"], "input_size": 192}))
    detector = EfficientNetDetector(path, "cpu")
    assert detector.spec.profile.input_size == 192 and "sidecar" in detector.spec.sources["input_size"]
    images = crops(size=192)
    np.testing.assert_allclose(frame_scores(detector, images), direct_logits(model, images).softmax(1)[:, 1].numpy(), atol=ROUNDING)
    overridden = EfficientNetDetector(path, "cpu", {"class_order": "real,fake", "normalization": "mean=0.5,0.5,0.5;std=0.5,0.5,0.5"})
    assert overridden.spec.sources["class_order"] == "environment" and overridden.spec.profile.mean == (0.5, 0.5, 0.5)
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    with torch.inference_mode():
        expected = model.eval()((batch - 0.5) / 0.5).softmax(1)[:, 0].numpy()
    np.testing.assert_allclose(frame_scores(overridden, images), expected, atol=ROUNDING)


@pytest.mark.parametrize(
    "content, message",
    [
        (lambda: __import__("torchvision").models.resnet18(weights=None).state_dict(), "not a frame detector this service knows"),
        (lambda: effpt(head="linear", outputs=1000).state_dict(), "1000 outputs"),
        (lambda: {**effpt().state_dict(), "_fc.1.weight": torch.zeros(2, 1408)}, "shape mismatches"),
        (lambda: {"epoch": 3, "optimizer": {"lr": torch.tensor(0.1)}}, "no state dict"),
        (lambda: torch.zeros(3), "not a state dict"),
    ],
)
def test_checkpoints_it_cannot_place_are_refused(tmp_path, content, message):
    path = tmp_path / "x.pt"
    torch.save(content(), path)
    with pytest.raises(WeightsError, match=message):
        EfficientNetDetector(path, "cpu")


def test_a_head_with_hidden_layers_is_refused(tmp_path):
    model = effpt(head="linear")
    model._fc = nn.Sequential(nn.Linear(1280, 64), nn.ReLU(), nn.Linear(64, 2))
    path = tmp_path / "x.pt"
    torch.save(model.state_dict(), path)
    with pytest.raises(WeightsError, match="unsupported classifier head"):
        EfficientNetDetector(path, "cpu")


def test_bad_sidecars_are_refused(tmp_path):
    path = tmp_path / "m.pt"
    torch.save(effpt().state_dict(), path)
    path.with_name("m.pt.json").write_text("{not json")
    with pytest.raises(WeightsError, match="not valid JSON"):
        EfficientNetDetector(path, "cpu")
    path.with_name("m.pt.json").write_text(json.dumps({"class_order": ["real", "real"]}))
    with pytest.raises(WeightsError, match="class order"):
        EfficientNetDetector(path, "cpu")


def test_the_sidecar_chooses_how_frames_become_the_video_score(tmp_path):
    path = tmp_path / "probe.pt"
    path.write_bytes(BUNDLED_FRAME_DETECTOR.path.read_bytes())
    faces = [np.asarray(Image.open(p).convert("RGB").resize((224, 224))) for p in sorted(shared(FFPP / "crops" / "tranthuhoai3786" / "test").rglob("*.jpg"))[::40][:8]]
    path.with_name("probe.pt.json").write_text(json.dumps({"aggregation": "worst_quarter"}))
    report = EfficientNetDetector(path, "cpu").predict_frames(faces)
    lowest = sorted(report["frame_scores"])[:2]
    assert report["score"] == pytest.approx(np.mean(lowest), abs=ROUNDING) and report["score"] < np.mean(report["frame_scores"]) - 0.01
    path.with_name("probe.pt.json").write_text(json.dumps({"aggregation": "median"}))
    with pytest.raises(WeightsError, match="aggregation from the sidecar probe.pt.json: must be one of mean, mean_logit, confident, worst_quarter"):
        EfficientNetDetector(path, "cpu")


def test_aggregate_fields():
    result = aggregate(np.array([0.9, 0.7, 0.8, 0.6]))
    assert result["score"] == pytest.approx(0.75) and result["is_real"] is True
    assert result["confidence"] == pytest.approx(0.75)
    std = np.std([0.9, 0.7, 0.8, 0.6])
    assert result["consistency"] == pytest.approx(1 - 2 * std, abs=1e-4)
    assert result["statistics"] == {"mean": 0.75, "std": round(std, 4), "min": 0.6, "max": 0.9}
    assert aggregate(np.array([0.0, 1.0]))["consistency"] == 0.0
    fake = aggregate(np.array([0.1, 0.2]))
    assert fake["is_real"] is False and fake["confidence"] == pytest.approx(0.85)


def test_predict_image_and_frames(tmp_path):
    path = tmp_path / "m.pt"
    torch.save(effpt().state_dict(), path)
    detector = EfficientNetDetector(path, "cpu")
    crop = crops(1)[0]
    single = detector.predict_image(crop)
    assert set(single) == {"is_real", "score", "confidence", "probabilities"}
    assert single["probabilities"] == {"real": single["score"], "fake": pytest.approx(1 - single["score"], abs=1e-4)}
    frames = detector.predict_frames(crops(4))
    assert frames["num_frames"] == 4 and len(frames["frame_scores"]) == 4
    # The design document's inputs: PIL images and RGB arrays of any size, resized to the input.
    assert detector.predict_image(Image.fromarray(crop))["score"] == single["score"]
    larger = cv2.resize(crop, (3 * crop.shape[1], 2 * crop.shape[0]), interpolation=cv2.INTER_NEAREST)
    assert detector.predict_frames([Image.fromarray(larger), larger])["num_frames"] == 2
    with pytest.raises(ValueError):
        detector.predict_frames([np.zeros((100, 100), np.uint8)])


def test_faces_come_from_the_track_without_another_detection(tmp_path):
    decoded = decode_video(media.write_video(tmp_path / "a.mp4", media.talking_face(np.zeros(60))))
    track = interpolate([(5, np.array([250.0, 60, 350, 180, 0.99])), (55, np.array([260.0, 70, 360, 190, 0.99]))], (0, 60))
    tracking = TrackingResult(tracks=[track], scenes=[(0, 60)], detections={}, detector="scripted")
    faces = sample_faces(tracking, num_frames=10)
    # 51 frames: a lattice of every 4th (13), its every other (7) and three between, halving the gaps
    assert faces.source == "track" and list(faces.frame_indices) == [5 + offset for offset in (0, 4, 8, 16, 20, 24, 32, 36, 40, 48)]
    np.testing.assert_allclose(faces.boxes[0][:4], track.boxes[faces.frame_indices[0] - 5][:4])
    path = tmp_path / "m.pt"
    torch.save(effpt().state_dict(), path)
    report = EfficientNetDetector(path, "cpu", num_frames=10).measure(decoded, tracking, None, Stopwatch()).report
    assert report["frame_indices"] == [int(i) for i in faces.frame_indices] and report["face_source"] == "track"


def test_faces_fall_back_to_detections_and_refuse_without_faces():
    detections = {0: np.array([[250.0, 60, 350, 180, 0.99], [10, 10, 30, 30, 0.95]]), 12: np.zeros((0, 5))}
    faces = sample_faces(TrackingResult([], [(0, 30)], detections, "scripted"), 20)
    assert faces.source == "detections" and list(faces.frame_indices) == [0]
    np.testing.assert_array_equal(faces.boxes[0], detections[0][0])
    with pytest.raises(CannotScore) as raised:
        sample_faces(TrackingResult([], [(0, 30)], {0: np.zeros((0, 5))}, "scripted"), 20)
    assert raised.value.code == "no_face"


def test_the_bundled_model_in_bfloat16_scores_shared_faces_as_in_float32(tracker):
    """Reduced precision is the default where the CPU runs it natively, so it must not move a verdict:
    on real faces the bundled model's video score stays within 0.01 of float32 (measured: 0.004 at most)."""
    clip = shared(MEDIA / "wav2lip_pair" / "REAL_video_8s.mp4")
    decoded = decode_video(clip)
    tracking = tracker.track(decoded.frames)
    scores = [
        EfficientNetDetector(BUNDLED_FRAME_DETECTOR.path, "cpu", precision=precision).measure(decoded, tracking, None, Stopwatch()).report
        for precision in (torch.float32, torch.bfloat16)
    ]
    assert scores[1]["score"] == pytest.approx(scores[0]["score"], abs=0.01)
    np.testing.assert_allclose(scores[1]["frame_scores"], scores[0]["frame_scores"], atol=0.02)
