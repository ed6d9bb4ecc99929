"""SyncNet measured under audio delays with the stand-in probe network: shared by the SyncNet test files.

The fixtures `probe`, `probe_bfloat16` and `tracker` are in conftest.py.
"""

from __future__ import annotations

import numpy as np
import torch

from scoring.media.video import SAMPLES_PER_FRAME
from scoring.runtime.timing import Stopwatch
from scoring.syncnet.scorer import SyncNetScorer
from syncnet_python.audio import mfcc
from syncnet_python.crops import SyncNetCropper
from syncnet_python.sync import distance_matrix, mfcc_windows, summarise, usable_windows

VSHIFT = 15
DELAYS = range(-10, 11)


def delayed(pcm: np.ndarray, frames: int) -> np.ndarray:
    """The audio `frames` x 40 ms later (positive) or earlier (negative), same length."""
    shift = abs(frames) * SAMPLES_PER_FRAME
    if frames > 0:
        return np.concatenate([np.zeros(shift, np.int16), pcm[: pcm.size - shift]])
    if frames < 0:
        return np.concatenate([pcm[shift:], np.zeros(shift, np.int16)])
    return pcm


class TrackProbe:
    """One face track measured under many audio delays: the lip stream does not depend on the
    audio, so it is embedded once; every other step is the pipeline's own.

    `dists(delay)` embeds every audio window afresh. `offset(delay)`, for sweeps over many delays,
    embeds only the MFCC windows it has not met yet: a delay of k frames shifts the MFCC frames by
    exactly 4k, so each delay adds just the windows at the cut. That reuse is sound because
    `dists` under delay equals the undelayed distances shifted (test_syncnet_shared_clips checks it
    on every shared clip).
    """

    def __init__(self, scorer: SyncNetScorer, decoded, track):
        self.scorer = scorer
        self.cropper = SyncNetCropper(decoded.frames, track.boxes, track.start)
        self.length = track.length
        self.pcm = decoded.audio[track.start * SAMPLES_PER_FRAME : track.end * SAMPLES_PER_FRAME]
        self.windows = usable_windows(track.length, self.pcm.size)
        self.starts = np.arange(self.windows)
        frames = torch.from_numpy(self.cropper(np.arange(track.length)))
        self.lip = scorer.lip_embeddings(frames, self.starts, Stopwatch())
        self._embedded: dict[bytes, torch.Tensor] = {}

    def features(self, delay: int) -> np.ndarray:
        return mfcc(delayed(self.pcm, delay)[: (self.windows + 5) * SAMPLES_PER_FRAME])

    def dists(self, delay: int) -> torch.Tensor:
        audio = self.scorer.audio_embeddings(self.features(delay), self.windows, Stopwatch())
        return distance_matrix(self.lip, audio, self.starts, VSHIFT)

    def offset(self, delay: int) -> int:
        windows = mfcc_windows(self.features(delay), self.windows)
        keys = [window.tobytes() for window in windows]
        first_of = {}
        for index, key in enumerate(keys):
            first_of.setdefault(key, index)
        new = [index for key, index in first_of.items() if key not in self._embedded]
        if new:
            self._embedded.update(zip((keys[i] for i in new), self.scorer.embed_audio(windows[new], Stopwatch()), strict=True))
        audio = torch.stack([self._embedded[key] for key in keys])
        return summarise(distance_matrix(self.lip, audio, self.starts, VSHIFT), self.starts, VSHIFT, self.windows).offset


def main_track(tracker, decoded):
    tracking = tracker.track(decoded.frames)
    assert tracking.tracks, "no face track"
    return max(tracking.tracks, key=lambda t: t.length)
