"""Evaluate the whole service pipeline on labelled videos.

    python -m training.evaluate --labels ../shared/datasets/ffpp/labels.csv [--groups g1,g2] [--roc docs/roc.png]

Each video row (`kind` video, or any row whose file is a video) goes through the same code as
`POST /score` (decode, face tracks, both detectors, fusion) with the settings from the
environment. Prints, per `source_dataset` and overall, video-level AUC, EER and accuracy of the
combined score and of each detector (accuracy: `is_likely_real`, combined > 0.6; per detector:
score > 0.5), writes an ROC plot and, with `--out`, every video's result as JSON. Videos the
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

from scoring import torch_env
from scoring.detectors import Detectors
from scoring.errors import ServiceError
from scoring.fusion import LIKELY_REAL_ABOVE
from scoring.service import ScoringService
from scoring.settings import load_settings
from test_ensemble import VIDEO_SUFFIXES
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


def score_all(service: ScoringService, rows: list[dict], root: Path) -> list[dict]:
    results = []
    for row in tqdm(rows, unit="video"):
        record = {"path": row["path"], "label": row["label"].upper(), "source": row.get("source_dataset") or "all"}
        try:
            response = service.score(root / row["path"])
            record.update(
                combined=response["combined_score"],
                syncnet=(response["syncnet"] or {}).get("score"),
                efficientnet=(response["efficientnet"] or {}).get("score"),
                degraded=response["degraded"],
                seconds=response["processing_time_ms"] / 1000,
            )
        except ServiceError as exc:
            record["refused"] = f"{exc.status} {exc.code}: {exc.message}"
        results.append(record)
    return results


def summarise(results: list[dict]) -> dict:
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
            threshold = LIKELY_REAL_ABOVE if name == "combined" else 0.5
            entry[name] = metrics.summary(y, s, threshold)
        report[source] = entry
    return report


def print_report(report: dict, refused: list[dict]) -> None:
    header = f"{'source':48s} {'videos':>6s}  " + "  ".join(f"{n + ' AUC/acc':>20s}" for n in SCORES)
    print(header)
    print("-" * len(header))
    for source, entry in report.items():
        cells = [metric_cell(entry.get(name)) for name in SCORES]
        print(f"{source[:48]:48s} {entry['videos']:6d}  " + "  ".join(cells))
    for record in refused:
        print(f"refused: {record['path']}: {record['refused']}")


def metric_cell(metrics_of_one_score: dict | None) -> str:
    """'AUC/accuracy', with '-' for an AUC that needs both classes and for a detector that never ran."""
    if not metrics_of_one_score:
        return f"{'-':>11s}/{'-':>8s}"
    auc = metrics_of_one_score["auc"]
    return f"{'-' if auc is None else format(auc, '.3f'):>11s}/{metrics_of_one_score['accuracy']:>8.3f}"


def plot_roc(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(5.5, 5))
    scored = [r for r in results if "refused" not in r]
    for name in SCORES:
        pairs = [(r["label"] == "REAL", r[name]) for r in scored if r.get(name) is not None]
        labels = np.array([p[0] for p in pairs])
        if len(pairs) < 2 or labels.all() or not labels.any():
            continue
        fpr, tpr, _ = metrics.roc_curve(labels, np.array([p[1] for p in pairs]))
        axis.plot(fpr, tpr, label=f"{name} (AUC {metrics.auc(labels, np.array([p[1] for p in pairs])):.3f}, n={len(pairs)})")
    axis.plot([0, 1], [0, 1], ":", color="grey")
    axis.set(xlabel="fake videos passed as real (FPR)", ylabel="real videos passed (TPR)", title="video-level ROC")
    axis.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=Path, required=True, help="CSV with path (relative to the CSV), label, kind, source_dataset")
    parser.add_argument("--groups", help="only these comma-separated split_groups (e.g. the held-out validation groups)")
    parser.add_argument("--roc", type=Path, default=Path("roc.png"), help="where to write the ROC plot")
    parser.add_argument("--out", type=Path, help="write every video's result and the summary as JSON")
    args = parser.parse_args(argv)

    settings = load_settings()
    torch_env.configure_threads(settings.torch_threads or torch_env.default_thread_count(1))
    service = ScoringService(settings, Detectors(settings, torch_env.resolve_device(settings.device)))
    rows = video_rows(args.labels, set(args.groups.split(",")) if args.groups else None)
    if not rows:
        print("no video rows selected", file=sys.stderr)
        return 2
    results = score_all(service, rows, args.labels.parent)
    report = summarise(results)
    refused = [r for r in results if "refused" in r]
    print_report(report, refused)
    plot_roc(results, args.roc)
    print(f"ROC written to {args.roc}")
    if args.out:
        args.out.write_text(json.dumps({"summary": report, "videos": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
