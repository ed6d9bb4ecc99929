"""Which model family transfers: one table of the held-out splits, per family, before and after.

    python -m training.transfer_report cnn=DIR clip=DIR [--before FILE] [--media media.csv] [--out table.md]

Each DIR holds one `<split>.metrics.json` per split, written by `training.train_efficientnet` or
`training.train_spectrum` with `--val-groups` and, for the manipulation splits, `--hold-out-method`.
Every split holds identities out (its groups' videos never train); a manipulation split also keeps
every fake of that method out of training and tests on the groups' genuine videos and those fakes.

Per split and family: video-level AUC, accuracy at 0.5, Brier and balanced Brier score (genuine and
fake videos weighing half each) of the raw P(real), and the balanced Brier score after Platt scaling
fitted leave-one-group-out (each group calibrated by a fit on the others). `--before` scores the
same held-out videos with an existing checkpoint, for the "before" row; that checkpoint may have
trained on the held-out manipulation, which the table says. The last column counts the genuine
videos' risk levels (the frame classifier alone) from the calibrated scores.

`--media CSV` (rows: path, label, kind video, split_group) adds footage no family trained on: each
family's `identity.pt` (and `--before`) scores it, calibrated by a Platt fit on that family's
identity-split videos, as a deployment would be. `--made-fakes` adds two rows of fakes made here from the
identity split's genuine held-out videos, kinds no family trained on, calibrated the same way: a
mouth-only row (each face's mouth replaced by the same person's at another moment, as lip-sync
generators re-render only the mouth) and a whole-frame row (every pixel resampled: JPEG, halving,
WebP, denoising; a stand-in for whole-frame generators, which also says how hard heavy compression of
a genuine video is pushed towards "fake"). `--poolings` adds rows of each family's videos pooled otherwise than by the mean of their frames
(the mean of the worst quarter, a trimmed mean). `--combine NAME=A+B` adds a row for the mean of
families A's and B's video scores (an ensemble of the two), wherever both scored the same videos.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from scoring.frames.layouts import load_checkpoint
from scoring.frames.profiles import worst_quarter
from scoring.settings import load_settings
from scoring.verdict.calibration import PlattScaling
from scoring.verdict.fusion import DOCUMENT_THRESHOLDS, RISK_NAMES
from training import metrics
from training.calibrate import leave_one_group_out
from training.data import VideoFaces, build_samples, evaluate, read_rows, split_rows, transformed_videos

COLUMNS = (
    "videos (genuine/fake)",
    "AUC",
    "accuracy",
    "Brier",
    "balanced Brier",
    "balanced Brier, calibrated (LOGO)",
    "genuine LOW/MEDIUM/HIGH/CRITICAL, calibrated",
)
MEDIA_SPLIT = "unseen media"
# Rows of fakes made here from the identity split's genuine held-out videos: kinds no family trained on.
MADE_FAKES = {"mouth-only (the same person's mouth at another moment)": "mouth", "whole-frame (every pixel resampled)": "resampled"}


def held_out_videos(report: dict) -> list[dict]:
    """The kept model's per-video scores on the split's held-out videos."""
    return report["best"]["videos"]


def row(videos: list[dict], calibration: PlattScaling | None = None) -> dict:
    """The table's cells; calibrated leave-one-group-out, or by `calibration` where one is given."""
    labels = np.array([v["label"] == 1 for v in videos])
    scores = np.array([v["score"] for v in videos])
    groups = np.array([v["group"] for v in videos])
    calibrated = calibration(scores) if calibration is not None else leave_one_group_out(labels, scores, groups)
    levels = Counter(DOCUMENT_THRESHOLDS.risk_level(float(s)) for s in calibrated[labels])
    return {
        **metrics.summary(labels, scores),
        "balanced_brier_calibrated": metrics.balanced_brier(labels, calibrated),
        "genuine_risk_levels": "/".join(str(levels.get(level, 0)) for level in RISK_NAMES),
    }


def trimmed(frames: np.ndarray) -> float:
    """The mean without the highest and lowest tenth: one odd frame does not decide."""
    cut = len(frames) // 10
    return float(np.sort(frames)[cut : len(frames) - cut].mean())


# Frame pooling: how a video's frame scores become its score (the service's: the file's aggregation).
POOLINGS = {"worst quarter": lambda frames: float(worst_quarter(torch.from_numpy(frames))), "trimmed": trimmed}


def pooled(videos: list[dict], pooling: str) -> list[dict]:
    """The videos scored by `pooling` of their frames' scores (videos scored without frames are left out)."""
    return [{**v, "score": POOLINGS[pooling](np.array(v["frames"]))} for v in videos if v.get("frames")]


def mean_scores(first: list[dict], second: list[dict]) -> list[dict]:
    """Per video, the mean of two families' scores (the videos both scored)."""
    other = {v["video"]: v["score"] for v in second}
    return [{**v, "score": (v["score"] + other[v["video"]]) / 2} for v in first if v["video"] in other]


def platt_fit(videos: list[dict]) -> PlattScaling:
    return PlattScaling.fit(np.array([v["label"] == 1 for v in videos]), np.array([v["score"] for v in videos]))


def checkpoint_scores(checkpoint: Path, rows: list[dict], root: Path, settings: dict, desc: str, fakes_made_by: str | None = None) -> list[dict]:
    """Per-video scores of `checkpoint` on `rows`, from the same crops the families were tested on;
    with `fakes_made_by`, also on fakes made from those videos (training.data.transformed_videos)."""
    network, spec = load_checkpoint(checkpoint)
    video_faces = VideoFaces(float(settings["margin"]), torch.device("cpu"), load_settings())
    cache = None if settings.get("no_cache") == "True" else Path(settings["cache_dir"])
    samples = build_samples(rows, root, spec.profile.input_size, int(settings["val_frames"]), video_faces, cache, desc)
    if fakes_made_by:
        samples += transformed_videos(samples, fakes_made_by, int(settings["seed"]))
    return evaluate(network.eval(), samples, spec.profile)["videos"]


def score_before(checkpoint: Path, reports: dict[str, dict], data: Path) -> dict[str, list[dict]]:
    """The existing checkpoint's scores on each split's held-out videos (the same crops the families were tested on)."""
    rows = read_rows(data / "labels.csv")
    before = {}
    for split, report in reports.items():
        _, val_rows = split_rows(rows, set(report["validation_groups"]), report.get("held_out_method"))
        before[split] = checkpoint_scores(checkpoint, val_rows, data, report["settings"], split)
    return before


def media_videos(checkpoint: Path, media: Path, settings: dict) -> list[dict]:
    """`checkpoint`'s per-video scores on the unseen footage of `media`."""
    return checkpoint_scores(checkpoint, read_rows(media), media.parent, settings, MEDIA_SPLIT)


def made_fake_videos(checkpoint: Path, report: dict, data: Path, how: str) -> list[dict]:
    """`checkpoint`'s per-video scores on the identity split's genuine held-out videos and on one fake
    made from each by `how` (a fake no family trained on)."""
    rows = read_rows(data / "labels.csv")
    _, held_out = split_rows(rows, set(report["validation_groups"]), None)
    genuine = [row for row in held_out if row["label"].upper() == "REAL"]
    return checkpoint_scores(checkpoint, genuine, data, report["settings"], how, fakes_made_by=how)


def markdown(table: dict[str, dict[str, dict]]) -> str:
    lines = ["| split | model | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 2) + "|"]
    for split, families in table.items():
        for family, r in families.items():
            cells = [
                f"{r['real']}/{r['fake']}",
                r["auc"],
                r["accuracy"],
                r["brier"],
                r["balanced_brier"],
                r["balanced_brier_calibrated"],
                r["genuine_risk_levels"],
            ]
            lines.append(f"| {split} | {family} | " + " | ".join(c if isinstance(c, str) else f"{c:.3f}" for c in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.transfer_report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("families", nargs="+", help="NAME=DIR: a family's folder of <split>.metrics.json")
    parser.add_argument("--before", type=Path, help="an existing checkpoint to score on the same held-out videos")
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/ffpp"), help="folder with labels.csv")
    parser.add_argument("--media", type=Path, help="labels CSV of footage no family trained on (scored by each identity.pt)")
    parser.add_argument("--made-fakes", action="store_true", help="rows of mouth-only and whole-frame fakes made from the identity split's genuine videos")
    parser.add_argument("--poolings", nargs="*", default=[], choices=list(POOLINGS), help="rows for each family's videos pooled so (the service: mean)")
    parser.add_argument("--combine", nargs="*", default=[], metavar="NAME=A+B", help="a row for the mean of two families' video scores")
    parser.add_argument("--out", type=Path, help="write the markdown table here as well")
    args = parser.parse_args(argv)

    reports: dict[str, dict[str, dict]] = {}
    folders: dict[str, Path] = {}
    for entry in args.families:
        name, _, folder = entry.partition("=")
        if not folder:
            parser.error(f"{entry!r}: expected NAME=DIR")
        folders[name] = Path(folder)
        for path in sorted(Path(folder).glob("*.metrics.json")):
            reports.setdefault(path.name.removesuffix(".metrics.json"), {})[name] = json.loads(path.read_text())
    if not reports:
        parser.error("no <split>.metrics.json found")
    scores = {split: {family: held_out_videos(r) for family, r in by_family.items()} for split, by_family in reports.items()}
    if args.media:
        identity = reports["identity"]
        scores[MEDIA_SPLIT] = {name: media_videos(folders[name] / "identity.pt", args.media, r["settings"]) for name, r in identity.items()}
    before = score_before(args.before, {s: next(iter(f.values())) for s, f in reports.items()}, args.data) if args.before else {}
    if args.before and args.media:
        before[MEDIA_SPLIT] = media_videos(args.before, args.media, next(iter(reports["identity"].values()))["settings"])
    if args.made_fakes:
        identity = reports["identity"]
        for split, how in MADE_FAKES.items():
            scores[split] = {name: made_fake_videos(folders[name] / "identity.pt", r, args.data, how) for name, r in identity.items()}
            if args.before:
                before[split] = made_fake_videos(args.before, next(iter(identity.values())), args.data, how)
    for split, videos in before.items():
        scores[split] = {f"before ({args.before.name})": videos, **scores[split]}
    for entry in args.combine:
        name, _, pair = entry.partition("=")
        first, _, second = pair.partition("+")
        for by_family in scores.values():
            if first in by_family and second in by_family:
                by_family[name] = mean_scores(by_family[first], by_family[second])
    framed = [family for family, videos in scores["identity"].items() if all(v.get("frames") for v in videos)]  # calibration needs them
    for by_family in scores.values():
        for family in framed:
            for pooling in args.poolings:
                if family in by_family:
                    by_family[f"{family}, {pooling}"] = pooled(by_family[family], pooling)
    table = {}
    for split, by_family in scores.items():
        # Unseen footage is calibrated as a deployment would be: by a fit on the same model's identity-split videos.
        unseen = split == MEDIA_SPLIT or split in MADE_FAKES
        fits = {family: platt_fit(scores["identity"][family]) for family in by_family} if unseen else {}
        table[split] = {family: row(videos, fits.get(family)) for family, videos in by_family.items()}
    text = markdown(table)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
