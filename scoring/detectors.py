"""The models one worker holds: loaded on first use, once, behind a lock; failures remembered.

`DETECTOR_TYPES` is the wiring: every detector the service runs, in the order it runs them. Each
checks its own settings when the detectors are built (`check_settings`), so a setting only a
detector can judge (a frame family's profile name) still stops the start.

`/health` reads `Detectors.status()`, which never loads a model and never hashes a file on the
request path: checksums are computed once in a background thread when the worker starts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Generic, TypeVar

import torch

from scoring.contract import Detector
from scoring.faces.mouth_cover import MouthCover, load_mouth_cover
from scoring.faces.stage import build_tracker
from scoring.faces.tracking import FaceTracker
from scoring.frames.detector import FrameDetector
from scoring.settings import Settings, SettingsError
from scoring.syncnet.detector import SyncNetDetector
from scoring.voice.detector import VoiceDetector
from scoring.weights.catalog import MOUTH_COVER_PROBE, S3FD
from scoring.weights.checkpoints import WeightsError
from scoring.weights.files import OfficialFile, describe, sha256_of

T = TypeVar("T")

# SyncNet first: it picks the speaking face, which the frame classifier then judges too; the voice needs no face.
DETECTOR_TYPES: tuple[type[Detector], ...] = (SyncNetDetector, FrameDetector, VoiceDetector)


class LazyModel(Generic[T]):
    """Loads on the first `get()`; a load that raised WeightsError is remembered, not retried."""

    def __init__(self, load: Callable[[], T]):
        self._load = load
        self._lock = threading.Lock()
        self.value: T | None = None
        self.error: str | None = None
        self.attempted = False

    def get(self) -> T | None:
        if not self.attempted:
            with self._lock:
                if not self.attempted:
                    try:
                        self.value = self._load()
                    except WeightsError as exc:
                        self.error = str(exc)
                    self.attempted = True
        return self.value


def _given(model: Detector | None, title: str) -> Detector:
    if model is None:
        raise WeightsError(f"{title} was not given")
    return model


def check_settings(settings: Settings) -> None:
    """Raises SettingsError with what any detector finds wrong in its settings."""
    problems = [problem for kind in DETECTOR_TYPES for problem in kind.check_settings(settings)]
    if problems:
        raise SettingsError("; ".join(problems))


class Detectors:
    def __init__(self, settings: Settings, device: torch.device):
        check_settings(settings)
        self.settings = settings
        self.device = device
        self.notes: list[str] = []
        self.types: dict[str, type[Detector]] = {kind.name: kind for kind in DETECTOR_TYPES}
        self.judges = [name for name, kind in self.types.items() if kind.stands_alone]  # those whose score alone may make a verdict
        self.models: dict[str, LazyModel[Detector]] = {
            name: LazyModel(partial(kind.from_settings, settings, device)) for name, kind in self.types.items()
        }
        self.face_tracker: LazyModel[FaceTracker] = LazyModel(self._load_tracker)
        self.mouth_cover: LazyModel[MouthCover] = LazyModel(partial(load_mouth_cover, MOUTH_COVER_PROBE.path))  # live guidance only
        self._files: dict[str, dict] = {}
        self._checksums = threading.Thread(target=self._describe_files, name="checksums", daemon=True)
        self._checksums.start()

    @classmethod
    def given(cls, settings: Settings, device: torch.device, models: dict[str, Detector | None], tracker: FaceTracker) -> Detectors:
        """Detectors already loaded by the caller (the Python API); a detector given as None is unavailable."""
        detectors = cls(settings, device)
        for name, model in models.items():
            detectors.models[name] = LazyModel(partial(_given, model, detectors.types[name].title))
        detectors.face_tracker = LazyModel(lambda: tracker)
        return detectors

    def _load_tracker(self) -> FaceTracker:
        s = self.settings
        tracker, notes = build_tracker(s.faces, self.device, s.allow_unverified_weights, every_frame=s.syncnet.mode == "exact")
        self.notes += notes
        return tracker

    def weight_files(self) -> dict[str, tuple[Path | None, OfficialFile | None]]:
        files = {name: kind.weights_file(self.settings) for name, kind in self.types.items()}
        return {**files, "s3fd": (self.settings.faces.s3fd_weights, S3FD)}

    def _describe_files(self) -> None:
        for name, (path, official) in self.weight_files().items():
            try:
                self._files[name] = describe(path, official)
            except OSError as exc:
                self._files[name] = {"file": path.name if path else None, "present": False, "error": exc.strerror or type(exc).__name__}

    def file_info(self, name: str) -> dict:
        """What is known now; while the checksum is being computed, a wrong size already tells."""
        if name in self._files:
            return self._files[name]
        path, official = self.weight_files()[name]
        info = {"file": path.name if path else None, "present": bool(path and path.is_file()), "checking": True}
        if info["present"] and official is not None:
            info["bytes"] = path.stat().st_size
            info["checksum_verified"] = None if official.size in (None, info["bytes"]) else False
        return info

    def short_hash(self, name: str) -> str | None:
        info = self.file_info(name)
        if "sha256" in info:
            return info["sha256"][:12]
        path, _ = self.weight_files()[name]
        return sha256_of(path)[:12] if path and path.is_file() else None

    def _state(self, name: str) -> dict:
        info, lazy = self.file_info(name), self.models[name]
        error = lazy.error
        if error is None and info.get("checksum_verified") is False and not self.settings.allow_unverified_weights:
            error = "the weights file is not the official release (ALLOW_UNVERIFIED_WEIGHTS is off)"
        if error is None and not info.get("present"):
            error = f"weights file not found: {info.get('file')}"
        state = {"weights": info, "loaded": lazy.value is not None, "available": error is None, "error": error, "device": str(self.device)}
        if lazy.value is not None:
            state.update(lazy.value.describe())
        return state

    def available(self, name: str) -> bool:
        """What /health says of the detector, without loading it."""
        return self._state(name)["available"]

    def face_detector_status(self) -> dict:
        tracker = self.face_tracker.value
        configured = self.settings.faces.face_detector
        if tracker is not None:
            in_use = tracker.detector.name
        elif configured == "auto":
            in_use = "s3fd" if self.file_info("s3fd").get("present") else "mtcnn"
        else:
            in_use = configured
        return {
            "configured": configured,
            "in_use": in_use,
            "loaded": tracker is not None,
            "s3fd_weights": self.file_info("s3fd"),
            "notes": list(self.notes),
            "error": self.face_tracker.error,
        }

    def status(self) -> dict:
        return {name: self._state(name) for name in self.models}
