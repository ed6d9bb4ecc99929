"""The CLIP probe as a frame network: normalised faces in, logits over (real, fake) out.

Each face's CLIP embedding is L2-normalised, standardised with the training set's statistics (kept
in the module, so serving cannot drift from training) and read by one linear layer. The encoder is
not part of the module's state (nor a submodule, so serving never casts it to another precision):
the file holds only the head and the statistics
(`clip_head.weight`, `clip_head.bias`, `feature_mean`, `feature_std`), the encoder is the packaged
file `scoring.frames.clip.encoder` checks, run as `scoring.frames.clip.tower`'s float32 tower.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from scoring.frames.clip.encoder import EMBEDDING_SIZE
from scoring.frames.clip.tower import FloatTowerEncoder

CLASSES = 2  # (real, fake), as training.data.CLASS_ORDER


class ClipProbe(nn.Module):
    def __init__(self, encoder: FloatTowerEncoder | None):
        super().__init__()
        self.encoder = encoder
        self.register_buffer("feature_mean", torch.zeros(EMBEDDING_SIZE))
        self.register_buffer("feature_std", torch.ones(EMBEDDING_SIZE))
        self.clip_head = nn.Linear(EMBEDDING_SIZE, CLASSES)

    def embed(self, faces: torch.Tensor) -> torch.Tensor:
        """(N, 512) L2-normalised embeddings of (N, 3, 224, 224) CLIP-normalised faces."""
        return F.normalize(self.encoder(faces), dim=1)

    def transformer_blocks(self) -> nn.ModuleList:
        """The encoder's blocks, for heat maps (the encoder is not a submodule)."""
        return self.encoder.transformer_blocks()

    def classify(self, embeddings: torch.Tensor) -> torch.Tensor:
        standardised = (embeddings - self.feature_mean) / self.feature_std
        return self.clip_head(standardised.to(self.clip_head.weight.dtype))

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(faces))
