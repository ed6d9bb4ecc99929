"""Every setting of the project, read once from the environment and the project's `.env` file.

One object for every entry point: the app, `gunicorn_config.py`, provisioning, training,
evaluation and the benchmarks all call `load_settings()`. Real environment variables win over
`.env`. Each setting has exactly one environment variable, listed in its section's table at the
bottom of this module with the rule its value must keep, and documented with its default in
`.env.example`. Rules that tie two settings together are declared beside their section's table.
A setting only a detector can judge (a frame family's profile name) is checked by that detector
(`scoring.contract.Detector.check_settings`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from scoring.verdict.fusion import Thresholds
from scoring.weights.catalog import BUNDLED_FRAME_DETECTOR, BUNDLED_VOICE, DEFAULT_FRAME_DETECTOR, REPOSITORY_MODELS, S3FD, SYNCNET_V2

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DOTENV_FILE = PROJECT_ROOT / ".env"
DEFAULT_MODELS_DIR = REPOSITORY_MODELS


@dataclass(frozen=True)
class FaceSettings:
    """The face stage every face detector reads: which detector, how often, which faces become tracks."""

    face_detector: str = "auto"  # auto | s3fd | mtcnn
    s3fd_weights: Path = DEFAULT_MODELS_DIR / S3FD.name
    face_det_scale: float | None = None  # None: 0.25 for S3FD (the reference), 0.5 for MTCNN
    face_det_stride: int = 12
    face_det_threshold: float = 0.9
    min_face_size: int = 50
    min_track_frames: int = 20
    max_missed_detections: int = 25


@dataclass(frozen=True)
class SyncNetSettings:
    weights: Path = DEFAULT_MODELS_DIR / SYNCNET_V2.name
    mode: str = "fast"  # fast | exact
    precision: str = "auto"  # fast mode's two streams: float32 | bfloat16 | auto (bfloat16 where native); exact: float32
    fast_max_windows: int = 64  # lip windows per request, shared by its face tracks
    vshift: int = 15
    # Lip windows per forward pass, every pass this size. On 2 cores (AMD EPYC Zen 4): 10.0 ms a window in
    # bfloat16 in fours, 10.6 in eights, 14.0 alone (float32: 17.9, 22.9, 25.6).
    batch_size: int = 4
    crop_scale: float = 0.40
    # 0..1 score: logistic in confidence, scaled down when |offset| leaves the tolerated band.
    conf_midpoint: float = 3.0
    conf_scale: float = 1.0
    offset_tolerance: int = 4
    offset_limit: int = 10

    @property
    def stream_precision(self) -> str:
        """The precision asked of the two streams: exact mode is the reference computation, float32 always."""
        return self.precision if self.mode == "fast" else "float32"


@dataclass(frozen=True)
class EfficientNetSettings:
    # One file, or several averaged as an ensemble; empty: the branch is off.
    # Default (from_env): the published detector setup installs into MODELS_DIR, else the bundled model.
    weights: tuple[Path, ...] = (BUNDLED_FRAME_DETECTOR.path,)
    # Each file's share of the ensemble's scores, in the order of `weights` ("file:share" entries);
    # empty: equal shares. Renormalised over the files that loaded.
    shares: tuple[float, ...] = ()
    min_models: int = 1  # files that must load for the classifier to score; with fewer it is unavailable
    precision: str = "auto"  # float32 | bfloat16 | auto (bfloat16 where native)
    # Overrides of the file's profile (None: its sidecar, else its authors' profile).
    num_frames: int | None = None
    max_frames: int = 16  # when num_frames is unset: the profile's frames per video, at most this many
    crop_margin: float | None = None
    profile: str | None = None  # a family's profile by name: polimi, selimsef, sbi, deepfakebench, deepfakedetector
    class_order: str | None = None  # "real,fake" or "fake,real"
    input_size: int | None = None
    normalization: str | None = None  # imagenet | half | unit | "mean=r,g,b;std=r,g,b"

    @property
    def overrides(self) -> dict:
        return {
            "profile": self.profile,
            "class_order": self.class_order,
            "input_size": self.input_size,
            "normalization": self.normalization,
            "face_crop_margin": self.crop_margin,
        }


@dataclass(frozen=True)
class VoiceSettings:
    weights: Path | None = BUNDLED_VOICE  # None: the voice detector is off
    max_windows: int = 2  # AASIST windows per request, spread over the speech
    precision: str = "auto"  # float32 | bfloat16 | auto (bfloat16 where native)
    suspect_below: float = 0.0  # P(bona fide) under which the risk note names a suspected synthetic voice (0: never)


@dataclass(frozen=True)
class Settings:
    service_name: str = "deepfake-scoring"
    port: int = 5000
    web_concurrency: int = 1
    gunicorn_threads: int = 4
    log_level: str = "info"
    audit_log: str = "stderr"  # stderr | off | a file (scoring.operations.audit)
    rate_limit_per_minute: int = 60  # per API key (per address without keys) on the scoring routes; 0 = off
    max_upload_mb: float = 100.0
    max_image_mb: float = 15.0
    max_batch_images: int = 16
    max_duration_s: float = 60.0
    min_duration_s: float = 1.0
    max_source_side: int = 4096
    frame_max_side: int = 640
    processing_timeout_s: float = 120.0
    live_idle_timeout_s: float = 10.0  # a live recording whose chunks stop for this long is closed (408 idle_timeout)
    queue_timeout_s: float = 10.0
    max_concurrent_jobs: int = 1
    max_queued_jobs: int = 2
    allowed_video_dirs: tuple[Path, ...] = ()
    upload_tmp_dir: Path | None = None
    cors_origins: tuple[str, ...] = ()
    page_enabled: bool = True
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    metrics_token: str | None = field(default=None, repr=False)  # set: GET /metrics needs it; unset: guarded like /score
    redis_url: str | None = field(default=None, repr=False)  # set: queue mode (scoring.queue)
    job_result_ttl_s: float = 600.0
    challenge_secret: str | None = field(default=None, repr=False)  # None: generated at start (see gunicorn_config.py)
    challenge_ttl_s: float = 300.0
    challenge_words: int = 4
    device: str = "auto"
    torch_threads: int = 0  # 0: cores divided by gunicorn workers
    models_dir: Path = DEFAULT_MODELS_DIR
    models_source_dir: Path | None = None
    models_download_timeout: float = 30.0
    allow_unverified_weights: bool = False  # weight files that are not byte-identical to the releases they claim to be
    fusion_weight_syncnet: float = 0.4
    fusion_weight_efficientnet: float = 0.6
    fusion_weight_voice: float = 0.0  # what docs/voice.md's measurement supports: AASIST does not tell real from synthetic speech here
    thresholds: Thresholds = field(default_factory=Thresholds)
    faces: FaceSettings = field(default_factory=FaceSettings)
    syncnet: SyncNetSettings = field(default_factory=SyncNetSettings)
    efficientnet: EfficientNetSettings = field(default_factory=EfficientNetSettings)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    warnings: tuple[str, ...] = field(default=(), compare=False)  # what start-up should log

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_image_bytes(self) -> int:
        """A request's body never exceeds MAX_UPLOAD_MB, so neither does one of its images."""
        return int(min(self.max_image_mb, self.max_upload_mb) * 1024 * 1024)

    @property
    def fusion_weights(self) -> dict[str, float]:
        return {"syncnet": self.fusion_weight_syncnet, "efficientnet": self.fusion_weight_efficientnet, "voice": self.fusion_weight_voice}

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv_file: Path | None = None) -> Settings:
        """Settings from `environ` over `dotenv_file`; with neither given, os.environ over the project's .env.

        Raises SettingsError, naming the variable, for a value that cannot be parsed, is out of
        range, or names a file that does not exist.
        """
        if environ is None:
            environ, dotenv_file = os.environ, dotenv_file or DOTENV_FILE
        values = _resolve_aliases({**_read_dotenv(dotenv_file), **environ})
        top = _read(values, _TOP_LEVEL)
        models_dir = top.get("models_dir", DEFAULT_MODELS_DIR)
        faces = {"s3fd_weights": models_dir / S3FD.name, **_read(values, _FACES)}
        syncnet = {"weights": models_dir / SYNCNET_V2.name, **_read(values, _SYNCNET)}
        efficientnet = _read(values, _EFFICIENTNET)
        efficientnet.update(_read(values, _ENSEMBLE_SHARES))
        if efficientnet.get("weights") is None:
            efficientnet["weights"] = default_frame_detector(models_dir)
        settings = cls(
            **top,
            faces=FaceSettings(**faces),
            syncnet=SyncNetSettings(**syncnet),
            efficientnet=EfficientNetSettings(**efficientnet),
            voice=VoiceSettings(**_read(values, _VOICE)),
            thresholds=Thresholds(**_read(values, _THRESHOLDS)),
            warnings=tuple(_unknown_variables(values)),
        )
        _check_files(values)
        for holds, message in _TIES:
            if not holds(settings):
                raise SettingsError(message)
        return settings


class SettingsError(ValueError):
    """A setting the service cannot start with; the message names the variable and what is wrong."""


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


def _weight_files(value: str) -> tuple[Path, ...] | None:
    """Comma-separated files (an ensemble), each optionally "file:share"; "auto" (None):
    default_frame_detector; empty: none."""
    if value.strip().lower() == "auto":
        return None
    return tuple(_path(file) for file, _ in _ensemble_entries(value))


def _ensemble_shares(value: str) -> tuple[float, ...]:
    """The shares of "file:share" entries; () when no entry gives one (equal shares)."""
    shares = [share for _, share in _ensemble_entries(value)]
    if all(share is None for share in shares):
        return ()
    if any(share is None for share in shares):
        raise ValueError("give every file a share (file:share) or none")
    return tuple(shares)


def _ensemble_entries(value: str) -> list[tuple[str, float | None]]:
    entries = []
    for part in (p.strip() for p in value.split(",")):
        if not part or part.lower() == "auto":
            continue
        file, colon, share = part.rpartition(":")
        entries.append((file, float(share)) if colon and re.fullmatch(r"\d*\.?\d+", share.strip()) else (part, None))
    return entries


def default_frame_detector(models_dir: Path) -> tuple[Path, ...]:
    """The published frame detector where setup installed it, else the bundled model."""
    published = models_dir / DEFAULT_FRAME_DETECTOR.file.name
    return (published if published.is_file() else BUNDLED_FRAME_DETECTOR.path,)


def _optional_path(value: str) -> Path | None:
    return _path(value) if value.strip() else None


def _path_or_off(value: str) -> Path | None:
    return None if value.strip().lower() == "off" else _path(value)


def _optional_float(value: str) -> float | None:
    return float(value) if value.strip() else None


def _optional_int(value: str) -> int | None:
    return int(value) if value.strip() else None


def _optional_text(value: str) -> str | None:
    return value.strip() or None


def _keys(value: str) -> tuple[str, ...]:
    return tuple(key.strip() for key in value.split(",") if key.strip())


def _origins(value: str) -> tuple[str, ...]:
    return tuple(origin.strip().rstrip("/") for origin in value.split(",") if origin.strip())


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
class Rule:
    holds: Callable[[object], bool]
    says: str  # what a value must be, after the variable's name


POSITIVE = Rule(lambda v: v > 0, "must be positive")
AT_LEAST_1 = Rule(lambda v: v >= 1, "must be at least 1")
NOT_NEGATIVE = Rule(lambda v: v >= 0, "must not be negative")
WITHIN_0_1 = Rule(lambda v: 0 <= v <= 1, "must be within 0..1")
AT_LEAST_16_CHARACTERS = Rule(lambda v: len(v) >= 16, "must be at least 16 characters")


@dataclass(frozen=True)
class Variable:
    field: str
    parse: Callable[[str], object]
    empty_is_a_value: bool = False  # otherwise an empty value means "use the default"
    rule: Rule | None = None  # what a value read from the environment must keep (None values pass)


def _audit_sink(value: str) -> str:
    value = value.strip()
    if value.lower() not in ("stderr", "off") and not Path(value).expanduser().parent.is_dir():
        raise ValueError("must be stderr, off, or a file in an existing directory")
    return value


def _redis_url(value: str) -> str | None:
    url = _optional_text(value)
    if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return url


# Environment variable -> setting, one table per settings object.
_TOP_LEVEL = {
    "SERVICE_NAME": Variable("service_name", str),
    "PORT": Variable("port", int, rule=Rule(lambda v: 0 < v < 65536, "must be between 1 and 65535")),
    "WEB_CONCURRENCY": Variable("web_concurrency", int, rule=AT_LEAST_1),
    "GUNICORN_THREADS": Variable("gunicorn_threads", int, rule=AT_LEAST_1),
    "LOG_LEVEL": Variable("log_level", str),
    "MAX_UPLOAD_MB": Variable("max_upload_mb", float, rule=POSITIVE),
    "MAX_IMAGE_MB": Variable("max_image_mb", float, rule=POSITIVE),
    "MAX_BATCH_IMAGES": Variable("max_batch_images", int, rule=AT_LEAST_1),
    "MAX_DURATION_S": Variable("max_duration_s", float, rule=POSITIVE),
    "MIN_DURATION_S": Variable("min_duration_s", float, rule=NOT_NEGATIVE),
    "MAX_SOURCE_SIDE": Variable("max_source_side", int, rule=POSITIVE),
    "FRAME_MAX_SIDE": Variable("frame_max_side", int, rule=POSITIVE),
    "PROCESSING_TIMEOUT_S": Variable("processing_timeout_s", float, rule=POSITIVE),
    "LIVE_IDLE_TIMEOUT_S": Variable("live_idle_timeout_s", float, rule=POSITIVE),
    "QUEUE_TIMEOUT_S": Variable("queue_timeout_s", float, rule=NOT_NEGATIVE),
    "MAX_CONCURRENT_JOBS": Variable("max_concurrent_jobs", int, rule=AT_LEAST_1),
    "MAX_QUEUED_JOBS": Variable("max_queued_jobs", int, rule=NOT_NEGATIVE),
    "ALLOWED_VIDEO_DIRS": Variable("allowed_video_dirs", _paths),
    "UPLOAD_TMP_DIR": Variable("upload_tmp_dir", _optional_path),
    "AUDIT_LOG": Variable("audit_log", _audit_sink),
    "RATE_LIMIT_PER_MINUTE": Variable("rate_limit_per_minute", int, rule=Rule(lambda v: v >= 0, "must not be negative (0 = no limit)")),
    "CORS_ORIGINS": Variable("cors_origins", _origins),
    "PAGE_ENABLED": Variable("page_enabled", _bool),
    "API_KEYS": Variable("api_keys", _keys, rule=Rule(lambda keys: all(len(key) >= 16 for key in keys), "must hold keys of at least 16 characters each")),
    "METRICS_TOKEN": Variable("metrics_token", _optional_text, rule=AT_LEAST_16_CHARACTERS),
    "REDIS_URL": Variable("redis_url", _redis_url),
    "JOB_RESULT_TTL_S": Variable("job_result_ttl_s", float, rule=POSITIVE),
    "CHALLENGE_SECRET": Variable("challenge_secret", _optional_text, rule=AT_LEAST_16_CHARACTERS),
    "CHALLENGE_TTL_S": Variable("challenge_ttl_s", float, rule=POSITIVE),
    "CHALLENGE_WORDS": Variable("challenge_words", int, rule=Rule(lambda v: 2 <= v <= 8, "must be between 2 and 8")),
    "DEVICE": Variable("device", str),
    "TORCH_THREADS": Variable("torch_threads", int, rule=Rule(lambda v: v >= 0, "must not be negative (0 = automatic)")),
    "MODELS_DIR": Variable("models_dir", _path),
    "MODELS_SOURCE_DIR": Variable("models_source_dir", _optional_path),
    "MODELS_DOWNLOAD_TIMEOUT": Variable("models_download_timeout", float, rule=POSITIVE),
    "ALLOW_UNVERIFIED_WEIGHTS": Variable("allow_unverified_weights", _bool),
    "FUSION_WEIGHT_SYNCNET": Variable("fusion_weight_syncnet", float, rule=NOT_NEGATIVE),
    "FUSION_WEIGHT_EFFICIENTNET": Variable("fusion_weight_efficientnet", float, rule=NOT_NEGATIVE),
    "FUSION_WEIGHT_VOICE": Variable("fusion_weight_voice", float, rule=NOT_NEGATIVE),
}

_FACES = {
    "FACE_DETECTOR": Variable("face_detector", _choice("auto", "s3fd", "mtcnn")),
    "S3FD_WEIGHTS": Variable("s3fd_weights", _path),
    "FACE_DET_SCALE": Variable("face_det_scale", _optional_float, rule=POSITIVE),
    "FACE_DET_STRIDE": Variable("face_det_stride", int, rule=AT_LEAST_1),
    "FACE_DET_THRESHOLD": Variable("face_det_threshold", float, rule=Rule(lambda v: 0 < v <= 1, "must be in (0, 1]")),
    "FACE_MIN_SIZE": Variable("min_face_size", int, rule=NOT_NEGATIVE),
    "FACE_MIN_TRACK_FRAMES": Variable("min_track_frames", int, rule=AT_LEAST_1),
    "FACE_MAX_MISSED_DETECTIONS": Variable("max_missed_detections", int, rule=NOT_NEGATIVE),
}

_SYNCNET = {
    "SYNCNET_WEIGHTS": Variable("weights", _path),
    "SYNCNET_MODE": Variable("mode", _choice("fast", "exact")),
    "SYNCNET_PRECISION": Variable("precision", _choice("auto", "float32", "bfloat16")),
    "SYNCNET_FAST_MAX_WINDOWS": Variable("fast_max_windows", int, rule=AT_LEAST_1),
    "SYNCNET_VSHIFT": Variable("vshift", int, rule=AT_LEAST_1),
    "SYNCNET_BATCH_SIZE": Variable("batch_size", int, rule=AT_LEAST_1),
    "SYNCNET_CROP_SCALE": Variable("crop_scale", float, rule=POSITIVE),
    "SYNCNET_CONF_MIDPOINT": Variable("conf_midpoint", float),
    "SYNCNET_CONF_SCALE": Variable("conf_scale", float, rule=POSITIVE),
    "SYNCNET_OFFSET_TOLERANCE": Variable("offset_tolerance", int, rule=NOT_NEGATIVE),
    "SYNCNET_OFFSET_LIMIT": Variable("offset_limit", int),
}

_EFFICIENTNET = {
    "EFFICIENTNET_WEIGHTS": Variable("weights", _weight_files, empty_is_a_value=True),
    "EFFICIENTNET_NUM_FRAMES": Variable("num_frames", _optional_int, rule=AT_LEAST_1),
    "EFFICIENTNET_MAX_FRAMES": Variable("max_frames", int, rule=AT_LEAST_1),
    "EFFICIENTNET_MIN_MODELS": Variable("min_models", int, rule=AT_LEAST_1),
    "EFFICIENTNET_CROP_MARGIN": Variable("crop_margin", _optional_float, rule=NOT_NEGATIVE),
    "EFFICIENTNET_PRECISION": Variable("precision", _choice("auto", "float32", "bfloat16")),
    "EFFICIENTNET_PROFILE": Variable("profile", _optional_text),  # a family's profile: the frame detector checks the name
    "EFFICIENTNET_CLASS_ORDER": Variable("class_order", _optional_choice("real,fake", "fake,real")),
    "EFFICIENTNET_INPUT_SIZE": Variable("input_size", _optional_int, rule=Rule(lambda v: v >= 32, "must be at least 32")),
    "EFFICIENTNET_NORMALIZATION": Variable("normalization", _optional_text),
}

_VOICE = {
    "VOICE_WEIGHTS": Variable("weights", _path_or_off),
    "VOICE_MAX_WINDOWS": Variable("max_windows", int, rule=AT_LEAST_1),
    "VOICE_PRECISION": Variable("precision", _choice("auto", "float32", "bfloat16")),
    "VOICE_SUSPECT_BELOW": Variable("suspect_below", float, rule=WITHIN_0_1),
}

_THRESHOLDS = {
    "RISK_LOW_MIN": Variable("low", float),
    "RISK_MEDIUM_MIN": Variable("medium", float),
    "RISK_HIGH_MIN": Variable("high", float),
    "LIKELY_REAL_ABOVE": Variable("likely_real", float, rule=Rule(lambda v: 0 <= v < 1, "must be at least 0 and below 1")),
}

# EFFICIENTNET_WEIGHTS read a second time: the shares of its "file:share" entries.
_ENSEMBLE_SHARES = {
    "EFFICIENTNET_WEIGHTS": Variable(
        "shares", _ensemble_shares, rule=Rule(lambda v: not v or (min(v) >= 0 and sum(v) > 0), "must not give negative shares (file:share), and not all 0")
    )
}

# Rules that tie settings of one section together, checked once the settings are built.
_TIES: tuple[tuple[Callable[[Settings], bool], str], ...] = (
    (lambda s: s.min_duration_s < s.max_duration_s, "MIN_DURATION_S must be below MAX_DURATION_S"),
    (lambda s: s.fusion_weight_syncnet + s.fusion_weight_efficientnet > 0, "FUSION_WEIGHT_SYNCNET and FUSION_WEIGHT_EFFICIENTNET must not both be 0"),
    (lambda s: s.syncnet.offset_tolerance < s.syncnet.offset_limit, "SYNCNET_OFFSET_TOLERANCE must be below SYNCNET_OFFSET_LIMIT"),
    (
        lambda s: s.efficientnet.min_models <= max(1, len(s.efficientnet.weights)),
        "EFFICIENTNET_MIN_MODELS must be at most the number of files in EFFICIENTNET_WEIGHTS",
    ),
    (
        lambda s: 0 < s.thresholds.high < s.thresholds.medium < s.thresholds.low <= 1,
        "the risk cut-offs must rise: 0 < RISK_HIGH_MIN < RISK_MEDIUM_MIN < RISK_LOW_MIN <= 1",
    ),
)

VARIABLES = {**_TOP_LEVEL, **_FACES, **_SYNCNET, **_EFFICIENTNET, **_VOICE, **_THRESHOLDS}

# Other names for our settings: honoured, documented in .env.example; ours win.
ALIASES = {
    # the design document's names
    "EFFICIENTNET_MODEL_PATH": "EFFICIENTNET_WEIGHTS",
    "FRAME_DETECTORS": "EFFICIENTNET_WEIGHTS",  # the detector line-up's name (file:share,...)
    "MAX_VIDEO_SIZE_MB": "MAX_UPLOAD_MB",
    "PROCESSING_TIMEOUT": "PROCESSING_TIMEOUT_S",
    # the face stage's former names, from when SyncNet alone read it
    "SYNCNET_FACE_DET_SCALE": "FACE_DET_SCALE",
    "SYNCNET_FACE_DET_STRIDE": "FACE_DET_STRIDE",
    "SYNCNET_FACE_DET_THRESHOLD": "FACE_DET_THRESHOLD",
    "SYNCNET_MIN_FACE_SIZE": "FACE_MIN_SIZE",
    "SYNCNET_MIN_TRACK_FRAMES": "FACE_MIN_TRACK_FRAMES",
    "SYNCNET_MAX_MISSED_DETECTIONS": "FACE_MAX_MISSED_DETECTIONS",
}
# Families of variables that are ours: an unknown name in them is a typo worth a warning.
OUR_PREFIXES = ("SYNCNET_", "EFFICIENTNET_", "FUSION_", "MODELS_", "FACE_", "S3FD_", "CHALLENGE_", "RISK_", "VOICE_")
# Settings that name a file: when set, the file must exist (unset, a missing default is "unavailable").
FILE_VARIABLES = ("SYNCNET_WEIGHTS", "S3FD_WEIGHTS", "EFFICIENTNET_WEIGHTS", "VOICE_WEIGHTS")


def _read(environ: Mapping[str, str], table: dict[str, Variable]) -> dict:
    values = {}
    for name, variable in table.items():
        raw = environ.get(name)
        if raw is None or (not raw.strip() and not variable.empty_is_a_value):
            continue
        try:
            value = variable.parse(raw)
        except ValueError as exc:
            raise SettingsError(f"invalid value for {name}: {exc}") from None
        if variable.rule is not None and value is not None and not variable.rule.holds(value):
            raise SettingsError(f"{name} {variable.rule.says}")
        values[variable.field] = value
    return values


def _resolve_aliases(environ: Mapping[str, str]) -> dict[str, str]:
    values = dict(environ)
    for alias, name in ALIASES.items():
        if alias not in values:
            continue
        if name in values and values[name].strip() != values[alias].strip():
            raise SettingsError(f"{alias} (another name for {name}) and {name} are both set, to different values")
        values.setdefault(name, values[alias])
    return values


def _unknown_variables(environ: Mapping[str, str]) -> list[str]:
    return [
        f"unknown setting {name} is ignored (see .env.example for the names)"
        for name in sorted(environ)
        if name.startswith(OUR_PREFIXES) and name not in VARIABLES and name not in ALIASES
    ]


def _check_files(environ: Mapping[str, str]) -> None:
    for name in FILE_VARIABLES:
        raw = environ.get(name, "")
        named = VARIABLES[name].parse(raw) if raw.strip() else None  # what the setting reads: a path, a list, or "auto"
        for path in (named,) if isinstance(named, Path) else named or ():
            if not path.is_file():
                raise SettingsError(f"{name} names a file that does not exist: {path.name}")
