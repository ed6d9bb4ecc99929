"""Work done while a recording arrives is the verdict's own: results remembered by content, a face
sample whose faces stay judged as a track grows, shots found frame by frame, and a live session
that leaves only the tail to `stop` (generated official-format weights: plumbing only)."""

from __future__ import annotations

import contextvars
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pytest

from scoring.faces.crops import face_lattice, track_offsets
from scoring.faces.detection import RememberingDetector
from scoring.faces.scenes import ShotBoundaries, detect_scenes
from scoring.frames.detector import FrameDetector
from scoring.live import ArrivingFrames
from scoring.media.video import DecodedVideo, decode_video
from scoring.runtime import memo
from scoring.runtime.timing import Stopwatch
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


def arrivals(video) -> tuple[DecodedVideo, list[tuple[int, Future]]]:
    """What the decoder's observer sees of `video`: each source frame at its first slot."""
    seen = []
    decoded = decode_video(video, observer=lambda slot, image: seen.append((slot, image)))
    return decoded, seen


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
