"""Audio-visual offset and confidence of one face track, as SyncNet defines them.

For every 5-frame lip window v (frames v..v+4) and the matching 20 MFCC frames (4v..4v+19),
both streams are embedded. Each lip embedding is compared with the audio embeddings shifted by
-vshift..+vshift windows (zero vectors beyond the ends), the distances are averaged over the
windows, and the shift with the smallest mean distance gives the offset (vshift - argmin):
a positive offset means the audio leads the video. Confidence is the median of the mean-distance
curve minus its minimum. Windows: min(frames, audio samples // 640) - 5.

A measurement from a subset of the windows is `decisive` when those windows settle the best
shift: for every other shift, the mean of the paired per-window distance differences exceeds
DECISIVE_Z standard errors. A curve that is not decisive has no clear minimum, so its offset is
not an answer; the caller reports it as unsettled (weak evidence of sync).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.signal import medfilt

from syncnet_python.audio import MFCC_PER_VIDEO_FRAME, SAMPLES_PER_FRAME
from syncnet_python.model import LIP_FRAMES, MFCC_FRAMES

FRAMEWISE_FILTER = 9
DECISIVE_Z = 3.0


@dataclass
class SyncMeasurement:
    offset: int
    min_dist: float
    confidence: float
    mean_dists: np.ndarray  # (2*vshift+1,), index i is shift i - vshift
    window_starts: np.ndarray  # track-relative first frame of each lip window used
    framewise_confidence: np.ndarray  # per used window, median-filtered
    available_windows: int
    decisive: bool  # the windows used settle the best shift (is_decisive)
    dists: torch.Tensor  # (windows used, 2*vshift+1) distance of each lip window to each shifted audio window
    audio: torch.Tensor | None  # (available_windows, 1024) the audio-window embeddings, where measured from a track

    @property
    def windows_used(self) -> int:
        return len(self.window_starts)


def mfcc_windows(features: np.ndarray, count: int) -> np.ndarray:
    """(count, 1, 13, 20): audio window v is MFCC frames 4v..4v+19, the span of lip frames v..v+4."""
    return np.stack([features[:, s : s + MFCC_FRAMES] for s in np.arange(count) * MFCC_PER_VIDEO_FRAME])[:, None]


def usable_windows(num_frames: int, num_samples: int) -> int:
    return min(num_frames, num_samples // SAMPLES_PER_FRAME) - LIP_FRAMES


def distance_matrix(lip: torch.Tensor, audio: torch.Tensor, window_starts: np.ndarray, vshift: int) -> torch.Tensor:
    """(n, 2*vshift+1) Euclidean distances of each lip window to the shifted audio windows."""
    padded = F.pad(audio, (0, 0, vshift, vshift))
    rows = torch.as_tensor(window_starts)[:, None] + torch.arange(2 * vshift + 1)[None, :]
    shifted = padded[rows]
    return F.pairwise_distance(lip[:, None, :].expand_as(shifted), shifted)


def is_decisive(dists: torch.Tensor, z: float = DECISIVE_Z) -> bool:
    """True when the windows sampled settle the best shift: against every other shift, the mean
    paired difference (window by window) lies more than `z` standard errors above zero."""
    if len(dists) < 3:
        return False
    best = int(torch.argmin(dists.mean(0)))
    differences = (dists - dists[:, best : best + 1]).double()
    mean, error = differences.mean(0), differences.std(0) / len(dists) ** 0.5
    others = torch.arange(dists.shape[1]) != best
    return bool(torch.all(mean[others] > z * error[others]))


def summarise(
    dists: torch.Tensor, window_starts: np.ndarray, vshift: int, available: int, audio: torch.Tensor | None = None
) -> SyncMeasurement:
    mean_dists = dists.mean(0)
    min_dist, best = torch.min(mean_dists, 0)
    median = torch.median(mean_dists)
    framewise = (median - dists[:, best]).numpy()
    if len(framewise) >= FRAMEWISE_FILTER:
        framewise = medfilt(framewise, kernel_size=FRAMEWISE_FILTER)
    return SyncMeasurement(
        offset=int(vshift - best),
        min_dist=float(min_dist),
        confidence=float(median - min_dist),
        mean_dists=mean_dists.numpy(),
        window_starts=np.asarray(window_starts),
        framewise_confidence=np.asarray(framewise, dtype=np.float32),
        available_windows=available,
        decisive=is_decisive(dists),
        dists=dists,
        audio=audio,
    )
