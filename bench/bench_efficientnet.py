"""Time to classify 20 face crops with the frame classifier (the service's default: 20 per video).

    python bench/bench_efficientnet.py [--device cpu|cuda] [--weights PATH]

Times the default checkpoint (EfficientNet-B0 at its sidecar's input size) and, for comparison,
B0 at 224 px as published deepfake checkpoints use it. Median of 7 runs after a warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from efficientnet_detector import EfficientNetDetector
from scoring.runtime import torch_env
from scoring.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]

def time_crops(detector: EfficientNetDetector, count: int = 20, runs: int = 7) -> float:
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (detector.input_size, detector.input_size, 3), dtype=np.uint8) for _ in range(count)]
    detector.predict_frames(crops)
    samples = []
    for _ in range(runs):
        if detector.device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        detector.predict_frames(crops)
        if detector.device.type == "cuda":
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--weights", type=Path, default=load_settings().efficientnet.weights)
    args = parser.parse_args()
    device = torch_env.resolve_device(args.device)
    threads = torch_env.configure_threads(args.threads or torch_env.default_thread_count(1))
    print(f"device {device}, {threads} torch threads")
    detector = EfficientNetDetector(args.weights, device)
    print(f"{args.weights.name} ({detector.spec.variant}, {detector.input_size} px): {time_crops(detector) * 1000:.0f} ms for 20 crops")
    import torchvision

    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "b0_224.pt"
        torch.save(torchvision.models.efficientnet_b0(weights=None, num_classes=2).state_dict(), path)
        b0 = EfficientNetDetector(path, device)
        print(f"EfficientNet-B0 at 224 px (torchvision layout, timing only): {time_crops(b0) * 1000:.0f} ms for 20 crops")
    return 0


if __name__ == "__main__":
    sys.exit(main())
