"""Numerical parity with the reference implementation (joonson/syncnet_python), same weights.

    git clone https://github.com/joonson/syncnet_python /tmp/syncnet_ref   # outside this repo
    python bench/parity_reference.py --reference /tmp/syncnet_ref [--video ../shared/media/syncnet_example.avi]

Needs the `ffmpeg` binary, which the reference shells out to (the service itself never does).
Weights in the official formats are generated with fixed seeds (tests/helpers/generated_weights.py),
since the official files cannot be downloaded everywhere; pass `--syncnet-weights`/`--s3fd-weights`
to use real ones.

SyncNet: the reference's own `SyncNetInstance.evaluate` runs on a temporary copy of its two files
with three mechanical edits: `.cuda()` removed (it hard-codes CUDA), frames written as PNG
instead of JPEG (so both sides see the same pixels; JPEG alone moves min dist by ~0.1) and
`torch.load(..., weights_only=True)`. Prints both results, the largest differences of the mean
distance curve and framewise confidence, and both wall times.

S3FD: the reference's `S3FDNet` and `nms_` with its `detect_faces` preprocessing, at scale 0.25
and low thresholds, against ours on the first, middle and last frame of each clip.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
from scipy import signal

from scoring.faces.detection import load_s3fd_net
from scoring.faces.s3fd import S3FD
from scoring.media.video import decode_video
from scoring.runtime import torch_env
from scoring.syncnet.inference import load_syncnet_v2
from scoring.syncnet.scorer import SyncNetScorer
from syncnet_python.crops import WholeFrameCrops
from tests.helpers.generated_weights import random_s3fd_state, random_syncnet_state, save_state

ROOT = Path(__file__).resolve().parents[1]
SHARED_MEDIA = ROOT.parent / "shared" / "media"
S3FD_CLIPS = ["syncnet_example.avi", "talking/akash_video_8s.mp4", "talking/grid_bbaf2n.mpg", "talking/ankurbhatia24_test_video_crop.mp4"]
S3FD_THRESHOLDS = (0.3, 0.45, 0.5)
REFERENCE_EDITS = [
    (r"\.cuda\(\)", ""),
    (r"\.jpg", ".png"),
    (r"torch\.load\(path, map_location=lambda storage, loc: storage\)", 'torch.load(path, map_location="cpu", weights_only=True)'),
]


def cpu_copy_of_reference(reference: Path, into: Path) -> Path:
    for name in ("SyncNetInstance.py", "SyncNetModel.py"):
        text = (reference / name).read_text()
        for pattern, replacement in REFERENCE_EDITS:
            text = re.sub(pattern, replacement, text)
        (into / name).write_text(text)
    return into


def reference_syncnet(reference: Path, weights: Path, video: Path, vshift: int, scratch: Path) -> tuple[dict, np.ndarray, np.ndarray, float]:
    sys.path.insert(0, str(cpu_copy_of_reference(reference, scratch)))
    instance = importlib.import_module("SyncNetInstance").SyncNetInstance()
    instance.loadParameters(str(weights))
    options = types.SimpleNamespace(tmp_dir=str(scratch / "frames"), reference="parity", batch_size=20, vshift=vshift)
    started = time.perf_counter()
    offset, confidence, dists = instance.evaluate(options, videofile=str(video))
    seconds = time.perf_counter() - started
    curve = dists.mean(0)
    result = {"offset": int(offset), "min_dist": float(curve.min()), "confidence": float(confidence)}
    framewise = signal.medfilt(float(np.median(curve)) - dists[:, int(np.argmin(curve))], kernel_size=9)
    return result, curve, framewise, seconds


def our_syncnet(weights: Path, video: Path, vshift: int) -> tuple[dict, np.ndarray, np.ndarray, float]:
    scorer = SyncNetScorer(load_syncnet_v2(weights), torch.device("cpu"))

    def measure():
        decoded = decode_video(video)
        return scorer.measure(WholeFrameCrops(decoded.frames), decoded.num_frames, decoded.audio, vshift)

    measure()  # warm-up, as the service's workers are
    started = time.perf_counter()
    measured = measure()
    seconds = time.perf_counter() - started
    result = {"offset": measured.offset, "min_dist": measured.min_dist, "confidence": measured.confidence}
    return result, np.asarray(measured.mean_dists), np.asarray(measured.framewise_confidence), seconds


def compare_syncnet(args, weights: Path, scratch: Path) -> None:
    ref, ref_curve, ref_framewise, ref_seconds = reference_syncnet(args.reference, weights, args.video, args.vshift, scratch)
    ours, curve, framewise, seconds = our_syncnet(weights, args.video, args.vshift)
    print(f"SyncNet on {args.video.name}, weights {weights.name}")
    print(f"  reference  offset {ref['offset']:+d}  min_dist {ref['min_dist']:.6f}  confidence {ref['confidence']:.6f}  evaluate() {ref_seconds:.2f} s")
    print(f"  ours       offset {ours['offset']:+d}  min_dist {ours['min_dist']:.6f}  confidence {ours['confidence']:.6f}  decode + measure {seconds:.2f} s")
    print(
        f"  max abs difference: min_dist {abs(ref['min_dist'] - ours['min_dist']):.1e}, confidence {abs(ref['confidence'] - ours['confidence']):.1e}, "
        f"mean distance curve {np.abs(ref_curve - curve).max():.1e}, framewise confidence {np.abs(ref_framewise - framewise).max():.1e} over {len(framewise)} windows"
    )
    print(f"  speed-up {ref_seconds / seconds:.2f}x")


def reference_s3fd(reference: Path, weights: Path):
    np.int = int  # the reference's nms_ still uses the alias numpy removed
    warnings.filterwarnings("ignore", module="reference_s3fd")  # its in-place resizes warn on every frame
    package = types.ModuleType("reference_s3fd")
    package.__path__ = [str(reference / "detectors" / "s3fd")]
    sys.modules["reference_s3fd"] = package
    nets, boxes = importlib.import_module("reference_s3fd.nets"), importlib.import_module("reference_s3fd.box_utils")
    net = nets.S3FDNet(device="cpu")
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return net.eval(), boxes.nms_


def reference_boxes(net, nms, image_rgb: np.ndarray, threshold: float, scale: float) -> np.ndarray:
    """The reference's detect_faces for one scale, with a bound on the candidate loop (random
    weights can fill a whole class row, which the reference would index past)."""
    height, width = image_rgb.shape[:2]
    scaled = cv2.resize(image_rgb, dsize=(0, 0), fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    bgr_mean = np.array([104.0, 117.0, 123.0], np.float32)[:, None, None]
    chw = scaled.transpose(2, 0, 1)[::-1].astype(np.float32) - bgr_mean
    with torch.no_grad():
        detections = net(torch.from_numpy(np.ascontiguousarray(chw[::-1])).unsqueeze(0))
    found = [
        (*(detections[0, c, j, 1:] * torch.tensor([width, height, width, height])).numpy(), float(detections[0, c, j, 0]))
        for c in range(detections.size(1))
        for j in range(detections.size(2))
        if detections[0, c, j, 0] > threshold
    ]
    candidates = np.array(found, dtype=np.float64).reshape(-1, 5)
    return candidates[nms(candidates, 0.1)]


def compare_s3fd(args, weights: Path) -> None:
    net, nms = reference_s3fd(args.reference, weights)
    ours = S3FD(load_s3fd_net(weights), torch.device("cpu"), scale=0.25)
    cases = mismatched = 0
    worst = 0.0
    for clip in S3FD_CLIPS:
        decoded = decode_video(SHARED_MEDIA / clip)
        for index in (0, decoded.num_frames // 2, decoded.num_frames - 1):
            frame = decoded.frames[index]
            for threshold in S3FD_THRESHOLDS:
                ours.threshold = threshold
                mine = ours.detect([frame])[0]
                theirs = reference_boxes(net, nms, np.ascontiguousarray(frame[:, :, ::-1]), threshold, 0.25)
                cases += 1
                if mine.shape != theirs.shape:
                    mismatched += 1
                    print(f"  {clip} frame {index} threshold {threshold}: {len(mine)} boxes here, {len(theirs)} in the reference")
                elif len(mine):
                    worst = max(worst, float(np.abs(mine - theirs).max()))
    print(f"S3FD, weights {weights.name}: {cases} frame/threshold cases, {cases - mismatched} with the same boxes, largest coordinate difference {worst:.1e} px")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path, required=True, help="a checkout of joonson/syncnet_python")
    parser.add_argument("--video", type=Path, default=SHARED_MEDIA / "syncnet_example.avi")
    parser.add_argument("--vshift", type=int, default=15)
    parser.add_argument("--syncnet-weights", type=Path, help="default: seeded random weights in the official format")
    parser.add_argument("--s3fd-weights", type=Path, help="default: seeded random weights in the official format")
    args = parser.parse_args(argv)
    torch_env.configure_threads(2)
    with tempfile.TemporaryDirectory(prefix="parity-") as scratch:
        scratch = Path(scratch)
        syncnet_weights = args.syncnet_weights or save_state(random_syncnet_state(seed=0), scratch / "syncnet_random.model")
        s3fd_weights = args.s3fd_weights or save_state(random_s3fd_state(seed=0), scratch / "sfd_random.pth")
        compare_syncnet(args, syncnet_weights, scratch)
        compare_s3fd(args, s3fd_weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
