"""Deepfake-scoring REST service: `POST /score` a verification video, `GET /health`.

Run with gunicorn: `gunicorn -c gunicorn_config.py`, or the design document's
`gunicorn app:app -c gunicorn_config.py` (`app` is built on first access, so in each worker, never
at import), or `python app.py` for development. Each worker builds its own app, which loads models
lazily on the first video.
"""

from __future__ import annotations

import functools
import hmac
import logging
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from flask import Flask, jsonify, request, send_from_directory
from flask_cors import CORS
from werkzeug.exceptions import HTTPException

from scoring.efficientnet.detector import EfficientNetDetector
from scoring import torch_env
from scoring.detectors import Detectors
from scoring.errors import HTTP_ERROR_CODES, Code, ServiceError
from scoring.liveness.tokens import ChallengeBook
from scoring.service import ScoringService
from scoring.settings import Settings, load_settings
from scoring.uploads import request_dir, sweep, upload_area

__version__ = "1.0.0"
log = logging.getLogger("deepfake_scoring")

MAX_SESSION_ID = 256
PROTECTED_ENDPOINTS = {"score", "submit_job", "job_state"}  # with API_KEYS set; /health, /challenge and the page stay open
PAGE_DIR = Path(__file__).resolve().parent / "scoring" / "page"


def create_app(settings: Settings | None = None, detectors: Detectors | None = None) -> Flask:
    settings = settings or load_settings()
    torch_env.configure_threads(settings.torch_threads or torch_env.default_thread_count(settings.web_concurrency))
    detectors = detectors or Detectors(settings, torch_env.resolve_device(settings.device))
    service = ScoringService(settings, detectors)

    for warning in settings.warnings:
        log.warning(warning)
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.extensions["scoring"] = service
    if settings.cors_origins:
        CORS(app, origins=list(settings.cors_origins), allow_headers=["Authorization", "Content-Type"], methods=["GET", "POST"])

    uploads = upload_area(settings.upload_tmp_dir)
    for orphan in sweep(uploads):
        log.warning("removed %s, left by a worker that died mid-request", orphan.name)
    if settings.page_enabled:
        _add_page(app)
    challenges = _challenge_book(settings)
    app.extensions["challenges"] = challenges

    @app.get("/challenge")
    def challenge():
        response = jsonify(challenges.issue().to_json())
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/health")
    def health():
        report = health_report(settings, service, app.extensions.get("queue"))
        return jsonify(report), 503 if report["status"] == "unavailable" else 200

    @app.before_request
    def authorise():
        if settings.api_keys and request.endpoint in PROTECTED_ENDPOINTS:
            _require_api_key(settings.api_keys)

    if settings.redis_url:
        _add_queue_mode(app, settings, service, uploads, challenges)
    else:

        @app.post("/score")
        def score():
            with service.admission.ticket(), _video_of_request(settings, uploads, challenges) as (path, session_id, phrase):
                return jsonify(service.score(path, session_id, phrase))

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):
        response = jsonify(exc.to_json())
        if exc.retry_after_s:
            response.headers["Retry-After"] = str(exc.retry_after_s)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="deepfake-scoring"'
        return response, exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = str(HTTP_ERROR_CODES.get(exc.code, "http_error"))
        message = exc.description
        if exc.code == 413:
            message = f"the upload exceeds the limit of {settings.max_upload_mb:g} MB"
        return jsonify({"error": code, "message": message}), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error while serving %s %s", request.method, request.path)
        return jsonify({"error": str(Code.INTERNAL_ERROR), "message": "the server failed to process this request"}), 500

    return app


@contextmanager
def _video_of_request(settings: Settings, uploads: Path, challenges: ChallengeBook) -> Iterator[tuple[Path, str | None, str | None]]:
    """The request's video as a file (an allowed server path, or the upload in a private directory
    removed afterwards), its session_id, and the phrase of its challenge token (used up now)."""
    if request.mimetype == "application/json":
        path, session_id = _json_video_path(settings)
        yield path, session_id, _challenged_phrase(challenges, request.get_json().get("challenge"))
        return
    if request.mimetype != "multipart/form-data":
        raise ServiceError(Code.MISSING_VIDEO, "send the video as multipart/form-data in the field 'video', or JSON {\"video_path\": ...}")
    session_id = _session_id(request.form.get("session_id"))
    upload = request.files.get("video")
    if upload is None:
        raise ServiceError(Code.MISSING_VIDEO, "no 'video' field in the upload")
    phrase = _challenged_phrase(challenges, request.form.get("challenge"))
    with request_dir(uploads) as workdir:
        target = workdir / ("upload" + _safe_suffix(upload.filename))
        upload.save(target)
        if target.stat().st_size == 0:
            raise ServiceError(Code.EMPTY_UPLOAD, "the uploaded video is empty")
        yield target, session_id, phrase


def _add_queue_mode(app: Flask, settings: Settings, service: ScoringService, uploads: Path, challenges: ChallengeBook) -> None:
    """/score and /jobs hand the video to `scoring.queue` workers; this process only receives and answers."""
    from scoring.queue import JobQueue

    jobs = JobQueue(settings)
    app.extensions["queue"] = jobs

    def submit() -> str:
        with _video_of_request(settings, uploads, challenges) as (path, session_id, phrase):
            return jobs.submit(path, session_id, phrase)

    @app.post("/score")
    def score():
        with service.admission.ticket():
            status, body = jobs.wait(submit(), settings.processing_timeout_s)
        return jsonify(body), status

    @app.post("/jobs")
    def submit_job():
        job_id = submit()
        response = jsonify({"id": job_id, "status": "queued", "location": f"/jobs/{job_id}"})
        response.headers["Location"] = f"/jobs/{job_id}"
        return response, 202

    @app.get("/jobs/<job_id>")
    def job_state(job_id: str):
        state = jobs.state(job_id)
        state.pop("http_status", None)
        return jsonify(state)


def _require_api_key(keys: tuple[str, ...]) -> None:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    # Compare with every key, in constant time each, so the answer's timing tells nothing about them.
    matches = [hmac.compare_digest(presented.strip().encode(), key.encode()) for key in keys]
    if scheme.lower() != "bearer" or not any(matches):
        raise ServiceError(Code.UNAUTHORIZED, "this service needs an API key: send 'Authorization: Bearer <key>'")


def _challenge_book(settings: Settings) -> ChallengeBook:
    secret = settings.challenge_secret
    if secret is None:
        secret = secrets.token_urlsafe(32)
        log.warning("CHALLENGE_SECRET is not set: generated a random one; challenge tokens are valid in this process only")
    return ChallengeBook(secret.encode(), settings.challenge_ttl_s, settings.challenge_words)


def _challenged_phrase(challenges: ChallengeBook, token) -> str | None:
    """The phrase of the request's challenge token (used up now), or None when it carries none."""
    if token is None or token == "":
        return None
    if not isinstance(token, str):
        raise ServiceError(Code.INVALID_CHALLENGE, "the challenge must be the token string from GET /challenge")
    return challenges.redeem(token)


def _add_page(app: Flask) -> None:
    """The verification page (plain HTML, CSS and JavaScript from scoring/page; nothing from a CDN)."""

    @app.get("/")
    def page():
        return send_from_directory(PAGE_DIR, "index.html")

    @app.get("/page/<path:name>")
    def page_file(name: str):
        return send_from_directory(PAGE_DIR, name)


def health_report(settings: Settings, service: ScoringService, queue=None) -> dict:
    """The design document's fields (`status`, `detectors` as booleans, `config`), our details beside them.

    In queue mode, `queue` reports the Redis queue: unreachable is `unavailable`, no live worker `degraded`.
    """
    detectors = service.detectors
    states = detectors.status()
    available = {name: state["available"] for name, state in states.items()}
    status = "healthy" if all(available.values()) else ("degraded" if any(available.values()) else "unavailable")
    extra = {}
    if queue is not None:
        extra["queue"] = queue.health()
        if not extra["queue"]["reachable"]:
            status = "unavailable"
        elif extra["queue"]["workers"] == 0 and status == "healthy":
            status = "degraded"
    return {
        **extra,
        "status": status,
        "service": settings.service_name,
        "version": __version__,
        "detectors": available,
        "detector_details": states,
        "face_detector": detectors.face_detector_status(),
        "jobs": service.admission.summary(),
        "config": {
            "max_video_size_mb": settings.max_upload_mb,
            "processing_timeout": settings.processing_timeout_s,
            "max_upload_mb": settings.max_upload_mb,
            "max_duration_s": settings.max_duration_s,
            "min_duration_s": settings.min_duration_s,
            "processing_timeout_s": settings.processing_timeout_s,
            "fusion_weights": settings.fusion_weights,
            "syncnet_mode": settings.syncnet.mode,
            "syncnet_fast_max_windows": settings.syncnet.fast_max_windows,
            "syncnet_precision": torch_env.precision_name(settings.syncnet.stream_precision, detectors.device),
            "efficientnet_precision": torch_env.precision_name(settings.efficientnet.precision, detectors.device),
            "frame_detector": EfficientNetDetector.configuration(settings),
            "device": str(detectors.device),
            "torch_threads": torch.get_num_threads(),
            "video_path_requests": bool(settings.allowed_video_dirs),
        },
    }


def _session_id(value) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_SESSION_ID or any(ord(c) < 32 for c in value):
        raise ServiceError(Code.INVALID_SESSION_ID, f"session_id must be text of at most {MAX_SESSION_ID} printable characters")
    return value


def _safe_suffix(filename: str | None) -> str:
    """The upload's extension if it is plain (helps FFmpeg pick a demuxer); never its name."""
    suffix = Path(filename or "").suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ""


def _json_video_path(settings: Settings) -> tuple[Path, str | None]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ServiceError(Code.INVALID_JSON, "the JSON body must be an object with 'video_path'")
    session_id = _session_id(body.get("session_id"))
    raw = body.get("video_path")
    if not isinstance(raw, str) or not raw.strip():
        raise ServiceError(Code.MISSING_VIDEO, "'video_path' must be a non-empty string")
    if not settings.allowed_video_dirs:
        raise ServiceError(
            Code.PATH_NOT_ALLOWED,
            "reading videos from server paths is disabled; upload the file as multipart 'video', "
            "or list permitted directories in ALLOWED_VIDEO_DIRS (separated by ':') to enable it",
        )
    path = allowed_path(raw, settings.allowed_video_dirs)
    if path.stat().st_size > settings.max_upload_bytes:
        raise ServiceError(Code.FILE_TOO_LARGE, f"the file exceeds the limit of {settings.max_upload_mb:g} MB")
    return path, session_id


def allowed_path(raw: str, allowed_dirs: tuple[Path, ...]) -> Path:
    """The real path of `raw` if it lies inside one of `allowed_dirs` after resolving symlinks and '..'."""
    candidate = Path(raw).expanduser().resolve()
    roots = [directory.expanduser().resolve() for directory in allowed_dirs]
    if not any(candidate.is_relative_to(root) for root in roots):
        raise ServiceError(Code.PATH_NOT_ALLOWED, "video_path is outside the directories listed in ALLOWED_VIDEO_DIRS")
    if not candidate.is_file():
        raise ServiceError(Code.VIDEO_NOT_FOUND, "video_path does not name a file")
    return candidate


@functools.cache
def _default_app() -> Flask:
    return create_app()


def __getattr__(name: str):
    """`app:app` for gunicorn: the app is built when a worker first asks for it, not at import."""
    if name == "app":
        return _default_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    create_app().run(host="127.0.0.1", port=load_settings().port)
