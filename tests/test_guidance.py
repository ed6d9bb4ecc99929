"""Live guidance: what a person in front of the camera is told, from the faces of a frame and, for the
mouth, the bundled probe on real footage with a mask or a hand drawn over it (training.occluders)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scoring.faces.guidance import GUIDANCE, codes_given, guidance_codes, mouth_boxes
from scoring.faces.mouth_cover import MouthCover, load_mouth_cover
from scoring.media.video import decode_video
from scoring.weights.catalog import MOUTH_COVER_PROBE
from scoring.weights.files import WeightsError
from tests.helpers.paths import MEDIA, shared
from training.fit_mouth_cover import BARE, fitted
from training.occluders import OCCLUDERS, hand, mask

SPAN = 12  # the frames since the search before, as a live session reads them


@pytest.fixture(scope="module")
def cover() -> MouthCover:
    return load_mouth_cover(MOUTH_COVER_PROBE.path)


@pytest.fixture(scope="module")
def speaking(tracker) -> tuple[list[np.ndarray], np.ndarray]:
    """The first frames of a real talking-head clip and the faces found on the last of them."""
    frames = decode_video(shared(MEDIA / "talking" / "akash_video_8s.mp4")).frames[:SPAN]
    return frames, tracker.detector.detect([frames[-1]])[0]


def test_guidance_says_what_a_person_should_change():
    lit, dark = np.full((480, 640, 3), 140, np.uint8), np.full((480, 640, 3), 25, np.uint8)
    near, far = [100, 80, 300, 330, 0.99], [300, 200, 340, 250, 0.99]
    assert guidance_codes(np.array([near]), [lit], None) == []
    assert guidance_codes(np.zeros((0, 5)), [lit], None) == ["no_face"]
    assert guidance_codes(np.array([near]), [dark], None) == ["too_dark"]
    assert guidance_codes(np.array([far]), [lit], None) == ["face_too_small"]
    assert guidance_codes(np.array([near, far]), [dark], None) == ["too_dark", "several_faces"]
    lit_face_dark_wall = dark.copy()
    lit_face_dark_wall[80:330, 100:300] = 140
    assert guidance_codes(np.array([near]), [lit_face_dark_wall], None) == []  # the light is judged on the face


@pytest.mark.parametrize("draw", [mask, hand], ids=["mask", "hand"])
def test_a_covered_mouth_is_told_and_a_bare_one_is_not(cover, speaking, draw):
    frames, faces = speaking
    assert len(faces) == 1
    assert guidance_codes(faces, frames, cover, faces) == []
    covered = [draw(frame, faces[0][:4], np.random.default_rng(3)) for frame in frames]
    assert guidance_codes(faces, covered, cover, faces) == ["mouth_hidden"]


def test_one_covered_frame_in_the_span_is_not_enough(cover, speaking):
    frames, faces = speaking
    once = [*frames[:-1], mask(frames[-1], faces[0][:4], np.random.default_rng(3))]
    assert guidance_codes(faces, once, cover, faces) == []
    assert guidance_codes(faces, [once[-1]], cover) == []  # the first search: no frames since one before, the mouth is not judged


def test_the_mouth_is_not_judged_in_the_dark(cover, speaking):
    frames, faces = speaking
    dark = [(mask(frame, faces[0][:4], np.random.default_rng(3)) * 0.15).astype(np.uint8) for frame in frames]
    assert guidance_codes(faces, dark, cover, faces) == ["too_dark"]


def test_the_mouth_is_read_in_a_box_that_follows_the_face():
    before, now = np.array([100.0, 100, 200, 200]), np.array([112.0, 100, 212, 200])
    assert np.allclose(mouth_boxes(now, before, 4)[:, 0], [103, 106, 109, 112])
    assert mouth_boxes(now, None, 4) is None
    assert mouth_boxes(now, before + 150, 4) is None  # not the same face


def test_without_the_probe_a_session_never_says_mouth_hidden():
    assert codes_given(None) == [code for code in GUIDANCE if code != "mouth_hidden"]
    assert "mouth_hidden" in codes_given(object())


def test_a_probe_file_that_does_not_fit_is_refused(cover, tmp_path):
    state = {name: value for name, value in cover.probe.state_dict().items() if name != "threshold"}
    torch.save(state, tmp_path / "probe.pt")
    with pytest.raises(WeightsError, match="missing keys"):
        load_mouth_cover(tmp_path / "probe.pt")


@pytest.mark.parametrize("kind", list(OCCLUDERS))
def test_covers_are_drawn_over_the_mouth_and_nowhere_above_it(speaking, kind):
    frames, faces = speaking
    x1, y1, x2, y2 = faces[0][:4]
    covered = OCCLUDERS[kind](frames[0], faces[0][:4], np.random.default_rng(0), frames[-1])
    changed_rows = np.flatnonzero((covered != frames[0]).any(axis=(1, 2)))
    mouth_row = int(y1 + 0.8 * (y2 - y1))
    assert changed_rows.size and changed_rows.min() > y1 + 0.5 * (y2 - y1) and changed_rows.min() <= mouth_row <= changed_rows.max()


def test_the_fit_sets_its_threshold_on_the_bare_faces_it_did_not_fit():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(400, 256, generator=generator)
    kinds = np.array([BARE, "mask"] * 200)
    features[1::2, :16] += 2.0  # the cover shows in some of the features
    training = torch.arange(400) < 300
    probe = fitted(features, kinds, training, false_alarms=0.02)
    with torch.inference_mode():
        logits = probe(features)
    bare_held_out = logits[~training & torch.from_numpy(kinds == BARE)]
    assert float((bare_held_out > probe.threshold).float().mean()) <= 0.02
    assert float((logits[~training & torch.from_numpy(kinds != BARE)] > probe.threshold).float().mean()) > 0.9
