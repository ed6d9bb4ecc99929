"""The class-balanced logistic regression both feature families train (spectrum, CLIP): full batch, L-BFGS."""

from __future__ import annotations

import json
import sys
import time

import torch
from torch import nn

from scoring.frames.profiles import Profile
from training.data import CLASS_ORDER, Prepared, evaluate


def balanced_loss(targets: torch.Tensor) -> nn.CrossEntropyLoss:
    """Cross-entropy with each class weighing the same, whatever its share of `targets`."""
    counts = torch.bincount(targets, minlength=len(CLASS_ORDER)).float()
    return nn.CrossEntropyLoss(weight=counts.sum() / (len(CLASS_ORDER) * counts.clamp(min=1)))


def fit_linear_head(
    head: nn.Linear, feature_mean: torch.Tensor, feature_std: torch.Tensor, features: torch.Tensor, targets: torch.Tensor, weight_decay: float, steps: int
) -> float:
    """Sets `feature_mean` / `feature_std` (buffers of the model) to the features' statistics and fits `head`
    on the standardised features, each class weighing the same; returns the final loss."""
    feature_mean.copy_(features.mean(0))
    feature_std.copy_(features.std(0) + 1e-6)
    standardised = (features - feature_mean) / feature_std
    criterion = balanced_loss(targets)
    optimizer = torch.optim.LBFGS(head.parameters(), lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = criterion(head(standardised), targets) + weight_decay * head.weight.square().sum()
        loss.backward()
        return loss

    return optimizer.step(closure).item()


def write_report(args, module: str, family: str, data: Prepared, model: nn.Module, profile: Profile, targets: torch.Tensor, loss: float, started: float) -> dict:
    """`<name>.metrics.json` of a single fit: the held-out videos' scores, as transfer_report reads them."""
    report = {
        "command": " ".join([f"python -m {module}", *sys.argv[1:]]),
        "family": family,
        "validation_groups": sorted(data.val_groups),
        "held_out_method": args.hold_out_method,
        "train_features": int(targets.numel()),
        "train_loss": loss,
        "seconds": round(time.time() - started, 1),
        "settings": {k: str(v) for k, v in vars(args).items()},
        "selected_by": "a single fit (nothing to select)",
        "best": evaluate(model, data.validation, profile) if data.validation else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.metrics.json").write_text(json.dumps(report, indent=2))
    return report


def probe_main(parser, train, argv: list[str] | None) -> int:
    """The command line both probe families share: the fit's options, then `train`, then a summary."""
    parser.add_argument("--weight-decay", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=200, help="L-BFGS iterations")
    report = train(parser.parse_args(argv))
    print(json.dumps({"validation": report["best"]["video"] if report["best"] else None, "seconds": report["seconds"]}, indent=2))
    return 0
