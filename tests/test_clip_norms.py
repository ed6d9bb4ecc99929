"""The LayerNorm-tuned CLIP probe: its training path is the tower's own forward pass, its files are
recognised and refused as the others, the file's norms are the ones that run, a face scores the
same alone and in a batch, and training is deterministic under a seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from scoring.frames.clip.encoder import encoder_file
from scoring.frames.clip.tower import FloatTowerEncoder
from scoring.frames.detector import FrameDetector
from scoring.frames.families.clip_norms import tuned_norm_names
from scoring.frames.families.clip_probe import ClipProbe
from scoring.frames.layouts import load_checkpoint
from scoring.weights.checkpoints import WeightsError
from tests.helpers import clip_reference
from tests.helpers.paths import FFPP, shared
from training import train_clip_norms

CROPS = ("crops", "tranthuhoai3786", "test")


@pytest.fixture(scope="module")
def tower() -> FloatTowerEncoder:
    return FloatTowerEncoder(encoder_file())


def real_faces(count: int) -> torch.Tensor:
    return torch.from_numpy(clip_reference.clip_inputs(clip_reference.spread_crops(shared(FFPP).joinpath(*CROPS), count)))


def packaged_norms(tower: FloatTowerEncoder, blocks: list[int]) -> dict[str, torch.Tensor]:
    """The packaged tower's own norms of `blocks`, under the file's names."""
    layers, final = tower.transformer_blocks(), tower.tower.vision_model.post_layernorm
    modules = [getattr(layers[block - 1], f"layer_norm{which}") for block in blocks for which in (1, 2)] + [final]
    named = zip(tuned_norm_names(blocks), modules, strict=True)
    return {f"tuned_norms.{name}.{part}": getattr(module, part).detach().clone() for name, module in named for part in ("weight", "bias")}


def probe_state(seed: int = 0) -> dict[str, torch.Tensor]:
    probe = ClipProbe(None)
    torch.manual_seed(seed)
    probe.clip_head.reset_parameters()
    return probe.state_dict()


def test_the_training_path_is_the_towers_forward_pass(tower):
    faces = real_faces(2)
    with torch.inference_mode():
        torch.testing.assert_close(tower.embed_from(tower.tokens_entering(faces, 10), 10), tower(faces), rtol=0, atol=0)


def test_a_norms_file_runs_its_own_norms(tmp_path, tower):
    torch.save({**probe_state(), **packaged_norms(tower, [12])}, tmp_path / "same.pt")
    torch.save(probe_state(), tmp_path / "probe.pt")
    shifted = packaged_norms(tower, [12])
    shifted["tuned_norms.final.bias"] += 0.5
    torch.save({**probe_state(), **shifted}, tmp_path / "shifted.pt")
    faces = real_faces(2)
    with torch.inference_mode():
        same, spec = load_checkpoint(tmp_path / "same.pt")
        probe, _ = load_checkpoint(tmp_path / "probe.pt")
        moved, _ = load_checkpoint(tmp_path / "shifted.pt")
        assert (spec.family, spec.heat_map) == ("clip-norms", "transformer") and "block 12 fine-tuned" in spec.architecture
        torch.testing.assert_close(same(faces), probe(faces), rtol=0, atol=0)
        assert (moved(faces) - probe(faces)).abs().max() > 1e-3
        torch.testing.assert_close(moved.encoder.tower.vision_model.post_layernorm.bias, shifted["tuned_norms.final.bias"])


@pytest.mark.parametrize(
    ("drop", "add", "reason"),
    [
        ("tuned_norms.block12_layer_norm2.", None, "must hold both norms of each block"),
        ("tuned_norms.block12_layer_norm2.bias", None, "missing keys"),
        (None, "tuned_norms.block13_layer_norm1.weight", "must hold both norms"),
        (None, "tuned_norms.head.weight", "must be block<k>_layer_norm"),
    ],
)
def test_a_malformed_norms_file_is_refused(tmp_path, tower, drop, add, reason):
    state = {**probe_state(), **packaged_norms(tower, [12])}
    state = {key: value for key, value in state.items() if not (drop and key.startswith(drop))}
    if add:
        state[add] = torch.ones(768)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match=reason):
        load_checkpoint(tmp_path / "bad.pt")


def test_a_face_scores_the_same_alone_and_in_a_batch(tmp_path, tower):
    shifted = packaged_norms(tower, [11, 12])
    shifted["tuned_norms.block11_layer_norm1.weight"] *= 1.1
    torch.save({**probe_state(), **shifted}, tmp_path / "norms.pt")
    detector = FrameDetector(tmp_path / "norms.pt", "cpu")
    images = [np.asarray(Image.open(path).convert("RGB")) for path in clip_reference.spread_crops(shared(FFPP).joinpath(*CROPS), 4)]
    box = (0.0, 0.0, float(images[0].shape[1]), float(images[0].shape[0]))
    alone = [detector.judge_image(image, box)["score"] for image in images]
    together = detector.judge([np.stack([detector.models[0].profile.face_input(image, box) for image in images])])["frame_scores"]
    assert together == alone
    assert detector.title == "The frame classifier (CLIP probe, LayerNorm-tuned)"


def test_tuning_is_the_same_twice_under_a_seed_and_moves_the_norms(tmp_path, tiny_labels, tower):
    files = []
    for run in ("one", "two"):
        args = ["--labels", str(tiny_labels), "--out", str(tmp_path / run), "--sbi", "0.5", "--seed", "3", "--val-groups", "val", "--val-frames", "4"]
        assert train_clip_norms.main(args + ["--no-cache", "--steps", "30", "--epochs", "2", "--lr", "1e-2"]) == 0
        files.append(torch.load(tmp_path / run / "identity.pt", weights_only=True))
    assert files[0].keys() == {*probe_state(), *packaged_norms(tower, [12])}
    for key in files[0]:
        torch.testing.assert_close(files[0][key], files[1][key], rtol=0, atol=0)
    start = packaged_norms(tower, [12])
    assert all(not torch.equal(files[0][key], start[key]) for key in start)
