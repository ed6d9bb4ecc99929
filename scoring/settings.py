"""Service settings, read once from the environment (and a `.env` file, via python-dotenv).

Every variable is documented with its default in `.env.example`; the names here are the
environment variable names lower-cased.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = PROJECT_ROOT / "models"  # official SyncNet/S3FD files; MODELS_DIR overrides
DEFAULT_EFFICIENTNET_WEIGHTS = MODELS_DIR / "efficientnet" / "effb0_ffpp_scratch.pt"


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in {"1", "true", "yes", "on", "0", "false", "no", "off", ""}:
        raise ValueError(f"not a boolean: {value!r}")
    return lowered in {"1", "true", "yes", "on"}


def _path(value: str) -> Path:
    """Relative paths in the environment are relative to the project, wherever the process starts."""
    return PROJECT_ROOT / Path(value.strip()).expanduser()


def _paths(value: str) -> tuple[Path, ...]:
    return tuple(_path(part) for part in value.split(os.pathsep) if part.strip())


def _optional_path(value: str) -> Path | None:
    return _path(value) if value.strip() else None


@dataclass(frozen=True)
class SyncNetSettings:
    weights: Path = MODELS_DIR / "syncnet_v2.model"
    s3fd_weights: Path = MODELS_DIR / "sfd_face.pth"
    face_detector: str = "auto"  # auto | s3fd | mtcnn
    mode: str = "fast"  # fast | exact
    fast_max_windows: int = 96
    vshift: int = 15
    batch_size: int = 16
    face_det_scale: float | None = None  # None: 0.25 for S3FD (the reference), 0.5 for MTCNN
    face_det_stride: int = 6
    face_det_threshold: float = 0.9
    min_face_size: int = 50
    min_track_frames: int = 20
    max_missed_detections: int = 25
    crop_scale: float = 0.40
    # 0..1 score: logistic in confidence, scaled down when |offset| leaves the tolerated band.
    conf_midpoint: float = 3.0
    conf_scale: float = 1.0
    offset_tolerance: int = 4
    offset_limit: int = 10


@dataclass(frozen=True)
class EfficientNetSettings:
    weights: Path | None = DEFAULT_EFFICIENTNET_WEIGHTS
    num_frames: int = 20
    crop_margin: float = 0.15
    batch_size: int = 20
    # Overrides of the checkpoint's sidecar (None: use the sidecar / the format's default).
    class_order: str | None = None  # "real,fake" or "fake,real"
    input_size: int | None = None
    normalization: str | None = None  # "imagenet" or "mean=r,g,b;std=r,g,b"


@dataclass(frozen=True)
class Settings:
    service_name: str = "deepfake-scoring"
    max_upload_mb: float = 100.0
    max_duration_s: float = 60.0
    min_duration_s: float = 1.0
    max_source_side: int = 4096
    frame_max_side: int = 640
    processing_timeout_s: float = 120.0
    queue_timeout_s: float = 10.0
    max_concurrent_jobs: int = 1
    allowed_video_dirs: tuple[Path, ...] = ()
    upload_tmp_dir: Path | None = None
    device: str = "auto"
    allow_unverified_weights: bool = False  # SyncNet/S3FD files that are not the official releases
    torch_threads: int = 0  # 0: cores divided by gunicorn workers
    workers: int = 1
    fusion_weight_syncnet: float = 0.4
    fusion_weight_efficientnet: float = 0.6
    syncnet: SyncNetSettings = field(default_factory=SyncNetSettings)
    efficientnet: EfficientNetSettings = field(default_factory=EfficientNetSettings)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv: bool = True) -> "Settings":
        if environ is None:
            if dotenv:
                load_dotenv(PROJECT_ROOT / ".env", override=False)
            environ = os.environ
        models_dir = _path(environ["MODELS_DIR"]) if environ.get("MODELS_DIR", "").strip() else MODELS_DIR
        syncnet_defaults = {"weights": models_dir / "syncnet_v2.model", "s3fd_weights": models_dir / "sfd_face.pth"}
        return cls(
            **_read(environ, cls, _TOP_LEVEL_PARSERS, prefix=""),
            syncnet=SyncNetSettings(**{**syncnet_defaults, **_read(environ, SyncNetSettings, _SYNCNET_PARSERS, prefix="SYNCNET_")}),
            efficientnet=EfficientNetSettings(
                **_read(environ, EfficientNetSettings, _EFFICIENTNET_PARSERS, prefix="EFFICIENTNET_")
            ),
        )


_TOP_LEVEL_PARSERS = {
    "service_name": str,
    "max_upload_mb": float,
    "max_duration_s": float,
    "min_duration_s": float,
    "max_source_side": int,
    "frame_max_side": int,
    "processing_timeout_s": float,
    "queue_timeout_s": float,
    "max_concurrent_jobs": int,
    "allowed_video_dirs": _paths,
    "upload_tmp_dir": _optional_path,
    "device": str,
    "allow_unverified_weights": _bool,
    "torch_threads": int,
    "workers": int,
    "fusion_weight_syncnet": float,
    "fusion_weight_efficientnet": float,
}

# Variables whose names do not follow the prefix rule (kept short where ops type them often).
_ALIASES = {
    "SYNCNET_S3FD_WEIGHTS": "S3FD_WEIGHTS",
    "SYNCNET_FACE_DETECTOR": "FACE_DETECTOR",
    "WORKERS": "WEB_CONCURRENCY",
}

# Variables where an empty value means something (otherwise empty = use the default).
_EMPTY_IS_A_VALUE = {"EFFICIENTNET_WEIGHTS"}

_SYNCNET_PARSERS = {
    "weights": _path,
    "s3fd_weights": _path,
    "face_detector": str,
    "mode": str,
    "fast_max_windows": int,
    "vshift": int,
    "batch_size": int,
    "face_det_scale": lambda v: float(v) if v.strip() else None,
    "face_det_stride": int,
    "face_det_threshold": float,
    "min_face_size": int,
    "min_track_frames": int,
    "max_missed_detections": int,
    "crop_scale": float,
    "conf_midpoint": float,
    "conf_scale": float,
    "offset_tolerance": int,
    "offset_limit": int,
}

_EFFICIENTNET_PARSERS = {
    "weights": _optional_path,
    "num_frames": int,
    "crop_margin": float,
    "batch_size": int,
    "class_order": lambda v: v.strip() or None,
    "input_size": lambda v: int(v) if v.strip() else None,
    "normalization": lambda v: v.strip() or None,
}


def _read(environ: Mapping[str, str], klass, parsers: dict, prefix: str) -> dict:
    values = {}
    for name, parse in parsers.items():
        variable = f"{prefix}{name}".upper()
        variable = _ALIASES.get(variable, variable)
        raw = environ.get(variable)
        if raw is None or (not raw.strip() and variable not in _EMPTY_IS_A_VALUE):
            continue
        try:
            values[name] = parse(raw)
        except ValueError as exc:
            raise ValueError(f"invalid value for {variable}: {exc}") from None
    _validate(klass, values)
    return values


def _validate(klass, values: dict) -> None:
    choices = {
        "face_detector": {"auto", "s3fd", "mtcnn"},
        "mode": {"fast", "exact"},
        "class_order": {"real,fake", "fake,real", None},
    }
    for name, allowed in choices.items():
        if name in values and values[name] not in allowed:
            raise ValueError(f"{klass.__name__}.{name} must be one of {sorted(a for a in allowed if a)}")
