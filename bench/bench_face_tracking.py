"""What the face stage's detection stride and scale cost, and how far their tracks drift from detecting every frame.

    python bench/bench_face_tracking.py [--settings 6:0.5 12:0.4 ...] [--clips ...]

For every clip (by default the shared talking clips, the SyncNet demo clip and the Wav2Lip pair) the speaker-sized
track is first found by detecting faces on every frame (SyncNet's exact mode); then, for each
STRIDE:SCALE setting, faces are tracked again and the largest track's interpolated boxes are
compared with the per-frame boxes over the frames both cover. Prints, per setting: detection time
per clip (median, ms), the median and worst per-clip mean IoU against every-frame detection, and
the frames covered by the track against every-frame detection's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from scoring.faces.detection import MTCNNDetector
from scoring.faces.tracking import FaceTrack, FaceTracker
from scoring.media.video import decode_video
from scoring.runtime import torch_env
from scoring.settings import FaceSettings

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"


def largest_track(frames: list[np.ndarray], stride: int, scale: float) -> tuple[FaceTrack | None, float]:
    tracker = FaceTracker(MTCNNDetector(torch.device("cpu"), scale), stride=stride, min_face_size=FaceSettings().min_face_size)
    started = time.perf_counter()
    tracks = tracker.track(frames).tracks
    elapsed = time.perf_counter() - started
    return max(tracks, key=lambda t: t.length * t.face_size, default=None), elapsed


def mean_iou(track: FaceTrack, reference: FaceTrack) -> tuple[float, int]:
    first, last = max(track.start, reference.start), min(track.end, reference.end)
    if last <= first:
        return 0.0, 0
    a = track.boxes[first - track.start : last - track.start]
    b = reference.boxes[first - reference.start : last - reference.start]
    width = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    height = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = width * height
    union = np.prod(a[:, 2:] - a[:, :2], 1) + np.prod(b[:, 2:] - b[:, :2], 1) - inter
    return float(np.mean(inter / union)), last - first


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", default=["6:0.5", "12:0.5", "12:0.4", "25:0.4"], metavar="STRIDE:SCALE")
    parser.add_argument("--clips", type=Path, nargs="*")
    args = parser.parse_args()
    clips = args.clips or sorted((MEDIA / "talking").glob("*.mp*")) + [
        MEDIA / "syncnet_example.avi",
        *sorted((MEDIA / "wav2lip_pair").glob("*.mp4")),
    ]
    torch_env.configure_threads(torch_env.default_thread_count(1))
    settings = [(int(s.split(":")[0]), float(s.split(":")[1])) for s in args.settings]
    rows: dict[tuple[int, float], list[tuple[float, float, int, int]]] = {s: [] for s in settings}
    for clip in clips:
        frames = decode_video(clip).frames
        reference, _ = largest_track(frames, 1, 0.5)
        if reference is None:
            print(f"{clip.name}: no track when detecting every frame")
            continue
        cells = []
        for stride, scale in settings:
            track, seconds = largest_track(frames, stride, scale)
            overlap, covered = mean_iou(track, reference) if track is not None else (0.0, 0)
            rows[(stride, scale)].append((seconds, overlap, covered, reference.length))
            cells.append(f"{stride}:{scale} IoU {overlap:.3f} {seconds * 1000:5.0f} ms")
        print(f"{clip.name:40} {reference.length:4d} frames  " + "  ".join(cells), flush=True)
    print("\nstride:scale  detection ms/clip (median)  IoU median  IoU worst  frames covered")
    for (stride, scale), measured in rows.items():
        times, overlaps, covered, available = zip(*measured, strict=True)
        print(
            f"{stride:>6}:{scale:<5} {statistics.median(times) * 1000:26.0f} {statistics.median(overlaps):11.3f} "
            f"{min(overlaps):10.3f} {sum(covered):8d}/{sum(available)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
