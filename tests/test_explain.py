"""Heat maps (`scoring.frames.explain`): they must point at the place a synthetic edit was pasted into a real face.

The detector here is built by hand so that what it reacts to is known: P(fake) rises with the
high-frequency energy a Laplacian finds, which a pasted noise patch has and a smooth photo lacks.
"""

from __future__ import annotations

import base64
import io

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from scoring.frames.detector import EXPLAINED_FRAMES
from scoring.frames.explain import attention_map, grad_cam, last_spatial_convolution, occlusion, overlay_png
from tests.helpers import media
from tests.helpers.media import PHOTO

SIZE = 128
EDIT = (slice(72, 104), slice(20, 52))  # rows, columns of the pasted patch: lower left, on the cheek


class TextureDetector(nn.Module):
    """Logits (real, fake): fake grows with the mean absolute Laplacian of the grey image."""

    def __init__(self):
        super().__init__()
        self.grey = nn.Conv2d(3, 1, 1, bias=False)
        self.laplacian = nn.Conv2d(1, 4, 3, padding=1, padding_mode="replicate", bias=False)
        with torch.no_grad():
            self.grey.weight.fill_(1 / 3)
            kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
            self.laplacian.weight.copy_(torch.stack([kernel, -kernel, kernel, -kernel])[:, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        energy = torch.relu(self.laplacian(self.grey(x))).mean(dim=(1, 2, 3))
        fake = 400 * (energy - 0.015)
        return torch.stack([-fake, fake], dim=1)


def edited_face() -> np.ndarray:
    """The public-domain portrait's face, smoothed, with a patch of noise pasted into one cheek."""
    image = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)
    face = cv2.GaussianBlur(cv2.resize(image[40:200, 160:300], (SIZE, SIZE), interpolation=cv2.INTER_AREA), (5, 5), 0)
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    face[EDIT] = (0.5 * face[EDIT] + 0.5 * noise).astype(np.uint8)
    return face


def normalised(faces: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 255


def p_real(network: nn.Module, faces: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return network(normalised(faces)).softmax(dim=1)[:, 0].numpy()


def inside_and_outside(heat: np.ndarray) -> tuple[float, float]:
    mask = np.zeros(heat.shape, bool)
    mask[EDIT] = True
    return float(heat[mask].mean()), float(heat[~mask].mean())


def test_the_detector_sees_the_edit():
    face = edited_face()
    clean = face.copy()
    clean[EDIT] = cv2.GaussianBlur(face, (9, 9), 0)[EDIT]
    network = TextureDetector().eval()
    assert p_real(network, face[None])[0] < 0.2 < 0.8 < p_real(network, clean[None])[0]


def test_grad_cam_points_at_the_pasted_region():
    network = TextureDetector().eval()
    inputs = normalised(edited_face()[None])
    layer = last_spatial_convolution(network, inputs)
    assert layer is network.laplacian
    (heat,) = grad_cam(network, layer, inputs, lambda outputs: outputs[:, 1] - outputs[:, 0])
    inside, outside = inside_and_outside(heat)
    assert heat.shape == (SIZE, SIZE) and heat.max() == pytest.approx(1.0)
    assert inside > 3 * outside
    row, column = np.unravel_index(np.argmax(heat), heat.shape)
    assert EDIT[0].start - 2 <= row < EDIT[0].stop + 2 and EDIT[1].start - 2 <= column < EDIT[1].stop + 2


def test_occlusion_points_at_the_pasted_region_without_gradients():
    network = TextureDetector().eval()
    face = edited_face()
    heat, rise = occlusion(lambda faces: p_real(network, faces), face)
    inside, outside = inside_and_outside(heat)
    assert heat.shape == (SIZE, SIZE) and inside > 2 * outside
    assert rise > 0.2 and rise == pytest.approx(float(p_real(network, hidden(face))[0] - p_real(network, face[None])[0]), abs=0.1)


def hidden(face: np.ndarray) -> np.ndarray:
    """The face with the edited patch covered by the crop's mean colour."""
    covered = face.copy()
    covered[EDIT] = face.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    return covered[None]


def test_a_network_without_spatial_convolutions_has_no_grad_cam_layer():
    flat = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    assert last_spatial_convolution(flat, torch.zeros(1, 3, 8, 8)) is None


def test_the_overlay_colours_only_where_the_map_is_hot():
    face = edited_face()
    heat = np.zeros((SIZE, SIZE), np.float32)
    heat[EDIT] = 1.0
    png = base64.b64decode(overlay_png(face, heat))
    decoded = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and decoded.shape == (SIZE, SIZE, 3)
    cold = heat == 0
    np.testing.assert_array_equal(decoded[cold], face[cold])
    assert np.abs(decoded[EDIT].astype(int) - face[EDIT]).mean() > 30


# --- through the service ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def talking_clip(tmp_path_factory):
    return media.synced_talking_clip(tmp_path_factory.mktemp("explain") / "talking.mp4", seconds=3)


def decoded_png(entry: dict) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(base64.b64decode(entry["png"]), np.uint8), cv2.IMREAD_COLOR)


def test_explain_returns_grad_cam_maps_of_the_lowest_scored_frames(client, talking_clip):
    with talking_clip.open("rb") as video:
        body = client.post("/score", data={"video": (video, "clip.mp4"), "explain": "1"}, content_type="multipart/form-data").get_json()
    frames = body["efficientnet"]
    explanations = frames["explanations"]
    assert len(explanations) == EXPLAINED_FRAMES and "explain" in body["timings_ms"]
    lowest = sorted(frames["frame_scores"])[:EXPLAINED_FRAMES]
    assert [e["frame_score"] for e in explanations] == lowest
    assert all(e["frame_index"] in frames["frame_indices"] for e in explanations)
    assert {e["method"] for e in explanations} == {"grad-cam"} and {e["model"] for e in explanations} == {"effb0_test.pt"}
    assert all(decoded_png(e).shape == (96, 96, 3) for e in explanations)  # the generated classifier's input size


def test_without_explain_there_are_no_maps(client, talking_clip):
    with talking_clip.open("rb") as video:
        body = client.post("/score", data={"video": (video, "clip.mp4")}, content_type="multipart/form-data").get_json()
    assert "explanations" not in body["efficientnet"] and "explain" not in body["timings_ms"]


def test_a_photo_can_be_explained_too(client):
    _, png = cv2.imencode(".png", cv2.imread(str(PHOTO)))
    data = {"image": (io.BytesIO(png.tobytes()), "portrait.png"), "explain": "true"}
    body = client.post("/score/image", data=data, content_type="multipart/form-data").get_json()
    (entry,) = body["efficientnet"]["explanations"]
    assert entry["method"] == "grad-cam" and decoded_png(entry).shape == (96, 96, 3)


def test_polimis_attention_variant_shows_its_own_attention_map(tmp_path):
    from efficientnet_detector import EfficientNetDetector
    from scoring.frames.families.polimi import ATTENTION_BLOCK, PolimiNet

    torch.manual_seed(0)
    network = PolimiNet(attention=True).eval()
    path = tmp_path / "EfficientNetAutoAttB4_test.pth"
    torch.save({"net": network.state_dict()}, path)
    detector = EfficientNetDetector(path, "cpu")
    model = detector.models[0]
    crop = cv2.resize(edited_face(), (224, 224))
    (entry,) = detector.explain_image(crop, (0.0, 0.0, 224.0, 224.0), {"frame_scores": [0.5]})
    assert entry["method"] == "attention" and entry["model"] == path.name

    block_output = {}
    model.network.efficientnet._blocks[ATTENTION_BLOCK].register_forward_hook(lambda _, __, out: block_output.__setitem__("x", out))
    inputs = detector.normalise(model.profile.face_inputs([crop], [(0.0, 0.0, 224.0, 224.0)]), model)
    heat, ((low, high),) = attention_map(model.network, model.network.efficientnet.attconv, inputs)
    with torch.inference_mode():
        weights = torch.sigmoid(model.network.efficientnet.attconv(block_output["x"]))
    assert (low, high) == pytest.approx((float(weights.min()), float(weights.max())), abs=1e-6) and high > low
    expected = torch.nn.functional.interpolate(weights, size=(224, 224), mode="bilinear", align_corners=False)[0, 0].numpy()
    np.testing.assert_allclose(heat[0], (expected - expected.min()) / (expected.max() - expected.min()), atol=1e-5)
    assert entry["attention_range"] == [round(low, 4), round(high, 4)]
