"""A verification clip scored end to end by the real service, with both detectors running.

    python bench/bench_end_to_end.py [--seconds 3 10 30] [--runs 4] [--modes fast exact]

Makes 640x480 25 fps talking clips (3, 10 and 30 s by default) from
../shared/media/talking/ankurbhatia24_test_video_crop.mp4 (640x360 letterboxed, looped past its
27.5 s), starts gunicorn with the default configuration and SyncNet on seeded random weights in
the official format (so its offset never settles and every lip window up to the fast-mode cap is
embedded: the worst case), posts each clip `--runs` times after one warm-up, and prints the median
`processing_time_ms`, the real-time factor and every stage's median (`timings_ms`). It runs once
per frame detector: the bundled model, and the default published detector's architecture
(polimi EfficientNetAutoAttB4, generated weights in its authors' format). These weights test
speed only; their scores mean nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import requests
import torch

from scoring.frames.families.polimi import PolimiNet
from scoring.media.video import decode_video
from scoring.weights.catalog import BUNDLED_FRAME_DETECTOR
from tests.helpers import media
from tests.helpers.generated_weights import random_syncnet_state, save_state
from tools.local_server import gunicorn_server

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "media" / "talking" / "ankurbhatia24_test_video_crop.mp4"
WIDTH, HEIGHT, FPS, RATE = 640, 480, 25, 16000


def make_clip(seconds: float, target: Path) -> Path:
    """The source letterboxed to 640x480 and looped (video and audio together, so they stay in sync)."""
    decoded = decode_video(SOURCE)
    needed, per_frame = int(seconds * FPS), RATE // FPS
    top = (HEIGHT - decoded.frames[0].shape[0]) // 2
    repeats = -(-needed // decoded.num_frames)
    frames = []
    for frame in (decoded.frames * repeats)[:needed]:
        canvas = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        canvas[top : top + frame.shape[0]] = frame
        frames.append(canvas)
    audio = np.zeros(decoded.num_frames * per_frame, np.int16)
    audio[: min(audio.size, decoded.audio.size)] = decoded.audio[: audio.size]
    return media.write_video(target, frames, FPS, audio=np.tile(audio, repeats)[: needed * per_frame], audio_rate=RATE)


def polimi_file(target: Path) -> Path:
    torch.manual_seed(0)
    torch.save({"net": PolimiNet(attention=True).state_dict(), "epoch": 0}, target)
    return target


def score(url: str, clip: Path) -> dict:
    with clip.open("rb") as stream:
        response = requests.post(f"{url}/score", files={"video": (clip.name, stream, "video/mp4")}, timeout=600)
    response.raise_for_status()
    return response.json()


def run(url: str, clip: Path, runs: int) -> tuple[float, dict[str, float], dict]:
    score(url, clip)  # warm-up: the first request loads the models
    bodies = [score(url, clip) for _ in range(runs)]
    stages = {name: statistics.median(b["timings_ms"].get(name, 0.0) for b in bodies) for name in bodies[0]["timings_ms"]}
    return statistics.median(b["processing_time_ms"] for b in bodies), stages, bodies[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs="*", default=[3, 10, 30])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--modes", nargs="*", default=["fast"], choices=["fast", "exact"])
    parser.add_argument("--detectors", nargs="*", default=["bundled", "polimi"], choices=["bundled", "polimi"])
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="NAME=VALUE", help="more settings for the service, e.g. SYNCNET_PRECISION=bfloat16"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as scratch:
        work = Path(scratch)
        clips = {seconds: make_clip(seconds, work / f"talking_{seconds:g}s.mp4") for seconds in args.seconds}
        syncnet = save_state(random_syncnet_state(0), work / "syncnet_random.model")
        frame_files = {"bundled": BUNDLED_FRAME_DETECTOR.path, "polimi": polimi_file(work / "EfficientNetAutoAttB4_generated.pth")}
        for detector in args.detectors:
            for mode in args.modes:
                env = {
                    "SYNCNET_WEIGHTS": str(syncnet),
                    "ALLOW_UNVERIFIED_WEIGHTS": "1",
                    "EFFICIENTNET_WEIGHTS": str(frame_files[detector]),
                    "SYNCNET_MODE": mode,
                    **dict(pair.split("=", 1) for pair in args.set),
                }
                with gunicorn_server(env) as url:
                    for seconds, clip in clips.items():
                        median_ms, stages, body = run(url, clip, args.runs)
                        ran = [name for name in ("syncnet", "efficientnet", "voice") if (body.get(name) or {}).get("score") is not None]
                        lips = body["syncnet"]
                        windows = sum(t.get("windows_used", 0) for t in [lips.get("speaker_track") or {}, *lips.get("other_tracks", [])])
                        frames = (body.get("efficientnet") or {}).get("num_frames")
                        print(
                            f"\n{detector} frame detector, SYNCNET_MODE={mode} {' '.join(args.set)}, {seconds:g} s 640x480 clip: median {median_ms:,.0f} ms = "
                            f"{median_ms / 1000 / seconds:.2f}x real time (detectors: {', '.join(ran)}; lip windows {windows}, classifier frames {frames})"
                        )
                        for name, ms in sorted(stages.items(), key=lambda item: -item[1]):
                            print(f"  {name:24s} {ms:8,.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
