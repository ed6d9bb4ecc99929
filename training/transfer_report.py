"""Which model family transfers: one table of the held-out splits, per family, before and after.

    python -m training.transfer_report cnn=DIR spectrum=DIR [--before models/efficientnet/effb0_ffpp_scratch.pt] [--out table.md]

Each DIR holds one `<split>.metrics.json` per split, written by `training.train_efficientnet` or
`training.train_spectrum` with `--val-groups` and, for the manipulation splits, `--hold-out-method`.
Every split holds identities out (its groups' videos never train); a manipulation split also keeps
every fake of that method out of training and tests on the groups' genuine videos and those fakes.

Per split and family: video-level AUC, accuracy at 0.5, Brier and balanced Brier score (genuine and
fake videos weighing half each) of the raw P(real), and the balanced Brier score after Platt scaling
fitted leave-one-group-out (each group calibrated by a fit on the others). `--before` scores the
same held-out videos with an existing checkpoint, for the "before" row; that checkpoint may have
trained on the held-out manipulation, which the table says.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from scoring.efficientnet.layouts import load_checkpoint
from scoring.settings import load_settings
from training import metrics
from training.calibrate import leave_one_group_out
from training.train_efficientnet import VideoFaces, build_samples, evaluate, read_rows, split_rows

COLUMNS = ("videos (genuine/fake)", "AUC", "accuracy", "Brier", "balanced Brier", "balanced Brier, calibrated (LOGO)")


def held_out_videos(report: dict) -> list[dict]:
    """The kept model's per-video scores on the split's held-out videos."""
    return report["best"]["videos"]


def row(videos: list[dict]) -> dict:
    labels = np.array([v["label"] == 1 for v in videos])
    scores = np.array([v["score"] for v in videos])
    groups = np.array([v["group"] for v in videos])
    summary = metrics.summary(labels, scores)
    calibrated = leave_one_group_out(labels, scores, groups)
    return {**summary, "balanced_brier_calibrated": metrics.balanced_brier(labels, calibrated)}


def score_before(checkpoint: Path, reports: dict[str, dict], data: Path) -> dict[str, list[dict]]:
    """The existing checkpoint's scores on each split's held-out videos (the same crops the families were tested on)."""
    settings = next(iter(reports.values()))["settings"]
    rows = read_rows(data / "labels.csv")
    network, spec = load_checkpoint(checkpoint)
    video_faces = VideoFaces(float(settings["margin"]), torch.device("cpu"), load_settings())
    cache = None if settings.get("no_cache") == "True" else Path(settings["cache_dir"])
    before = {}
    for split, report in reports.items():
        _, val_rows = split_rows(rows, set(report["validation_groups"]), report.get("held_out_method"))
        samples = build_samples(val_rows, data, spec.profile.input_size, int(settings["val_frames"]), video_faces, cache, split)
        before[split] = evaluate(network.eval(), samples, spec.profile)["videos"]
    return before


def markdown(table: dict[str, dict[str, dict]]) -> str:
    lines = ["| split | model | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 2) + "|"]
    for split, families in table.items():
        for family, r in families.items():
            cells = [f"{r['real']}/{r['fake']}", r["auc"], r["accuracy"], r["brier"], r["balanced_brier"], r["balanced_brier_calibrated"]]
            lines.append(f"| {split} | {family} | " + " | ".join(c if isinstance(c, str) else f"{c:.3f}" for c in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.transfer_report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("families", nargs="+", help="NAME=DIR: a family's folder of <split>.metrics.json")
    parser.add_argument("--before", type=Path, help="an existing checkpoint to score on the same held-out videos")
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/ffpp"), help="folder with labels.csv")
    parser.add_argument("--out", type=Path, help="write the markdown table here as well")
    args = parser.parse_args(argv)

    reports: dict[str, dict[str, dict]] = {}
    for entry in args.families:
        name, _, folder = entry.partition("=")
        if not folder:
            parser.error(f"{entry!r}: expected NAME=DIR")
        for path in sorted(Path(folder).glob("*.metrics.json")):
            reports.setdefault(path.name.removesuffix(".metrics.json"), {})[name] = json.loads(path.read_text())
    if not reports:
        parser.error("no <split>.metrics.json found")
    table = {split: {family: row(held_out_videos(r)) for family, r in by_family.items()} for split, by_family in reports.items()}
    if args.before:
        for split, videos in score_before(args.before, {s: next(iter(f.values())) for s, f in reports.items()}, args.data).items():
            table[split] = {f"before ({args.before.name})": row(videos), **table[split]}
    text = markdown(table)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
