"""The least time a request can take on this machine: each stage's CPU time, and how near its peak it runs.

    python bench/bench_cpu_floor.py [--runs 3]

Runs the service's own detectors one after another, in this process, on the 10 s clip of
bench_end_to_end.py (SyncNet on seeded stand-in weights, the bundled frame classifier, the bundled
voice file, default settings) and prints for each stage the median wall and CPU time (all threads,
`time.process_time`). Their CPU times summed over the cores is the wall time the request could take
if every core were kept busy throughout: below that, only less work helps, never more overlap.

It also prints how fast the two heaviest networks run against what this CPU does at best: SyncNet's
two streams in GFLOP/s (counted by torch's FlopCounterMode) against a bfloat16 matrix product, and
the CLIP encoder in multiply-adds per second (the ViT-B/16's 17.4 G per face) and milliseconds a face.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from bench_end_to_end import make_clip, random_syncnet_state, save_state
from torch.utils.flop_counter import FlopCounterMode

from scoring.detectors import Detectors
from scoring.frames.clip.encoder import INPUT_SIZE, encoder_file
from scoring.frames.clip.tower import FloatTowerEncoder
from scoring.media.video import decode_video
from scoring.runtime import allocator, torch_env
from scoring.runtime.timing import Stopwatch
from scoring.settings import load_settings

VIT_B16_MACS = 17.4e9  # per 224 px image: 12 layers of 197 tokens at width 768 (QKV, projection, MLP, attention)


def timed(work: Callable[[], object], runs: int) -> tuple[float, float, object]:
    """Median wall and CPU milliseconds of `runs` calls after a warm-up, and the last result."""
    result = work()
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000, result


def gflops(forward: Callable[[], object], runs: int) -> float:
    with FlopCounterMode(display=False) as counter:
        forward()
    wall, _, _ = timed(forward, runs)
    return counter.get_total_flops() / wall / 1e6


def stream_rates(syncnet, runs: int) -> dict[str, float]:
    scorer = syncnet.scorer
    lips = torch.randint(0, 255, (scorer.batch_size, 15, 224, 224), dtype=torch.uint8).to(scorer.precision)
    lips = lips.contiguous(memory_format=torch.channels_last)
    mfcc = torch.randn(64, 1, 13, 20).to(scorer.precision)
    square = torch.randn(2048, 2048).to(scorer.precision)
    with torch.inference_mode():
        return {
            f"SyncNet lip stream ({scorer.batch_size} windows)": gflops(lambda: scorer.lip_net(lips), runs),
            "SyncNet audio stream (64 windows)": gflops(lambda: scorer.audio_net(mfcc), runs),
            f"2048 x 2048 matrix product, {torch_env.dtype_name(scorer.precision)} (about the best this CPU does)": gflops(
                lambda: square @ square, runs
            ),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    allocator.keep_freed_memory()
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as scratch:
        work = Path(scratch)
        clip = make_clip(10, work / "talking_10s.mp4")
        os.environ.update(SYNCNET_WEIGHTS=str(save_state(random_syncnet_state(0), work / "syncnet_random.model")), ALLOW_UNVERIFIED_WEIGHTS="1")
        settings = load_settings()
        cores = torch_env.configure_threads(settings.torch_threads or torch_env.default_thread_count(1))
        detectors = Detectors(settings, torch.device("cpu"))
        syncnet, frames, voice = (detectors.models[name].get() for name in ("syncnet", "efficientnet", "voice"))
        tracker = detectors.face_tracker.get()
        if None in (syncnet, frames, voice, tracker):
            print("a detector did not load:", {name: lazy.error for name, lazy in detectors.models.items() if lazy.error})
            return 1

        stages: dict[str, tuple[float, float]] = {}
        wall, cpu, decoded = timed(lambda: decode_video(clip), args.runs)
        stages["decode"] = (wall, cpu)
        wall, cpu, tracking = timed(lambda: tracker.track(decoded.frames), args.runs)
        stages[f"face search ({tracking.detected_frames} frames) and tracks"] = (wall, cpu)
        wall, cpu, lips = timed(lambda: syncnet.measure(decoded, tracking, None, Stopwatch()), args.runs)
        stages["SyncNet (lip and audio windows, offsets)"] = (wall, cpu)
        wall, cpu, _ = timed(lambda: frames.measure(decoded, tracking, lips.track, Stopwatch()), args.runs)
        stages["frame classifier (crops and encoder)"] = (wall, cpu)
        wall, cpu, _ = timed(lambda: voice.measure(decoded, None, None, Stopwatch()), args.runs)
        stages["voice"] = (wall, cpu)

        print(f"10 s 640x480 clip, {cores} torch threads, median of {args.runs}, one stage at a time")
        print(f"{'stage':45s} {'wall ms':>8s} {'CPU ms':>8s} {'cores busy':>10s}")
        for name, (wall, cpu) in stages.items():
            print(f"{name:45s} {wall:8,.0f} {cpu:8,.0f} {cpu / wall:10.2f}")
        total_wall, total_cpu = (sum(column) for column in zip(*stages.values(), strict=True))
        print(f"{'all, one after the other':45s} {total_wall:8,.0f} {total_cpu:8,.0f}")
        print(f"floor with every one of the {cores} cores busy throughout: {total_cpu / cores:,.0f} ms ({total_cpu / cores / 10_000:.2f}x real time)")

        print("\nhow near its peak the heaviest work runs")
        for name, rate in stream_rates(syncnet, args.runs).items():
            print(f"  {name:75s} {rate:6,.0f} GFLOP/s")
        encoder = FloatTowerEncoder(encoder_file())
        faces = np.random.default_rng(0).standard_normal((16, 3, INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
        wall, _, _ = timed(lambda: encoder.embed(faces), args.runs)
        print(f"  {'CLIP ViT-B/16 float32 tower, 16 faces':75s} {16 * VIT_B16_MACS / wall / 1e6:6,.0f} G multiply-adds/s ({wall / 16:.0f} ms a face)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
