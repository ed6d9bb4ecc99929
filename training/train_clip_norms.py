"""Light fine-tuning of the CLIP probe: the last blocks' LayerNorms re-fitted with the head, on one split
(scoring.frames.families.clip_norms).

    python -m training.train_clip_norms --val-groups G1,G2,... [--hold-out-method M] [--sbi 0.5] [--blocks 12] [--epochs 2] --out DIR

The data, splits and self-blended fakes are the CLIP probe's (`training.train_clip`). The head starts
as the last-layer probe (the same L-BFGS fit on the same cached embeddings), then the norms of
`--blocks` (1-based; with CLIP's final LayerNorm) and the head are trained together by AdamW on the
class-balanced cross-entropy, every other weight of the tower frozen. The tokens entering the first
tuned block are computed once per face and cached by the bytes of the encoder's input (under
`<cache>/clip-blocks/<first block>/<encoder sha256>-float32/`), so an epoch runs only the tuned
blocks, forward and backward: what makes this fit 2 cores. Writes `<name>.pt`, its sidecar and
`<name>.metrics.json`, the layout `training.transfer_report` reads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from scoring.frames.clip.encoder import encoder_file
from scoring.frames.clip.tower import FloatTowerEncoder
from scoring.frames.families.clip_norms import NormTunedProbe
from scoring.frames.families.clip_probe import clip_profile
from scoring.frames.layouts import sidecar_of
from scoring.weights.catalog import sidecar_path
from training.data import add_data_arguments, prepare
from training.linear_probe import balanced_loss, fit_linear_head, write_report
from training.train_clip import CachedEncoder, HalfCachedPerFace, block_range, per_face, tower_folder, training_views

BATCH = 32


def tune(model: NormTunedProbe, tokens: torch.Tensor, targets: torch.Tensor, epochs: int, lr: float, seed: int) -> float:
    """AdamW on the tuned norms and the head, in shuffled batches drawn from `seed`; the mean loss of the last epoch."""
    trained = [*model.tuned_norms.parameters(), *model.clip_head.parameters()]
    for parameter in model.encoder.tower.parameters():
        parameter.requires_grad_(False)
    for parameter in trained:
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW(trained, lr=lr, weight_decay=0.0)
    criterion, order = balanced_loss(targets), torch.Generator().manual_seed(seed)
    losses = []
    for epoch in range(epochs):
        losses = []
        for batch in tqdm(torch.randperm(len(targets), generator=order).split(BATCH), desc=f"epoch {epoch + 1}", unit="batch"):
            optimizer.zero_grad()
            loss = criterion(model.classify(model.embed_tokens(tokens[batch].float())), targets[batch])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    for parameter in trained:
        parameter.requires_grad_(False)
    return float(np.mean(losses))


def train(args) -> dict:
    data = prepare(args)
    started = time.time()
    profile = clip_profile(args.margin, args.val_frames)
    tower = FloatTowerEncoder(encoder_file())
    model = NormTunedProbe(tower, block_range(args.blocks)).eval()
    images, classes = training_views(data.train, args.sbi, args.seed)
    targets = torch.tensor(classes)
    cache = None if args.no_cache else args.cache_dir.parent
    embeddings = per_face(CachedEncoder(tower, cache / "clip-embeddings" if cache else None), images, profile, "embedding")
    torch.manual_seed(args.seed)
    model.clip_head.reset_parameters()
    fit_linear_head(model.clip_head, model.feature_mean, model.feature_std, nn.functional.normalize(embeddings, dim=1), targets, args.weight_decay, args.steps)
    first = model.first_tuned_block
    entering = HalfCachedPerFace(lambda faces: tower.tokens_entering(faces, first), tower_folder(cache / "clip-blocks" / str(first + 1), tower) if cache else None)
    tokens = per_face(entering, images, profile, "tokens")
    loss = tune(model, tokens, targets, args.epochs, args.lr, args.seed)
    family = f"clip-norms (CLIP ViT-B/16 float32 from {encoder_file().name}, LayerNorms of blocks {args.blocks} and the final one tuned with the head)"
    report = write_report(args, "training.train_clip_norms", family, data, model, profile, targets, loss, started)
    checkpoint = args.out / f"{args.name}.pt"
    torch.save({k: v.detach().float() for k, v in model.state_dict().items()}, checkpoint)
    sidecar_path(checkpoint).write_text(json.dumps({**sidecar_of(profile), "trained_with": report["command"]}, indent=2))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_clip_norms", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser, name="identity", input_size=224, cache_size=224)
    parser.add_argument("--blocks", default="12", help="the 1-based blocks whose LayerNorms are tuned, e.g. 12 or 11-12")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5e-4, help="AdamW's learning rate for the norms and the head")
    parser.add_argument("--weight-decay", type=float, default=1e-3, help="the starting probe's L2 penalty")
    parser.add_argument("--steps", type=int, default=200, help="the starting probe's L-BFGS iterations")
    report = train(parser.parse_args(argv))
    print(json.dumps({"validation": report["best"]["video"] if report["best"] else None, "seconds": report["seconds"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
