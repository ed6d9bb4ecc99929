"""Evaluate the whole service pipeline on labelled videos.

    python -m training.evaluate --labels ../shared/datasets/ffpp/labels.csv [--groups g1,g2] [--roc docs/roc.png]
    python -m training.evaluate --folder DIR        # labels from folder names: .../real/..., .../fake/...

`--folder` takes any folder of videos whose path says the label: a folder named like real, genuine,
original or pristine (e.g. Celeb-DF's `Celeb-real`, `YouTube-real`) marks genuine videos, one named
like fake, synthesis, manipulated or deepfake marks fakes; the top-level folder under DIR is the source
dataset and the video's own folder its group. Videos whose path says neither are listed and skipped.

Each video row (`kind` video, or any row whose file is a video) goes through the same code as
`POST /score` (decode, face tracks, both detectors, fusion) with the settings from the
environment. Prints, per `source_dataset` and overall, video-level AUC, accuracy and Brier score of
the combined score and of each detector (accuracy: `is_likely_real`, combined > 0.6; per detector:
score > 0.5; the JSON adds EER and a reliability table), writes an ROC plot and a reliability
diagram and, with `--out`, every video's result as JSON (what `python -m training.calibrate` fits). Videos the
service refuses (no face, too short) are listed and left out of the metrics.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from scoring.detectors import Detectors
from scoring.errors import ServiceError
from scoring.media.files import VIDEO_SUFFIXES, collect
from scoring.runtime import torch_env
from scoring.service import ScoringService
from scoring.settings import load_settings
from training import metrics

SCORES = ("combined", "syncnet", "efficientnet")


def video_rows(labels: Path, groups: set[str] | None) -> list[dict]:
    with labels.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    chosen = []
    for row in rows:
        is_video = row.get("kind") == "video" or Path(row["path"]).suffix.lower() in VIDEO_SUFFIXES
        if is_video and (groups is None or row.get("split_group") in groups):
            chosen.append(row)
    return chosen


GENUINE_WORDS = ("real", "genuine", "original", "pristine")
FAKE_WORDS = ("fake", "synthesis", "manipulated", "deepfake")


def label_from_path(relative: Path) -> str | None:
    """REAL or FAKE from the folder names of a video's path (the nearest folder that says), else None."""
    for folder in reversed(relative.parts[:-1]):
        name = folder.lower()
        if any(word in name for word in FAKE_WORDS):
            return "FAKE"
        if any(word in name for word in GENUINE_WORDS):
            return "REAL"
    return None


def folder_rows(folder: Path) -> tuple[list[dict], list[Path]]:
    """Rows for every video under `folder` whose path gives its label, and the videos whose path does not."""
    rows, unlabelled = [], []
    for path in collect([folder]):
        relative = path.relative_to(folder)
        label = label_from_path(relative)
        if label is None:
            unlabelled.append(relative)
            continue
        source = relative.parts[0] if len(relative.parts) > 1 else folder.name
        rows.append({"path": str(relative), "label": label, "source_dataset": source, "split_group": str(relative.parent)})
    return rows, unlabelled


def score_all(service: ScoringService, rows: list[dict], root: Path) -> list[dict]:
    results = []
    for row in tqdm(rows, unit="video"):
        record = {
            "path": row["path"],
            "label": row["label"].upper(),
            "source": row.get("source_dataset") or "all",
            "group": row.get("split_group"),
        }
        try:
            response = service.score(root / row["path"])
            record.update(
                combined=response["combined_score"],
                syncnet=(response["syncnet"] or {}).get("score"),
                efficientnet=(response["efficientnet"] or {}).get("score"),
                efficientnet_raw=raw_frame_score(response["efficientnet"]),
                degraded=response["degraded"],
                seconds=response["processing_time_ms"] / 1000,
            )
        except ServiceError as exc:
            record["refused"] = f"{exc.status} {exc.code}: {exc.message}"
        results.append(record)
    return results


def raw_frame_score(report: dict | None) -> float | None:
    """The frame classifier's score before any calibration (what training.calibrate fits)."""
    if not report:
        return None
    return float(np.mean([model.get("raw_score", model["score"]) for model in report["models"]]))


def summarise(results: list[dict], likely_real_above: float) -> dict:
    """Metrics per source; the combined score's accuracy at the service's `is_likely_real` threshold."""
    report = {}
    by_source = defaultdict(list)
    for record in results:
        if "refused" not in record:
            by_source[record["source"]].append(record)
            by_source["ALL"].append(record)
    for source, records in sorted(by_source.items()):
        labels = np.array([r["label"] == "REAL" for r in records])
        entry = {"videos": len(records), "real": int(labels.sum()), "fake": int((~labels).sum())}
        for name in SCORES:
            scored = [(r["label"] == "REAL", r[name]) for r in records if r.get(name) is not None]
            if not scored:
                continue
            y, s = np.array([a for a, _ in scored]), np.array([b for _, b in scored])
            threshold = likely_real_above if name == "combined" else 0.5
            entry[name] = metrics.summary(y, s, threshold)
            entry[name]["reliability"] = metrics.reliability(y, s) if y.any() and not y.all() else None
        report[source] = entry
    return report


def print_report(report: dict, refused: list[dict]) -> None:
    header = f"{'source':48s} {'videos':>6s}  " + "  ".join(f"{n + ' AUC/acc/Brier':>26s}" for n in SCORES)
    print(header)
    print("-" * len(header))
    for source, entry in report.items():
        cells = [metric_cell(entry.get(name)) for name in SCORES]
        print(f"{source[:48]:48s} {entry['videos']:6d}  " + "  ".join(cells))
    for record in refused:
        print(f"refused: {record['path']}: {record['refused']}")


def metric_cell(metrics_of_one_score: dict | None) -> str:
    """'AUC/accuracy/Brier', with '-' for an AUC that needs both classes and for a detector that never ran."""
    if not metrics_of_one_score:
        return f"{'-':>11s}/{'-':>6s}/{'-':>7s}"
    auc = metrics_of_one_score["auc"]
    return (
        f"{'-' if auc is None else format(auc, '.3f'):>11s}/{metrics_of_one_score['accuracy']:>6.3f}/{metrics_of_one_score['brier']:>7.3f}"
    )


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_reliability(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str = "reliability") -> None:
    """Per score bin, the share of genuine videos (classes weighted equally) against the mean score,
    one curve per (labels, scores): on the diagonal, a score is the probability that a person is genuine."""
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(5.5, 5))
    for name, (labels, scores) in curves.items():
        bins = [b for b in metrics.reliability(labels, scores) if b["n"]]
        label = f"{name} (balanced Brier {metrics.balanced_brier(labels, scores):.3f})"
        axis.plot([b["mean_score"] for b in bins], [b["balanced_real_fraction"] for b in bins], "o-", label=label)
        for b in bins:
            axis.annotate(
                str(b["n"]), (b["mean_score"], b["balanced_real_fraction"]), textcoords="offset points", xytext=(4, 4), fontsize=7
            )
    axis.plot([0, 1], [0, 1], ":", color="grey", label="calibrated")
    axis.set(xlim=(0, 1), ylim=(-0.02, 1.02), xlabel="score (P(real)), bin mean (n videos beside each point)", title=title)
    axis.set_ylabel("share of genuine videos, genuine and fake weighted equally")
    axis.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_roc(results: list[dict], path: Path) -> None:
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(5.5, 5))
    scored = [r for r in results if "refused" not in r]
    for name in SCORES:
        pairs = [(r["label"] == "REAL", r[name]) for r in scored if r.get(name) is not None]
        labels = np.array([p[0] for p in pairs])
        if len(pairs) < 2 or labels.all() or not labels.any():
            continue
        fpr, tpr, _ = metrics.roc_curve(labels, np.array([p[1] for p in pairs]))
        axis.plot(fpr, tpr, label=f"{name} (AUC {metrics.auc(labels, np.array([p[1] for p in pairs])):.3f}, n={len(pairs)})")
    axis.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    axis.set(xlabel="fake videos passed as real (FPR)", ylabel="real videos passed (TPR)", title="video-level ROC")
    axis.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--labels", type=Path, help="CSV with path (relative to the CSV), label, kind, source_dataset")
    given.add_argument("--folder", type=Path, help="a folder of videos labelled by their folder names (see above)")
    parser.add_argument("--groups", help="only these comma-separated split_groups (e.g. the held-out validation groups)")
    parser.add_argument("--roc", type=Path, default=Path("roc.png"), help="where to write the ROC plot")
    parser.add_argument("--reliability", type=Path, help="where to write the reliability diagram (default: beside the ROC plot)")
    parser.add_argument("--out", type=Path, help="write every video's result and the summary as JSON")
    args = parser.parse_args(argv)

    settings = load_settings()
    torch_env.configure_threads(settings.torch_threads or torch_env.default_thread_count(1))
    service = ScoringService(settings, Detectors(settings, torch_env.resolve_device(settings.device)))
    groups = set(args.groups.split(",")) if args.groups else None
    if args.folder:
        rows, unlabelled = folder_rows(args.folder)
        rows = [r for r in rows if groups is None or r["split_group"] in groups]
        for relative in unlabelled:
            print(f"skipped (no real/fake folder in its path): {relative}", file=sys.stderr)
    else:
        rows = video_rows(args.labels, groups)
    if not rows:
        print("no video rows selected", file=sys.stderr)
        return 2
    results = score_all(service, rows, args.folder or args.labels.parent)
    report = summarise(results, settings.thresholds.likely_real)
    refused = [r for r in results if "refused" in r]
    print_report(report, refused)
    plot_roc(results, args.roc)
    scored = [r for r in results if "refused" not in r]
    curves = {
        name: (
            np.array([r["label"] == "REAL" for r in scored if r.get(name) is not None]),
            np.array([r[name] for r in scored if r.get(name) is not None]),
        )
        for name in SCORES
    }
    reliability = args.reliability or args.roc.with_name(f"{args.roc.stem}_reliability.png")
    both_classes = {name: (y, s) for name, (y, s) in curves.items() if y.any() and not y.all()}
    if both_classes:
        plot_reliability(both_classes, reliability)
        print(f"ROC written to {args.roc}, reliability diagram to {reliability}")
    else:
        print(f"ROC written to {args.roc}; no reliability diagram: it needs genuine and fake videos")
    if args.out:
        args.out.write_text(json.dumps({"summary": report, "videos": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
