"""Scores a clip's speech with AASIST: is the voice a recording of a person, or synthesised?

`VoiceScorer.load(path)` loads a published file (recognised by sha256) and its calibration sidecar;
`score(audio)` takes the service's decoded audio (int16, 16 kHz mono) and returns a `VoiceResult`.

How a clip becomes windows, and why:

- Waveform = int16 / 32768, the float scale the authors' loader (soundfile) gave the network.
- Speech span: an energy voice-activity detector marks 20 ms frames within `SPEECH_RANGE_DB` of
  the loudest frame (and above `SPEECH_FLOOR_DBFS`); the span runs from the first to the last
  marked frame, `SPAN_MARGIN_S` wider each side. Leading and trailing silence is cut because its
  length says nothing about the voice here, while in ASVspoof 2019 LA it differs between bona fide
  and spoofed files (Mueller et al., ASVspoof 2021 workshop), so a network trained there may read it.
  Pauses inside the span are kept: the network was trained on whole utterances with their pauses.
  Fewer than `MIN_SPEECH_S` of marked frames raise `NoSpeechError`. The detector cannot tell speech
  from other loud sound (music, noise): it only keeps silence away from the network.
- Windows of the authors' 64600 samples (4.04 s) with a hop of half a window, the last one aligned
  to the span's end, so every sample is seen at least once and most twice. A span shorter than a
  window is repeated until it fills one, which is how the authors' evaluation pads short files.
- Each window goes through the network alone: a window's logit then depends on its samples only, so
  a live session (`judge_ahead`) can judge the windows already heard and the verdict find them
  (`scoring.runtime.memo`). On a CPU one at a time was also the fastest (2 threads, AASIST: 0.62 s a
  window alone, 0.70 s in twos, 0.73 s in fours, each extra window holding ~280 MB more at once).
- Window logit = the network's bona fide logit (output index 1, what the authors rank by; higher
  means more like bona fide speech). Clip logit = the mean over windows: each window is a
  sample of the same voice, and a mean does not let one odd window decide; the per-window values
  come back with their times for a timeline.
- `probability`: the sidecar's `PlattScaling` applied to sigmoid(clip logit), which is
  sigmoid(a * logit + b) for logits within +-13.8 (the calibration's clipping); None without a sidecar.
  The raw logit is kept beside it: it is the published network's own number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scoring.runtime import memo
from scoring.verdict.calibration import PlattScaling, sigmoid
from scoring.voice.network import BONA_FIDE, SAMPLE_RATE, WINDOW_SAMPLES, AasistNet, config_from_state_dict
from scoring.weights.catalog import sidecar_path, voice_match
from scoring.weights.files import OfficialFile, WeightsError

HOP_SAMPLES = WINDOW_SAMPLES // 2
FRAME_SAMPLES = SAMPLE_RATE // 50  # 20 ms voice-activity frames
SPEECH_RANGE_DB = 35.0  # a frame is speech within this many dB of the clip's loudest frame...
SPEECH_FLOOR_DBFS = -55.0  # ...and louder than this (digital silence and hiss never count)
SPAN_MARGIN_S = 0.1  # kept either side of the marked frames: weak onsets and releases fall under the threshold
MIN_SPEECH_S = 1.0
# A live recording's window is judged ahead once it ends this long before the audio heard so far: one
# ending later is the last window, laid against the end of a span the next word may still move.
SETTLED_S = 0.5


class NoSpeechError(ValueError):
    """The audio has no usable speech (no audio, silence, or under MIN_SPEECH_S of it)."""


@dataclass(frozen=True)
class SpeechSpan:
    start: int  # samples, in the clip
    end: int
    speech_samples: int  # in frames the detector marked


def find_speech(audio: np.ndarray) -> SpeechSpan:
    """The span of `audio` (int16, 16 kHz) that holds speech; raises NoSpeechError below MIN_SPEECH_S."""
    frames = audio[: audio.size - audio.size % FRAME_SAMPLES].astype(np.float64).reshape(-1, FRAME_SAMPLES) / 32768
    if frames.size == 0:
        raise NoSpeechError(f"the audio is {audio.size / SAMPLE_RATE:.2f} s long, under one {FRAME_SAMPLES / SAMPLE_RATE * 1000:.0f} ms frame")
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    speech = level > max(SPEECH_FLOOR_DBFS, level.max() - SPEECH_RANGE_DB)
    speech_samples = int(speech.sum()) * FRAME_SAMPLES
    if speech_samples < MIN_SPEECH_S * SAMPLE_RATE:
        raise NoSpeechError(f"{speech_samples / SAMPLE_RATE:.2f} s of speech found, {MIN_SPEECH_S:.1f} s needed")
    marked = np.flatnonzero(speech)
    margin = int(SPAN_MARGIN_S * SAMPLE_RATE)
    start = max(0, int(marked[0]) * FRAME_SAMPLES - margin)
    end = min(audio.size, (int(marked[-1]) + 1) * FRAME_SAMPLES + margin)
    return SpeechSpan(start, end, speech_samples)


def window_starts(length: int) -> list[int]:
    """Window offsets over `length` samples: every HOP_SAMPLES, the last one ending at `length`;
    [0] when `length` is one window or less (that window is filled by repetition)."""
    if length <= WINDOW_SAMPLES:
        return [0]
    starts = list(range(0, length - WINDOW_SAMPLES + 1, HOP_SAMPLES))
    if starts[-1] != length - WINDOW_SAMPLES:
        starts.append(length - WINDOW_SAMPLES)
    return starts


def spread(starts: list[int], most: int | None) -> list[int]:
    """At most `most` of `starts`, evenly spaced, the first and the last among them (all when None)."""
    if most is None or len(starts) <= most:
        return starts
    picked = np.linspace(0, len(starts) - 1, most).round().astype(int)
    return [starts[i] for i in sorted(set(picked.tolist()))]


def fill_window(segment: np.ndarray) -> np.ndarray:
    """`segment` cut or repeated end to end to exactly WINDOW_SAMPLES, as the authors' evaluation pads."""
    repeats = -(-WINDOW_SAMPLES // segment.size)
    return np.tile(segment, repeats)[:WINDOW_SAMPLES]


@dataclass(frozen=True)
class WindowPlan:
    """The windows `score` reads from a clip's audio: offsets within the scored speech, which runs
    from sample `start` of the clip for `length` samples (the speech span, or the whole clip)."""

    span: SpeechSpan
    start: int
    length: int
    starts: list[int]

    def windows(self, audio: np.ndarray) -> np.ndarray:
        """(N, WINDOW_SAMPLES) float32 waveforms, as the authors' loader scales them."""
        speech = audio[self.start : self.start + self.length].astype(np.float32) / 32768
        return np.stack([fill_window(speech[s : s + WINDOW_SAMPLES]) for s in self.starts])

    def bounds(self) -> list[tuple[int, int]]:
        """Each window's first and last-but-one sample in the clip (a repeated window: the speech's)."""
        return [(self.start + s, self.start + min(s + WINDOW_SAMPLES, self.length)) for s in self.starts]


@dataclass(frozen=True)
class VoiceWindow:
    start_s: float
    end_s: float
    logit: float  # bona fide logit of this window


@dataclass(frozen=True)
class VoiceResult:
    logit: float  # mean of the windows' bona fide logits; higher = more like a recorded person
    probability: float | None  # calibrated P(bona fide) from the sidecar, None without one
    windows: tuple[VoiceWindow, ...]  # what was scored: the speech span, or the whole clip with trim_silence=False
    speech_start_s: float  # the span the voice-activity detector found
    speech_end_s: float
    speech_s: float  # seconds of frames the voice-activity detector marked

    def to_json(self) -> dict:
        return {
            "logit": round(self.logit, 4),
            "probability": None if self.probability is None else round(self.probability, 4),
            "speech": {"start_s": round(self.speech_start_s, 3), "end_s": round(self.speech_end_s, 3), "seconds": round(self.speech_s, 2)},
            "windows": [{"start_s": round(w.start_s, 3), "end_s": round(w.end_s, 3), "logit": round(w.logit, 4)} for w in self.windows],
        }


class VoiceScorer:
    def __init__(
        self,
        network: AasistNet,
        device: torch.device | str = "cpu",
        official: OfficialFile | None = None,
        calibration: PlattScaling | None = None,
        trim_silence: bool = True,
        precision: torch.dtype = torch.float32,
    ):
        self.device = torch.device(device)
        # Channels-last runs the convolution stages 1.6x faster on this CPU with the same numbers (4.8e-7).
        self.network = network.to(self.device, memory_format=torch.channels_last).eval()
        self.precision = precision  # bfloat16: 3.3x faster than float32 where native, logits within 0.01 (docs/voice.md)
        self.official = official  # None when loaded unverified
        self.calibration = calibration
        self.trim_silence = trim_silence

    @classmethod
    def load(
        cls,
        path: Path | str,
        device: torch.device | str = "cpu",
        allow_unverified: bool = False,
        trim_silence: bool = True,
        precision: torch.dtype = torch.float32,
    ) -> VoiceScorer:
        """A scorer for the AASIST file at `path`, with the calibration sidecar beside it when there is one.
        Raises WeightsError when the file is missing, is not a published file (unless
        `allow_unverified`), does not load strictly into a published variant, or its sidecar is unreadable."""
        path = Path(path)
        if not path.is_file():
            raise WeightsError(f"AASIST weights not found: {path.name}")
        official = voice_match(path)
        if official is None and not allow_unverified:
            raise WeightsError(f"{path.name} is not a published AASIST file (size or sha256 differ); set ALLOW_UNVERIFIED_WEIGHTS=1 to use it anyway")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            network = AasistNet(config_from_state_dict(state))
            network.load_state_dict(state, strict=True)
        except Exception as exc:  # torch raises several types for unreadable or mismatching files
            raise WeightsError(f"{path.name} does not load as AASIST: {exc}") from None
        return cls(network, device, official, _read_calibration(sidecar_path(path)), trim_silence, precision)

    @property
    def variant(self) -> str:
        return self.network.config.name

    def window_logits(self, windows: np.ndarray) -> np.ndarray:
        """Bona fide logits of (N, WINDOW_SAMPLES) float32 waveforms, each alone (or remembered)."""
        return np.array(memo.each(list(windows), self._window_logit, scope=self), dtype=np.float64)

    def _window_logit(self, window: np.ndarray) -> float:
        lower = self.precision != torch.float32
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=self.precision, enabled=lower):
            batch = torch.from_numpy(np.ascontiguousarray(window[None], dtype=np.float32)).to(self.device)
            return float(self.network(batch)[0, BONA_FIDE].float().cpu())

    def plan(self, audio: np.ndarray | None, max_windows: int | None = None) -> WindowPlan:
        """The windows `score` reads; raises NoSpeechError for no audio (None), silence, or under
        MIN_SPEECH_S of speech, ValueError for audio of another type."""
        if audio is None:
            raise NoSpeechError("the clip has no audio track")
        audio = np.asarray(audio)
        if audio.dtype != np.int16 or audio.ndim != 1:
            raise ValueError(f"audio must be 1-D int16 at {SAMPLE_RATE} Hz, got {audio.dtype} with shape {audio.shape}")
        span = find_speech(audio)
        start, end = (span.start, span.end) if self.trim_silence else (0, audio.size)
        return WindowPlan(span, start, end - start, spread(window_starts(end - start), max_windows))

    def score(self, audio: np.ndarray | None, max_windows: int | None = None) -> VoiceResult:
        """Scores int16 16 kHz mono speech (`DecodedVideo.audio`); raises as `plan` does.
        `max_windows`: at most that many windows, spread evenly over the span (first and last kept)."""
        plan = self.plan(audio, max_windows)
        logits = self.window_logits(plan.windows(np.asarray(audio)))
        timeline = tuple(
            VoiceWindow(first / SAMPLE_RATE, last / SAMPLE_RATE, float(logit)) for (first, last), logit in zip(plan.bounds(), logits, strict=True)
        )
        clip_logit = float(logits.mean())
        probability = None if self.calibration is None else self.bona_fide_probability(clip_logit)
        span = plan.span
        return VoiceResult(clip_logit, probability, timeline, span.start / SAMPLE_RATE, span.end / SAMPLE_RATE, span.speech_samples / SAMPLE_RATE)

    def judge_ahead(self, heard: np.ndarray | None, max_windows: int | None = None) -> VoiceWindow | None:
        """One window `score` would read if the recording ended now, judged now and remembered: the
        first not judged yet that ends SETTLED_S before the audio `heard` so far. None when there is
        none (no speech yet, or all such windows judged)."""
        try:
            plan = self.plan(heard, max_windows)
        except NoSpeechError:
            return None
        settled = heard.size - SETTLED_S * SAMPLE_RATE
        for (first, last), window in zip(plan.bounds(), plan.windows(heard), strict=True):
            if last <= settled and not memo.known(window, self):
                return VoiceWindow(first / SAMPLE_RATE, last / SAMPLE_RATE, float(self.window_logits(window[None])[0]))
        return None

    def bona_fide_probability(self, logit: float) -> float:
        """P(bona fide) of a bona fide logit: calibrated where the file has a sidecar, else the network's own sigmoid."""
        squashed = sigmoid(logit)
        return float(squashed if self.calibration is None else self.calibration(squashed))

    def summary(self) -> dict:
        """What /health can say about this scorer (file name, never a path)."""
        return {
            "variant": self.variant,
            "file": None if self.official is None else self.official.name,
            "checksum_verified": self.official is not None,
            "calibration": None if self.calibration is None else self.calibration.to_json(),
        }


def _read_calibration(path: Path) -> PlattScaling | None:
    if not path.is_file():
        return None
    try:
        return PlattScaling.from_json(json.loads(path.read_text())["calibration"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"calibration sidecar {path.name} is unreadable: {exc}") from None
