"""The labelled data every trainer reads, in one place so that every model family trains and is validated on the same crops.

- Rows come from a labels CSV in the layout of shared/datasets/ffpp (`path`, `label`, `kind`, `split_group`).
- Splits go by `split_group`, never by file, so the faces of one video never both train and validate.
- Video faces go through the service's own decode, face stage and crop: a model learns from the crops it will be served.
- One evaluation, per frame and per video, so the families' reports compare.

Folders are walked by `scoring.media.files`, not by the HTTP client: training needs no service.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageFilter
from torch import nn
from tqdm import tqdm

from scoring.errors import ServiceError
from scoring.faces.crops import sample_faces
from scoring.faces.stage import build_tracker
from scoring.frames.families.clip_tokens import MOUTH_BOX
from scoring.frames.profiles import IMAGENET, Profile, square_profile
from scoring.media.files import collect
from scoring.media.video import decode_video
from scoring.runtime import torch_env
from scoring.runtime.torchvision_ops import prepare_torchvision
from scoring.settings import Settings, load_settings
from training import metrics

LABELS = {"REAL": 1, "FAKE": 0}  # 1 = real, matching metrics.py
CLASS_ORDER = ("real", "fake")  # network output index 0 = real, 1 = fake


@dataclass
class Sample:
    image: np.ndarray  # RGB uint8, cache_size x cache_size
    label: int  # 1 real, 0 fake
    video: str  # id of the source video/collection, for video-level metrics
    group: str


def read_rows(labels_csv: Path) -> list[dict]:
    with labels_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"path", "label", "kind", "split_group"} - set(rows[0] if rows else {})
    if missing:
        raise SystemExit(f"{labels_csv} lacks columns {sorted(missing)}")
    return rows


def manipulation(row: dict) -> str | None:
    """The method that made a fake row: the folder after `fake/` in its path (the FF++ layout); None for genuine rows."""
    if row["label"].upper() != "FAKE":
        return None
    parts = Path(row["path"]).parts
    return parts[parts.index("fake") + 1] if "fake" in parts[:-1] else "unknown"


def extra_real_rows(paths: list[Path]) -> list[dict]:
    return [{"path": str(p.resolve()), "label": "REAL", "kind": "video", "split_group": f"extra:{p.stem}"} for p in collect(paths)]


def split_rows(rows: list[dict], val_groups: set[str], held_out_method: str | None) -> tuple[list[dict], list[dict]]:
    def trains(row: dict) -> bool:
        return row["split_group"] not in val_groups and (held_out_method is None or manipulation(row) != held_out_method)

    def validates(row: dict) -> bool:
        return row["split_group"] in val_groups and (held_out_method is None or manipulation(row) in (None, held_out_method))

    return [r for r in rows if trains(r)], [r for r in rows if validates(r)]


def choose_validation_groups(rows: list[dict], fraction: float, seed: int) -> set[str]:
    video_groups = sorted({r["split_group"] for r in rows if r["kind"] == "video"})
    ranked = sorted(video_groups, key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
    return set(ranked[: max(1, round(len(ranked) * fraction))])


def load_image(path: Path, size: int) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR))


class VideoFaces:
    """Face crops of a video exactly as the service makes them (decode, the service's face stage, crop)."""

    def __init__(self, margin: float, device: torch.device, settings: Settings):
        self.tracker, _ = build_tracker(settings.faces, device, settings.allow_unverified_weights)
        self.margin = margin

    def crops(self, path: Path, frames: int, size: int) -> list[np.ndarray]:
        decoded = decode_video(path)
        faces = sample_faces(self.tracker.track(decoded.frames), frames)
        profile = model_profile(size, self.margin)
        return list(profile.face_inputs(decoded.rgb_frames(faces.frame_indices), faces.boxes))


def build_samples(
    rows, root: Path, size: int, frames_per_video: int, video_faces: VideoFaces, cache: Path | None, desc: str
) -> list[Sample]:
    samples = []
    for row in tqdm(rows, desc=desc, unit="file"):
        path, label = root / row["path"], LABELS[row["label"].upper()]
        if row["kind"] == "image":
            samples.append(Sample(load_image(path, size), label, row.get("video_id") or row["path"], row["split_group"]))
            continue
        images = _cached_video_crops(path, frames_per_video, size, video_faces, cache)
        samples += [Sample(image, label, row["path"], row["split_group"]) for image in images]
    return samples


def _cached_video_crops(path: Path, frames: int, size: int, video_faces: VideoFaces, cache: Path | None) -> list[np.ndarray]:
    key = hashlib.sha256(f"{path.resolve()}:{path.stat().st_size}:{frames}:{size}:{video_faces.margin}".encode()).hexdigest()[:24]
    cached = cache / f"{key}.npy" if cache else None
    if cached is not None and cached.is_file():
        return list(np.load(cached, allow_pickle=False))
    try:
        images = video_faces.crops(path, frames, size)
    except ServiceError as exc:
        tqdm.write(f"skipping {path.name}: {exc.message}")
        images = []
    if cached is not None and images:
        cache.mkdir(parents=True, exist_ok=True)
        np.save(cached, np.stack(images), allow_pickle=False)
    return images


def self_blend(face: np.ndarray, rng: random.Random) -> np.ndarray:
    """A pseudo-fake: the face blended into itself after a small colour and geometry change,
    inside a soft ellipse around the face centre, leaving blending boundaries to learn."""
    size = face.shape[0]
    source = face.astype(np.float32)
    source = source * rng.uniform(0.9, 1.1) + rng.uniform(-12, 12)
    scale = rng.uniform(0.95, 1.05)
    shift = rng.uniform(-0.03, 0.03) * size, rng.uniform(-0.03, 0.03) * size
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), 0, scale)
    matrix[:, 2] += shift
    source = cv2.warpAffine(source, matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
    mask = np.zeros((size, size), np.float32)
    axes = (int(size * rng.uniform(0.25, 0.36)), int(size * rng.uniform(0.32, 0.44)))
    cv2.ellipse(mask, (size // 2, int(size * rng.uniform(0.5, 0.58))), axes, 0, 0, 360, 1.0, -1)
    kernel = 2 * int(size * rng.uniform(0.03, 0.12)) + 1
    mask = cv2.GaussianBlur(mask, (kernel, kernel), 0)[..., None] * rng.uniform(0.6, 1.0)
    return np.clip(source * mask + face * (1 - mask), 0, 255).astype(np.uint8)


def mouth_swapped(face: np.ndarray, donor: np.ndarray) -> np.ndarray:
    """A lip-sync-like fake of a face crop: its mouth (MOUTH_BOX of the project's square crop) replaced
    by the same person's mouth at another moment (`donor`, a crop of the same track), in a soft
    ellipse, as audio-driven generators re-render only that region."""
    size = face.shape[0]
    x1, y1, x2, y2 = (int(round(v * size)) for v in MOUTH_BOX)
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, ((x1 + x2) // 2, (y1 + y2) // 2), ((x2 - x1) // 2, (y2 - y1) // 2), 0, 0, 360, 1.0, -1)
    kernel = 2 * max(1, size // 40) + 1
    mask = cv2.GaussianBlur(mask, (kernel, kernel), 0)[..., None]
    donor = cv2.resize(donor, (size, size), interpolation=cv2.INTER_AREA) if donor.shape[:2] != face.shape[:2] else donor
    return np.clip(donor.astype(np.float32) * mask + face.astype(np.float32) * (1 - mask), 0, 255).astype(np.uint8)


def resampled(face: np.ndarray, rng: random.Random) -> np.ndarray:
    """Every pixel of a face crop re-rendered, as a whole-frame generator changes them all: JPEG at a
    low quality, halved and enlarged, WebP, then denoised."""
    size = face.shape[0]
    bgr = np.ascontiguousarray(face[..., ::-1])
    bgr = cv2.imdecode(cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(20, 40)])[1], cv2.IMREAD_COLOR)
    half = cv2.resize(bgr, (size // 2, size // 2), interpolation=cv2.INTER_AREA)
    bgr = cv2.resize(half, (size, size), interpolation=cv2.INTER_CUBIC)
    bgr = cv2.imdecode(cv2.imencode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, rng.randint(20, 40)])[1], cv2.IMREAD_COLOR)
    bgr = cv2.fastNlMeansDenoisingColored(bgr, None, 5, 5, 5, 15)
    return np.ascontiguousarray(bgr[..., ::-1])


def transformed_videos(genuine: list[Sample], how: str, seed: int) -> list[Sample]:
    """Fakes made from genuine videos' crops, one fake video per genuine one (`how`: "mouth" or "resampled");
    a mouth comes from the crop half the video away, so it is the same person at another moment."""
    by_video: dict[str, list[Sample]] = {}
    for sample in genuine:
        by_video.setdefault(sample.video, []).append(sample)
    fakes = []
    for video, samples in by_video.items():
        rng = random.Random(f"{seed}:{video}:{how}")
        for index, sample in enumerate(samples):
            donor = samples[(index + len(samples) // 2) % len(samples)].image
            image = mouth_swapped(sample.image, donor) if how == "mouth" else resampled(sample.image, rng)
            fakes.append(Sample(image, 0, f"{video}#{how}", sample.group))
    return fakes


class TrainSet(torch.utils.data.Dataset):
    def __init__(self, samples: list[Sample], input_size: int, sbi: float, seed: int):
        self.samples = samples
        self.input_size = input_size
        self.sbi = sbi
        self.seed = seed
        prepare_torchvision()
        import torchvision.transforms as T

        self.geometry = T.Compose([T.RandomResizedCrop(input_size, scale=(0.7, 1.0), ratio=(0.9, 1.1)), T.RandomHorizontalFlip()])
        self.colour = T.RandomApply([T.ColorJitter(0.25, 0.25, 0.25, 0.03)], p=0.8)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        rng = random.Random(hash((self.seed, index, torch.initial_seed())))
        sample = self.samples[index]
        image, label = sample.image, sample.label
        if label == 1 and rng.random() < self.sbi:
            image, label = self_blend(image, rng), 0
        picture = self.colour(self.geometry(Image.fromarray(image)))
        if rng.random() < 0.2:
            picture = picture.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5)))
        if rng.random() < 0.3:
            small = int(self.input_size * rng.uniform(0.4, 0.9))
            picture = picture.resize((small, small), Image.BILINEAR).resize((self.input_size,) * 2, Image.BILINEAR)
        if rng.random() < 0.5:
            buffer = io.BytesIO()
            picture.save(buffer, format="JPEG", quality=rng.randint(30, 95))
            picture = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
        tensor = torch.from_numpy(np.asarray(picture, dtype=np.uint8).copy()).permute(2, 0, 1)
        return tensor, torch.tensor(CLASS_ORDER.index("real" if label == 1 else "fake"))


def model_profile(input_size: int, margin: float) -> Profile:
    """How the trained network is fed and what its outputs mean: the profile the service reads back from the sidecar."""
    return square_profile(CLASS_ORDER, input_size, IMAGENET, margin, frames=20)


@torch.inference_mode()
def evaluate(model: nn.Module, samples: list[Sample], profile: Profile, batch_size: int = 64) -> dict:
    model.eval()
    size = profile.input_size
    scores = []
    for start in range(0, len(samples), batch_size):
        chunk = samples[start : start + batch_size]
        images = np.stack([cv2.resize(s.image, (size, size), interpolation=cv2.INTER_AREA) for s in chunk])
        logits = model(profile.normalise(torch.from_numpy(images).permute(0, 3, 1, 2)))
        scores.append(profile.real_probability(logits).numpy())
    frame_scores = np.concatenate(scores)
    frame_labels = np.array([s.label for s in samples])
    videos = sorted({s.video for s in samples})
    by_video = {v: [] for v in videos}
    for sample, score in zip(samples, frame_scores, strict=True):
        by_video[sample.video].append(score)
    first = {v: next(s for s in samples if s.video == v) for v in videos}
    video_labels = np.array([first[v].label for v in videos])
    video_scores = np.array([np.mean(by_video[v]) for v in videos])
    return {
        "frame": metrics.summary(frame_labels, frame_scores),
        "video": metrics.summary(video_labels, video_scores),
        "videos": [
            {"video": v, "group": first[v].group, "label": int(first[v].label), "score": float(p), "frames": [round(float(s), 5) for s in by_video[v]]}
            for v, p in zip(videos, video_scores, strict=True)
        ],
    }


@dataclass
class Prepared:
    """A split's crops, made once per run: what every model family trains and is validated on."""

    train: list[Sample]
    validation: list[Sample]
    val_groups: set[str]
    profile: Profile
    counts: np.ndarray  # training crops per label (fake, real)


def prepare(args) -> Prepared:
    torch_env.configure_threads(args.threads or torch_env.default_thread_count(1))
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    labels_csv = args.labels or args.data / "labels.csv"
    rows = read_rows(labels_csv)
    if args.limit:
        rows = random.Random(args.seed).sample(rows, min(args.limit, len(rows)))
    val_groups = set(args.val_groups.split(",")) if args.val_groups else choose_validation_groups(rows, args.val_fraction, args.seed)
    train_rows, val_rows = split_rows(rows, val_groups, args.hold_out_method)
    train_rows += extra_real_rows(args.extra_real)
    print(f"validation groups ({len(val_groups)}): {', '.join(sorted(val_groups))}")
    if args.hold_out_method:
        print(
            f"held-out manipulation: {args.hold_out_method} (no {args.hold_out_method} fake trains; validation: genuine and {args.hold_out_method})"
        )
    video_faces = VideoFaces(args.margin, torch.device("cpu"), load_settings())
    cache = None if args.no_cache else args.cache_dir
    root = labels_csv.parent
    train_samples = build_samples(train_rows, root, args.cache_size, args.train_frames, video_faces, cache, "train data")
    val_samples = build_samples(val_rows, root, args.input_size, args.val_frames, video_faces, cache, "validation data")
    if not train_samples:
        raise SystemExit("no training samples")
    counts = np.bincount([s.label for s in train_samples], minlength=2)
    print(f"train: {len(train_samples)} crops (real {counts[1]}, fake {counts[0]}); validation: {len(val_samples)} crops")
    return Prepared(train_samples, val_samples, val_groups, model_profile(args.input_size, args.margin), counts)


def add_data_arguments(parser: argparse.ArgumentParser, name: str, input_size: int, cache_size: int) -> None:
    """The data, split and augmentation options every model family shares (what `prepare` reads)."""
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/ffpp"), help="folder with labels.csv")
    parser.add_argument("--labels", type=Path, help="labels CSV (default: DATA/labels.csv)")
    parser.add_argument("--out", type=Path, default=Path("models/efficientnet"))
    parser.add_argument("--name", default=name)
    parser.add_argument("--val-groups", help="comma-separated split_groups to hold out")
    parser.add_argument("--val-fraction", type=float, default=0.4, help="share of video groups held out when --val-groups is not given")
    parser.add_argument("--hold-out-method", help="a manipulation (e.g. Face2Face) none of whose fakes train; validation on it alone")
    parser.add_argument("--extra-real", type=Path, nargs="*", default=[], help="genuine videos, or folders of them, to train on as well")
    parser.add_argument("--input-size", type=int, default=input_size)
    parser.add_argument("--cache-size", type=int, default=cache_size, help="side of the crops kept in memory for augmentation")
    parser.add_argument("--margin", type=float, default=0.15, help="face crop margin, as the service's EFFICIENTNET_CROP_MARGIN")
    parser.add_argument("--train-frames", type=int, default=32, help="crops per training video")
    parser.add_argument("--val-frames", type=int, default=20, help="crops per validation video (the service's default)")
    parser.add_argument("--sbi", type=float, default=0.0, help="probability of turning a real face into a self-blended fake")
    parser.add_argument("--limit", type=int, default=0, help="use only this many rows (smoke tests)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "deepfake-scoring" / "faces")
    parser.add_argument("--no-cache", action="store_true")
