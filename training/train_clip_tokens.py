"""The CLIP token family: linear probes on every block's tokens of the float32 CLIP tower
(scoring.frames.families.clip_tokens), one per candidate layout, on one split.

    python -m training.train_clip_tokens --val-groups G1,G2,... [--hold-out-method M] [--sbi 0.5] --out transfer [--candidates cls cls+mouth]

The data, splits, self-blended fakes and fit are the CLIP probe's (`training.train_clip`): the same
faces, the same class-balanced L-BFGS logistic regression on standardised features. Each face's
summaries (class token, mean patch token and mean mouth token after each of the 12 blocks) are
computed once and cached by the bytes of the encoder's input, under
`<cache>/clip-tokens/<encoder sha256>-float32/`, so every candidate and every split reads them back.
Each candidate writes `<out>/<candidate>/<name>.pt`, its sidecar and `<name>.metrics.json`, the
layout `training.transfer_report` reads (`tokens-cls=<out>/tokens-cls ...`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from scoring.frames.clip.encoder import encoder_file
from scoring.frames.clip.tower import FloatTowerEncoder
from scoring.frames.families.clip_probe import clip_profile
from scoring.frames.families.clip_tokens import SUMMARIES, TokenProbe, TowerSummaries
from scoring.frames.layouts import sidecar_of
from scoring.weights.catalog import sidecar_path
from training.data import add_data_arguments, prepare
from training.linear_probe import fit_linear_head, write_report
from training.train_clip import HalfCachedPerFace, block_range, per_face, tower_folder, training_views


def layout(spec: str) -> torch.Tensor:
    """"cls@1-12+mouth@7-12" -> the (K, 2) summary and block indices (blocks 1-based in the spec)."""
    rows = []
    for part in spec.split("+"):
        summary, _, blocks = part.partition("@")
        rows += [(SUMMARIES.index(summary), block - 1) for block in block_range(blocks)]
    return torch.tensor(rows)


CANDIDATES = {
    "tokens-cls": "cls@1-12",
    "tokens-cls-patches": "cls@1-12+patches@1-12",
    "tokens-cls-mouth": "cls@1-12+mouth@1-12",
    "tokens-all": "cls@1-12+patches@1-12+mouth@1-12",
    "tokens-late": "cls@7-12+patches@7-12+mouth@7-12",
    "tokens-late-cls-mouth": "cls@7-12+mouth@7-12",
}


def train(args) -> dict:
    data = prepare(args)
    started = time.time()
    profile = clip_profile(args.margin, args.val_frames)
    tower = FloatTowerEncoder(encoder_file())
    source = HalfCachedPerFace(TowerSummaries(tower), None if args.no_cache else tower_folder(args.cache_dir.parent / "clip-tokens", tower))
    images, classes = training_views(data.train, args.sbi, args.seed)
    summaries, targets = per_face(source, images, profile, "summarising").float(), torch.tensor(classes)
    reports = {}
    for candidate in args.candidates:
        model = TokenProbe(source, layout(CANDIDATES[candidate])).eval()
        torch.manual_seed(args.seed)
        model.tokens_head.reset_parameters()
        with torch.no_grad():
            features = model.features(summaries)
        loss = fit_linear_head(model.tokens_head, model.feature_mean, model.feature_std, features, targets, args.weight_decay, args.steps)
        out = args.out / candidate
        family = f"clip-tokens {CANDIDATES[candidate]} (CLIP ViT-B/16 float32 tokens from {encoder_file().name} + logistic regression)"
        reports[candidate] = write_report(argparse.Namespace(**{**vars(args), "out": out}), "training.train_clip_tokens", family, data, model, profile, targets, loss, started)
        checkpoint = out / f"{args.name}.pt"
        torch.save({k: v.float() if v.is_floating_point() else v for k, v in model.state_dict().items()}, checkpoint)
        sidecar_path(checkpoint).write_text(json.dumps({**sidecar_of(profile), "trained_with": reports[candidate]["command"]}, indent=2))
        print(f"{candidate}: validation video AUC {reports[candidate]['best']['video']['auc'] if reports[candidate]['best'] else None}")
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_clip_tokens", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser, name="identity", input_size=224, cache_size=224)
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--weight-decay", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=200, help="L-BFGS iterations")
    args = parser.parse_args(argv)
    reports = train(args)
    print(json.dumps({name: r["best"]["video"] if r["best"] else None for name, r in reports.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
