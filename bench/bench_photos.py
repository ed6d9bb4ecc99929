"""What a single photo tells: `POST /score/image`'s scoring on still frames of held-out videos.

    python bench/bench_photos.py [--labels ../shared/datasets/ffpp/labels.csv] [--groups G1,G2,...] [--frames 4]

Takes `--frames` evenly spaced frames of every labelled video in `--groups` (default: the 32
held-out FF++ videos the bundled model's calibration was fitted on, none of them trained on),
encodes each as a JPEG (quality 90) in memory, scores it through the service's photo path with the
settings from the environment (offline: the bundled CLIP probe) and prints the photo-level AUC,
EER, accuracy at `is_likely_real`, Brier, the risk levels of genuine photos, and the time per
photo; then the same for the mean of each video's photos, to compare with scoring the video.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from scoring.detectors import Detectors
from scoring.errors import ServiceError
from scoring.media.video import decode_video, uniform_indices
from scoring.runtime import torch_env
from scoring.service import ScoringService
from scoring.settings import load_settings
from scoring.verdict.fusion import RISK_NAMES
from training import metrics
from training.evaluate import video_rows

ROOT = Path(__file__).resolve().parents[1]
HELD_OUT = "ffpp:055+ffpp:147,ffpp:159+ffpp:175,ffpp:339+ffpp:392,ffpp:183+ffpp:253,ffpp:469+ffpp:481"


def photos_of(video: Path, count: int) -> list[bytes]:
    frames = decode_video(video).frames
    return [cv2.imencode(".jpg", frames[i], [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for i in uniform_indices(len(frames), count)]


def report(name: str, labels: np.ndarray, scores: np.ndarray, service: ScoringService) -> None:
    summary = metrics.summary(labels, scores, service.settings.thresholds.likely_real)
    genuine = Counter(service.settings.thresholds.risk_level(float(s)) for s in scores[labels])
    levels = "/".join(str(genuine.get(level, 0)) for level in RISK_NAMES)
    print(
        f"{name}: {summary['n']} ({summary['real']} genuine), AUC {summary['auc']:.3f}, EER {summary['eer']:.3f}, "
        f"accuracy {summary['accuracy']:.3f}, Brier {summary['brier']:.3f}, balanced Brier {summary['balanced_brier']:.3f}, "
        f"genuine LOW/MEDIUM/HIGH/CRITICAL {levels}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=Path, default=ROOT.parent / "shared" / "datasets" / "ffpp" / "labels.csv")
    parser.add_argument("--groups", default=HELD_OUT)
    parser.add_argument("--frames", type=int, default=4, help="photos taken from each video")
    args = parser.parse_args()
    settings = load_settings()
    torch_env.configure_threads(settings.torch_threads or torch_env.default_thread_count(1))
    service = ScoringService(settings, Detectors(settings, torch_env.resolve_device(settings.device)))
    photo_rows, video_means, seconds, refused = [], [], [], Counter()
    for row in video_rows(args.labels, set(args.groups.split(","))):
        genuine = row["label"] == "REAL"
        scores = []
        for photo in photos_of(args.labels.parent / row["path"], args.frames):
            started = time.perf_counter()
            try:
                scores.append(service.score_image(photo)["combined_score"])
            except ServiceError as exc:
                refused[str(exc.code)] += 1
                continue
            seconds.append(time.perf_counter() - started)
            photo_rows.append((genuine, scores[-1]))
        if scores:
            video_means.append((genuine, float(np.mean(scores))))
    print(f"frame classifier: {', '.join(m['file'] for m in service.detectors.status()['efficientnet'].get('models', []))}")
    for name, rows in (("single photos", photo_rows), (f"mean of each video's {args.frames} photos", video_means)):
        report(name, np.array([g for g, _ in rows]), np.array([s for _, s in rows]), service)
    print(f"refused: {dict(refused) or 'none'}; time per photo: median {statistics.median(seconds) * 1000:.0f} ms (the first loads the models)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
