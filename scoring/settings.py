"""Every setting of the project, read once from the environment and the project's `.env` file.

One object for every entry point: the app, `gunicorn_config.py`, provisioning, training,
evaluation and the benchmarks all call `load_settings()`. Real environment variables win over
`.env`. Each setting has exactly one environment variable, listed in the tables at the bottom of
this module and documented with its default in `.env.example`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DOTENV_FILE = PROJECT_ROOT / ".env"
DEFAULT_MODELS_DIR = PROJECT_ROOT / "models"
DEFAULT_EFFICIENTNET_WEIGHTS = DEFAULT_MODELS_DIR / "efficientnet" / "effb0_ffpp_scratch.pt"
SYNCNET_FILE_NAME = "syncnet_v2.model"
S3FD_FILE_NAME = "sfd_face.pth"


@dataclass(frozen=True)
class FaceSettings:
    """The face stage both detectors read: which detector, how often, which faces become tracks."""

    face_detector: str = "auto"  # auto | s3fd | mtcnn
    s3fd_weights: Path = DEFAULT_MODELS_DIR / S3FD_FILE_NAME
    face_det_scale: float | None = None  # None: 0.25 for S3FD (the reference), 0.5 for MTCNN
    face_det_stride: int = 6
    face_det_threshold: float = 0.9
    min_face_size: int = 50
    min_track_frames: int = 20
    max_missed_detections: int = 25


@dataclass(frozen=True)
class SyncNetSettings:
    weights: Path = DEFAULT_MODELS_DIR / SYNCNET_FILE_NAME
    mode: str = "fast"  # fast | exact
    fast_max_windows: int = 96
    vshift: int = 15
    batch_size: int = 16
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
    port: int = 5000
    web_concurrency: int = 1
    gunicorn_threads: int = 4
    log_level: str = "info"
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
    torch_threads: int = 0  # 0: cores divided by gunicorn workers
    models_dir: Path = DEFAULT_MODELS_DIR
    models_source_dir: Path | None = None
    models_download_timeout: float = 30.0
    allow_unverified_weights: bool = False  # SyncNet/S3FD files that are not the official releases
    fusion_weight_syncnet: float = 0.4
    fusion_weight_efficientnet: float = 0.6
    faces: FaceSettings = field(default_factory=FaceSettings)
    syncnet: SyncNetSettings = field(default_factory=SyncNetSettings)
    efficientnet: EfficientNetSettings = field(default_factory=EfficientNetSettings)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def fusion_weights(self) -> dict[str, float]:
        return {"syncnet": self.fusion_weight_syncnet, "efficientnet": self.fusion_weight_efficientnet}

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv_file: Path | None = None) -> "Settings":
        """Settings from `environ` over `dotenv_file`; with neither given, os.environ over the project's .env."""
        if environ is None:
            environ, dotenv_file = os.environ, dotenv_file or DOTENV_FILE
        values = {**_read_dotenv(dotenv_file), **environ}
        top = _read(values, _TOP_LEVEL)
        models_dir = top.get("models_dir", DEFAULT_MODELS_DIR)
        faces = {"s3fd_weights": models_dir / S3FD_FILE_NAME, **_read(values, _FACES)}
        syncnet = {"weights": models_dir / SYNCNET_FILE_NAME, **_read(values, _SYNCNET)}
        return cls(
            **top,
            faces=FaceSettings(**faces),
            syncnet=SyncNetSettings(**syncnet),
            efficientnet=EfficientNetSettings(**_read(values, _EFFICIENTNET)),
        )


@functools.cache
def load_settings() -> Settings:
    """The process's settings: os.environ over the project's .env, read once."""
    return Settings.from_env()


def _read_dotenv(path: Path | None) -> dict[str, str]:
    if path is None or not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


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


def _optional_float(value: str) -> float | None:
    return float(value) if value.strip() else None


def _optional_int(value: str) -> int | None:
    return int(value) if value.strip() else None


def _optional_text(value: str) -> str | None:
    return value.strip() or None


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value.strip() not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return value.strip()

    return parse


def _optional_choice(*allowed: str) -> Callable[[str], str | None]:
    required = _choice(*allowed)
    return lambda value: required(value) if value.strip() else None


@dataclass(frozen=True)
class Variable:
    field: str
    parse: Callable[[str], object]
    empty_is_a_value: bool = False  # otherwise an empty value means "use the default"


# Environment variable -> setting, one table per settings object.
_TOP_LEVEL = {
    "SERVICE_NAME": Variable("service_name", str),
    "PORT": Variable("port", int),
    "WEB_CONCURRENCY": Variable("web_concurrency", int),
    "GUNICORN_THREADS": Variable("gunicorn_threads", int),
    "LOG_LEVEL": Variable("log_level", str),
    "MAX_UPLOAD_MB": Variable("max_upload_mb", float),
    "MAX_DURATION_S": Variable("max_duration_s", float),
    "MIN_DURATION_S": Variable("min_duration_s", float),
    "MAX_SOURCE_SIDE": Variable("max_source_side", int),
    "FRAME_MAX_SIDE": Variable("frame_max_side", int),
    "PROCESSING_TIMEOUT_S": Variable("processing_timeout_s", float),
    "QUEUE_TIMEOUT_S": Variable("queue_timeout_s", float),
    "MAX_CONCURRENT_JOBS": Variable("max_concurrent_jobs", int),
    "ALLOWED_VIDEO_DIRS": Variable("allowed_video_dirs", _paths),
    "UPLOAD_TMP_DIR": Variable("upload_tmp_dir", _optional_path),
    "DEVICE": Variable("device", str),
    "TORCH_THREADS": Variable("torch_threads", int),
    "MODELS_DIR": Variable("models_dir", _path),
    "MODELS_SOURCE_DIR": Variable("models_source_dir", _optional_path),
    "MODELS_DOWNLOAD_TIMEOUT": Variable("models_download_timeout", float),
    "ALLOW_UNVERIFIED_WEIGHTS": Variable("allow_unverified_weights", _bool),
    "FUSION_WEIGHT_SYNCNET": Variable("fusion_weight_syncnet", float),
    "FUSION_WEIGHT_EFFICIENTNET": Variable("fusion_weight_efficientnet", float),
}

_FACES = {
    "FACE_DETECTOR": Variable("face_detector", _choice("auto", "s3fd", "mtcnn")),
    "S3FD_WEIGHTS": Variable("s3fd_weights", _path),
    "SYNCNET_FACE_DET_SCALE": Variable("face_det_scale", _optional_float),
    "SYNCNET_FACE_DET_STRIDE": Variable("face_det_stride", int),
    "SYNCNET_FACE_DET_THRESHOLD": Variable("face_det_threshold", float),
    "SYNCNET_MIN_FACE_SIZE": Variable("min_face_size", int),
    "SYNCNET_MIN_TRACK_FRAMES": Variable("min_track_frames", int),
    "SYNCNET_MAX_MISSED_DETECTIONS": Variable("max_missed_detections", int),
}

_SYNCNET = {
    "SYNCNET_WEIGHTS": Variable("weights", _path),
    "SYNCNET_MODE": Variable("mode", _choice("fast", "exact")),
    "SYNCNET_FAST_MAX_WINDOWS": Variable("fast_max_windows", int),
    "SYNCNET_VSHIFT": Variable("vshift", int),
    "SYNCNET_BATCH_SIZE": Variable("batch_size", int),
    "SYNCNET_CROP_SCALE": Variable("crop_scale", float),
    "SYNCNET_CONF_MIDPOINT": Variable("conf_midpoint", float),
    "SYNCNET_CONF_SCALE": Variable("conf_scale", float),
    "SYNCNET_OFFSET_TOLERANCE": Variable("offset_tolerance", int),
    "SYNCNET_OFFSET_LIMIT": Variable("offset_limit", int),
}

_EFFICIENTNET = {
    "EFFICIENTNET_WEIGHTS": Variable("weights", _optional_path, empty_is_a_value=True),
    "EFFICIENTNET_NUM_FRAMES": Variable("num_frames", int),
    "EFFICIENTNET_CROP_MARGIN": Variable("crop_margin", float),
    "EFFICIENTNET_BATCH_SIZE": Variable("batch_size", int),
    "EFFICIENTNET_CLASS_ORDER": Variable("class_order", _optional_choice("real,fake", "fake,real")),
    "EFFICIENTNET_INPUT_SIZE": Variable("input_size", _optional_int),
    "EFFICIENTNET_NORMALIZATION": Variable("normalization", _optional_text),
}

VARIABLES = {**_TOP_LEVEL, **_FACES, **_SYNCNET, **_EFFICIENTNET}


def _read(environ: Mapping[str, str], table: dict[str, Variable]) -> dict:
    values = {}
    for name, variable in table.items():
        raw = environ.get(name)
        if raw is None or (not raw.strip() and not variable.empty_is_a_value):
            continue
        try:
            values[variable.field] = variable.parse(raw)
        except ValueError as exc:
            raise ValueError(f"invalid value for {name}: {exc}") from None
    return values
