"""Work done while a recording arrives is the verdict's own: results remembered by content, a face
sample whose faces stay judged as a track grows, shots found frame by frame, the audio decoded so
far, and a live session whose frame classifier, voice and lip-sync windows leave only the tail to
`stop` (generated official-format weights: plumbing only)."""

from __future__ import annotations

import contextvars
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pytest
import torch

from scoring.faces.crops import face_lattice, track_offsets
from scoring.faces.detection import RememberingDetector
from scoring.faces.scenes import ShotBoundaries, detect_scenes
from scoring.frames.detector import FrameDetector
from scoring.live import ArrivingFrames
from scoring.media.video import DecodedVideo, decode_video
from scoring.runtime import memo
from scoring.runtime.timing import Stopwatch
from scoring.settings import FaceSettings, SyncNetSettings
from scoring.syncnet.detector import SyncNetDetector
from scoring.syncnet.inference import load_syncnet_v2
from scoring.syncnet.scorer import AUDIO_BATCH, SETTLED_FRAMES, SyncNetScorer
from scoring.voice.detector import VoiceDetector
from scoring.voice.scorer import VoiceScorer
from scoring.weights.catalog import BUNDLED_VOICE
from syncnet_python.audio import SAMPLES_PER_FRAME
from syncnet_python.model import LIP_FRAMES
from tests.helpers import media
from tests.test_faces import ScriptedDetector, box, indexed_frames


def test_a_result_is_remembered_by_the_content_of_its_input_within_its_session():
    computed = []

    def double(x):
        computed.append(int(x.sum()))
        return x * 2

    a, b = np.arange(6, dtype=np.uint8), np.arange(6, dtype=np.uint8)[::-1].copy()
    memo.each([a, a], double)
    assert len(computed) == 2  # outside a session: computed every time
    with memo.remembering(memo.ContentMemo()) as session:
        first = memo.each([a, b, a.copy()], double)
        assert [list(r) for r in first] == [list(a * 2), list(b * 2), list(a * 2)] and len(computed) == 4
        assert memo.known(a) and not memo.known(a.reshape(2, 3))  # the same bytes in another shape: another input
        memo.each([a], double, scope="another file")
        assert len(computed) == 5 and len(session) == 3
        found_by_a_copied_context = ThreadPoolExecutor(1).submit(contextvars.copy_context().run, memo.known, b).result()
        assert found_by_a_copied_context
    assert not memo.known(a)  # the session's memory went with it


def test_a_remembered_frame_is_not_searched_again_and_keeps_its_own_faces():
    scripted = ScriptedDetector(lambda i: np.stack([box(50 + i, 40)]))
    detector = RememberingDetector(scripted)
    frames = indexed_frames(3)
    with memo.remembering(memo.ContentMemo()):
        first = detector.detect(frames)
        again = detector.detect([frames[2].copy(), frames[0]])
    assert scripted.searched == [0, 1, 2]
    np.testing.assert_array_equal(again[0], first[2])
    np.testing.assert_array_equal(again[1], first[0])


@pytest.mark.parametrize("num_frames", [1, 7, 16, 32])
def test_a_growing_tracks_faces_change_by_at_most_its_newest_frame(num_frames):
    for length in range(1, 1100):
        lattice, chosen = face_lattice(length, num_frames), track_offsets(length, num_frames)
        assert len(chosen) == min(num_frames, length) and set(chosen) <= set(lattice)
        assert min(num_frames, length) <= len(lattice) <= 2 * num_frames
        longer = face_lattice(length + 1, num_frames)
        assert set(longer[longer < length]) <= set(lattice)  # growing never moves a candidate, at most drops every other
        assert set(track_offsets(length + 1, num_frames)) - set(chosen) <= {length}


def test_shots_found_frame_by_frame_are_the_whole_clips():
    frames = indexed_frames(90, cut_at=50)
    shots = ShotBoundaries()
    for index, frame in enumerate(frames):
        shots.add(frame)
        if index == 60:
            assert shots.scenes_so_far() == [(0, 50), (50, 61)]
    assert shots.scenes() == detect_scenes(frames) == [(0, 50), (50, 90)]


class CountingFrameDetector(FrameDetector):
    """Counts the faces its networks run on."""

    runs = 0

    def _output(self, model, face):
        CountingFrameDetector.runs += 1
        return super()._output(model, face)


class Arrivals:
    """A decode's observer, as a live session is one: each source frame at its first slot, and the
    length of the audio decoded whenever a frame is placed, with the audio then checked against the whole."""

    def __init__(self):
        self.frames: list[tuple[int, Future]] = []
        self.heard: list[np.ndarray] = []
        self.so_far = lambda: None

    def frame_placed(self, slot: int, image: Future) -> None:
        self.frames.append((slot, image))
        if (audio := self.so_far()) is not None:
            self.heard.append(audio)

    def audio_opened(self, so_far) -> None:
        self.so_far = so_far


def arrivals(video) -> tuple[DecodedVideo, list[tuple[int, Future]]]:
    """What the decoder's observer sees of `video`: each source frame at its first slot."""
    seen = Arrivals()
    decoded = decode_video(video, observer=seen)
    return decoded, seen.frames


def test_the_audio_decoded_so_far_is_a_prefix_of_the_whole(tmp_path):
    video = media.synced_talking_clip(tmp_path / "talking.mp4", seconds=3)
    seen = Arrivals()
    decoded = decode_video(video, observer=seen)
    lengths = [audio.size for audio in seen.heard]
    assert len(set(lengths)) > 10 and lengths == sorted(lengths)  # it grew as the frames came
    assert all(np.array_equal(audio, decoded.audio[: audio.size]) for audio in seen.heard)
    np.testing.assert_array_equal(seen.so_far(), decoded.audio)


def test_a_recording_judged_as_it_arrived_leaves_only_the_tail_and_scores_the_same(tmp_path, classifier, tracker):
    video = media.write_video(tmp_path / "face.mp4", media.talking_face(media.speech_like_signal(150)))  # 6 s
    decoded, seen = arrivals(video)
    searched = []
    real = tracker.detector.detector

    class Counted:
        name, scale = real.name, real.scale

        def detect(self, frames):
            searched.extend(id(f) for f in frames)
            return real.detect(frames)

    searching = RememberingDetector(Counted())
    live_tracker = type(tracker)(searching, tracker.stride, tracker.min_track_frames, tracker.min_face_size, tracker.max_missed)
    ahead = CountingFrameDetector(classifier, "cpu", num_frames=16)
    arriving = ArrivingFrames(live_tracker, {"efficientnet": ahead})
    session = memo.ContentMemo()
    with memo.remembering(session):
        for slot, image in seen:
            arriving.arrive(slot, image)
        while arriving.step_ahead():
            pass
    judged_ahead = {entry["frame_index"]: entry["score"] for entry in arriving.judged["efficientnet"]}
    assert judged_ahead, "nothing was judged on the way"

    scenes = arriving.complete(decoded.frames)
    assert scenes == detect_scenes(decoded.frames)
    on_the_way, runs_on_the_way = len(searched), CountingFrameDetector.runs
    with memo.remembering(session):
        tracking = live_tracker.track(decoded.frames, Stopwatch(), scenes)
        assert len(searched) - on_the_way == (0 if (decoded.num_frames - 1) % tracker.stride == 0 else 1)  # at stop: the shot's last frame
        report = ahead.measure(decoded, tracking, None, Stopwatch()).report
    verdict = dict(zip(report["frame_indices"], report["frame_scores"], strict=True))
    reused = set(verdict) & set(judged_ahead)
    assert reused and all(verdict[frame] == judged_ahead[frame] for frame in reused)
    assert CountingFrameDetector.runs - runs_on_the_way == len(set(verdict) - set(judged_ahead))

    uploaded = FrameDetector(classifier, "cpu", num_frames=16).measure(decoded, tracker.track(decoded.frames), None, Stopwatch()).report
    assert uploaded == report


class CountingVoiceScorer(VoiceScorer):
    """Counts the windows its network reads."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.windows_read = 0

    def _window_logit(self, window):
        self.windows_read += 1
        return super()._window_logit(window)


class CountingSyncNetScorer(SyncNetScorer):
    """Counts the windows each stream embeds (filled-up passes counted whole)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.audio_windows, self.lip_windows = 0, []

    def _audio_pass(self, windows, watch):
        self.audio_windows += len(windows)
        return super()._audio_pass(windows, watch)

    def _lip_pass(self, crop_frames, starts, watch):
        self.lip_windows += starts
        return super()._lip_pass(crop_frames, starts, watch)


def test_voice_and_lip_sync_windows_embedded_as_they_arrive_leave_only_the_tail_and_score_the_same(tmp_path, weights_dir, tracker):
    video = media.synced_talking_clip(tmp_path / "talking.mp4", seconds=6)
    decoded, seen = arrivals(video)
    voice = VoiceDetector(CountingVoiceScorer.load(BUNDLED_VOICE), max_windows=2)
    network = load_syncnet_v2(weights_dir / "syncnet_probe.model")
    syncnet = SyncNetDetector(CountingSyncNetScorer(network, torch.device("cpu")), SyncNetSettings(), FaceSettings())
    live_tracker = type(tracker)(
        RememberingDetector(tracker.detector), tracker.stride, tracker.min_track_frames, tracker.min_face_size, tracker.max_missed
    )
    arriving = ArrivingFrames(live_tracker, {"syncnet": syncnet, "voice": voice})
    arriving.heard = lambda: decoded.audio[: len(arriving.frames) * SAMPLES_PER_FRAME]  # the audio as far as the frames
    session = memo.ContentMemo()
    with memo.remembering(session):
        for slot, image in seen:  # each frame given the time to work ahead: a recording slower than the CPU
            arriving.arrive(slot, image)
            while arriving.step_ahead():
                pass
    read_ahead, audio_ahead, lips_ahead = voice.scorer.windows_read, syncnet.scorer.audio_windows, len(syncnet.scorer.lip_windows)
    assert read_ahead == 1 and audio_ahead > 0 and lips_ahead > 0

    scenes = arriving.complete(decoded.frames)
    with memo.remembering(session):
        tracking = live_tracker.track(decoded.frames, Stopwatch(), scenes)
        voiced = voice.measure(decoded, tracking, None, Stopwatch()).report
        synced = syncnet.measure(decoded, tracking, None, Stopwatch()).report
    assert voice.scorer.windows_read - read_ahead == 1  # the last window: the speech runs to the end
    assert syncnet.scorer.audio_windows - audio_ahead <= 2 * AUDIO_BATCH  # those not yet heard, and fewer than a pass
    settling = tracker.stride + LIP_FRAMES + SETTLED_FRAMES  # the frames after the last detection, and a crop's smoothing
    at_stop = syncnet.scorer.lip_windows[lips_ahead:]
    late = [v for v in at_stop if v >= decoded.num_frames - settling]
    assert len(at_stop) - len(late) < 2 * syncnet.scorer.batch_size and len(at_stop) < lips_ahead

    fresh_tracking = tracker.track(decoded.frames)
    assert voice.measure(decoded, fresh_tracking, None, Stopwatch()).report == voiced
    assert syncnet.measure(decoded, fresh_tracking, None, Stopwatch()).report == synced


def test_a_windows_embedding_does_not_depend_on_the_windows_in_its_pass(probe):
    rng = np.random.default_rng(0)
    audio = rng.normal(size=(AUDIO_BATCH, 1, 13, 20)).astype(np.float32)
    others = audio.copy()
    others[1:] = rng.normal(size=others[1:].shape)
    with torch.inference_mode():
        assert torch.equal(probe.audio_net(torch.from_numpy(audio))[0], probe.audio_net(torch.from_numpy(np.roll(others, 3, 0)))[3])
    crops = torch.from_numpy(rng.integers(0, 255, size=(12, 224, 224, 3), dtype=np.uint8))
    lips = probe.lip_embeddings(crops, np.array([0, 1, 2, 3]), Stopwatch())
    moved = probe.lip_embeddings(crops, np.array([7, 5, 0, 2]), Stopwatch())
    assert torch.equal(lips[0], moved[2]) and torch.equal(lips[2], moved[3])
