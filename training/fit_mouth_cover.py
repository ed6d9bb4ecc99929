"""Fits and measures the probe of `scoring.faces.mouth_cover`, behind the `mouth_hidden` guidance.

    python -m training.fit_mouth_cover --labels ../shared/datasets/ffpp/labels.csv \\
        --videos ../shared/datasets/ffpp/videos/c23 ../shared/media [--write]

1. Faces: the face crops of the labels CSV (genuine and fake alike: a fake's mouth is as visible), each
   with the box the service's face detector finds on it, each bare and under a mask, a hand and an
   object (`training.occluders`).
2. Fit: a logistic regression of ONet's features on the crops of --train-group, bare and covered
   faces weighing the same; its threshold lets --false-alarms of the other crops' bare faces read
   covered (they are its validation set: no recording below is seen before it is measured).
3. Per face: the share of bare faces read covered, and of each cover found, on both sets.
4. Per recording (--videos): each clip decoded as the service decodes it, searched every
   FACE_DET_STRIDE-th frame by the service's face detector and read by `guidance_codes` as a live
   session reads it: the clips that ever hear `mouth_hidden` bare, and, with each cover drawn from
   2 s on, the clips that hear it and how long after the cover appeared they first do.

Prints the report; --write stores the probe as models/guidance/mouth_cover.pt and the report beside it.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from scoring.errors import ServiceError
from scoring.faces.guidance import GuidanceReader, largest_face
from scoring.faces.mouth_cover import CoverProbe, MouthCover, face_inputs, load_mouth_cover
from scoring.faces.stage import build_tracker
from scoring.media.files import collect
from scoring.media.video import FPS, decode_video
from scoring.runtime import torch_env
from scoring.settings import load_settings
from scoring.weights.catalog import MOUTH_COVER_PROBE
from training.data import read_rows
from training.occluders import OCCLUDERS

COVER_FROM_S = 2.0  # when the cover appears in a measured recording
BARE = "bare"
WEIGHT_DECAY = 0.01


def some_of_each_group(rows: list[dict], most: int, seed: int) -> list[dict]:
    """At most `most` rows of each split group, drawn at random (by `seed`)."""
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    counts: Counter = Counter()
    kept = []
    for row in shuffled:
        counts[row["split_group"]] += 1
        if counts[row["split_group"]] <= most:
            kept.append(row)
    return kept


def crop_faces(rows: list[dict], root: Path, detector) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(image, largest face box, split group) of each crop the detector finds a face on."""
    faces = []
    for row in tqdm(rows, desc="crops", unit="crop"):
        image = cv2.imread(str(root / row["path"]))
        found = detector.detect([image])[0] if image is not None else []
        if len(found):
            faces.append((image, largest_face(found), row["split_group"]))
    return faces


@torch.inference_mode()
def feature_table(faces, model: MouthCover, seed: int) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """ONet features of every face bare and under each occluder, with the kind and the split group of each row."""
    rng = np.random.default_rng(seed)
    features, kinds, groups = [], [], []
    for index, (image, box, group) in enumerate(tqdm(faces, desc="features", unit="face")):
        donor = faces[(index + 1) % len(faces)][0]
        versions = {BARE: image} | {kind: draw(image, box, rng, donor) for kind, draw in OCCLUDERS.items()}
        features.append(model.features(face_inputs(list(versions.values()), np.repeat(box[None], len(versions), 0))))
        kinds += list(versions)
        groups += [group] * len(versions)
    return torch.cat(features), np.array(kinds), np.array(groups)


def fit_probe(features: torch.Tensor, covered: torch.Tensor) -> CoverProbe:
    """Logistic regression on standardised features, covered and bare faces weighing the same (L-BFGS)."""
    probe = CoverProbe()
    probe.feature_mean.copy_(features.mean(0))
    probe.feature_std.copy_(features.std(0) + 1e-6)
    balance = torch.where(covered > 0, 0.5 / covered.mean(), 0.5 / (1 - covered.mean()))
    optimizer = torch.optim.LBFGS(probe.head.parameters(), max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        losses = torch.nn.functional.binary_cross_entropy_with_logits(probe(features), covered, reduction="none")
        loss = (balance * losses).mean() + WEIGHT_DECAY * probe.head.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return probe.eval()


def fitted(features: torch.Tensor, kinds: np.ndarray, training: torch.Tensor, false_alarms: float) -> CoverProbe:
    """The probe fitted on the training rows, its threshold letting `false_alarms` of the other rows'
    bare faces read covered."""
    probe = fit_probe(features[training], torch.from_numpy(kinds != BARE)[training].float())
    with torch.inference_mode():
        bare_validation = probe(features[~training & torch.from_numpy(kinds == BARE)])
    probe.threshold.fill_(float(torch.quantile(bare_validation, 1 - false_alarms)))
    return probe


def per_face(logits: torch.Tensor, threshold: float, kinds: np.ndarray) -> dict:
    """The share of each kind read covered."""
    covered = (logits > threshold).numpy()
    return {kind: round(float(covered[kinds == kind].mean()), 3) for kind in (BARE, *OCCLUDERS)}


def searched_faces(frames: list[np.ndarray], detector, stride: int) -> dict[int, np.ndarray]:
    """The faces on each frame a live session searches (every `stride`-th)."""
    return {index: detector.detect([frames[index]])[0] for index in range(0, len(frames), stride)}


def heard_mouth_hidden(frames: list[np.ndarray], faces: dict[int, np.ndarray], model: MouthCover) -> list[int]:
    """The searched frames (`faces`' keys, in order) at which a live session would say `mouth_hidden`."""
    reader = GuidanceReader(model)
    return [index for index, found in faces.items() if "mouth_hidden" in reader.read(frames, index, found)]


def covered_frames(frames: list[np.ndarray], faces: dict[int, np.ndarray], draw, seed: int) -> list[np.ndarray]:
    """The recording with the cover over the largest face's mouth from COVER_FROM_S on, placed on the
    largest of the `faces` found at the latest search (the same occluder throughout: one seed)."""
    start, box, out = int(COVER_FROM_S * FPS), None, []
    for index, frame in enumerate(frames):
        if index in faces:
            box = largest_face(faces[index]) if len(faces[index]) else None
        out.append(draw(frame, box, np.random.default_rng(seed), frames[0]) if index >= start and box is not None else frame)
    return out


def per_recording(paths: list[Path], detector, stride: int, model: MouthCover, seconds: float) -> dict:
    start = int(COVER_FROM_S * FPS)
    told = {kind: [] for kind in (BARE, *OCCLUDERS)}
    delays = {kind: [] for kind in OCCLUDERS}
    for seed, path in enumerate(tqdm(paths, desc="recordings", unit="clip")):
        try:
            frames = decode_video(path).frames[: int(seconds * FPS)]
        except ServiceError as exc:
            tqdm.write(f"skipping {path.name}: {exc.message}")
            continue
        bare = searched_faces(frames, detector, stride)
        if heard_mouth_hidden(frames, bare, model):
            told[BARE].append(path.name)
        for kind, draw in OCCLUDERS.items():
            covered = covered_frames(frames, bare, draw, seed)
            after = [index for index in heard_mouth_hidden(covered, searched_faces(covered, detector, stride), model) if index >= start]
            if after:
                told[kind].append(path.name)
                delays[kind].append((after[0] - start) / FPS)
    report = {"clips": len(paths), "bare_clips_told": told[BARE]}
    for kind in OCCLUDERS:
        report[kind] = {"clips_told": len(told[kind]), "median_delay_s": round(float(np.median(delays[kind])), 2) if delays[kind] else None}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.fit_mouth_cover", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=Path, required=True, help="labels CSV of face crops (shared/datasets/ffpp layout)")
    parser.add_argument("--train-group", default="ffpp_tran:train", help="the split group fitted on; the other crops set the threshold")
    parser.add_argument("--false-alarms", type=float, default=0.001, help="share of the other crops' bare faces allowed to read covered")
    parser.add_argument("--videos", type=Path, nargs="*", default=[], help="recordings (files or folders) to measure the guidance on")
    parser.add_argument("--per-group", type=int, default=1200, help="at most this many crops of each split group (drawn by --seed)")
    parser.add_argument("--seconds", type=float, default=8.0, help="how much of each recording is read")
    parser.add_argument("--current", action="store_true", help="measure the bundled probe instead of fitting one")
    parser.add_argument("--write", action="store_true", help="store the probe and its report in models/guidance/")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = load_settings()
    torch_env.configure_threads(settings.torch_threads or torch_env.default_thread_count(1))
    tracker, _ = build_tracker(settings.faces, torch.device("cpu"), settings.allow_unverified_weights)
    rows = some_of_each_group([row for row in read_rows(args.labels) if row["kind"] == "image"], args.per_group, args.seed)
    model = load_mouth_cover(MOUTH_COVER_PROBE.path) if args.current else MouthCover()
    features, kinds, groups = feature_table(crop_faces(rows, args.labels.parent, tracker.detector), model, args.seed)
    features = features.clone()  # a plain tensor (made under inference mode), for the fit's gradients
    training = torch.from_numpy(groups == args.train_group)
    if not args.current:
        model.probe = fitted(features, kinds, training, args.false_alarms)
    with torch.inference_mode():
        logits = model.probe(features)
    threshold = float(model.probe.threshold)
    report = {
        "threshold": round(threshold, 3),
        "fitted_on": f"{args.labels} split group {args.train_group}: {int(training.sum()) // (1 + len(OCCLUDERS))} faces, each bare and under {', '.join(OCCLUDERS)}",
        "training_faces": per_face(logits[training], threshold, kinds[training.numpy()]),
        "validation_faces": per_face(logits[~training], threshold, kinds[~training.numpy()]),
    }
    if args.videos:
        report["recordings"] = per_recording(collect(args.videos), tracker.detector, tracker.stride, model, args.seconds)
    print(json.dumps(report, indent=2))
    if args.write:
        MOUTH_COVER_PROBE.path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.probe.state_dict(), MOUTH_COVER_PROBE.path)
        MOUTH_COVER_PROBE.path.with_suffix(".metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
