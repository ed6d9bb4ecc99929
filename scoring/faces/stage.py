"""The face stage from its settings: the detector (S3FD, or MTCNN) and the tracker around it."""

from __future__ import annotations

import torch

from scoring.faces.detection import RememberingDetector, create_face_detector
from scoring.faces.tracking import FaceTracker
from scoring.settings import FaceSettings


def build_tracker(
    settings: FaceSettings, device: torch.device, allow_unverified_weights: bool = False, every_frame: bool = False
) -> tuple[FaceTracker, list[str]]:
    """The tracker and the notes on how its detector was chosen (e.g. why MTCNN replaced S3FD).

    `every_frame` detects on every frame instead of every `face_det_stride`-th (SyncNet's exact mode).
    """
    choice = create_face_detector(
        settings.face_detector,
        settings.s3fd_weights,
        device,
        settings.face_det_scale,
        settings.face_det_threshold,
        allow_unverified_weights,
    )
    tracker = FaceTracker(
        RememberingDetector(choice.detector),
        stride=1 if every_frame else settings.face_det_stride,
        min_track_frames=settings.min_track_frames,
        min_face_size=settings.min_face_size,
        max_missed=settings.max_missed_detections,
    )
    return tracker, choice.notes
