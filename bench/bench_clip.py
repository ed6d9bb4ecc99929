"""The CLIP encoder's cost per face by the number of faces run side by side (the packaged INT8 file).

    python bench/bench_clip.py [--faces 16] [--threads 1,2] [--runs 3]

Prints the median milliseconds per face of embedding `--faces` random 224 px faces, one face per
ONNX Runtime run (scoring.clip.encoder says why), on 1, 2, ... threads, after one warm-up run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from scoring.clip.encoder import INPUT_SIZE, ClipEncoder, encoder_file


def per_face_ms(encoder: ClipEncoder, faces: np.ndarray, runs: int) -> float:
    encoder.embed(faces)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        encoder.embed(faces)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000 / len(faces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=16)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    faces = np.random.default_rng(0).standard_normal((args.faces, 3, INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
    path = encoder_file()
    print(f"{path.name}: {args.faces} faces, median of {args.runs} runs")
    print("threads  ms/face")
    for threads in (int(t) for t in args.threads.split(",")):
        print(f"{threads:7d}  {per_face_ms(ClipEncoder(path, threads), faces, args.runs):7.1f}")


if __name__ == "__main__":
    main()
