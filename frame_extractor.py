"""The design document's frame front door: `FrameExtractor(max_frames, uniform_sampling).extract_frames(path)`.

The decode itself (one in-memory pass: 25 fps frames and 16 kHz mono audio) is `scoring.media.video`;
`decode_video` and `DecodeLimits` are re-exported here for the document's callers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scoring.media.video import DecodeLimits, decode_video, uniform_indices

__all__ = ["DecodeLimits", "FrameExtractor", "decode_video"]


class FrameExtractor:
    """Uniformly sampled RGB frames of a video, for a frame classifier.

    `extract_frames(path)` decodes once and returns up to `max_frames` frames spread evenly over the
    clip (or the first ones when `uniform_sampling` is False).
    """

    def __init__(self, max_frames: int = 20, uniform_sampling: bool = True, limits: DecodeLimits = DecodeLimits()):
        if max_frames < 1:
            raise ValueError("max_frames must be at least 1")
        self.max_frames = max_frames
        self.uniform_sampling = uniform_sampling
        self.limits = limits

    def extract_frames(self, video_path: str | Path) -> list[np.ndarray]:
        decoded = decode_video(video_path, self.limits)
        uniform = self.uniform_sampling
        indices = uniform_indices(decoded.num_frames, self.max_frames) if uniform else np.arange(min(decoded.num_frames, self.max_frames))
        return decoded.rgb_frames(indices)
