"""What each frame-detector architecture costs per request on this machine (weights do not change FLOPs).

    python bench/bench_frame_detectors.py [--faces 8] [--threads 2] [--precision auto] [--only polimi-att sbi]

Builds each published architecture (and the bundled model) with random weights through the
service's own code, rebuilt for serving as the service does (`scoring.frames.inference`) at
`--precision` (`auto`: bfloat16 where this CPU runs it natively, as the service resolves it),
times the forward pass of `--faces` faces at its profile's input size (median of `--repeats`,
after one warm-up), counts its FLOPs per face with PyTorch's flop counter, and prints the cost of
one request: the profile's frames per video times the cost per face.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from scoring.frames.families.deepfakebench import DeepfakeBenchBackbone, DeepfakeBenchF3Net, DeepfakeBenchNet, DeepfakeBenchXceptionBackbone
from scoring.frames.families.effort import EffortNet
from scoring.frames.families.polimi import PolimiNet
from scoring.frames.families.sbi import SBINet
from scoring.frames.families.selimsef import SelimsefNet
from scoring.frames.inference import for_inference, serving_autocast
from scoring.frames.register import named_profiles
from scoring.runtime import torch_env

ROOT = Path(__file__).resolve().parents[1]
PROFILES = named_profiles()  # the authors' profiles, by name

def _torchvision_b0():
    import torchvision

    model = torchvision.models.efficientnet_b0(weights=None)
    model.classifier = torch.nn.Sequential(torch.nn.Dropout(0.4), torch.nn.Linear(1280, 2))
    return model, PROFILES["deepfakedetector"]


# name: (() -> (network, profile), files per deployment as published)
ARCHITECTURES = {
    "polimi EfficientNetB4": (lambda: (PolimiNet(attention=False), PROFILES["polimi"]), 1),
    "polimi-att EfficientNetAutoAttB4": (lambda: (PolimiNet(attention=True), PROFILES["polimi"]), 1),
    "sbi EfficientNet-B4": (lambda: (SBINet(), PROFILES["sbi"]), 1),
    "deepfakebench EfficientNet-B4": (lambda: (DeepfakeBenchNet(DeepfakeBenchBackbone()), PROFILES["deepfakebench"]), 1),
    "deepfakebench Xception": (lambda: (DeepfakeBenchNet(DeepfakeBenchXceptionBackbone()), PROFILES["deepfakebench"]), 1),
    "deepfakebench F3Net": (lambda: (DeepfakeBenchF3Net(), PROFILES["deepfakebench"]), 1),
    "effort CLIP ViT-L/14": (lambda: (EffortNet(1024, 24, 4096, 14, 224), PROFILES["effort"]), 1),
    "deepfakedetector torchvision B0": (_torchvision_b0, 1),
    "selimsef tf_efficientnet_b7_ns": (lambda: (SelimsefNet("b7"), PROFILES["selimsef"]), 7),
}


def measure(network: torch.nn.Module, size: int, faces: int, repeats: int, precision: torch.dtype) -> tuple[float, float]:
    """(seconds per face, GFLOP per face)."""
    network = for_inference(network.eval(), precision).to(memory_format=torch.channels_last)
    batch = torch.rand(faces, 3, size, size).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), serving_autocast(torch.device("cpu"), precision):
        with FlopCounterMode(display=False) as counter:
            network(batch[:1])
        network(batch)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            network(batch)
            times.append(time.perf_counter() - started)
    return statistics.median(times) / faces, counter.get_total_flops() / 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--only", nargs="*", help="architectures whose name contains one of these words")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    precision = torch_env.resolve_precision(args.precision, torch.device("cpu"))
    print(f"torch {torch.__version__}, {args.threads} threads, {torch_env.dtype_name(precision)}, {args.faces} faces per timed batch")
    print("| architecture | input | GFLOP / face | ms / face | frames / video | files | ms / request |")
    print("|---|---|---|---|---|---|---|")
    for name, (build, files) in ARCHITECTURES.items():
        if args.only and not any(word in name for word in args.only):
            continue
        network, profile = build()
        per_face, gflop = measure(network, profile.input_size, args.faces, args.repeats, precision)
        request_ms = per_face * profile.frames * files * 1000
        row = f"| {name} | {profile.input_size} | {gflop:.2f} | {per_face * 1000:.0f} | {profile.frames} | {files} | {request_ms:,.0f} |"
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
