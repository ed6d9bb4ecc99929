"""MFCC features for SyncNet's audio stream, computed as the reference computes them.

python_speech_features defaults (13 coefficients, 25 ms windows, 10 ms step, 26 filters,
log energy in place of c0) on int16 PCM values: the reference reads ffmpeg's pcm_s16le output,
and the scale changes the energy coefficient, so floats in [-1, 1] would change the input.
"""

from __future__ import annotations

import numpy as np
import python_speech_features

AUDIO_RATE = 16000  # SyncNet was trained on 16 kHz mono audio ...
VIDEO_FPS = 25  # ... against 25 fps video
SAMPLES_PER_FRAME = AUDIO_RATE // VIDEO_FPS  # 640
MFCC_PER_VIDEO_FRAME = 4  # 100 Hz MFCC against 25 fps video


def mfcc(pcm: np.ndarray) -> np.ndarray:
    """(13, T) float32 MFCC of 16 kHz mono int16 samples."""
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise ValueError("expected 16 kHz mono int16 samples")
    return np.ascontiguousarray(python_speech_features.mfcc(pcm, AUDIO_RATE).T.astype(np.float32))


def is_silent(pcm: np.ndarray, floor_dbfs: float = -60.0) -> bool:
    """True when the whole signal stays below `floor_dbfs` RMS: nothing for lips to follow."""
    if pcm.size == 0:
        return True
    rms = np.sqrt(np.mean(np.square(pcm.astype(np.float64))))
    return 20 * np.log10(max(rms, 1e-9) / 32768.0) < floor_dbfs
