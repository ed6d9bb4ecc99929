"""Effort (Yan et al., ICML 2025): CLIP ViT-L/14's vision tower, its attention projections stored as SVD parts
(folded back into plain weights at load), and Linear(1024, 2) on the pooled CLS token. CC BY-NC 4.0
(non-commercial); recognised by layout: `backbone.embeddings.*`, `backbone.encoder.layers.*` (transformers'
names), `head.*`.
"""

from __future__ import annotations

import torch
from torch import nn

from scoring.frames.clip.encoder import CLIP_MEAN, CLIP_STD, INPUT_SIZE
from scoring.frames.clip.tower import tower_shapes, vision_config, without_initialising
from scoring.frames.profiles import Profile
from scoring.frames.register import Family, Match, register

# Effort trains on DeepfakeBench's aligned crops, bicubic to CLIP's 224 px and CLIP's normalisation.
PROFILE = Profile("effort-224", "square", "stretch_cubic", INPUT_SIZE, (CLIP_MEAN, CLIP_STD), ("real", "fake"), "mean", 32, margin=0.15, face_box="dlib landmarks")


class EffortNet(nn.Module):
    """Effort (Yan et al., ICML 2025): CLIP's vision tower (transformers' CLIPVisionTransformer, built
    from a config read off the file's shapes, so nothing is downloaded) and Linear(hidden, 2) on its
    pooled output (the CLS token after the last LayerNorm). Its file stores each attention projection
    as a frozen rank-r part plus a trained residual; `fold_effort` makes them plain weights first."""

    def __init__(self, hidden: int, layers: int, intermediate: int, patch: int, image: int, initialise: bool = True):
        """`initialise=False` leaves the tower's weights undrawn, for a caller that loads them all next."""
        super().__init__()
        config = vision_config(hidden, layers, intermediate, patch, image)
        from transformers import CLIPVisionModel

        self.backbone = (CLIPVisionModel(config) if initialise else without_initialising(CLIPVisionModel, config)).vision_model
        self.head = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(pixel_values=x).pooler_output)

    def transformer_blocks(self) -> nn.ModuleList:
        return self.backbone.encoder.layers

    @classmethod
    def for_state(cls, state: dict[str, torch.Tensor]) -> EffortNet:
        """The network whose shapes `state` has (ViT-L/14 at 224 px for the published file), to load it into."""
        return cls(**tower_shapes(state, "backbone."), initialise=False)


SVD_PARTS = ("weight_main", "U_residual", "S_residual", "V_residual")


def fold_effort(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Effort's SVD projections as plain Linear weights: weight_main + U_residual diag(S_residual) V_residual,
    the product their forward computes on every call, summed once in float64. The frozen factors
    some versions also save (`U_r`, `S_r`, `V_r`) and the old `position_ids` buffer are not weights."""
    folded = {}
    for key, value in state.items():
        layer, _, name = key.rpartition(".")
        if name in ("U_r", "S_r", "V_r", "U_residual", "S_residual", "V_residual") or key.endswith("position_ids"):
            continue
        if name == "weight_main":
            residual = (
                state[f"{layer}.U_residual"].double() @ torch.diag(state[f"{layer}.S_residual"].double()) @ state[f"{layer}.V_residual"].double()
            )
            folded[f"{layer}.weight"] = (value.double() + residual).float()
            continue
        folded[key] = value
    return folded


register(
    Family(
        "effort",
        "Effort (CLIP ViT-L/14)",
        ("backbone.encoder.layers.0.self_attn.q_proj.weight_main", "head.weight"),
        lambda state: Match("Effort (CLIP ViT-L/14, SVD-split attention folded)", "vit-l14", 2),
        lambda spec, state, **_: EffortNet.for_state(state),
        PROFILE,
        "CC BY-NC 4.0 (YZY-stack/Effort-AIGI-Detection)",
        heat_map="transformer",
        profile_name="effort",
        prepare_state=fold_effort,
    )
)
