"""The bundled CLIP probe's scores under another instruction set, emulated on this CPU.

    python bench/bench_clip_isa.py [--faces 16] [--clip ../shared/media/talking/akash_video_8s.mp4]

Runs the frame detector in child processes whose torch, MKL and oneDNN kernels are held to AVX2
(`ATEN_CPU_CAPABILITY=avx2`, `MKL_ENABLE_INSTRUCTIONS=AVX2`, `ONEDNN_MAX_CPU_ISA=AVX2`: the code an
AVX2-only CPU runs), on one thread, and as this CPU chooses, and prints how far each moves the
probe's calibrated P(real) of `--faces` FF++ face crops and the video score of `--clip`, against the
run as this CPU chooses on two threads. Each child prints its kernels (`torch.backends.cpu`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CROPS = ROOT.parent / "shared" / "datasets" / "ffpp" / "crops" / "tranthuhoai3786" / "test"
SETTINGS = {
    "this CPU's choice, 2 threads": {},
    "this CPU's choice, 1 thread": {"TORCH_THREADS": "1"},
    "AVX2 kernels, 2 threads": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}


def child(faces: int, clip: Path) -> None:
    """Print the calibrated P(real) of each face crop and the clip's frame-classifier score, as JSON."""
    import torch
    from PIL import Image

    from scoring.detectors import Detectors
    from scoring.media.video import decode_video
    from scoring.runtime import torch_env
    from scoring.runtime.timing import Stopwatch
    from scoring.settings import load_settings
    from tests.helpers import clip_reference

    settings = load_settings()
    torch_env.configure_threads(settings.torch_threads or 2)
    detectors = Detectors(settings, torch.device("cpu"))
    detector, tracker = detectors.models["efficientnet"].get(), detectors.face_tracker.get()
    crops = clip_reference.spread_crops(CROPS, faces)
    scores = [detector.judge_image(np.asarray(Image.open(path).convert("RGB")), (0.0, 0.0, 299.0, 299.0))["score"] for path in crops]
    video = decode_video(clip)
    measured = detector.measure(video, tracker.track(video.frames), None, Stopwatch())
    print(json.dumps({"kernels": torch.backends.cpu.get_cpu_capability(), "faces": scores, "clip": measured.report["score"]}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=16)
    parser.add_argument("--clip", type=Path, default=ROOT.parent / "shared" / "media" / "talking" / "akash_video_8s.mp4")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.faces, args.clip)
        return 0
    runs = {}
    for name, env in SETTINGS.items():
        command = [sys.executable, __file__, "--child", "--faces", str(args.faces), "--clip", str(args.clip)]
        done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=True)
        runs[name] = json.loads(done.stdout.strip().splitlines()[-1])
    reference = runs[next(iter(SETTINGS))]
    print(f"{args.faces} FF++ faces and {args.clip.name}, calibrated P(real) of the bundled CLIP probe")
    print(f"{'run':32s} {'kernels':>8s} {'largest face move':>18s} {'clip score':>11s} {'clip move':>10s}")
    for name, run in runs.items():
        face_move = np.abs(np.array(run["faces"]) - np.array(reference["faces"])).max()
        print(f"{name:32s} {run['kernels']:>8s} {face_move:18.6f} {run['clip']:11.4f} {abs(run['clip'] - reference['clip']):10.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
