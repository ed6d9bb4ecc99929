"""The voice detector (scoring.voice): the bundled AASIST files, the network, the windows and the scores.

Runs without the authors' repository and without a network: the published files are bundled in
models/aasist/. Parity with the authors' code on real speech is bench/parity_audio.py; here the
network is pinned by logits their code gave for a waveform made in the test (frozen below), by an
independent computation of its fixed front end, and by batched = one-at-a-time.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scoring.verdict.calibration import PlattScaling, sigmoid
from scoring.voice import NoSpeechError, VoiceScorer
from scoring.voice.network import (
    AASIST_CONFIG,
    AASIST_L_CONFIG,
    BONA_FIDE,
    SAMPLE_RATE,
    WINDOW_SAMPLES,
    AasistNet,
    config_from_state_dict,
    max_pool,
)
from scoring.voice.scorer import HOP_SAMPLES, SPAN_MARGIN_S, fill_window, find_speech, window_starts
from scoring.weights.catalog import AASIST, AASIST_L, BUNDLED_VOICE_DIR, sidecar_path, voice_match
from scoring.weights.files import WeightsError, sha256_of

FILES = {AASIST.name: AASIST, AASIST_L.name: AASIST_L}

# (spoof, bona fide) logits of clovaai/aasist's Model (models/AASIST.py at a04c9863, their
# config/<variant>.conf d_args, eval mode) for the two windows of probe_windows(), with the
# bundled files: computed once with their code, 5 decimals.
THEIR_LOGITS = {
    AASIST.name: [[2.99218, -4.23589], [7.21939, -8.06784]],
    AASIST_L.name: [[4.14705, -2.70946], [5.38495, -4.72085]],
}


def probe_windows() -> np.ndarray:
    """Two deterministic (closed-form) windows: a voiced-like tone pair with a chirp, amplitude-modulated
    at a syllable rate, and that reversed at half level with a 3.1 kHz tone."""
    t = np.arange(WINDOW_SAMPLES) / SAMPLE_RATE
    voiced = 0.2 * np.sin(2 * np.pi * 140 * t) + 0.1 * np.sin(2 * np.pi * 280 * t + 0.5) + 0.05 * np.sin(2 * np.pi * (300 * t + 900 * t**2))
    first = voiced * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    second = 0.5 * first[::-1] + 0.03 * np.sin(2 * np.pi * 3100 * t)
    return np.stack([first, second]).astype(np.float32)


def tone(seconds: float, level: float = 0.3, frequency: float = 200.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (level * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)


@pytest.fixture(scope="module")
def scorers() -> dict[str, VoiceScorer]:
    return {name: VoiceScorer.load(BUNDLED_VOICE_DIR / official.name) for name, official in FILES.items()}


class WindowMean(nn.Module):
    """A stand-in network whose bona fide logit is each window's mean sample, to test the plumbing fast."""

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        mean = waveform.mean(dim=1)
        return torch.stack([-mean, mean], dim=1)


# (a) the published files: recognised by sha256, loaded strictly, anything else refused


@pytest.mark.parametrize("name", FILES)
def test_bundled_files_are_the_published_bytes(name):
    path = BUNDLED_VOICE_DIR / FILES[name].name
    assert path.stat().st_size == FILES[name].size
    assert sha256_of(path) == FILES[name].sha256
    assert voice_match(path) is FILES[name]
    assert (path.parent / "LICENSE").is_file()


def test_both_files_load_recognised(scorers):
    assert scorers[AASIST.name].official is AASIST and scorers[AASIST.name].variant == "AASIST"
    assert scorers[AASIST_L.name].official is AASIST_L and scorers[AASIST_L.name].variant == "AASIST-L"
    assert not scorers[AASIST.name].network.training


def test_a_modified_copy_is_refused_unless_unverified(tmp_path):
    state = torch.load(BUNDLED_VOICE_DIR / AASIST_L.name, map_location="cpu", weights_only=True)
    state["out_layer.bias"] = state["out_layer.bias"] + 1.0
    copy = tmp_path / AASIST_L.name
    torch.save(state, copy)
    assert voice_match(copy) is None
    with pytest.raises(WeightsError, match="not a published AASIST file"):
        VoiceScorer.load(copy)
    scorer = VoiceScorer.load(copy, allow_unverified=True)
    assert scorer.official is None and scorer.summary()["checksum_verified"] is False
    assert torch.equal(scorer.network.out_layer.bias, state["out_layer.bias"])


def test_unverified_files_still_load_only_weights(tmp_path):
    """torch.load runs with weights_only: a file that needs arbitrary unpickling is refused even when unverified."""
    state = dict(torch.load(BUNDLED_VOICE_DIR / AASIST_L.name, map_location="cpu", weights_only=True))
    state["extra"] = PlattScaling(1.0, 0.0)  # any class torch's safe unpickler does not allow
    path = tmp_path / "pickled.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match="does not load as AASIST"):
        VoiceScorer.load(path, allow_unverified=True)


def test_missing_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        VoiceScorer.load(tmp_path / "absent.pth")
    foreign = tmp_path / "foreign.pth"
    torch.save({"weight": torch.zeros(3)}, foreign)
    with pytest.raises(WeightsError, match="does not load as AASIST"):
        VoiceScorer.load(foreign, allow_unverified=True)


# (b) our network has exactly the files' keys and shapes


@pytest.mark.parametrize(("name", "config"), [(AASIST.name, AASIST_CONFIG), (AASIST_L.name, AASIST_L_CONFIG)])
def test_network_keys_and_shapes_equal_the_file(name, config):
    state = torch.load(BUNDLED_VOICE_DIR / FILES[name].name, map_location="cpu", weights_only=True)
    assert config_from_state_dict(state) is config
    ours = AasistNet(config).state_dict()
    assert list(ours) == list(state)
    assert {key: tuple(value.shape) for key, value in ours.items()} == {key: tuple(value.shape) for key, value in state.items()}
    result = AasistNet(config).load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_config_refuses_other_shapes():
    state = torch.load(BUNDLED_VOICE_DIR / AASIST_L.name, map_location="cpu", weights_only=True)
    wider = dict(state, **{"GAT_layer_S.proj_with_att.weight": torch.zeros(48, 24)})
    with pytest.raises(ValueError, match="no published AASIST variant"):
        config_from_state_dict(wider)
    with pytest.raises(ValueError, match="not an AASIST state dict"):
        config_from_state_dict({key: value for key, value in state.items() if key != "pos_S"})


# (c) speech span, windows and padding


def test_window_positions():
    assert WINDOW_SAMPLES == 64_600 and HOP_SAMPLES == 32_300
    assert window_starts(1_000) == [0]
    assert window_starts(WINDOW_SAMPLES) == [0]
    assert window_starts(WINDOW_SAMPLES + 1) == [0, 1]
    assert window_starts(2 * WINDOW_SAMPLES) == [0, 32_300, 64_600]
    assert window_starts(100_000) == [0, 32_300, 100_000 - WINDOW_SAMPLES]
    for length in (70_000, 129_201, 400_123):
        starts = window_starts(length)
        assert starts[-1] + WINDOW_SAMPLES == length  # the last window ends at the end
        assert all(0 < b - a <= HOP_SAMPLES for a, b in itertools.pairwise(starts))  # no gap, nothing skipped


def test_short_speech_is_repeated_the_authors_way():
    segment = np.arange(1, 30_001, dtype=np.float32)
    window = fill_window(segment)
    assert window.shape == (WINDOW_SAMPLES,)
    assert np.array_equal(window[:30_000], segment) and np.array_equal(window[30_000:60_000], segment)
    assert np.array_equal(window[60_000:], segment[: WINDOW_SAMPLES - 60_000])
    assert np.array_equal(fill_window(np.arange(70_000, dtype=np.float32)), np.arange(WINDOW_SAMPLES, dtype=np.float32))


def test_speech_span_trims_silence_with_a_margin():
    audio = np.concatenate([silence(1.0), tone(2.0), silence(1.5)])
    span = find_speech(audio)
    assert span.start == pytest.approx((1.0 - SPAN_MARGIN_S) * SAMPLE_RATE, abs=FRAME_TOLERANCE)
    assert span.end == pytest.approx((3.0 + SPAN_MARGIN_S) * SAMPLE_RATE, abs=FRAME_TOLERANCE)
    assert span.speech_samples == pytest.approx(2.0 * SAMPLE_RATE, abs=FRAME_TOLERANCE)


FRAME_TOLERANCE = SAMPLE_RATE // 50  # one 20 ms frame


@pytest.mark.parametrize(
    "audio",
    [silence(5.0), np.concatenate([silence(2.0), tone(0.6), silence(2.0)]), tone(0.5), np.zeros(100, dtype=np.int16), tone(6.0, level=0.0005)],
    ids=["silence", "0.6 s of speech", "too short", "under one frame", "hiss-level only"],
)
def test_no_usable_speech_raises(audio):
    scorer = VoiceScorer(WindowMean())
    with pytest.raises(NoSpeechError):
        scorer.score(audio)


def test_no_audio_and_wrong_types():
    scorer = VoiceScorer(WindowMean())
    with pytest.raises(NoSpeechError, match="no audio"):
        scorer.score(None)
    with pytest.raises(ValueError, match="int16"):
        scorer.score(tone(2.0).astype(np.float32))


def test_score_windows_timeline_and_mean():
    """Speech 1.0-11.0 s (a ramp, so every window has its own mean): the windows cover the span, the
    clip logit is their mean, and the timeline is in the clip's seconds."""
    speech = (np.linspace(0.05, 0.9, 10 * SAMPLE_RATE) * 32767 * np.sign(np.sin(np.arange(10 * SAMPLE_RATE) * 0.3))).astype(np.int16)
    audio = np.concatenate([silence(1.0), speech, silence(2.0)])
    result = VoiceScorer(WindowMean()).score(audio)
    span = find_speech(audio)
    assert [round(w.start_s * SAMPLE_RATE) - span.start for w in result.windows] == window_starts(span.end - span.start)
    assert result.windows[0].start_s == pytest.approx(span.start / SAMPLE_RATE)
    assert result.windows[-1].end_s == pytest.approx(span.end / SAMPLE_RATE)
    assert all(w.end_s - w.start_s == pytest.approx(WINDOW_SAMPLES / SAMPLE_RATE) for w in result.windows)
    assert len({round(w.logit, 6) for w in result.windows}) == len(result.windows)
    assert result.logit == pytest.approx(np.mean([w.logit for w in result.windows]))
    assert result.speech_start_s == pytest.approx(span.start / SAMPLE_RATE) and result.speech_end_s == pytest.approx(span.end / SAMPLE_RATE)
    assert result.probability is None and result.to_json()["windows"][0]["logit"] == round(result.windows[0].logit, 4)


def test_short_clip_is_one_repeated_window():
    audio = np.concatenate([silence(0.5), tone(2.0), silence(0.5)])
    result = VoiceScorer(WindowMean()).score(audio)
    span = find_speech(audio)
    expected = fill_window(audio[span.start : span.end].astype(np.float32) / 32768).mean()
    assert len(result.windows) == 1 and result.logit == pytest.approx(expected, abs=1e-6)
    assert result.windows[0].end_s == pytest.approx(span.end / SAMPLE_RATE)


def test_keeping_silence_scores_the_whole_clip():
    audio = np.concatenate([silence(1.0), tone(2.0), silence(1.0)])
    result = VoiceScorer(WindowMean(), trim_silence=False).score(audio)
    assert result.windows[0].start_s == 0.0 and result.windows[0].end_s == pytest.approx(4.0)


def test_calibration_sidecar(tmp_path):
    copy = tmp_path / AASIST_L.name
    shutil.copyfile(BUNDLED_VOICE_DIR / AASIST_L.name, copy)
    calibration = PlattScaling(0.5, -1.0, "test")
    sidecar_path(copy).write_text(json.dumps({"calibration": calibration.to_json()}))
    scorer = VoiceScorer.load(copy)
    assert scorer.official is AASIST_L and scorer.calibration == calibration
    result = VoiceScorer(WindowMean(), calibration=calibration).score(tone(2.0))
    assert result.probability == pytest.approx(float(sigmoid(0.5 * result.logit - 1.0)))
    sidecar_path(copy).write_text(json.dumps({"calibration": {"method": "isotonic"}}))
    with pytest.raises(WeightsError, match="sidecar"):
        VoiceScorer.load(copy)


# (d) the network's numbers


def test_sinc_front_end_matches_a_direct_computation(scorers):
    """Each filter, recomputed term by term: mel-spaced band edges 0..8 kHz, ideal band-pass
    (2 f_hi/fs) sinc(2 f_hi n/fs) - (2 f_lo/fs) sinc(2 f_lo n/fs), times a Hamming window."""
    bank = scorers[AASIST_L.name].network.front_end.bank.squeeze(1).numpy()
    filters, taps = bank.shape
    assert (filters, taps) == (70, 129)
    top = 2595 * math.log10(1 + 8000 / 700)
    edges = [700 * (10 ** (top * k / filters / 2595) - 1) for k in range(filters + 1)]

    def sinc(x: float) -> float:
        return 1.0 if x == 0 else math.sin(math.pi * x) / (math.pi * x)

    for k in (0, 1, 17, 40, 69):
        for i in (0, 31, 64, 100, 128):
            n = i - 64
            ideal = 2 * edges[k + 1] / SAMPLE_RATE * sinc(2 * edges[k + 1] * n / SAMPLE_RATE) - 2 * edges[k] / SAMPLE_RATE * sinc(
                2 * edges[k] * n / SAMPLE_RATE
            )
            hamming = 0.54 - 0.46 * math.cos(2 * math.pi * i / (taps - 1))
            assert bank[k, i] == pytest.approx(ideal * hamming, abs=1e-7)
    # each filter passes its own band: its peak response lies between its edges (within one FFT bin),
    # except the lowest three (under 110 Hz), narrower than 129 taps resolve, which peak at 0 Hz
    response = np.abs(np.fft.rfft(bank, 4096, axis=1))
    peaks = np.argmax(response, axis=1) * SAMPLE_RATE / 4096
    bin_width = SAMPLE_RATE / 4096
    assert all(edges[k] - bin_width <= peaks[k] <= edges[k + 1] + bin_width for k in range(4, filters))


def test_front_end_is_a_correlation_with_the_bank(scorers):
    network = scorers[AASIST_L.name].network
    wave = probe_windows()[:1, :2000]
    bank = network.front_end.bank.squeeze(1).numpy().astype(np.float64)
    with torch.inference_mode():
        pooled = network.front_end(torch.from_numpy(wave)).numpy()[0, 0]
    direct = np.stack([np.correlate(wave[0].astype(np.float64), f, mode="valid") for f in bank])
    frames = direct.shape[1] // 3
    expected = np.abs(direct[: 3 * (filters := bank.shape[0] // 3), : 3 * frames]).reshape(filters, 3, frames, 3).max(axis=(1, 3))
    assert pooled.shape == expected.shape == (23, (2000 - 128) // 3)
    assert np.allclose(pooled, expected, atol=1e-6)


@pytest.mark.parametrize("shape, kernel", [((2, 1, 70, 1000), (3, 3)), ((1, 32, 23, 301), (1, 3)), ((1, 64, 24, 29), (1, 3)), ((1, 2, 5, 4), (3, 3))])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_max_pool_equals_torchs_in_values_and_layout(shape, kernel, dtype, layout):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0)).to(dtype).contiguous(memory_format=layout)
    pooled = max_pool(x, kernel)
    assert torch.equal(pooled, F.max_pool2d(x, kernel))
    assert pooled.is_contiguous(memory_format=layout)


@pytest.mark.parametrize("name", FILES)
def test_logits_equal_the_authors_frozen_values(scorers, name):
    with torch.inference_mode():
        logits = scorers[name].network(torch.from_numpy(probe_windows())).numpy()
    assert np.allclose(logits, THEIR_LOGITS[name], atol=1e-4)
    assert np.allclose(scorers[name].window_logits(probe_windows()), np.array(THEIR_LOGITS[name])[:, BONA_FIDE], atol=1e-4)
