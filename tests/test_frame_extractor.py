"""Decoding: formats, 25 fps resampling by timestamp, audio alignment, limits."""

from __future__ import annotations

import av
import numpy as np
import pytest

from frame_extractor import FrameExtractor
from scoring.errors import ServiceError
from scoring.media.video import FPS, DecodeLimits, decode_video, uniform_indices
from tests.helpers import media
from tests.helpers.paths import MEDIA, shared

BITS = 7


def numbered_frames(count: int, size=(96, 128)) -> list[np.ndarray]:
    """Frame i shows its number as 7 black/white bands (robust to lossy coding and scaling)."""
    frames = []
    for i in range(count):
        frame = np.zeros((*size, 3), np.uint8)
        band = size[1] // BITS
        for bit in range(BITS):
            if i >> bit & 1:
                frame[:, bit * band : (bit + 1) * band] = 255
        frames.append(frame)
    return frames


def frame_numbers(frames: list[np.ndarray]) -> list[int]:
    numbers = []
    for f in frames:
        band = f.shape[1] // BITS
        numbers.append(sum(1 << bit for bit in range(BITS) if f[:, bit * band + band // 4 : (bit + 1) * band - band // 4].mean() > 128))
    return numbers


def test_reference_clip_decodes_to_its_frames_and_16k_audio():
    decoded = decode_video(shared(MEDIA / "syncnet_example.avi"))
    assert decoded.num_frames == 317
    assert decoded.frame_size == (224, 224)
    assert decoded.audio.dtype == np.int16 and decoded.audio.size == 202880  # 12.68 s at 16 kHz
    assert decoded.summary()["has_audio"] is True


def test_frames_are_ffmpegs_own_conversion_in_order():
    path = shared(MEDIA / "syncnet_example.avi")  # 25 fps: one slot per frame
    with av.open(str(path)) as container:
        expected = [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]
    frames = decode_video(path).frames
    assert len(frames) == len(expected)
    assert all(np.array_equal(ours, theirs) for ours, theirs in zip(frames, expected, strict=True))


def test_25fps_input_passes_through_unchanged(tmp_path):
    path = media.write_video(tmp_path / "a.mp4", numbered_frames(50), fps=25)
    assert frame_numbers(decode_video(path).frames) == list(range(50))


def test_30fps_input_is_resampled_to_25fps_by_timestamp(tmp_path):
    path = media.write_video(tmp_path / "a.mp4", numbered_frames(60), fps=30)
    decoded = decode_video(path)
    assert decoded.num_frames == 50
    for slot, shown in enumerate(frame_numbers(decoded.frames)):
        assert shown in nearest_frames(slot, [i / 30 for i in range(60)]), f"slot {slot}"
    assert decoded.source_fps == pytest.approx(30, abs=0.1)


def nearest_frames(slot: int, times: list[float]) -> set[int]:
    """The frame on screen at slot/25 s, rounded to the nearest slot; both frames on an exact tie."""
    limit = (slot + 0.5) / FPS
    return {max(i for i, t in enumerate(times) if t <= limit + tie) for tie in (-1e-6, 1e-6)}


def test_variable_frame_rate_is_evened_out(tmp_path):
    times = [0.0, 0.04, 0.20, 0.24, 0.28, 0.60, 0.64, 0.68, 0.72, 0.76]
    path = media.write_video(tmp_path / "vfr.mkv", numbered_frames(len(times)), timestamps=times)
    decoded = decode_video(path)
    shown = frame_numbers(decoded.frames)
    assert len(shown) == 20  # 0.80 s at 25 fps
    for slot, number in enumerate(shown):
        assert number in nearest_frames(slot, times), f"slot {slot}"


def test_mediarecorder_style_webm_without_duration(tmp_path):
    signal = np.full(60, 0.5)
    path = media.write_video(
        tmp_path / "rec.webm",
        numbered_frames(60),
        fps=30,
        audio=media.bursts(signal[:50], rate=48000),
        audio_rate=48000,
        video_codec="libvpx",
        audio_codec="libopus",
        container_format="webm",
        options={"live": "1"},
    )
    import av

    with av.open(str(path)) as container:
        assert container.duration is None and container.streams.video[0].frames == 0
    decoded = decode_video(path)
    assert decoded.num_frames == 50
    assert decoded.has_audio and abs(decoded.audio.size - 2 * 16000) <= 16000 * 0.05


def test_rotation_metadata_is_applied(tmp_path):
    frame = np.zeros((60, 120, 3), np.uint8)
    frame[:, :40] = 255  # white band on the left
    path = media.write_video(tmp_path / "r.mp4", [frame] * 5)
    rotated = tmp_path / "rotated.mp4"
    import av

    with av.open(str(path)) as src, av.open(str(rotated), "w") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        stream.set_display_rotation(90)
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    decoded = decode_video(rotated)
    assert decoded.frame_size == (60, 120)
    image = decoded.frames[0]
    assert image[-40:].mean() > 200 and image[:60].mean() < 60  # left band now at the bottom


def test_audio_starting_late_is_aligned_with_silence(tmp_path):
    signal = np.full(50, 0.8)
    path = media.write_video(tmp_path / "a.mkv", numbered_frames(50), audio=media.bursts(signal), audio_codec="pcm_s16le")
    late = media.remux_with_audio_delay(path, tmp_path / "late.mkv", delay_frames=5)
    original, delayed = decode_video(path).audio, decode_video(late).audio
    shift = 5 * 640
    assert np.all(delayed[:shift] == 0)
    np.testing.assert_array_equal(delayed[shift : shift + 8000], original[:8000])


def test_large_frames_are_downscaled_to_the_analysis_size(tmp_path):
    path = media.write_video(tmp_path / "big.mp4", numbered_frames(5, size=(720, 1280)))
    decoded = decode_video(path, DecodeLimits(frame_max_side=640))
    assert decoded.frame_size == (640, 360)
    assert (decoded.source_width, decoded.source_height) == (1280, 720)


def text_file(path):
    path.write_text("this is not a video")
    return path


@pytest.mark.parametrize(
    "make, code",
    [(text_file, "not_a_video"), (lambda p: media.audio_only(p.with_suffix(".wav")), "no_video_stream")],
)
def test_non_videos_are_refused_as_unsupported_media(tmp_path, make, code):
    path = make(tmp_path / "x.mp4")
    with pytest.raises(ServiceError) as raised:
        decode_video(path)
    assert raised.value.status == 415 and raised.value.code == code


def test_truncated_mp4_is_unsupported_media(tmp_path):
    path = media.write_video(tmp_path / "a.mp4", numbered_frames(50))
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ServiceError):
        decode_video(truncated)


def test_duration_and_resolution_limits(tmp_path):
    path = media.write_video(tmp_path / "a.mp4", numbered_frames(75))  # 3 s
    with pytest.raises(ServiceError) as too_long:
        decode_video(path, DecodeLimits(max_duration_s=2.0))
    assert too_long.value.code == "video_too_long"
    with pytest.raises(ServiceError) as too_big:
        decode_video(path, DecodeLimits(max_source_side=100))
    assert too_big.value.code == "resolution_too_large"


def test_duration_limit_holds_for_files_without_duration(tmp_path):
    path = media.write_video(
        tmp_path / "rec.webm", numbered_frames(100), video_codec="libvpx", container_format="webm", options={"live": "1"}
    )
    with pytest.raises(ServiceError):
        decode_video(path, DecodeLimits(max_duration_s=2.0))


def test_uniform_indices_spread_evenly():
    assert list(uniform_indices(100, 4)) == [12, 37, 62, 87]
    assert list(uniform_indices(3, 20)) == [0, 1, 2]
    assert uniform_indices(0, 5).size == 0


def test_frame_extractor_samples_rgb_frames_uniformly(tmp_path):
    path = media.write_video(tmp_path / "a.mp4", numbered_frames(100))
    frames = FrameExtractor(max_frames=20, uniform_sampling=True).extract_frames(path)
    assert len(frames) == 20 and frames[0].shape == (96, 128, 3)
    assert frame_numbers(frames) == [int(i) for i in uniform_indices(100, 20)]
    first = FrameExtractor(max_frames=5, uniform_sampling=False).extract_frames(path)
    assert frame_numbers(first) == [0, 1, 2, 3, 4]
