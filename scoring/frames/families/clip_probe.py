"""The CLIP probe, the project's own family and the offline default: a linear probe on frozen CLIP ViT-B/16
image features; normalised faces in, logits over (real, fake) out.

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

from scoring.frames.clip.encoder import CLIP_MEAN, CLIP_STD, EMBEDDING_SIZE, INPUT_SIZE, encoder_file
from scoring.frames.clip.tower import FloatTowerEncoder
from scoring.frames.profiles import DEFAULT_FRAMES, DEFAULT_MARGIN, Profile
from scoring.frames.register import Family, Match, register
from scoring.weights.catalog import BUNDLED_FRAME_DETECTOR, CLIP_VIT_B16_INT8

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


def clip_profile(margin: float, frames: int) -> Profile:
    """The CLIP probe's faces: the project's square crop at CLIP's input size, with CLIP's normalisation."""
    return Profile("clip-224", "square", "area_or_linear", INPUT_SIZE, (CLIP_MEAN, CLIP_STD), ("real", "fake"), "mean", frames, margin)


def _build(spec, state, *, allow_unverified: bool, device: torch.device | None) -> ClipProbe:
    """The probe around the packaged encoder, checked (sha256) and opened here on `device` (it is not
    a submodule, so moving the probe does not move it)."""
    return ClipProbe(FloatTowerEncoder(encoder_file(spec.encoder, allow_unverified), device))


def clip_family(name: str, title: str, signature: tuple[str, ...], describe, build, excludes: tuple[str, ...] = ()) -> Family:
    """A family read through the packaged CLIP tower: CLIP's crop and normalisation, the bundled
    head's licence, heat maps from the tower's last block, the encoder checked by its sha256."""
    profile = clip_profile(DEFAULT_MARGIN, DEFAULT_FRAMES)
    return Family(name, title, signature, describe, build, profile, BUNDLED_FRAME_DETECTOR.licence, heat_map="transformer", excludes=excludes, encoder=CLIP_VIT_B16_INT8)


register(
    clip_family(
        "clip",
        "CLIP probe",
        ("clip_head.weight",),
        lambda state: Match("CLIP ViT-B/16 image tower (dequantised to float32) + linear probe", "vit-b16", 2),
        _build,
        excludes=("tuned_norms.final.weight",),  # the LayerNorm-tuned probe (clip_norms)
    )
)
