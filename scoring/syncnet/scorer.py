"""SyncNet served: lip and audio windows embedded in batches, within the request's deadline.

Exact mode embeds every lip window. Fast mode embeds at most `max_windows` lip windows spread
evenly over the track (all of them when the track has no more), so its cost is bounded whatever
the clip length or the weights; `syncnet_python.sync.is_decisive` then tells whether they settle
the best shift.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from scoring.media.video import uniform_indices
from scoring.runtime.timing import Stopwatch
from scoring.syncnet.inference import audio_stream, lip_stream
from syncnet_python.audio import SAMPLES_PER_FRAME, mfcc
from syncnet_python.model import LIP_FRAMES, SyncNetV2
from syncnet_python.sync import SyncMeasurement, distance_matrix, mfcc_windows, summarise, usable_windows

AUDIO_BATCH = 64  # the audio stream is cheap per window and runs best in large batches


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
