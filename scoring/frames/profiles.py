"""How each frame detector was fed and what its output means: its authors' preprocessing, as a profile.

A detector gives wrong scores silently when it sees another crop than the one it was trained on,
so every file is read with the profile of the family it belongs to (each family declares its own,
`scoring.frames.families`); this module is the machinery they are written in: regions cut from
the face box, resizes, normalisations, what the outputs mean and the per-video aggregation. Each
family's profile is tabled in docs/detectors.md.

Our box always comes from the face stage (S3FD, else MTCNN): where the authors ran another
detector, the region rule is applied to our box. `bench/parity_frame_detectors.py` measures what
that costs. The speaker's track gives one face per frame, so "the most fake face per frame" is
that face.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import cv2
import numpy as np
import torch
from PIL import Image

from scoring.faces.crops import padded_region
from scoring.frames.clip.encoder import CLIP_MEAN, CLIP_STD

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
UNIT = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
CLIP = (CLIP_MEAN, CLIP_STD)
NORMALISATIONS = {"imagenet": IMAGENET, "half": HALF, "unit": UNIT, "clip": CLIP}
POLIMI_SIZE = 224
# The project's square crop: its margin around the face stage's box, and faces per video.
DEFAULT_MARGIN = 0.15
DEFAULT_FRAMES = 20
CONFIDENT_FAKE, CONFIDENT_REAL = 0.8, 0.2  # selimsef's confident_strategy thresholds on P(fake)


# Regions: (RGB frame, box x1 y1 x2 y2, margin) -> the face region at the frame's resolution.


def square_region(frame: np.ndarray, box, margin: float) -> np.ndarray:
    """Square of side max(w, h) * (1 + 2 * margin) around the box centre, black outside the frame."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    left, top = int(round((x1 + x2) / 2 - side / 2)), int(round((y1 + y2) / 2 - side / 2))
    extent = max(1, int(round(side)))
    return padded_region(frame, top, top + extent, left, left + extent, (0, 0, 0))


def polimi_region(frame: np.ndarray, box, margin: float = 0.0) -> np.ndarray:
    """BlazeFace FaceExtractor's margin (a fifth of the height, twice above), then polimi's "scale" policy:
    a square of the longer side around the centre, clipped to the frame, with their integer arithmetic."""
    height, width = frame.shape[:2]
    # In float32, rounded half to even, as their detections tensor is.
    y1, x1, y2, x2 = torch.tensor([box[1], box[0], box[3], box[2]], dtype=torch.float32)
    offset = torch.round(0.2 * (y2 - y1))
    y1, x1 = torch.clamp(y1 - offset * 2, min=0), torch.clamp(x1 - offset, min=0)
    y2, x2 = torch.clamp(y2 + offset, max=height), torch.clamp(x2 + offset, max=width)
    x1, y1, x2, y2 = (float(v) for v in (x1, y1, x2, y2))
    box_width, box_height = int(x2) - int(x1), int(y2) - int(y1)
    # Their side is int(size / min(size / h, size / w)): max(w, h) up to a float rounding that truncation keeps.
    ratio = min(POLIMI_SIZE / box_height, POLIMI_SIZE / box_width) if box_width > 0 and box_height > 0 else 1.0
    side = int(POLIMI_SIZE / ratio)
    centre_x, centre_y = (x1 + x2) // 2, (y1 + y2) // 2
    top = max(centre_y - side // 2, 0)
    left = max(centre_x - side // 2, 0)
    bounds = (left, top, min(left + side, width), min(top + side, height))
    return np.asarray(Image.fromarray(frame).crop(bounds))  # PIL rounds float bounds, as in theirs


def thirds_region(frame: np.ndarray, box, margin: float = 0.0) -> np.ndarray:
    """selimsef's face extractor: integer box widened by a third of its width and height on each side."""
    x1, y1, x2, y2 = (int(v) for v in box[:4])
    pad_w, pad_h = (x2 - x1) // 3, (y2 - y1) // 3
    return frame[max(y1 - pad_h, 0) : y2 + pad_h, max(x1 - pad_w, 0) : x2 + pad_w]


def eighths_region(frame: np.ndarray, box, margin: float = 0.0) -> np.ndarray:
    """SBI's test-time crop_face: a quarter of the box on each side, halved, clipped (end pixel included)."""
    height, width = frame.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    margin_w, margin_h = (x2 - x1) / 4 * 0.5, (y2 - y1) / 4 * 0.5
    top, bottom = max(0, int(y1 - margin_h)), min(height, int(y2 + margin_h) + 1)
    left, right = max(0, int(x1 - margin_w)), min(width, int(x2 + margin_w) + 1)
    return frame[top:bottom, left:right]


REGIONS = {"square": square_region, "polimi": polimi_region, "thirds": thirds_region, "eighths": eighths_region}


# Resizes: (region, size) -> size x size uint8.


def area_or_linear(region: np.ndarray, size: int) -> np.ndarray:
    if region.shape[:2] == (size, size):
        return region
    interpolation = cv2.INTER_AREA if max(region.shape[:2]) > size else cv2.INTER_LINEAR
    return cv2.resize(region, (size, size), interpolation=interpolation)


def pil_bilinear(region: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(np.ascontiguousarray(region)).resize((size, size), Image.BILINEAR))


def stretch_linear(region: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(region, (size, size))


def stretch_cubic(region: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(region, (size, size), interpolation=cv2.INTER_CUBIC)


def isotropic_centred(region: np.ndarray, size: int) -> np.ndarray:
    """Longer side to `size` (area when shrinking, cubic when enlarging, sizes truncated), then centred on black."""
    height, width = region.shape[:2]
    if max(width, height) != size:
        scale = size / max(width, height)
        new_w, new_h = (size, height * scale) if width > height else (width * scale, size)
        interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
        region = cv2.resize(region, (int(new_w), int(new_h)), interpolation=interpolation)
    region = region[:size, :size]
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    top, left = (size - region.shape[0]) // 2, (size - region.shape[1]) // 2
    canvas[top : top + region.shape[0], left : left + region.shape[1]] = region
    return canvas


RESIZES = {
    "area_or_linear": area_or_linear,
    "pil_bilinear": pil_bilinear,
    "stretch": stretch_linear,
    "stretch_cubic": stretch_cubic,
    "isotropic": isotropic_centred,
}


# Per-video aggregation of the raw outputs -> P(real) of the video.


@dataclass(frozen=True)
class Profile:
    name: str
    region: str  # key of REGIONS
    resize: str  # key of RESIZES
    input_size: int
    normalisation: tuple[tuple[float, ...], tuple[float, ...]]  # (mean, std) in 0..1 units
    class_order: tuple[str, ...]  # what output 0 (, 1) means; one output: what its sigmoid is the probability of
    aggregation: str  # key of AGGREGATIONS: how the frames' outputs become the video's P(real)
    frames: int  # frames per video the authors scored
    margin: float = 0.0  # for the square region
    face_box: str = "the face stage (S3FD, else MTCNN)"  # the box the authors used

    def __post_init__(self):
        if self.region not in REGIONS or self.resize not in RESIZES or self.aggregation not in AGGREGATIONS:
            raise ValueError(f"profile {self.name}: unknown region, resize or aggregation")
        if sorted(self.class_order) != ["fake", "real"]:
            raise ValueError(f"profile {self.name}: class order must name real and fake once each")

    @property
    def mean(self) -> tuple[float, ...]:
        return self.normalisation[0]

    @property
    def std(self) -> tuple[float, ...]:
        return self.normalisation[1]

    def face_input(self, frame_rgb: np.ndarray, box) -> np.ndarray:
        """The network's face image (RGB uint8, input_size square) from a frame and a face box."""
        region = REGIONS[self.region](frame_rgb, box, self.margin)
        return self.resize_face(region)

    def face_inputs(self, frames_rgb: list[np.ndarray], boxes: list) -> np.ndarray:
        """N x S x S x 3: one face image per (frame, box)."""
        return np.stack([self.face_input(frame, box) for frame, box in zip(frames_rgb, boxes, strict=True)])

    def resize_face(self, image: np.ndarray) -> np.ndarray:
        return RESIZES[self.resize](image, self.input_size)

    def normalise(self, batch_uint8: torch.Tensor) -> torch.Tensor:
        """RGB uint8 NCHW -> the network's input (float, channels-last); training and serving share it."""
        mean = torch.tensor(self.mean, device=batch_uint8.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=batch_uint8.device).view(1, 3, 1, 1)
        return ((batch_uint8.float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)

    def real_probability(self, outputs: torch.Tensor) -> torch.Tensor:
        """P(real) per row of the network's output."""
        outputs = outputs.float()
        if outputs.shape[1] == 1:
            positive = torch.sigmoid(outputs[:, 0])
            return positive if self.class_order[0] == "real" else 1 - positive
        return outputs.softmax(dim=1)[:, self.class_order.index("real")]

    def video_real_probability(self, outputs: torch.Tensor) -> float:
        """P(real) of the video from the outputs of all its crops, aggregated as the authors did."""
        return float(AGGREGATIONS[self.aggregation](self, outputs.float()))

    def with_overrides(self, **changes) -> Profile:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def summary(self) -> dict:
        data = asdict(self)
        data["normalisation"] = {"mean": list(self.mean), "std": list(self.std)}
        data["class_order"] = list(self.class_order)
        return data


def _mean(profile: Profile, outputs: torch.Tensor) -> torch.Tensor:
    return profile.real_probability(outputs).mean()


def _mean_logit(profile: Profile, outputs: torch.Tensor) -> torch.Tensor:
    """polimi's video score: the sigmoid of the mean logit (their aggregate(policy="mean"))."""
    return profile.real_probability(outputs.mean(dim=0, keepdim=True))[0]


def _confident(profile: Profile, outputs: torch.Tensor) -> torch.Tensor:
    """selimsef's confident_strategy on P(fake): the mean of the confident fakes when more than 11 frames
    and more than 40 % of them are confidently fake, else of the confident reals when over 90 % are, else all."""
    fake = 1 - profile.real_probability(outputs).double()
    count = fake.numel()
    confident_fakes = fake[fake > CONFIDENT_FAKE]
    if confident_fakes.numel() > count // 2.5 and confident_fakes.numel() > 11:
        return 1 - confident_fakes.mean()
    if (fake < CONFIDENT_REAL).sum() > 0.9 * count:
        return 1 - fake[fake < CONFIDENT_REAL].mean()
    return 1 - fake.mean()


def worst_quarter(real_probability: torch.Tensor) -> torch.Tensor:
    """The mean of the quarter of the frames judged least genuine: a face that is fake only now and
    then (a swap that slips, a mouth re-rendered while it moves) still counts, where a mean dilutes it."""
    count = max(1, real_probability.numel() // 4)
    return torch.sort(real_probability.flatten()).values[:count].mean()


def _worst_quarter(profile: Profile, outputs: torch.Tensor) -> torch.Tensor:
    return worst_quarter(profile.real_probability(outputs))


AGGREGATIONS = {"mean": _mean, "mean_logit": _mean_logit, "confident": _confident, "worst_quarter": _worst_quarter}


def square_profile(class_order: tuple[str, ...], input_size: int, normalisation, margin: float, frames: int) -> Profile:
    """The project's own (and any sidecar-described) checkpoint: a square crop around the face stage's box."""
    return Profile("square", "square", "area_or_linear", input_size, normalisation, tuple(class_order), "mean", frames, margin)
