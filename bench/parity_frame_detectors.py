"""Parity of the published frame detectors with their authors' code, without their weights.

    python bench/parity_frame_detectors.py --reference-dir /tmp/frame_refs [--reference-pythonpath /tmp/refpkgs]

`--reference-dir` holds scratch checkouts (outside this repository, never committed) of
polimi-ispl/icpr2020dfdc, selimsef/dfdc_deepfake_challenge, mapooon/SelfBlendedImages,
SCLBD/DeepfakeBench (its EfficientNet-B4, Xception, F3Net and Effort) and TRahulsingh/DeepfakeDetector,
under their repository names. Their code
needs packages this project does not: timm 0.6.13 (selimsef imports `tf_efficientnet_b7_ns`, which
timm 1.x only maps by name) and albumentations 1.3.1 (polimi, selimsef), e.g.
`pip install --no-deps --target /tmp/refpkgs timm==0.6.13 albumentations==1.3.1 qudida==0.0.4 scikit-image`.

For every clip of ../shared/media it decodes, tracks faces with this project's face stage and
samples frames along the speaker's track. Then, per detector, `bench/reference_frame_detectors.py`
(in its own process, the author's repository first on sys.path) saves seeded random weights in
the author's checkpoint format and scores those faces with the author's model class and
preprocessing; this project loads the same file through `EfficientNetDetector` and scores the
same frames and boxes. Printed per detector: the largest |P(real) ours - P(real) theirs| over
the faces and over the per-clip aggregates (goal: at most 1e-4), and, where the authors' face
detector runs here (BlazeFace for polimi, MTCNN on half frames for selimsef), what using our
box instead costs: the mean IoU of the two boxes and the mean |P(real)| difference between the
author's pipeline on their box and on ours. The weights are random, so that cost measures how
far the crops differ, not a loss of accuracy.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from efficientnet_detector import EfficientNetDetector
from scoring.faces.crops import sample_faces
from scoring.faces.stage import build_tracker
from scoring.frames.profiles import square_region
from scoring.media.video import decode_video
from scoring.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
SHARED_MEDIA = ROOT.parent / "shared" / "media"
CLIPS = [
    "talking/akash_video_8s.mp4",
    "talking/ankurbhatia24_test_video_crop.mp4",
    "syncnet_example.avi",
    "talking/grid_bbaf2n.mpg",
    "wav2lip_pair/FAKE_wav2lip_result_voice.mp4",
]
# detector: (repository, weights file name in the author's style)
DETECTORS = {
    "polimi": ("icpr2020dfdc", "EfficientNetB4_parity.pth"),
    "polimi-att": ("icpr2020dfdc", "EfficientNetAutoAttB4_parity.pth"),
    "polimi-att-st": ("icpr2020dfdc", "EfficientNetAutoAttB4ST_parity.pth"),
    "selimsef": ("dfdc_deepfake_challenge", "final_parity_DeepFakeClassifier_tf_efficientnet_b7_ns_0"),
    "sbi": ("SelfBlendedImages", "FFraw_parity.tar"),
    "deepfakebench": ("DeepfakeBench", "effnb4_parity.pth"),
    "deepfakebench-xception": ("DeepfakeBench", "xception_parity.pth"),
    "deepfakebench-f3net": ("DeepfakeBench", "f3net_parity.pth"),
    "effort": ("DeepfakeBench", "effort_parity.pth"),
    "deepfakedetector": ("DeepfakeDetector", "best_model-parity.pt"),
}
# DeepfakeBench aligns on dlib landmarks and DeepfakeDetector reads whole frames: both sides get our square region.
SQUARE_MARGIN = 0.15


def sample_clip_faces(frames_per_clip: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    settings = load_settings()
    tracker, _ = build_tracker(settings.faces, "cpu", settings.allow_unverified_weights)
    frames, boxes, clips = [], [], []
    for clip, name in enumerate(CLIPS):
        decoded = decode_video(SHARED_MEDIA / name)
        faces = sample_faces(tracker.track(decoded.frames), frames_per_clip)
        frames += decoded.rgb_frames(faces.frame_indices)
        for box in faces.boxes:
            # float32 values, as the authors' detectors hand boxes over: both sides start from the same numbers.
            boxes.append(np.asarray(box[:4], dtype=np.float32).astype(np.float64))
            clips.append(clip)
    return frames, np.array(boxes), np.array(clips)


def save_inputs(path: Path, frames, boxes, clips) -> None:
    arrays = {f"frame_{i}": frame for i, frame in enumerate(frames)}
    arrays.update({f"region_{i}": square_region(frame, box, SQUARE_MARGIN) for i, (frame, box) in enumerate(zip(frames, boxes, strict=True))})
    np.savez(path, boxes=boxes, clips=clips, **arrays)


def run_reference(detector: str, reference_dir: Path, pythonpath: str | None, inputs: Path, work: Path) -> tuple[Path, dict, float]:
    repository, weights_name = DETECTORS[detector]
    weights, outputs = work / weights_name, work / f"{detector}.npz"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (pythonpath, str(reference_dir / repository)) if p)}
    command = [sys.executable, str(ROOT / "bench" / "reference_frame_detectors.py"), detector, "--repo", str(reference_dir / repository)]
    command += ["--inputs", str(inputs), "--weights", str(weights), "--outputs", str(outputs)]
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=work)
    return weights, dict(np.load(outputs)), time.perf_counter() - started


def ours(weights: Path, frames, boxes, clips) -> tuple[np.ndarray, np.ndarray, dict, float]:
    """P(real) per face and per clip through EfficientNetDetector, unrounded; and the file's spec."""
    detector = EfficientNetDetector(weights, "cpu")
    model = detector.models[0]
    started = time.perf_counter()
    faces = model.profile.face_inputs(frames, boxes)
    raw = detector.outputs(model, faces)
    per_face = model.profile.real_probability(raw).numpy()
    per_clip = np.array([model.profile.video_real_probability(raw[clips == c]) for c in np.unique(clips)])
    return per_face, per_clip, model.spec.summary(), time.perf_counter() - started


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1, y1 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    x2, y2 = np.minimum(a[:, 2], b[:, 2]), np.minimum(a[:, 3], b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference-dir", type=Path, required=True)
    parser.add_argument("--reference-pythonpath", help="extra sys.path for the authors' code (timm 0.6.13, albumentations 1.3.1)")
    parser.add_argument("--frames-per-clip", type=int, default=4)
    parser.add_argument("--only", nargs="*", choices=sorted(DETECTORS), help="a subset of the detectors")
    args = parser.parse_args()

    frames, boxes, clips = sample_clip_faces(args.frames_per_clip)
    print(f"{len(frames)} faces from {len(CLIPS)} clips of {SHARED_MEDIA}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="frame-parity-") as scratch:
        work = Path(scratch)
        save_inputs(work / "faces.npz", frames, boxes, clips)
        for detector in args.only or DETECTORS:
            weights, theirs, their_seconds = run_reference(
                detector, args.reference_dir, args.reference_pythonpath, work / "faces.npz", work
            )
            per_face, per_clip, spec, our_seconds = ours(weights, frames, boxes, clips)
            face_gap = float(np.max(np.abs(per_face - theirs["p_real"])))
            clip_gap = float(np.max(np.abs(per_clip - theirs["video_p_real"])))
            row = {
                "detector": detector,
                "recognised as": f"{spec['architecture']} / {spec['profile']['name']}",
                "P(real) range": f"{per_face.min():.3f}-{per_face.max():.3f}",
                "max |dP| faces": f"{face_gap:.1e}",
                "max |dP| clips": f"{clip_gap:.1e}",
                "their box: IoU, mean |dP|": "-",
                "s (theirs / ours)": f"{their_seconds:.1f} / {our_seconds:.1f}",
            }
            if "their_boxes" in theirs:
                found = ~np.isnan(theirs["p_real_their_box"])
                iou = box_iou(theirs["their_boxes"][found], theirs["our_boxes"][found])
                cost = np.abs(theirs["p_real_their_box"][found] - theirs["p_real"][found])
                row["their box: IoU, mean |dP|"] = f"{iou.mean():.2f}, {cost.mean():.4f} ({found.sum()}/{len(found)} found)"
            rows.append(row)
            print(" | ".join(f"{k}: {v}" for k, v in row.items()), flush=True)
    print()
    header = list(rows[0])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row[k] for k in header) + " |")
    worst = max(float(r["max |dP| faces"]) for r in rows), max(float(r["max |dP| clips"]) for r in rows)
    print(f"\nlargest |dP(real)|: {worst[0]:.1e} over faces, {worst[1]:.1e} over clips (goal <= 1e-4)")
    return 0 if max(worst) <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
