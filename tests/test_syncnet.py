"""SyncNet branch: weights, network equivalence, the offset definitions, and the delay property."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.signal import medfilt

from scoring.errors import CannotScore
from scoring.faces.crops import face_step, track_offsets
from scoring.media.video import SAMPLES_PER_FRAME, decode_video
from scoring.settings import FaceSettings, Settings, SyncNetSettings
from scoring.syncnet.detector import UNSETTLED_SCORE, sync_score
from scoring.syncnet.inference import audio_stream, lip_stream, load_syncnet_v2
from scoring.syncnet.scorer import SyncNetScorer
from scoring.weights.catalog import BUNDLED_FRAME_DETECTOR, SYNCNET_V2
from scoring.weights.checkpoints import WeightsError, require_official
from syncnet_python.crops import SyncNetCropper
from syncnet_python.sync import distance_matrix, is_decisive, summarise, usable_windows
from syncnet_wrapper import SyncNetWrapper
from tests.helpers import media
from tests.helpers.generated_weights import random_s3fd_state, random_syncnet_state, save_state
from tests.helpers.paths import MEDIA, shared
from tests.helpers.sync_probe import DELAYS, VSHIFT, TrackProbe, main_track

# --- weights ---------------------------------------------------------------------------------


def test_official_format_weights_load_strictly(weights_dir):
    model = load_syncnet_v2(weights_dir / "syncnet_random.model")
    saved = torch.load(weights_dir / "syncnet_random.model", weights_only=True)
    assert not any(k.endswith("num_batches_tracked") for k in saved)  # as the 2017 file
    for key, value in saved.items():
        assert torch.equal(model.state_dict()[key], value), key
    assert sum(p.numel() for p in model.parameters()) == 13_631_616


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda s: {k: v for k, v in s.items() if not k.startswith("netfclip.3")}, "missing keys"),
        (lambda s: {**s, "extra.weight": torch.zeros(1)}, "unexpected keys"),
        (lambda s: {**s, "netfcaud.3.weight": torch.zeros(512, 512)}, "shape mismatches"),
        (lambda s: random_s3fd_state(), "missing keys"),
    ],
)
def test_wrong_weights_are_refused_with_a_clear_message(tmp_path, corrupt, message):
    path = save_state(corrupt(random_syncnet_state()), tmp_path / "bad.model")
    with pytest.raises(WeightsError, match=message):
        load_syncnet_v2(path)


def test_unreadable_and_unofficial_files_are_refused(tmp_path, weights_dir):
    junk = tmp_path / "junk.model"
    junk.write_bytes(b"\x00not a torch file" * 100)
    with pytest.raises(WeightsError, match="not a loadable PyTorch weights file"):
        load_syncnet_v2(junk)
    with pytest.raises(WeightsError, match="not found"):
        load_syncnet_v2(tmp_path / "absent.model")
    with pytest.raises(WeightsError, match="not the official syncnet_v2.model"):
        require_official(weights_dir / "syncnet_random.model", SYNCNET_V2)
    settings = Settings(syncnet=SyncNetSettings(weights=weights_dir / "syncnet_random.model"), allow_unverified_weights=False)
    with pytest.raises(WeightsError, match="ALLOW_UNVERIFIED_WEIGHTS"):
        SyncNetWrapper.from_settings(settings, torch.device("cpu"))


def test_inference_streams_equal_the_official_layout(weights_dir):
    model = load_syncnet_v2(weights_dir / "syncnet_random.model")
    # Non-trivial BatchNorm statistics so that folding them is really exercised.
    generator = torch.Generator().manual_seed(3)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.normal_(0, 0.5, generator=generator)
            module.running_var.uniform_(0.5, 2.0, generator=generator)
    frames = torch.rand(3, 3, 5, 224, 224, generator=generator) * 255
    mfccs = torch.randn(3, 1, 13, 20, generator=generator) * 10
    with torch.inference_mode():
        lip_reference = model.forward_lip(frames)
        lip_fast = lip_stream(model)(frames.permute(0, 2, 1, 3, 4).reshape(3, 15, 224, 224))
        audio_reference = model.forward_audio(mfccs)
        audio_fast = audio_stream(model)(mfccs)
    torch.testing.assert_close(lip_fast, lip_reference, rtol=1e-4, atol=1e-4 * lip_reference.abs().max().item())
    torch.testing.assert_close(audio_fast, audio_reference, rtol=1e-4, atol=1e-4 * audio_reference.abs().max().item())


# --- the reference's definitions ---------------------------------------------------------------


def reference_curve(lip: torch.Tensor, audio: torch.Tensor, vshift: int):
    """The reference's computation, written as its definition reads: a loop over windows."""
    padded = F.pad(audio, (0, 0, vshift, vshift))
    rows = [F.pairwise_distance(lip[[i]].repeat(2 * vshift + 1, 1), padded[i : i + 2 * vshift + 1]) for i in range(len(lip))]
    dists = torch.stack(rows)
    mean = dists.mean(0)
    best = int(torch.argmin(mean))
    framewise = medfilt((torch.median(mean) - dists[:, best]).numpy(), kernel_size=9)
    return vshift - best, float(mean[best]), float(torch.median(mean) - mean[best]), framewise


def test_offset_min_dist_and_confidence_follow_the_reference_definitions():
    generator = torch.Generator().manual_seed(7)
    lip, audio = torch.randn(40, 1024, generator=generator), torch.randn(40, 1024, generator=generator)
    audio[5:] += 3 * lip[:-5]  # audio window v+5 resembles lip window v
    starts = np.arange(40)
    measured = summarise(distance_matrix(lip, audio, starts, VSHIFT), starts, VSHIFT, 40)
    offset, min_dist, confidence, framewise = reference_curve(lip, audio, VSHIFT)
    assert measured.offset == offset == -5  # audio matching later windows = audio lags: negative
    assert measured.min_dist == pytest.approx(min_dist, rel=1e-6)
    assert measured.confidence == pytest.approx(confidence, rel=1e-5)
    np.testing.assert_allclose(measured.framewise_confidence, framewise, rtol=1e-5, atol=1e-6)


def test_usable_windows_match_the_reference():
    assert usable_windows(100, 100 * 640) == 95
    assert usable_windows(100, 60 * 640 + 639) == 55  # audio shorter than video
    assert usable_windows(5, 10 * 640) == 0


def test_decisiveness_is_a_paired_test_against_every_other_shift():
    generator = torch.Generator().manual_seed(2)
    noise = torch.randn(64, 31, generator=generator) * 0.5
    clear = 10.0 + noise
    clear[:, 15] -= 3.0  # a minimum far below the window-to-window noise
    assert is_decisive(clear)
    close = clear.clone()
    close[:, 3] = clear[:, 15] + torch.randn(64, generator=generator) * 0.5 + 0.05  # a rival within the noise
    assert not is_decisive(close)
    assert not is_decisive(clear[:2])  # too few windows to judge


def test_sync_score_mapping():
    settings = SyncNetSettings()
    assert sync_score(8.0, 1, settings) > 0.99
    assert sync_score(3.0, 0, settings) == pytest.approx(0.5)
    assert sync_score(0.5, 0, settings) < 0.1
    assert sync_score(8.0, 7, settings) == pytest.approx(sync_score(8.0, 0, settings) * 0.5)
    assert sync_score(8.0, -12, settings) == 0.0
    assert sync_score(8.0, 1, settings, settled=False) == UNSETTLED_SCORE  # an unsettled sample cannot vouch for sync
    assert sync_score(0.5, 0, settings, settled=False) == sync_score(0.5, 0, settings)


# --- offsets on video ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated_clip(tmp_path_factory):
    return decode_video(media.synced_talking_clip(tmp_path_factory.mktemp("gen") / "talk.mkv", seconds=6, audio_codec="pcm_s16le"))


def test_generated_speech_has_its_offset_at_zero_through_the_whole_pipeline(probe, tracker, generated_clip):
    track = main_track(tracker, generated_clip)
    measured = probe.measure(
        SyncNetCropper(generated_clip.frames, track.boxes, track.start), track.length, TrackProbe(probe, generated_clip, track).pcm, VSHIFT
    )
    assert measured.offset == 0
    assert measured.confidence > 0


def test_offset_sign_follows_the_reference(probe, tracker, tmp_path):
    """Reference convention: offset = vshift - argmin; positive when the audio comes first."""
    clip = decode_video(media.synced_talking_clip(tmp_path / "lead.mkv", audio_lead_frames=3, audio_codec="pcm_s16le"))
    track = main_track(tracker, clip)
    assert TrackProbe(probe, clip, track).offset(0) == 3


def test_delaying_audio_moves_the_offset_by_exactly_k_on_generated_speech(probe, tracker, generated_clip):
    track_probe = TrackProbe(probe, generated_clip, main_track(tracker, generated_clip))
    assert [track_probe.offset(k) for k in DELAYS] == [-k for k in DELAYS]


def test_container_level_audio_delay_moves_the_offset(probe, tracker, tmp_path):
    source = media.synced_talking_clip(tmp_path / "talk.mkv", audio_codec="pcm_s16le")
    for k in (-4, 6):
        clip = decode_video(media.remux_with_audio_delay(source, tmp_path / f"delay{k}.mkv", k))
        track = main_track(tracker, clip)
        assert TrackProbe(probe, clip, track).offset(0) == -k


def test_a_bfloat16_lip_stream_keeps_a_clear_offset_and_its_confidence(probe, probe_bfloat16, tracker, generated_clip):
    """Where the curve has a clear minimum (synced generated speech), reduced precision keeps the
    offset and moves the confidence by less than 0.05. (On flat curves it may not: see the README,
    which is why float32 is the default.)"""
    track = main_track(tracker, generated_clip)
    cropper, pcm = SyncNetCropper(generated_clip.frames, track.boxes, track.start), TrackProbe(probe, generated_clip, track).pcm
    exact, reduced = (scorer.measure(cropper, track.length, pcm, VSHIFT) for scorer in (probe, probe_bfloat16))
    assert reduced.windows_used == exact.windows_used and reduced.offset == exact.offset == 0
    assert abs(reduced.confidence - exact.confidence) <= 0.05


def test_fast_mode_uses_a_bounded_subset_when_the_curve_is_decisive(probe, tracker, tmp_path):
    fast_windows = SyncNetSettings().fast_max_windows
    clip = decode_video(media.synced_talking_clip(tmp_path / "long.mkv", seconds=12, longest_hold=1, audio_codec="pcm_s16le"))
    track = main_track(tracker, clip)
    cropper = SyncNetCropper(clip.frames, track.boxes, track.start)
    pcm = clip.audio[track.start * SAMPLES_PER_FRAME : track.end * SAMPLES_PER_FRAME]
    fast = probe.measure(cropper, track.length, pcm, VSHIFT, fast_windows)
    assert fast.windows_used == fast_windows and fast.available_windows > 250
    starts, step = fast.window_starts, face_step(fast.available_windows, fast_windows)
    assert list(starts) == list(track_offsets(fast.available_windows, fast_windows))  # a lattice that only thins as the track grows
    assert starts[0] == 0 and starts[-1] >= fast.available_windows - 2 * step and np.diff(starts).max() <= 2 * step  # spread over the track
    assert fast.decisive and fast.offset == 0


# --- outcomes the service maps -------------------------------------------------------------------


@pytest.fixture(scope="module")
def wrapper(weights_dir):
    settings = Settings(
        syncnet=SyncNetSettings(weights=weights_dir / "syncnet_probe.model"),
        faces=FaceSettings(face_detector="mtcnn"),
        allow_unverified_weights=True,
    )
    return SyncNetWrapper.from_settings(settings, torch.device("cpu"))


def test_process_video_reports_the_speaker_and_lag(wrapper, tmp_path):
    result = wrapper.process_video(media.synced_talking_clip(tmp_path / "t.mkv", audio_lead_frames=2, audio_codec="pcm_s16le"))
    assert result["offset_frames"] == 2 and result["lag_ms"] == 80
    assert 0 <= result["score"] <= 1 and result["speaker_track"]["frames"] >= 90
    assert result["other_tracks"] == []


def test_a_capped_sample_that_does_not_settle_is_reported_unsettled(wrapper, weights_dir, tmp_path):
    """Seeded random weights never settle an offset: fast mode stops at its cap and says so."""
    scorer = SyncNetScorer(load_syncnet_v2(weights_dir / "syncnet_random.model"), torch.device("cpu"))
    capped = SyncNetWrapper(scorer, dataclasses.replace(wrapper.settings, fast_max_windows=24), wrapper.faces, True)
    result = capped.process_video(media.synced_talking_clip(tmp_path / "t.mkv", seconds=4, audio_codec="pcm_s16le"))
    speaker = result["speaker_track"]
    assert speaker["windows_used"] == 24 < speaker["windows_available"]
    assert result["settled"] is speaker["settled"] is False
    assert result["score"] <= UNSETTLED_SCORE


def test_face_track_shorter_than_the_minimum_is_a_clear_outcome(wrapper, tmp_path):
    signal = media.speech_like_signal(150)
    frames = media.talking_face(signal)
    for frame in frames[60:]:
        frame[40:300, 200:440] = 90  # the face is covered after 60 frames: a 60-frame track
    clip = media.write_video(tmp_path / "t.mkv", frames, audio=media.bursts(signal), audio_codec="pcm_s16le")
    strict = SyncNetWrapper(wrapper.scorer, wrapper.settings, dataclasses.replace(wrapper.faces, min_track_frames=80), True)
    with pytest.raises(CannotScore) as raised:
        strict.process_video(clip)
    assert raised.value.code == "no_face_track"
    assert "faces were seen but none was tracked for 80 frames" in raised.value.message
    kept = wrapper.process_video(clip)["speaker_track"]["frames"]  # the default minimum (20) keeps it,
    assert kept >= 60 - wrapper.faces.face_det_stride  # ending within one detection stride of the cover


def test_faceless_clip_and_missing_or_silent_audio(wrapper, tmp_path):
    with pytest.raises(CannotScore) as no_face:
        wrapper.process_video(media.faceless_clip(tmp_path / "noface.mp4"))
    assert no_face.value.code == "no_face_track" and "no face was found" in no_face.value.message
    with pytest.raises(CannotScore) as no_audio:
        wrapper.process_video(media.write_video(tmp_path / "mute.mp4", media.talking_face(np.zeros(50))))
    assert no_audio.value.code == "no_audio"
    silent = media.write_video(
        tmp_path / "silent.mkv", media.talking_face(np.zeros(50)), audio=np.zeros(32000, np.int16), audio_codec="pcm_s16le"
    )
    with pytest.raises(CannotScore) as quiet:
        wrapper.process_video(silent)
    assert quiet.value.code == "silent_audio"


def test_one_second_clip_is_scored(wrapper, tmp_path):
    result = wrapper.process_video(media.synced_talking_clip(tmp_path / "one.mkv", seconds=1.0, audio_codec="pcm_s16le"))
    assert result["speaker_track"]["windows_available"] == 20
    assert result["offset_frames"] == 0


def test_command_line_prints_offset_and_tracks(weights_dir, tmp_path, capsys):
    from syncnet_wrapper import main

    clip = media.synced_talking_clip(tmp_path / "t.mkv", seconds=3, audio_lead_frames=1, audio_codec="pcm_s16le")
    probe_file = str(weights_dir / "syncnet_probe.model")
    assert main([str(clip), "--weights", probe_file, "--allow-unverified", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["offset_frames"] == 1 and result["face_detector"] == "mtcnn"
    assert {"decode", "face_detection", "lip_embeddings"} <= set(result["timings_ms"])
    assert main([str(clip), "--weights", probe_file, "--allow-unverified", "--mode", "exact"]) == 0
    text = capsys.readouterr().out
    assert "AV offset:  1" in text and "Confidence:" in text and "speaker frames 0-74" in text
    assert main([str(clip), "--weights", probe_file]) == 2
    assert "not the official syncnet_v2.model" in capsys.readouterr().err


def test_command_line_on_precropped_faces(weights_dir, capsys):
    from syncnet_wrapper import main

    clip = shared(MEDIA / "syncnet_example.avi")
    assert main([str(clip), "--precropped", "--weights", str(weights_dir / "syncnet_random.model"), "--allow-unverified", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["windows_available"] == 312 and len(result["framewise_confidence"]) == result["windows_used"]


def test_the_design_documents_ensemble_call_gives_the_service_response(wrapper):
    from efficientnet_detector import EfficientNetDetector

    clip = shared(MEDIA / "talking" / "grid_bbaf2n.mpg")
    detector = EfficientNetDetector(BUNDLED_FRAME_DETECTOR.path, "cpu")
    both = wrapper.process_video_ensemble(clip, "ref-1", efficientnet_detector=detector)
    assert both["session_id"] == "ref-1" and both["weights"] == {"syncnet": 0.4, "efficientnet": 0.6, "voice": 0.0}
    assert both["combined_score"] == pytest.approx(0.4 * both["syncnet"]["score"] + 0.6 * both["efficientnet"]["score"], abs=2e-4)
    assert both["syncnet"]["offset_frames"] == wrapper.process_video(clip, "ref-1")["offset_frames"]
    alone = wrapper.process_video_ensemble(clip, "ref-2")
    assert alone["efficientnet"] is None and alone["combined_score"] == alone["syncnet"]["score"]
    assert alone["degraded"]["efficientnet"]["code"] == "unavailable" and alone["error"].startswith("efficientnet: ")
