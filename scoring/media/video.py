"""One in-process decode of an uploaded video: 25 fps BGR frames and 16 kHz mono int16 audio.

Everything downstream (face tracking, SyncNet, the frame classifier) reads the `DecodedVideo`
this module returns; nothing is written to disk.

- Containers: whatever FFmpeg (through PyAV) reads: mp4/mov, webm/mkv (browser MediaRecorder
  files that carry no duration and no frame count included), avi, mpeg-ps.
- Video is resampled by timestamp to a constant 25 fps, the rate SyncNet was trained on: slot n
  holds the latest frame shown at or before n/25 s (rounded to the nearest slot), so 25 fps input
  passes through unchanged, 30 fps input drops frames and variable-rate input is evened out.
- Frames keep their pixels (the same bytes FFmpeg's own RGB conversion gives) unless the longer
  side exceeds `frame_max_side`, in which case they are downscaled during decode to bound memory.
- Rotation metadata (phones) is applied, as players do.
- Audio is downmixed and resampled to 16 kHz mono with FFmpeg's resampler and kept as int16,
  the scale SyncNet's MFCCs were computed on. It is aligned to the first video frame by timestamp.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import av
import numpy as np

from scoring.errors import Code, ServiceError
from scoring.runtime.timing import Stopwatch

FPS = 25
AUDIO_RATE = 16000
DURATION_TOLERANCE_S = 0.5  # container rounding: a "60 s" recording may last 60.04 s
MIN_SOURCE_SIDE = 32  # px: the face detectors search a copy downscaled by up to 4
SAMPLES_PER_FRAME = AUDIO_RATE // FPS  # 640
# Two conversion threads halved the decode stage's colour conversion on 2 cores (on one they take
# turns, as a serial decode would); more would only compete with other workers on a larger machine.
CONVERSION_THREADS = 2
CONVERSIONS_IN_FLIGHT = 16


class DecodeObserver(Protocol):
    """What follows a decode as it goes (a live session), from the decoder's thread."""

    def frame_placed(self, slot: int, image: Future) -> None:
        """A source frame at its first 25 fps slot, its BGR image a future."""

    def audio_opened(self, so_far: Callable[[], np.ndarray | None]) -> None:
        """The audio track is being decoded: `so_far()`, callable from any thread, gives the audio
        decoded until then (int16, 16 kHz, aligned to the frames as the decoded video's own), a
        prefix of the whole; None before there is any."""


@dataclass(frozen=True)
class DecodeLimits:
    max_duration_s: float = 60.0
    max_source_side: int = 4096
    frame_max_side: int = 640

    def check_resolution(self, width: int, height: int) -> None:
        """413 above the limit; 422 below the smallest picture a face can be found in (the face
        detectors search a downscaled copy, which a few pixels would shrink to nothing)."""
        if max(width, height) > self.max_source_side:
            raise ServiceError(Code.RESOLUTION_TOO_LARGE, f"resolution {width}x{height} exceeds the limit of {self.max_source_side} px per side")
        if min(width, height) < MIN_SOURCE_SIDE:
            raise ServiceError(Code.RESOLUTION_TOO_SMALL, f"resolution {width}x{height} is too small to find a face in: at least {MIN_SOURCE_SIDE} px per side")


@dataclass
class DecodedVideo:
    frames: list[np.ndarray]  # BGR uint8, one per 1/25 s; repeated slots share one array
    audio: np.ndarray | None  # int16, 16 kHz mono, sample 0 at frame 0; None without audio
    source_fps: float
    source_width: int
    source_height: int
    container: str
    video_codec: str
    audio_codec: str | None

    fps = FPS

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def duration_s(self) -> float:
        return self.num_frames / FPS

    @property
    def has_audio(self) -> bool:
        return self.audio is not None and self.audio.size > 0

    @property
    def frame_size(self) -> tuple[int, int]:
        height, width = self.frames[0].shape[:2]
        return width, height

    def rgb_frames(self, indices) -> list[np.ndarray]:
        """The frames at `indices` as RGB arrays (what the frame classifiers read)."""
        return [to_rgb(self.frames[i]) for i in indices]

    def summary(self) -> dict:
        return {
            "duration_s": round(self.duration_s, 3),
            "fps": round(self.source_fps, 3),
            "width": self.source_width,
            "height": self.source_height,
            "has_audio": self.has_audio,
            "analysed_fps": FPS,
            "analysed_frames": self.num_frames,
            "container": self.container,
            "video_codec": self.video_codec,
            "audio_codec": self.audio_codec,
        }


def to_rgb(frame_bgr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame_bgr[:, :, ::-1])


def uniform_indices(total: int, count: int) -> np.ndarray:
    """`count` indices spread evenly over `total` items, each at the centre of its stretch."""
    if total <= 0 or count <= 0:
        return np.zeros(0, dtype=np.int64)
    count = min(count, total)
    return np.floor((np.arange(count) + 0.5) * total / count).astype(np.int64)


def decoder_reason(exc: Exception) -> str:
    """FFmpeg's description of a failure, without the file name (a private temporary path)."""
    return getattr(exc, "strerror", None) or str(exc)


def _open(source: Path | BinaryIO) -> av.container.InputContainer:
    try:
        return av.open(str(source) if isinstance(source, Path) else source, metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise ServiceError(Code.NOT_A_VIDEO, f"not a decodable video: {decoder_reason(exc)}") from None


def analysis_size(width: int, height: int, max_side: int) -> tuple[int, int] | None:
    """Target (width, height) when the frame must shrink, else None (keep pixels untouched)."""
    longest = max(width, height)
    if longest <= max_side:
        return None
    scale = max_side / longest
    # Even sizes keep chroma planes aligned for the scaler.
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def _to_bgr(frame: av.VideoFrame, target: tuple[int, int] | None) -> np.ndarray:
    sized = {} if target is None else {"width": target[0], "height": target[1], "interpolation": "AREA"}
    image = frame.to_ndarray(format="bgr24", **sized)
    quarter_turns = (int(round(getattr(frame, "rotation", 0) or 0)) // 90) % 4
    if quarter_turns:
        image = np.ascontiguousarray(np.rot90(image, quarter_turns))
    return image


class _FrameResampler:
    """Turns frames with arbitrary timestamps into a constant 25 fps sequence, streaming.

    Colour conversion (FFmpeg's, which releases the GIL) runs on `converter`'s threads while the
    demuxer goes on: it was two thirds of the decode stage on one core. At most CONVERSIONS_IN_FLIGHT
    source frames wait, so memory stays bounded by the converted frames, as in a serial decode.
    """

    def __init__(self, target: tuple[int, int] | None, max_frames: int, converter: Executor, observer: DecodeObserver | None = None):
        self.target = target
        self.observer = observer
        self.max_frames = max_frames
        self.converter = converter
        self.frames: list[Future] = []
        self._in_flight: deque[Future] = deque()
        self.origin: float | None = None
        self._pending: av.VideoFrame | None = None
        self._pending_time = 0.0
        self._last_step = 1.0 / FPS
        self.input_frames = 0

    @property
    def started(self) -> bool:
        return self.origin is not None

    def measured_fps(self) -> float | None:
        """Input frame rate from timestamps: what the file really delivers (VFR included)."""
        if self.input_frames < 2 or self._pending_time <= 0:
            return None
        return (self.input_frames - 1) / self._pending_time

    def _guessed_time(self) -> float:
        """A frame without a timestamp comes one step after the one before it (the first at 0)."""
        return self._pending_time + self._last_step if self._pending is not None else 0.0

    def push(self, frame: av.VideoFrame) -> None:
        seconds = float(frame.time) if frame.time is not None else self._guessed_time()
        if self.origin is None:
            self.origin = seconds
        seconds -= self.origin
        self.input_frames += 1
        if self._pending is not None:
            if seconds <= self._pending_time:
                # Duplicate or out-of-order timestamp: the newer frame replaces the pending one.
                self._pending = frame
                return
            self._last_step = seconds - self._pending_time
            self._emit_until(seconds * FPS - 0.5)
        self._pending, self._pending_time = frame, seconds

    def finish(self) -> list[np.ndarray]:
        if self._pending is not None:
            end = self._pending_time + self._last_step
            self._emit_until(end * FPS - 0.5)
            if not self.frames:
                self._emit(1)
            self._pending = None
        return [future.result() for future in self.frames]  # repeated slots share one future, so one array

    def _emit_until(self, slot_limit: float) -> None:
        """Give the pending frame every slot n with n < slot_limit."""
        slots = math.ceil(slot_limit) - len(self.frames)
        if slots > 0:
            self._emit(slots)

    def _emit(self, slots: int) -> None:
        if len(self.frames) + slots > self.max_frames:
            raise ServiceError(Code.VIDEO_TOO_LONG, f"video is longer than the {self.max_frames / FPS:.0f} s this service accepts")
        image = self.converter.submit(_to_bgr, self._pending, self.target)
        if self.observer is not None:
            self.observer.frame_placed(len(self.frames), image)
        self.frames.extend([image] * slots)
        self._in_flight.append(image)
        if len(self._in_flight) > CONVERSIONS_IN_FLIGHT:
            self._in_flight.popleft().result()


class _AudioCollector:
    def __init__(self):
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        self.chunks: list[np.ndarray] = []
        self.start: float | None = None

    def push(self, frame: av.AudioFrame | None) -> None:
        if frame is not None and self.start is None and frame.time is not None:
            self.start = float(frame.time)
        for out in self.resampler.resample(frame):
            self.chunks.append(out.to_ndarray().reshape(-1))

    def aligned_to(self, video_origin: float | None) -> np.ndarray | None:
        """The whole track, aligned to the video's first frame."""
        self.push(None)
        return self.so_far(video_origin)

    def so_far(self, video_origin: float | None) -> np.ndarray | None:
        """What was collected until now, aligned as `aligned_to` aligns the whole (a snapshot: the
        decoder's thread may be adding to it)."""
        chunks = list(self.chunks)
        if not chunks:
            return None
        audio = np.concatenate(chunks).astype(np.int16, copy=False)
        offset = round(((self.start or 0.0) - (video_origin or 0.0)) * AUDIO_RATE)
        if offset > 0:
            audio = np.concatenate([np.zeros(offset, dtype=np.int16), audio])
        elif offset < 0:
            audio = audio[-offset:]
        return audio if audio.size else None


def decode_video(
    source: str | Path | BinaryIO, limits: DecodeLimits = DecodeLimits(), watch: Stopwatch | None = None, observer: DecodeObserver | None = None
) -> DecodedVideo:
    """Decode `source` (a path, or a binary stream read as it arrives) once, `observer` following it.
    Raises ServiceError: 415 (not a video), 413 (too long or large), 504 (deadline)."""
    watch = watch or Stopwatch()
    with _open(source if hasattr(source, "read") else Path(source)) as container:
        if not container.streams.video:
            kind = "an audio-only file" if container.streams.audio else "no video stream"
            raise ServiceError(Code.NO_VIDEO_STREAM, f"not a video: {kind}")
        video = container.streams.video[0]
        width, height = video.codec_context.width, video.codec_context.height
        if not width or not height:
            raise ServiceError(Code.NOT_A_VIDEO, "the video stream has no picture size")
        limits.check_resolution(width, height)
        if container.duration is not None and container.duration / 1e6 > limits.max_duration_s + DURATION_TOLERANCE_S:
            raise ServiceError(
                Code.VIDEO_TOO_LONG,
                f"video is {container.duration / 1e6:.1f} s long; the limit is {limits.max_duration_s:.0f} s",
            )
        audio = container.streams.audio[0] if container.streams.audio else None
        video.thread_type = "AUTO"
        collector = _AudioCollector() if audio is not None else None
        with ThreadPoolExecutor(CONVERSION_THREADS, thread_name_prefix="frame-conversion") as converter:
            resampler = _FrameResampler(
                analysis_size(width, height, limits.frame_max_side),
                max_frames=int((limits.max_duration_s + DURATION_TOLERANCE_S) * FPS),
                converter=converter,
                observer=observer,
            )
            if observer is not None and collector is not None:
                observer.audio_opened(lambda: collector.so_far(resampler.origin))
            _demux(container, video, audio, resampler, collector, watch)
            frames = resampler.finish()
        if not frames:
            raise ServiceError(Code.NOT_A_VIDEO, "no video frame could be decoded (corrupt or truncated file?)")
        pcm = collector.aligned_to(resampler.origin) if collector is not None else None
        return DecodedVideo(
            frames=frames,
            audio=pcm,
            source_fps=resampler.measured_fps() or float(video.average_rate or FPS),
            source_width=width,
            source_height=height,
            container=container.format.name,
            video_codec=video.codec_context.name,
            audio_codec=audio.codec_context.name if audio is not None else None,
        )


def _demux(container, video, audio, resampler: _FrameResampler, collector: _AudioCollector | None, watch: Stopwatch) -> None:
    """Decode both streams in one pass, skipping damaged packets."""
    streams = [video] + ([audio] if audio is not None else [])
    try:
        for index, packet in enumerate(container.demux(*streams)):
            if index % 64 == 0:
                watch.check()
            try:
                decoded = packet.decode()
            except (av.InvalidDataError, av.FFmpegError):
                continue
            for frame in decoded:
                if packet.stream is video:
                    resampler.push(frame)
                else:
                    collector.push(frame)
    except (av.InvalidDataError, av.FFmpegError) as exc:
        if not resampler.started:
            raise ServiceError(Code.NOT_A_VIDEO, f"not a decodable video: {decoder_reason(exc)}") from None
        # A damaged tail after decodable frames: what was decoded is the video.
