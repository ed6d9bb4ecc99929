"""Face detection (S3FD, MTCNN choice), shot boundaries, tracking and crop geometry."""

from __future__ import annotations

import itertools
import threading
import time

import cv2
import numpy as np
import pytest
import torch

from scoring.errors import Code, ServiceError
from scoring.faces.detection import MTCNN_SCALE, MTCNNDetector, create_face_detector, load_s3fd_net
from scoring.faces.s3fd import S3FD, S3FDNet, decode_boxes, prior_boxes, select_faces
from scoring.faces.scenes import detect_scenes
from scoring.faces.tracking import FaceTracker, interpolate, link_detections
from scoring.media.video import decode_video
from scoring.runtime.nms import box_nms
from scoring.runtime.timing import Stopwatch
from scoring.weights.checkpoints import WeightsError
from syncnet_python.crops import SyncNetCropper
from tests.helpers import media
from tests.helpers.generated_weights import random_s3fd_state, save_state
from tests.helpers.paths import MEDIA, shared

# --- S3FD ----------------------------------------------------------------------------------------


def test_official_format_s3fd_loads_strictly(weights_dir):
    net = load_s3fd_net(weights_dir / "sfd_random.pth")
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(22.46e6, rel=1e-3)
    for key, value in torch.load(weights_dir / "sfd_random.pth", weights_only=True).items():
        assert torch.equal(net.state_dict()[key], value)


def test_face_alignment_style_s3fd_is_refused(tmp_path):
    renamed = {f"conv{i}." + k.split(".", 2)[-1]: v for i, (k, v) in enumerate(random_s3fd_state().items())}
    path = save_state(renamed, tmp_path / "s3fd.pth")
    with pytest.raises(WeightsError, match="missing keys"):
        load_s3fd_net(path)


def reference_priors(image_size, feature_sizes):
    """The reference's PriorBox, as loops."""
    h, w = image_size
    out = []
    for (fh, fw), step, size in zip(feature_sizes, (4, 8, 16, 32, 64, 128), (16, 32, 64, 128, 256, 512), strict=True):
        for i, j in itertools.product(range(fh), range(fw)):
            out.append([(j + 0.5) / (w / step), (i + 0.5) / (h / step), size / w, size / h])
    return torch.tensor(out)


def greedy(boxes, order, iou_limit):
    """Greedy suppression as loops: a box is kept when it overlaps no kept box by more than `iou_limit`."""
    keep = []
    for i in order:
        if all(iou(boxes[i], boxes[j]) <= iou_limit for j in keep):
            keep.append(i)
    return keep


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def reference_selection(loc, scores, priors, frame_size, threshold):
    """The reference's order of work: candidates > 0.05, top 5000, NMS 0.3, first 750, threshold,
    frame pixels, NMS 0.1 (greedy loops throughout)."""
    boxes = decode_boxes(loc, priors).numpy().astype(np.float64)
    s = scores.numpy().astype(np.float64)
    candidates = sorted(np.flatnonzero(s > 0.05), key=lambda i: -s[i])[:5000]
    kept = [i for i in greedy(boxes, candidates, 0.3)[:750] if s[i] > threshold]
    width, height = frame_size
    pixels = (decode_boxes(loc[kept], priors[kept]) * torch.tensor([width, height, width, height])).numpy().astype(np.float64)
    final = greedy(pixels, list(range(len(kept))), 0.1)
    return np.concatenate([pixels[final], s[kept][final][:, None]], 1) if final else np.zeros((0, 5))


def test_prior_boxes_match_the_reference_definition():
    sizes = [(30, 40), (15, 20), (8, 10), (4, 5), (2, 3), (1, 2)]
    torch.testing.assert_close(prior_boxes((120, 160), sizes), reference_priors((120, 160), sizes))


@pytest.mark.parametrize("threshold", [0.3, 0.6, 0.9])
def test_detection_post_processing_matches_the_reference_order(threshold):
    generator = torch.Generator().manual_seed(11)
    sizes = [(30, 40), (15, 20), (8, 10), (4, 5), (2, 3), (1, 2)]
    priors = prior_boxes((120, 160), sizes)
    loc = torch.randn(len(priors), 4, generator=generator) * 0.5
    scores = torch.rand(len(priors), generator=generator) ** 0.3
    ours = select_faces(loc, scores, priors, (640, 480), threshold)
    reference = reference_selection(loc, scores, priors, (640, 480), threshold)
    assert len(ours) > 0
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("iou_limit", [0.0, 0.3, 0.5, 0.7])
def test_box_nms_keeps_what_greedy_suppression_keeps(iou_limit):
    generator = torch.Generator().manual_seed(5)
    corners = torch.rand(300, 2, generator=generator) * 200
    boxes = torch.cat([corners, corners + 10 + torch.rand(300, 2, generator=generator) * 40], 1)
    scores = torch.rand(300, generator=generator).round(decimals=1)  # ties: the earlier box goes first
    order = sorted(range(300), key=lambda i: (-float(scores[i]), i))
    expected = greedy(boxes.numpy().astype(np.float64), order, iou_limit)
    assert box_nms(boxes, scores, iou_limit).tolist() == expected
    assert 1 < len(expected) < 300


def test_s3fd_detector_returns_boxes_in_frame_pixels():
    net = S3FDNet()
    detector = S3FD(net, torch.device("cpu"), scale=0.25, threshold=0.0)
    frames = [np.zeros((120, 160, 3), np.uint8), np.full((120, 160, 3), 128, np.uint8)]
    results = detector.detect(frames)
    assert len(results) == 2 and all(r.shape[1] == 5 for r in results)


def test_detector_choice(weights_dir, tmp_path):
    cpu = torch.device("cpu")
    missing = create_face_detector("auto", tmp_path / "absent.pth", cpu)
    assert missing.detector.name == "mtcnn" and "S3FD unavailable" in missing.notes[0]
    unofficial = create_face_detector("auto", weights_dir / "sfd_random.pth", cpu, allow_unverified_weights=False)
    assert unofficial.detector.name == "mtcnn" and "not the official sfd_face.pth" in unofficial.notes[0]
    assert create_face_detector("auto", weights_dir / "sfd_random.pth", cpu, allow_unverified_weights=True).detector.name == "s3fd"
    with pytest.raises(WeightsError):
        create_face_detector("s3fd", tmp_path / "absent.pth", cpu)
    assert isinstance(create_face_detector("mtcnn", weights_dir / "sfd_random.pth", cpu).detector, MTCNNDetector)


def test_mtcnn_boxes_are_facenet_pytorchs_own():
    from facenet_pytorch import MTCNN

    frames = decode_video(shared(MEDIA / "talking" / "ankurbhatia24_test_video_crop.mp4")).frames[::40]
    ours = MTCNNDetector(torch.device("cpu")).detect(frames)
    stock = MTCNN(keep_all=True, device="cpu", post_process=False, select_largest=False)
    for frame, found in zip(frames, ours, strict=True):
        small = cv2.resize(frame, (0, 0), fx=MTCNN_SCALE, fy=MTCNN_SCALE, interpolation=cv2.INTER_AREA)[:, :, ::-1]
        boxes, probs = (np.asarray(a, dtype=float) for a in stock.detect(np.ascontiguousarray(small)))
        kept = probs >= 0.9
        expected = np.concatenate([boxes[kept] / MTCNN_SCALE, probs[kept][:, None]], 1)
        assert len(found) == len(expected) > 0
        np.testing.assert_allclose(found, expected[np.argsort(-expected[:, 4], kind="stable")], atol=1e-3)


def test_mtcnn_finds_the_face_in_frame_pixels():
    canvas, scale, (left, top) = media.photo_canvas()
    boxes = MTCNNDetector(torch.device("cpu")).detect([canvas])[0]
    assert len(boxes) == 1
    x1, y1, x2, y2, score = boxes[0]
    assert score > 0.99
    # MTCNN's box on the 512 px photo is about (180, 60, 269, 173); here scaled by 480/512 and shifted.
    assert x1 == pytest.approx(left + 180 * scale, abs=12) and y2 == pytest.approx(top + 173 * scale, abs=12)


# --- scenes and tracks ---------------------------------------------------------------------------------


def test_scene_cut_splits_the_clip():
    canvas, _, _ = media.photo_canvas(320, 240)
    other = np.full_like(canvas, 30)
    other[60:180, 100:220] = (20, 200, 40)
    frames = [canvas] * 40 + [other] * 35
    assert detect_scenes(frames) == [(0, 40), (40, 75)]
    assert detect_scenes([canvas] * 30) == [(0, 30)]


def box(x, y, size=100.0, score=0.99):
    return np.array([x, y, x + size, y + size, score])


def test_linking_takes_the_best_overlap_and_stops_after_missed_detections():
    detections = {
        0: np.stack([box(0, 0), box(300, 0)]),
        6: np.stack([box(305, 0), box(4, 0)]),
        12: np.stack([box(8, 0)]),
        60: np.stack([box(10, 0)]),  # 48 frames after the last match: a new track
    }
    chains = link_detections(detections, max_missed=25)
    frames = [[frame for frame, _ in chain] for chain in chains]
    assert frames == [[0, 6, 12], [0, 6], [60]]
    assert [face[0] for _, face in chains[0]] == [0, 4, 8]


def test_interpolation_fills_frames_between_detections():
    track = interpolate([(10, box(0, 0)), (14, box(40, 20))], scene=(0, 50))
    assert (track.start, track.length, track.detections) == (10, 5, 2)
    np.testing.assert_allclose(track.boxes[2], [20, 10, 120, 110])
    assert np.isnan(track.scores[1]) and track.scores[4] == pytest.approx(0.99)


class ScriptedDetector:
    """Faces at given boxes on every frame; records which frames were searched."""

    name = "scripted"
    scale = 1.0

    def __init__(self, faces_by_frame):
        self.faces_by_frame = faces_by_frame
        self.searched = []

    def detect(self, frames):
        out = []
        for frame in frames:
            index = int(frame[0, 0, 0])
            self.searched.append(index)
            out.append(self.faces_by_frame(index))
        return out


def indexed_frames(count, cut_at=None):
    frames = []
    for i in range(count):
        frame = np.full((240, 320, 3), 40 if cut_at is None or i < cut_at else 200, np.uint8)
        frame[0, 0, 0] = i
        frames.append(frame)
    return frames


def test_tracker_detects_on_a_stride_and_never_tracks_across_a_cut():
    detector = ScriptedDetector(lambda i: np.stack([box(50 + i, 40)]))
    tracker = FaceTracker(detector, stride=6, min_track_frames=20, min_face_size=50)
    result = tracker.track(indexed_frames(90, cut_at=50))
    assert result.scenes == [(0, 50), (50, 90)]
    assert set(detector.searched) == set(range(0, 50, 6)) | {49} | set(range(50, 90, 6)) | {89}
    assert [(t.start, t.end) for t in result.tracks] == [(0, 50), (50, 90)]
    np.testing.assert_allclose(result.tracks[0].boxes[:, 0], 50 + np.arange(50))


class OverlapCheckingDetector(ScriptedDetector):
    """Its search of frame 0 waits until a second search has started, so it only finishes when searches run side by side."""

    def __init__(self, faces_by_frame):
        super().__init__(faces_by_frame)
        self.second_started = threading.Event()
        self.overlapped = False
        self.batches = []

    def detect(self, frames):
        self.batches.append([int(f[0, 0, 0]) for f in frames])
        if len(self.batches) == 2:
            self.second_started.set()
        if int(frames[0][0, 0, 0]) == 0:
            self.overlapped = self.second_started.wait(timeout=10)
        return super().detect(frames)


def test_frames_are_searched_one_at_a_time_side_by_side_and_each_keeps_its_faces():
    detector = OverlapCheckingDetector(lambda i: np.stack([box(50 + i, 40)]))
    result = FaceTracker(detector, stride=1, min_track_frames=20, min_face_size=50).track(indexed_frames(70))
    assert detector.overlapped
    assert sorted(detector.batches) == [[i] for i in range(70)]
    assert [(t.start, t.end) for t in result.tracks] == [(0, 70)]
    np.testing.assert_allclose(result.tracks[0].boxes[:, 0], 50 + np.arange(70))


def test_a_deadline_passed_during_face_detection_answers_processing_timeout():
    detector = ScriptedDetector(lambda i: np.stack([box(50, 40)]))
    with pytest.raises(ServiceError) as raised:
        FaceTracker(detector).track(indexed_frames(70), Stopwatch(deadline=time.monotonic() - 1))
    assert raised.value.code == Code.PROCESSING_TIMEOUT and detector.searched == []


def test_tracker_drops_short_tracks_and_small_faces():
    small = FaceTracker(ScriptedDetector(lambda i: np.stack([box(10, 10, size=40)])), stride=1, min_face_size=50)
    assert small.track(indexed_frames(40)).tracks == []
    brief = FaceTracker(ScriptedDetector(lambda i: np.stack([box(10, 10)]) if i < 15 else np.zeros((0, 5))), stride=1)
    result = brief.track(indexed_frames(40))
    assert result.tracks == [] and result.faces_seen == 15


# --- crops ----------------------------------------------------------------------------------------------


def reference_crop(frame, s, cx, cy, crop_scale=0.4):
    """The reference's crop: pad the frame by bsi with 110, slice around the centre, resize."""
    import cv2

    bsi = int(s * (1 + 2 * crop_scale))
    padded = np.pad(frame, ((bsi, bsi), (bsi, bsi), (0, 0)), "constant", constant_values=(110, 110))
    my, mx = cy + bsi, cx + bsi
    face = padded[int(my - s) : int(my + s * (1 + 2 * crop_scale)), int(mx - s * (1 + crop_scale)) : int(mx + s * (1 + crop_scale))]
    return cv2.resize(face, (224, 224))


@pytest.mark.parametrize("position", [(160, 120), (20, 15), (300, 230), (160, 5)])
def test_syncnet_crops_match_the_reference_geometry(position):
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    cx, cy = position
    boxes = np.tile([cx - 45.3, cy - 40.2, cx + 45.3, cy + 50.8], (13, 1))
    cropper = SyncNetCropper([frame] * 13, boxes)
    s = float(cropper.half_size[6])
    expected = reference_crop(frame, s, float(cropper.centre_x[6]), float(cropper.centre_y[6]))
    np.testing.assert_array_equal(cropper.crop(6), expected)


def test_crop_smoothing_is_the_reference_median_filter():
    sizes = np.array([100.0] * 20)
    sizes[10] = 300  # one detection glitch
    boxes = np.stack([np.zeros(20), np.zeros(20), sizes, sizes], 1)
    cropper = SyncNetCropper([np.zeros((10, 10, 3), np.uint8)] * 20, boxes)
    assert cropper.half_size[10] == 50  # glitch removed
    assert cropper.half_size[0] == 50  # 13-tap, zero-padded: still the median at the edge
