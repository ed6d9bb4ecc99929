"""Things drawn over a face's mouth, for fitting and measuring the `mouth_hidden` guidance
(`training.fit_mouth_cover`): no labelled footage of covered mouths is at hand, so they are made.

- `mask`: a face mask from below the nose to under the chin, in one of the colours masks come in or a
  random one, shaded across, with pleats on half of them;
- `hand`: the person's own skin (from the forehead) stretched over the mouth in an ellipse, with the
  gaps between fingers drawn darker, upright or across;
- `object`: a piece of another picture's corner (hair, a wall, clothes) over the mouth: a phone, a cup.

Each takes the frame, the face box (x1, y1, x2, y2) and a numpy Generator; the same seed draws the same
occluder, so a video's occluder stays put while the face moves under it.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

MASK_COLOURS = ((230, 210, 170), (235, 235, 235), (40, 40, 40), (150, 150, 150))  # BGR: surgical blue, white, black, grey


def _box_in(frame: np.ndarray, box) -> tuple[float, float, float, float]:
    height, width = frame.shape[:2]
    return max(0.0, box[0]), max(0.0, box[1]), min(float(width), box[2]), min(float(height), box[3])


def _paste(frame: np.ndarray, patch: np.ndarray, inside: np.ndarray, x: int, y: int) -> None:
    """Writes the patch's pixels where `inside` is set at (x, y) of the frame, clipped to the frame."""
    height, width = frame.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + patch.shape[1]), min(height, y + patch.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    window = (slice(y0 - y, y1 - y), slice(x0 - x, x1 - x))
    region = frame[y0:y1, x0:x1]
    keep = inside[window].astype(bool)
    region[keep] = np.clip(patch[window][keep], 0, 255)


def mask(frame: np.ndarray, box, rng: np.random.Generator, donor: np.ndarray | None = None) -> np.ndarray:
    out = frame.copy()
    x1, y1, x2, y2 = _box_in(frame, box)
    w, h = x2 - x1, y2 - y1
    top = y1 + h * rng.uniform(0.55, 0.65)
    outline = np.array(
        [
            [x1 + w * rng.uniform(0.0, 0.12), top + h * 0.05],
            [x1 + w * 0.5, top - h * 0.04],
            [x2 - w * rng.uniform(0.0, 0.12), top + h * 0.05],
            [x2 - w * 0.08, y2 + h * 0.05],
            [x1 + w * 0.5, y2 + h * 0.15],
            [x1 + w * 0.08, y2 + h * 0.05],
        ]
    )
    colours = (*MASK_COLOURS, tuple(rng.integers(0, 256, 3)))
    colour = np.array(colours[rng.integers(len(colours))], float)
    left, upper = np.floor(outline.min(axis=0)).astype(int)
    size = np.ceil(outline.max(axis=0)).astype(int) - (left, upper) + 1
    shade = np.linspace(rng.uniform(0.7, 1.0), rng.uniform(0.7, 1.1), size[0])[None, :, None]
    patch = colour * shade * np.ones((size[1], 1, 1)) + rng.normal(0, 4, (size[1], size[0], 3))
    if rng.random() < 0.5:
        for k in range(3):
            row = int(top + h * (0.12 + 0.1 * k)) - upper
            cv2.line(patch, (0, row), (size[0], row), tuple(colour * 0.8), max(1, int(h * 0.015)))
    inside = np.zeros((size[1], size[0]), np.uint8)
    cv2.fillPoly(inside, [np.round(outline - (left, upper)).astype(np.int32)], 1)
    _paste(out, patch, inside, left, upper)
    return out


def _ellipse(height: int, width: int) -> np.ndarray:
    inside = np.zeros((height, width), np.uint8)
    cv2.ellipse(inside, (width // 2, height // 2), (width // 2, height // 2), 0, 0, 360, 1, -1)
    return inside


def hand(frame: np.ndarray, box, rng: np.random.Generator, donor: np.ndarray | None = None) -> np.ndarray:
    out = frame.copy()
    x1, y1, x2, y2 = _box_in(frame, box)
    w, h = x2 - x1, y2 - y1
    forehead = frame[int(y1 + h * 0.05) : int(y1 + h * 0.3) + 1, int(x1 + w * 0.25) : int(x1 + w * 0.75) + 1]
    width, height = max(2, int(w * rng.uniform(0.6, 0.9))), max(2, int(h * rng.uniform(0.35, 0.5)))
    patch = cv2.resize(forehead, (width, height)).astype(float) * rng.uniform(0.85, 1.1, 3)
    gap = tuple(patch.mean(axis=(0, 1)) * 0.6)
    upright, fingers = rng.random() < 0.5, int(rng.integers(2, 5))
    for k in range(1, fingers + 1):
        if upright:
            column = width * k // (fingers + 1)
            cv2.line(patch, (column, 0), (column, height), gap, max(1, int(w * 0.02)))
        else:
            row = height * k // (fingers + 1)
            cv2.line(patch, (0, row), (width, row), gap, max(1, int(h * 0.02)))
    centre_x, centre_y = x1 + w * rng.uniform(0.4, 0.6), y1 + h * rng.uniform(0.75, 0.85)
    _paste(out, patch, _ellipse(height, width), int(centre_x - width / 2), int(centre_y - height / 2))
    return out


def object_(frame: np.ndarray, box, rng: np.random.Generator, donor: np.ndarray | None = None) -> np.ndarray:
    out = frame.copy()
    x1, y1, x2, y2 = _box_in(frame, box)
    w, h = x2 - x1, y2 - y1
    source = donor if donor is not None else frame
    corner = source[: max(1, source.shape[0] // 3), : max(1, source.shape[1] // 3)]
    width, height = max(2, int(w * rng.uniform(0.5, 0.9))), max(2, int(h * rng.uniform(0.3, 0.5)))
    patch = cv2.resize(corner, (width, height)).astype(float)
    x, y = int(x1 + w * rng.uniform(0.4, 0.6) - width / 2), int(y1 + h * rng.uniform(0.72, 0.85) - height / 2)
    _paste(out, patch, np.ones((height, width), np.uint8), x, y)
    return out


OCCLUDERS: dict[str, Callable[..., np.ndarray]] = {"mask": mask, "hand": hand, "object": object_}
