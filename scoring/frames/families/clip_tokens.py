"""The CLIP token probe: a linear probe on what every block of the float32 CLIP ViT-B/16 tower sees, not
only on its last embedding.

A last-layer probe reads one vector per face: the class token after the twelfth block, projected.
Forgery traces are low-level and local (a blended edge, a re-rendered mouth), and the field's
transfer results say they survive better in the middle of a frozen encoder than at its end (RINE,
Koutlis and Papadopoulos, ECCV 2024: a probe of intermediate CLIP layers beat the last layer on
unseen generators). So each face is summarised, after each of the 12 blocks, three ways:

- `cls`: the class token;
- `patches`: the mean of the 196 patch tokens (the whole face, edges included);
- `mouth`: the mean of the patch tokens over the mouth (MOUTH_CELLS, where the project's square crop
  puts the mouth of a frontal face: lip-sync fakes generate only that region).

each through CLIP's final LayerNorm, so every block's tokens have one scale. A file chooses which
(summary, block) pairs it reads (`token_layout`, K rows of summary index and block index); their
K x 768 values are standardised with the training set's statistics and read by one linear layer
(`tokens_head`). All come from the one forward pass the last-layer probe already runs, so the cost
is that pass. The encoder is the packaged file `scoring.frames.clip.encoder` checks; it is not part
of the file nor a submodule (serving never casts it).
"""

from __future__ import annotations

import torch
from torch import nn

from scoring.frames.clip.encoder import encoder_file
from scoring.frames.clip.tower import FloatTowerEncoder
from scoring.frames.families.clip_probe import CLASSES, clip_family
from scoring.frames.register import Match, register
from scoring.weights.checkpoints import WeightsError

SUMMARIES = ("cls", "patches", "mouth")
BLOCKS = 12
WIDTH = 768
GRID = 14  # ViT-B/16 at 224 px: 14 x 14 patches
# The mouth in the project's square crop (margin 0.15: the face box spans its central 77 %): the
# box's lower middle (x 0.28-0.72, y 0.68-0.94 of the box) is x 0.33-0.67, y 0.64-0.84 of the crop.
MOUTH_BOX = (0.33, 0.64, 0.67, 0.84)  # x1, y1, x2, y2 as fractions of the crop


def grid_cells(box: tuple[float, float, float, float]) -> list[int]:
    """The patch indices (row-major on the GRID x GRID grid) whose centres lie inside `box`."""
    x1, y1, x2, y2 = box
    centres = [(index + 0.5) / GRID for index in range(GRID)]
    return [row * GRID + column for row, y in enumerate(centres) for column, x in enumerate(centres) if y1 <= y <= y2 and x1 <= x <= x2]


MOUTH_CELLS = grid_cells(MOUTH_BOX)


class TowerSummaries:
    """Each face's (3, BLOCKS, WIDTH) summaries, computed by the float tower (with autograd's state, for heat maps)."""

    def __init__(self, tower: FloatTowerEncoder):
        self.tower = tower

    def __call__(self, faces: torch.Tensor) -> torch.Tensor:
        mouth = torch.tensor(MOUTH_CELLS, device=faces.device) + 1  # the class token is token 0
        per_block = []
        for hidden in self.tower.hidden_states(faces)[1:]:
            pooled = (hidden[:, 0], hidden[:, 1:].mean(dim=1), hidden[:, mouth].mean(dim=1))
            per_block.append(torch.stack([self.tower.final_norm(tokens) for tokens in pooled], dim=1))
        return torch.stack(per_block, dim=2)

    def transformer_blocks(self) -> nn.ModuleList:
        return self.tower.transformer_blocks()


class TokenProbe(nn.Module):
    def __init__(self, summaries, layout: torch.Tensor):
        """`summaries(faces)` -> (N, 3, BLOCKS, WIDTH); `layout`: (K, 2) summary and block indices read."""
        super().__init__()
        self.summaries = summaries
        self.register_buffer("token_layout", layout.long().clone())
        features = len(layout) * WIDTH
        self.register_buffer("feature_mean", torch.zeros(features))
        self.register_buffer("feature_std", torch.ones(features))
        self.tokens_head = nn.Linear(features, CLASSES)

    @classmethod
    def for_state(cls, state, summaries) -> TokenProbe:
        return cls(summaries, state["token_layout"])

    def features(self, summaries: torch.Tensor) -> torch.Tensor:
        """(N, K x WIDTH): the layout's summaries of each face, side by side."""
        layout = self.token_layout
        return summaries[:, layout[:, 0], layout[:, 1]].flatten(1)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.tokens_head((features - self.feature_mean) / self.feature_std)

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(self.summaries(faces)))

    def transformer_blocks(self) -> nn.ModuleList:
        """The encoder's blocks, for heat maps (the encoder is not a submodule)."""
        return self.summaries.transformer_blocks()

def layout_name(layout: torch.Tensor) -> str:
    """e.g. "cls@1-12+mouth@7-12": which summaries of which blocks (1-based) a layout reads."""
    by_summary: dict[str, list[int]] = {}
    for summary, block in layout.tolist():
        by_summary.setdefault(SUMMARIES[summary], []).append(block + 1)
    return "+".join(f"{name}@{_ranges(blocks)}" for name, blocks in by_summary.items())


def _ranges(blocks: list[int]) -> str:
    runs, start = [], blocks[0]
    for previous, current in zip(blocks, [*blocks[1:], None], strict=True):
        if current != previous + 1:
            runs.append(f"{start}" if start == previous else f"{start}-{previous}")
            start = current
    return ",".join(runs)


def _describe(state) -> Match:
    layout = state["token_layout"]
    if layout.dim() != 2 or layout.shape[1] != 2 or len(layout) == 0 or layout.min() < 0 or not layout[:, 0].lt(len(SUMMARIES)).all() or not layout[:, 1].lt(BLOCKS).all():
        raise WeightsError(f"token_layout must be K x 2 (summary < {len(SUMMARIES)}, block < {BLOCKS}), not {tuple(layout.shape)}")
    return Match(f"CLIP ViT-B/16 float32 tower, token probe ({layout_name(layout)})", "vit-b16", CLASSES)


def _build(spec, state, *, allow_unverified: bool, device: torch.device | None) -> TokenProbe:
    """The probe around the packaged encoder, checked (sha256) and opened here on `device`."""
    return TokenProbe.for_state(state, TowerSummaries(FloatTowerEncoder(encoder_file(spec.encoder, allow_unverified), device)))


register(
    clip_family(
        "clip-tokens",
        "CLIP token probe",
        ("tokens_head.weight", "token_layout"),
        _describe,
        _build,
    )
)
