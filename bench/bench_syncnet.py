"""Per-stage times and real-time factor of the SyncNet branch, fast and exact mode.

    python bench/bench_syncnet.py [--device cpu|cuda] [--clips ...]

Stages: decode, scene cuts, face detection, tracking, crops, MFCC, audio and lip embeddings,
distances. Real-time factor = processing seconds / clip seconds. Default clips: the shared talking
clips and a 10 s 640x480 clip made from the shared interview (in a temporary folder).

Numbers only depend on the network shapes, so SyncNet runs with weights in the official format
made here (tests/helpers/generated_weights.py, the probe); no real weights exist on this machine.
Faces are tracked with MTCNN (the detector in use without the official S3FD file); S3FD's per-frame
cost is timed separately with official-format weights at the reference's 0.25 scale.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from scoring.faces.detection import load_s3fd_net
from scoring.faces.s3fd import S3FD
from scoring.media.video import decode_video
from scoring.runtime import torch_env
from scoring.runtime.timing import Stopwatch
from scoring.settings import load_settings
from syncnet_wrapper import SyncNetWrapper
from tests.helpers.generated_weights import probe_syncnet_state, random_s3fd_state, save_state

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
STAGES = ("decode", "scenes", "face_detection", "tracking", "crops", "mfcc", "audio_embeddings", "lip_embeddings", "distances")


def ten_second_vga(source: Path, target: Path) -> Path:
    """The first 10 s of `source`, letterboxed to 640x480, H.264 + AAC."""
    decoded = decode_video(source)
    frames = decoded.frames[:250]
    with av.open(str(target), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 640, 480, "yuv420p"
        audio = out.add_stream("aac", rate=16000)
        audio.layout = "mono"
        for frame in frames:
            canvas = np.zeros((480, 640, 3), np.uint8)
            h, w = frame.shape[:2]
            top = (480 - h) // 2
            canvas[top : top + h, :w] = frame
            for packet in video.encode(av.VideoFrame.from_ndarray(canvas, format="bgr24")):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        pcm = decoded.audio[: 10 * 16000]
        for start in range(0, pcm.size, 1024):
            chunk = av.AudioFrame.from_ndarray(pcm[None, start : start + 1024].copy(), format="s16", layout="mono")
            chunk.sample_rate, chunk.pts = 16000, start
            for packet in audio.encode(chunk):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
    return target


def branch(device: torch.device, mode: str, weights: Path) -> SyncNetWrapper:
    settings = load_settings()
    settings = settings.replace(
        faces=dataclasses.replace(settings.faces, face_detector="mtcnn"),
        syncnet=dataclasses.replace(settings.syncnet, mode=mode, weights=weights),
        allow_unverified_weights=True,
    )
    return SyncNetWrapper.from_settings(settings, device)


def run(wrapper: SyncNetWrapper, clip: Path) -> tuple[dict, float, float, int]:
    watch = Stopwatch()
    started = time.perf_counter()
    result = wrapper.process_video(clip, watch=watch)
    total = time.perf_counter() - started
    duration = decode_video(clip).duration_s
    windows = result["speaker_track"]["windows_used"] + sum(t.get("windows_used", 0) for t in result["other_tracks"])
    return watch.seconds, total, duration, windows


def s3fd_per_frame(device: torch.device, clip: Path, weights: Path) -> tuple[float, str]:
    """Seconds per frame of `clip`, and the frame size."""
    detector = S3FD(load_s3fd_net(weights), device, scale=0.25, threshold=0.9)
    frames = decode_video(clip).frames[:48]
    detector.detect(frames[:8])
    started = time.perf_counter()
    detector.detect(frames)
    height, width = frames[0].shape[:2]
    return (time.perf_counter() - started) / len(frames), f"{width}x{height}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--clips", nargs="*", type=Path)
    args = parser.parse_args()
    device = torch_env.resolve_device(args.device)
    threads = torch_env.configure_threads(args.threads or torch_env.default_thread_count(1))
    with tempfile.TemporaryDirectory() as workdir:
        clips = args.clips or [
            MEDIA / "syncnet_example.avi",
            MEDIA / "talking" / "grid_bbaf2n.mpg",
            MEDIA / "talking" / "akash_video_8s.mp4",
            ten_second_vga(MEDIA / "talking" / "ankurbhatia24_test_video_crop.mp4", Path(workdir) / "vga_10s.mp4"),
        ]
        print(f"device {device}, {threads} torch threads, {cv2.getNumThreads()} OpenCV threads")
        header = f"{'clip':28s} {'mode':5s} {'secs':>5s} {'windows':>7s} " + " ".join(f"{s[:10]:>10s}" for s in STAGES) + f" {'total':>7s} {'RTF':>5s}"
        print(header)
        syncnet_weights = save_state(probe_syncnet_state(), Path(workdir) / "syncnet_probe.model")
        for mode in ("fast", "exact"):
            wrapper = branch(device, mode, syncnet_weights)
            run(wrapper, min(clips, key=lambda c: c.stat().st_size))  # warm-up: load MTCNN, create kernels
            for clip in clips:
                stages, total, duration, windows = run(wrapper, clip)
                cells = " ".join(f"{stages.get(s, 0.0):10.2f}" for s in STAGES)
                print(f"{clip.name[:28]:28s} {mode:5s} {duration:5.1f} {windows:7d} {cells} {total:7.2f} {total / duration:5.2f}")
        s3fd_seconds, frame_size = s3fd_per_frame(device, clips[-1], save_state(random_s3fd_state(), Path(workdir) / "sfd_random.pth"))
        print(f"\nS3FD face detection at scale 0.25: {s3fd_seconds * 1000:.0f} ms per {frame_size} frame "
              f"(fast mode searches every {load_settings().faces.face_det_stride}th frame, exact mode every frame)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
