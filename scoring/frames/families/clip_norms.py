"""The CLIP probe, lightly fine-tuned: the last-layer probe on a float32 tower whose last blocks'
LayerNorms were re-fitted with it (LayerNorm-only tuning, the lightest of the field's ways to adapt
a frozen encoder to forgeries; Effort and LoRA change more).

The file is the probe's (`clip_head.*`, `feature_mean`, `feature_std`) plus the re-fitted norms,
`tuned_norms.block<k>_layer_norm<1|2>.{weight,bias}` for the tuned blocks (1-based) and
`tuned_norms.final.{weight,bias}` for CLIP's final LayerNorm. Everything else is the packaged
encoder (`scoring.frames.clip.encoder`), checked by its sha256. The tuned norms are the tower's own
modules, registered here as well, so loading the file sets them in the tower and the forward pass
is the probe's.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from scoring.frames.clip.encoder import encoder_file
from scoring.frames.clip.tower import FloatTowerEncoder
from scoring.frames.families.clip_probe import ClipProbe, clip_family
from scoring.frames.register import Match, register
from scoring.weights.checkpoints import WeightsError

PREFIX = "tuned_norms."
FINAL = "final"
NORM_KEY = re.compile(r"block(\d+)_layer_norm([12])$")


def tuned_norm_names(blocks: list[int]) -> list[str]:
    """The file's names of the norms a tuning of `blocks` (1-based) re-fits, the final norm last."""
    return [f"block{block}_layer_norm{which}" for block in blocks for which in (1, 2)] + [FINAL]


def tuned_blocks(state) -> list[int]:
    """The 1-based blocks whose norms the file holds."""
    names = {key[len(PREFIX) :].rsplit(".", 1)[0] for key in state if key.startswith(PREFIX)}
    matches = {name: NORM_KEY.match(name) for name in names - {FINAL}}
    if FINAL not in names or not all(matches.values()):
        raise WeightsError(f"tuned norms must be block<k>_layer_norm<1|2> and {FINAL}, got {sorted(names)}")
    blocks = sorted({int(match.group(1)) for match in matches.values()})
    if names != set(tuned_norm_names(blocks)):
        raise WeightsError(f"tuned norms of blocks {blocks} must hold both norms of each block, got {sorted(names)}")
    return blocks


class NormTunedProbe(ClipProbe):
    def __init__(self, encoder: FloatTowerEncoder, blocks: list[int]):
        """`blocks`: the 1-based blocks whose LayerNorms are tuned (with the final one)."""
        super().__init__(encoder)
        layers = encoder.transformer_blocks()
        if not blocks or min(blocks) < 1 or max(blocks) > len(layers):
            raise WeightsError(f"tuned blocks must lie in 1-{len(layers)}, got {blocks}")
        norms = {f"block{block}_layer_norm{which}": getattr(layers[block - 1], f"layer_norm{which}") for block in blocks for which in (1, 2)}
        self.tuned_norms = nn.ModuleDict({**norms, FINAL: encoder.tower.vision_model.post_layernorm})
        self.first_tuned_block = min(blocks) - 1  # 0-based: where training's cached tokens enter

    def embed_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """L2-normalised embeddings of the tokens entering the first tuned block (training's path)."""
        return nn.functional.normalize(self.encoder.embed_from(tokens, self.first_tuned_block), dim=1)


def _describe(state) -> Match:
    blocks = tuned_blocks(state)
    named = f"block {blocks[0]}" if len(blocks) == 1 else f"blocks {blocks[0]}-{blocks[-1]}"
    return Match(f"CLIP ViT-B/16 float32 tower, LayerNorms of {named} fine-tuned + linear probe", "vit-b16", 2)


def _build(spec, state, *, allow_unverified: bool, device: torch.device | None) -> NormTunedProbe:
    """The probe around the packaged encoder (checked, opened here on `device`), its tuned norms to be loaded from the file."""
    return NormTunedProbe(FloatTowerEncoder(encoder_file(spec.encoder, allow_unverified), device), tuned_blocks(state))


register(
    clip_family(
        "clip-norms",
        "CLIP probe, LayerNorm-tuned",
        ("clip_head.weight", f"{PREFIX}{FINAL}.weight"),
        _describe,
        _build,
    )
)
