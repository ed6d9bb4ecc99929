"""Audio-visual offset and confidence of one face track, as SyncNet defines them.

For every 5-frame lip window v (frames v..v+4) and the matching 20 MFCC frames (4v..4v+19),
both streams are embedded. Each lip embedding is compared with the audio embeddings shifted by
-vshift..+vshift windows (zero vectors beyond the ends), the distances are averaged over the
windows, and the shift with the smallest mean distance gives the offset (vshift - argmin):
a positive offset means the audio lags the video. Confidence is the median of the mean-distance
curve minus its minimum. Windows: min(frames, audio samples // 640) - 5.

Exact mode embeds every lip window. Fast mode embeds at most `max_windows` lip windows spread
evenly over the track (all of them when the track has no more), so its cost is bounded whatever
the clip length or the weights. Either mode's answer is `decisive` when its windows settle the
best shift: for every other shift, the mean of the paired per-window distance differences exceeds
DECISIVE_Z standard errors. A curve that is not decisive has no clear minimum, so its offset is
not an answer; the caller reports it as unsettled (weak evidence of sync) rather than embedding
more windows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.signal import medfilt

from scoring.video import SAMPLES_PER_FRAME, uniform_indices
from scoring.timing import Stopwatch
from syncnet_python.audio import MFCC_PER_VIDEO_FRAME, mfcc
from syncnet_python.model import LIP_FRAMES, MFCC_FRAMES, SyncNetV2, audio_stream, lip_stream

FRAMEWISE_FILTER = 9
DECISIVE_Z = 3.0
AUDIO_BATCH = 64  # the audio stream is cheap per window and runs best in large batches


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


class SyncNetScorer:
    """Embeds lip windows and MFCC windows with a loaded SyncNet and measures their offset."""

    def __init__(self, model: SyncNetV2, device: torch.device, batch_size: int = 8, precision: torch.dtype = torch.float32):
        """`precision` bfloat16 runs both streams at reduced precision; the distances stay float32."""
        self.device = device
        self.batch_size = batch_size
        self.precision = precision
        model = model.eval()
        self.audio_net = audio_stream(model).to(device, precision)
        self.lip_net = lip_stream(model).to(device, precision)

    def audio_embeddings(self, features: np.ndarray, count: int, watch: Stopwatch) -> torch.Tensor:
        """Embeddings of the first `count` audio windows of `features` (MFCC frames 4v..4v+19)."""
        return self.embed_audio(mfcc_windows(features, count), watch)

    @torch.inference_mode()
    def embed_audio(self, windows: np.ndarray, watch: Stopwatch) -> torch.Tensor:
        """Embeddings of (N, 1, 13, 20) MFCC windows."""
        outputs = []
        for begin in range(0, len(windows), AUDIO_BATCH):
            watch.check()
            batch = torch.from_numpy(windows[begin : begin + AUDIO_BATCH]).to(self.device, self.precision)
            outputs.append(self.audio_net(batch).float().cpu())
        return torch.cat(outputs)

    @torch.inference_mode()
    def lip_embeddings(self, frames: torch.Tensor, first_frames: np.ndarray, watch: Stopwatch) -> torch.Tensor:
        """Embeddings of the windows frames[i : i + 5] for each i in `first_frames`.

        `frames` is (F, 224, 224, 3) uint8 BGR; each window becomes (224, 224, 15) with frames
        stacked on the channel axis, which viewed as NCHW is the channels-last layout the
        convolutions run fastest on.
        """
        outputs = []
        offsets = torch.arange(LIP_FRAMES)
        for begin in range(0, len(first_frames), self.batch_size):
            watch.check()
            windows = frames[torch.as_tensor(first_frames[begin : begin + self.batch_size])[:, None] + offsets]
            count, _, height, width, channels = windows.shape
            stacked = windows.permute(0, 2, 3, 1, 4).reshape(count, height, width, LIP_FRAMES * channels)
            batch = stacked.permute(0, 3, 1, 2).to(self.device, self.precision)
            outputs.append(self.lip_net(batch).float().cpu())
        return torch.cat(outputs)

    def measure(
        self,
        crop_frames: Callable[[np.ndarray], np.ndarray],
        num_frames: int,
        pcm: np.ndarray,
        vshift: int = 15,
        max_windows: int | None = None,
        watch: Stopwatch | None = None,
        audio: torch.Tensor | None = None,
    ) -> SyncMeasurement | None:
        """Offset and confidence of a track from up to `max_windows` evenly spaced lip windows (all
        when None) against every audio window; None when the track has no complete window.

        `crop_frames(indices)` returns the 224x224 BGR crops of those track-relative frames, so
        only the frames the sampled windows use are cropped. `audio`: the `audio` of an earlier
        measurement of a track with the same frames (the same audio windows), to embed them once.
        """
        watch = watch or Stopwatch()
        available = usable_windows(num_frames, pcm.size)
        if available < 1:
            return None
        if audio is None:
            with watch.stage("mfcc"):
                features = mfcc(pcm[: (available + LIP_FRAMES) * SAMPLES_PER_FRAME])
            with watch.stage("audio_embeddings"):
                audio = self.audio_embeddings(features, available, watch)
        starts = np.arange(available) if not max_windows else uniform_indices(available, max_windows)
        return summarise(self._distances(crop_frames, starts, audio, vshift, watch), starts, vshift, available, audio)

    def _distances(self, crop_frames, starts: np.ndarray, audio: torch.Tensor, vshift: int, watch: Stopwatch) -> torch.Tensor:
        with watch.stage("crops"):
            needed = np.unique((starts[:, None] + np.arange(LIP_FRAMES)[None, :]).reshape(-1))
            frames = torch.from_numpy(np.ascontiguousarray(crop_frames(needed)))
            first_frames = np.searchsorted(needed, starts)  # a window's 5 frames follow its first
        with watch.stage("lip_embeddings"):
            lip = self.lip_embeddings(frames, first_frames, watch)
        with watch.stage("distances"):
            return distance_matrix(lip, audio, starts, vshift)
