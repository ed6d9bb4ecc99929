"""A clip as a browser records it, for the live path's tests and benchmark: MediaRecorder's WebM."""

from __future__ import annotations

import fractions
from pathlib import Path

import av

FPS = 25


def as_mediarecorder_webm(source: Path, target: Path, seconds: float | None = None) -> Path:
    """`source` (its first `seconds`, or all of it) re-encoded as a browser's MediaRecorder writes it:
    VP8 and Opus in a live WebM (no duration, no cues), video and audio interleaved as recorded."""
    with av.open(str(source)) as recording, av.open(str(target), "w", format="webm", options={"live": "1"}) as out:
        video_in = recording.streams.video[0]
        video = out.add_stream("libvpx", rate=FPS)
        video.width, video.height, video.pix_fmt = video_in.codec_context.width, video_in.codec_context.height, "yuv420p"
        video.options = {"deadline": "realtime", "cpu-used": "8", "b": "1M"}
        streams = [video_in]
        audio = resampler = None
        if recording.streams.audio:
            streams.append(recording.streams.audio[0])
            audio = out.add_stream("libopus", rate=48000)
            audio.layout = "mono"
            resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        shown = 0
        for packet in recording.demux(*streams):
            for frame in packet.decode():
                if seconds is not None and frame.time is not None and frame.time >= seconds:
                    continue
                if packet.stream is video_in:
                    picture = av.VideoFrame.from_ndarray(frame.to_ndarray(format="bgr24"), format="bgr24")
                    picture.pts, picture.time_base, shown = shown, fractions.Fraction(1, FPS), shown + 1
                    out.mux(video.encode(picture))
                else:
                    for sound in resampler.resample(frame):
                        sound.pts = None
                        out.mux(audio.encode(sound))
        out.mux(video.encode(None))
        if audio is not None:
            out.mux(audio.encode(None))
    return target
