"""Fit the frame classifier's calibration on held-out videos, and show what it does before it is used.

    python -m training.evaluate --labels ../shared/datasets/ffpp/labels.csv --groups G1,G2,... --out heldout.json
    python -m training.calibrate heldout.json --weights models/clip/clip_vitb16_probe.pt \\
        --reliability docs/efficientnet/reliability.png [--write]

Reads `training.evaluate`'s per-video results (label, split group, the frame classifier's raw
score), and reports, before and after Platt scaling (scoring.verdict.calibration, both classes weighted
the same): AUC, accuracy at 0.5, the Brier score (plain, and balanced: genuine and fake videos
weighing half each), and the risk levels genuine videos get from the frame classifier alone. "After" is leave-one-group-out: each group is scored by a calibration
fitted on the other groups, so no video is scored by a fit that saw it. It draws the reliability
diagram of both. `--write` fits on all the videos and stores the result as `calibration` in the
sidecar beside the weights, where the service reads it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from scoring.frames.layouts import read_sidecar
from scoring.verdict.calibration import PlattScaling
from scoring.verdict.fusion import DOCUMENT_THRESHOLDS, RISK_NAMES
from scoring.weights.catalog import sidecar_path
from training import metrics
from training.evaluate import plot_reliability


def held_out_videos(results: Path, score: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    videos = [v for v in json.loads(results.read_text())["videos"] if "refused" not in v and v.get(score) is not None]
    labels = np.array([v["label"] == "REAL" for v in videos])
    return labels, np.array([v[score] for v in videos]), np.array([v.get("group") or v["path"] for v in videos])


def leave_one_group_out(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    calibrated = np.empty_like(scores)
    for group in np.unique(groups):
        inside = groups == group
        calibrated[inside] = PlattScaling.fit(labels[~inside], scores[~inside])(scores[inside])
    return calibrated


def describe(labels: np.ndarray, scores: np.ndarray) -> dict:
    genuine = Counter(DOCUMENT_THRESHOLDS.risk_level(float(s)) for s in scores[labels])
    return {**metrics.summary(labels, scores), "genuine_risk_levels": {level: genuine.get(level, 0) for level in RISK_NAMES}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.calibrate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", type=Path, help="training.evaluate --out JSON of held-out videos")
    parser.add_argument("--weights", type=Path, required=True, help="the frame classifier file whose sidecar gets the calibration")
    parser.add_argument("--score", default="efficientnet_raw", help="which score of the results to calibrate")
    parser.add_argument("--reliability", type=Path, help="where to draw the reliability diagram (default: beside RESULTS)")
    parser.add_argument("--write", action="store_true", help="store the fit on all the videos in the sidecar")
    parser.add_argument("--fitted-on", help="what the videos are, for the sidecar (default: the results file's name)")
    args = parser.parse_args(argv)

    labels, scores, groups = held_out_videos(args.results, args.score)
    if labels.all() or not labels.any():
        print("calibration needs genuine and fake videos", file=sys.stderr)
        return 2
    cross_validated = leave_one_group_out(labels, scores, groups)
    report = {"videos": int(labels.size), "groups": int(np.unique(groups).size), "before": describe(labels, scores)}
    report["after (leave one group out)"] = describe(labels, cross_validated)
    described = args.fitted_on or args.results.name
    fit = PlattScaling.fit(labels, scores, fitted_on=f"{described}: {labels.size} videos ({labels.sum()} genuine), {report['groups']} groups")
    report["fit on all"] = fit.to_json()
    print(json.dumps(report, indent=2))
    reliability = args.reliability or args.results.with_name(f"{args.results.stem}_reliability.png")
    plot_reliability(
        {"raw": (labels, scores), "calibrated (leave one group out)": (labels, cross_validated)},
        reliability,
        title=f"frame classifier on {labels.size} held-out videos",
    )
    print(f"reliability diagram written to {reliability}")
    if args.write:
        sidecar = read_sidecar(args.weights)
        sidecar["calibration"] = fit.to_json()
        sidecar_path(args.weights).write_text(json.dumps(sidecar, indent=2) + "\n")
        print(f"calibration written to {sidecar_path(args.weights)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
