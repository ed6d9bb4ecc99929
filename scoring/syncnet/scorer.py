"""SyncNet served: lip and audio windows embedded in passes of a fixed size, within the request's deadline.

Exact mode embeds every lip window. Fast mode embeds at most `max_windows` lip windows spread over
the track (all of them when the track has no more), so its cost is bounded whatever the clip length
or the weights; `syncnet_python.sync.is_decisive` then tells whether they settle the best shift.
Fast mode's windows are `scoring.faces.crops.track_offsets` of the track's windows: a lattice that
only thins as the track grows, so a longer recording's windows are a shorter one's, less some, plus
later ones, and a live recording embeds them as they arrive (`embed_ahead`).

Every pass of a stream has the same size (the last one filled up with repeats): within passes of one
size a window's embedding depends on that window alone, not on the windows beside it, so a window is
remembered (`scoring.runtime.memo`) and the verdict finds what a live session embedded: audio windows
by their MFCC, lip windows by their crops' frames and geometry (`Crops.window_key`).
"""

from __future__ import annotations

import numpy as np
import torch

from scoring.faces.crops import track_offsets
from scoring.runtime import memo
from scoring.runtime.timing import Stopwatch
from scoring.syncnet.inference import audio_stream, lip_stream
from syncnet_python.audio import SAMPLES_PER_FRAME, mfcc
from syncnet_python.crops import SMOOTHING_TAPS, Crops
from syncnet_python.model import LIP_FRAMES, MFCC_FRAMES, SyncNetV2
from syncnet_python.sync import SyncMeasurement, distance_matrix, mfcc_windows, summarise, usable_windows

# Audio windows per pass: the stream is cheap per window; 16 ran as fast as 64 (2.4 ms a window,
# float32, 2 threads, AMD EPYC Zen 4) and leaves less to fill up in a last pass.
AUDIO_BATCH = 16
MFCC_STEP_SAMPLES, MFCC_WINDOW_SAMPLES = 160, 400  # python_speech_features' 10 ms step and 25 ms frame
# A lip window's crops are settled once the track's boxes reach this many frames past it: the crop
# geometry is a median over SMOOTHING_TAPS frames, and the last detection's box ends a track so far.
SETTLED_FRAMES = SMOOTHING_TAPS // 2 + 1


def heard_audio_windows(samples: int) -> int:
    """How many audio windows lie wholly in a track's first `samples` of audio: window v reads
    MFCC frames 4v..4v+19, the last of them ending at sample 640v + 3440."""
    first_window_end = (MFCC_FRAMES - 1) * MFCC_STEP_SAMPLES + MFCC_WINDOW_SAMPLES
    return max(0, (samples - first_window_end) // SAMPLES_PER_FRAME + 1)


class SyncNetScorer:
    """Embeds lip windows and MFCC windows with a loaded SyncNet and measures their offset."""

    def __init__(self, model: SyncNetV2, device: torch.device, batch_size: int = 4, precision: torch.dtype = torch.float32):
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

    def embed_audio(self, windows: np.ndarray, watch: Stopwatch) -> torch.Tensor:
        """Embeddings of (N, 1, 13, 20) MFCC windows, AUDIO_BATCH at a time (or remembered)."""
        return torch.stack(memo.each_in_passes(list(windows), lambda batch: self._audio_pass(batch, watch), AUDIO_BATCH, scope=(self, "audio")))

    @torch.inference_mode()
    def _audio_pass(self, windows: list[np.ndarray], watch: Stopwatch) -> torch.Tensor:
        watch.check()
        return self.audio_net(torch.from_numpy(np.stack(windows)).to(self.device, self.precision)).float().cpu()

    @torch.inference_mode()
    def lip_embeddings(self, frames: torch.Tensor, first_frames: np.ndarray, watch: Stopwatch) -> torch.Tensor:
        """Embeddings of the windows frames[i : i + 5] for each i in `first_frames`, `batch_size` at a
        time (the last pass filled up with repeats).

        `frames` is (F, 224, 224, 3) uint8 BGR; each window becomes (224, 224, 15) with frames
        stacked on the channel axis, which viewed as NCHW is the channels-last layout the
        convolutions run fastest on.
        """
        outputs = []
        offsets = torch.arange(LIP_FRAMES)
        for begin in range(0, len(first_frames), self.batch_size):
            watch.check()
            chosen = list(first_frames[begin : begin + self.batch_size])
            filled = chosen + chosen[-1:] * (self.batch_size - len(chosen))
            windows = frames[torch.as_tensor(filled)[:, None] + offsets]
            count, _, height, width, channels = windows.shape
            stacked = windows.permute(0, 2, 3, 1, 4).reshape(count, height, width, LIP_FRAMES * channels)
            batch = stacked.permute(0, 3, 1, 2).to(self.device, self.precision)
            outputs.append(self.lip_net(batch).float().cpu()[: len(chosen)])
        return torch.cat(outputs)

    def lip_starts(self, available: int, max_windows: int | None) -> np.ndarray:
        """The lip windows measured of a track's `available`: all of them, or fast mode's `max_windows`."""
        return np.arange(available) if not max_windows else track_offsets(available, max_windows)

    def measure(
        self,
        crop_frames: Crops,
        num_frames: int,
        pcm: np.ndarray,
        vshift: int = 15,
        max_windows: int | None = None,
        watch: Stopwatch | None = None,
        audio: torch.Tensor | None = None,
    ) -> SyncMeasurement | None:
        """Offset and confidence of a track from up to `max_windows` lip windows spread over it (all
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
        starts = self.lip_starts(available, max_windows)
        lip = self.windows_embedded(crop_frames, starts, watch)
        with watch.stage("distances"):
            return summarise(distance_matrix(lip, audio, starts, vshift), starts, vshift, available, audio)

    def windows_embedded(self, crop_frames: Crops, starts: np.ndarray, watch: Stopwatch) -> torch.Tensor:
        """The lip embeddings of the windows beginning at `starts` (track-relative), `batch_size` at a
        time, only the windows not remembered cropped."""
        keys = [crop_frames.window_key(int(start), LIP_FRAMES) for start in starts]
        rows = memo.each_in_passes(
            [int(start) for start in starts], lambda batch: self._lip_pass(crop_frames, batch, watch), self.batch_size, (self, "lip"), keys
        )
        return torch.stack(rows)

    def _lip_pass(self, crop_frames: Crops, starts: list[int], watch: Stopwatch) -> torch.Tensor:
        with watch.stage("crops"):
            needed = np.unique((np.asarray(starts)[:, None] + np.arange(LIP_FRAMES)[None, :]).reshape(-1))
            frames = torch.from_numpy(np.ascontiguousarray(crop_frames(needed)))
            first_frames = np.searchsorted(needed, starts)  # a window's 5 frames follow its first
        with watch.stage("lip_embeddings"):
            return self.lip_embeddings(frames, first_frames, watch)

    def embed_ahead(
        self, crop_frames: Crops, num_frames: int, pcm: np.ndarray, max_windows: int | None, notes: dict, planned_frames: int = 0
    ) -> dict | None:
        """One pass of what `measure` will embed for a track whose first `num_frames` frames and
        `pcm` samples have arrived, if the recording ends now, embedded now and remembered:
        AUDIO_BATCH audio windows wholly heard, else `batch_size` lip windows whose crops are settled.
        Only whole passes: what is left is the verdict's. The lip windows are those of a track of
        `planned_frames` while it is shorter (what a shorter one would choose is mostly dropped as it
        grows). `notes` (this track's, kept by the caller between calls) saves computing the MFCC
        again before a whole pass of new audio has arrived. Returns what it embedded, None when no
        whole pass is left."""
        available = usable_windows(num_frames, pcm.size)
        if available < 1:
            return None
        heard, checked = min(available, heard_audio_windows(pcm.size)), notes.get("audio_checked", 0)
        if heard - checked >= AUDIO_BATCH:
            windows = mfcc_windows(mfcc(pcm), heard)
            waiting = [v for v in range(checked, heard) if not memo.known(windows[v], (self, "audio"))]
            if len(waiting) >= AUDIO_BATCH:
                self.embed_audio(windows[waiting[:AUDIO_BATCH]], Stopwatch())
                notes["audio_checked"] = waiting[AUDIO_BATCH] if len(waiting) > AUDIO_BATCH else heard
                return {"audio_windows": AUDIO_BATCH}
            notes["audio_checked"] = waiting[0] if waiting else heard
        planned = self.lip_starts(max(available, planned_frames - LIP_FRAMES), max_windows)
        settled = [int(v) for v in planned if v < available and v + LIP_FRAMES + SETTLED_FRAMES <= num_frames]
        waiting = [v for v in settled if not memo.known(crop_frames.window_key(v, LIP_FRAMES), (self, "lip"))][: self.batch_size]
        if len(waiting) < self.batch_size:
            return None
        self.windows_embedded(crop_frames, np.asarray(waiting), Stopwatch())
        return {"lip_windows": waiting}
