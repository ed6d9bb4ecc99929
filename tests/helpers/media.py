"""Test videos made on the fly with PyAV (nothing is committed but the public-domain photo in docs/sample)."""

from __future__ import annotations

import fractions
from pathlib import Path

import av
import cv2
import numpy as np

from scoring.media.video import decode_video
from tests.helpers.paths import ROOT

PHOTO = ROOT / "docs" / "sample" / "eileen_collins_nasa.jpg"
# MTCNN's mouth corners on PHOTO (x, y): the drawn mouth goes between them.
MOUTH_LEFT, MOUTH_RIGHT = (202.1, 139.8), (245.9, 142.5)
SAMPLE_RATE = 16000


def write_video(
    path: Path,
    frames: list[np.ndarray],
    fps: float = 25,
    audio: np.ndarray | None = None,
    audio_rate: int = SAMPLE_RATE,
    video_codec: str = "libx264",
    audio_codec: str = "aac",
    container_format: str | None = None,
    options: dict | None = None,
    timestamps: list[float] | None = None,
) -> Path:
    """Encode BGR frames (and int16 mono audio) into `path`. `timestamps` (s) makes variable frame rate."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", format=container_format, options=options or {}) as container:
        stream = container.add_stream(video_codec, rate=fractions.Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if video_codec == "libx264":
            stream.options = {"crf": "16", "preset": "veryfast"}
        if timestamps is not None:
            stream.codec_context.time_base = fractions.Fraction(1, 1000)
        audio_stream = None
        if audio is not None:
            audio_stream = container.add_stream(audio_codec, rate=audio_rate)
            audio_stream.layout = "mono"
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
            if timestamps is not None:
                frame.pts, frame.time_base = int(round(timestamps[index] * 1000)), fractions.Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        if audio_stream is not None:
            _encode_audio(container, audio_stream, audio, audio_rate)
    return path


def _encode_audio(container, stream, samples: np.ndarray, rate: int) -> None:
    chunk = 1024
    for start in range(0, len(samples), chunk):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[None, start : start + chunk]), format="s16", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def photo_canvas(width: int = 640, height: int = 480) -> tuple[np.ndarray, float, tuple[int, int]]:
    """The photo letterboxed on a grey canvas, with its scale and offset on the canvas."""
    image = cv2.imread(str(PHOTO))
    scale = height / image.shape[0]
    side = int(round(image.shape[1] * scale))
    canvas = np.full((height, width, 3), 90, np.uint8)
    left = (width - side) // 2
    canvas[:, left : left + side] = cv2.resize(image, (side, height), interpolation=cv2.INTER_AREA)
    return canvas, scale, (left, 0)


def talking_face(signal: np.ndarray, width: int = 640, height: int = 480) -> list[np.ndarray]:
    """One frame per value of `signal` (0..1): the photo with a mouth whose opening shows more of
    the dark inside as the value grows (drawn as a darker ellipse between the mouth corners)."""
    canvas, scale, (left, top) = photo_canvas(width, height)
    (x1, y1), (x2, y2) = MOUTH_LEFT, MOUTH_RIGHT
    centre = (int(left + (x1 + x2) / 2 * scale), int(top + (y1 + y2) / 2 * scale))
    axes = (int((x2 - x1) / 2 * scale), int((x2 - x1) / 4 * scale))
    frames = []
    for value in signal:
        frame = canvas.copy()
        level = int(200 - 180 * value)
        cv2.ellipse(frame, centre, axes, 0, 0, 360, (level, level, min(255, level + 20)), -1)
        frames.append(frame)
    return frames


def bursts(signal: np.ndarray, fps: int = 25, rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """int16 noise whose loudness per video frame follows `signal` (0..1)."""
    rng = np.random.default_rng(seed)
    per_frame = rate // fps
    envelope = np.repeat(200 + 9000 * np.asarray(signal), per_frame)
    return (rng.standard_normal(envelope.size) * envelope).clip(-32000, 32000).astype(np.int16)


def speech_like_signal(frames: int, seed: int = 0, longest_hold: int = 3) -> np.ndarray:
    """Random mouth openings, each held for 1..longest_hold frames."""
    rng = np.random.default_rng(seed)
    values = []
    while len(values) < frames:
        values += [float(rng.uniform(0, 1))] * int(rng.integers(1, longest_hold + 1))
    return np.array(values[:frames])


def synced_talking_clip(
    path: Path, seconds: float = 4.0, audio_lead_frames: int = 0, seed: int = 0, longest_hold: int = 3, **kwargs
) -> Path:
    """A generated talking face whose audio leads its mouth by `audio_lead_frames` frames."""
    frames = int(seconds * 25)
    signal = speech_like_signal(frames + 40, seed, longest_hold)
    video_signal = signal[20 : 20 + frames]
    audio_signal = signal[20 + audio_lead_frames : 20 + audio_lead_frames + frames]
    return write_video(path, talking_face(video_signal), audio=bursts(audio_signal, seed=seed), **kwargs)


def faceless_clip(path: Path, seconds: float = 2.0, with_audio: bool = True) -> Path:
    rng = np.random.default_rng(1)
    frames = [cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (9, 9), 3) for _ in range(int(seconds * 25))]
    audio = bursts(np.full(len(frames), 0.5)) if with_audio else None
    return write_video(path, frames, audio=audio)


def covered_clip(source: Path, path: Path, detector, draw, seconds: float = 4.0) -> Path:
    """The first `seconds` of `source` with `draw` (training.occluders) over the mouth from
    COVER_FROM_S on, as `python -m training.fit_mouth_cover` measures it; with its own audio."""
    from training.fit_mouth_cover import covered_frames, searched_faces  # the tool's own placing of the cover

    decoded = decode_video(source)
    frames = decoded.frames[: int(seconds * 25)]
    frames = covered_frames(frames, searched_faces(frames, detector, 12), draw, seed=0)
    audio = decoded.audio[: int(seconds * SAMPLE_RATE)] if decoded.audio is not None else None
    return write_video(path, frames, audio=audio)


def audio_only(path: Path, seconds: float = 2.0) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=SAMPLE_RATE)
        stream.layout = "mono"
        _encode_audio(container, stream, bursts(np.full(int(seconds * 25), 0.5)), SAMPLE_RATE)
    return path


def remux_with_audio_delay(source: Path, target: Path, delay_frames: int) -> Path:
    """Copy `source` without re-encoding, moving every audio packet by delay_frames x 40 ms."""
    with av.open(str(source)) as src, av.open(str(target), "w", format="matroska") as out:
        video_in, audio_in = src.streams.video[0], src.streams.audio[0]
        video_out = out.add_stream_from_template(video_in)
        audio_out = out.add_stream_from_template(audio_in)
        shift = int(round(delay_frames * 0.04 / audio_in.time_base))
        for packet in src.demux(video_in, audio_in):
            if packet.size == 0:  # end-of-stream marker
                continue
            if packet.stream is audio_in:
                if packet.pts is None or packet.pts + shift < 0:
                    continue
                packet.pts += shift
                packet.dts = packet.pts
                packet.stream = audio_out
            else:
                packet.stream = video_out
            out.mux(packet)
    return target


GRID_WORDS = {
    0: {"b": "bin", "l": "lay", "p": "place", "s": "set"},
    1: {"b": "blue", "g": "green", "r": "red", "w": "white"},
    2: {"a": "at", "b": "by", "i": "in", "w": "with"},
    4: {"z": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", "7": "seven", "8": "eight", "9": "nine"},
    5: {"a": "again", "n": "now", "p": "please", "s": "soon"},
}


def grid_sentence(clip: Path) -> str:
    """The sentence a GRID clip's name encodes: grid_bbaf2n.mpg is "bin blue at f two now"."""
    code = clip.stem.rsplit("_", 1)[-1]
    return " ".join(GRID_WORDS[i][c] if i in GRID_WORDS else c for i, c in enumerate(code))


def flite_speech(text: str, voice: str, target: Path) -> np.ndarray:
    """`text` spoken by Debian's flite `voice`, as 16 kHz mono int16."""
    import subprocess

    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(target)], check=True, capture_output=True)
    with av.open(str(target)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        chunks = [r.to_ndarray().reshape(-1) for f in container.decode(audio=0) for r in resampler.resample(f)]
    return np.concatenate(chunks).astype(np.int16)


def video_with_speech(face_video: Path, text: str, voice: str, target: Path) -> Path:
    """The first frames of a real face video with `text` spoken by flite as its sound, 0.5 s of silence either side."""
    from scoring.media.video import decode_video

    pcm = flite_speech(text, voice, target.with_suffix(".wav"))
    pcm = np.concatenate([np.zeros(SAMPLE_RATE // 2, np.int16), pcm, np.zeros(SAMPLE_RATE // 2, np.int16)])
    frames = decode_video(face_video).frames[: int(np.ceil(pcm.size / SAMPLE_RATE * 25))]
    return write_video(target, frames, audio=pcm, audio_codec="pcm_s16le")
