"""Deepfake-scoring REST service: `POST /score` a verification video, `GET /health`.

Run with gunicorn: `gunicorn -c gunicorn_config.py`, or the design document's
`gunicorn app:app -c gunicorn_config.py` (`app` is built on first access, so in each worker, never
at import), or `python app.py` for development. Each worker builds its own app, which loads models
lazily on the first video. The routes are `scoring.web`'s blueprints; what they serve is
`scoring.service.ScoringService`.
"""

from __future__ import annotations

import functools
import logging
import secrets

from flask import Flask
from flask_cors import CORS

from scoring import __version__
from scoring.detectors import Detectors
from scoring.liveness.tokens import ChallengeBook
from scoring.operations.audit import AuditTrail
from scoring.operations.uploads import sweep, upload_area
from scoring.runtime import allocator, torch_env
from scoring.service import ScoringService
from scoring.settings import Settings, load_settings
from scoring.web import ScoringAPI, challenge, health, images, jobs, live, metrics, openapi, page
from scoring.web import scoring as scoring_routes
from scoring.web.errors import register_error_handlers
from scoring.web.limits import limit_rates
from scoring.web.spool import spool_into_upload_area

__all__ = ["__version__", "create_app"]
log = logging.getLogger("deepfake_scoring")
cors = CORS()


def create_app(test_config: Settings | None = None) -> Flask:
    """The app for `test_config` (the settings to serve with; default: the environment and .env)."""
    settings = test_config or load_settings()
    for warning in settings.warnings:
        log.warning(warning)
    torch_env.configure_threads(settings.torch_threads or torch_env.default_thread_count(settings.web_concurrency))
    service = ScoringService(settings, Detectors(settings, torch_env.resolve_device(settings.device)))

    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    if settings.cors_origins:
        cors.init_app(app, origins=list(settings.cors_origins), allow_headers=["Authorization", "Content-Type"], methods=["GET", "POST"])
    _scoring_api(settings, service).init_app(app)
    spool_into_upload_area(app)
    metrics.count_requests(app)
    limit_rates(app, settings, [scoring_routes.bp, images.bp, jobs.bp], handshakes=[live.bp])

    app.register_blueprint(scoring_routes.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(challenge.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(openapi.bp)
    if settings.redis_url:
        app.register_blueprint(jobs.bp)
    else:  # in queue mode the web processes hold no models: photos are not queued yet, and a live
        # recording is decoded and guided frame by frame where its socket is (docs/api.md)
        app.register_blueprint(images.bp)
        live.init_live(app)
    if settings.page_enabled:
        app.register_blueprint(page.bp)
    register_error_handlers(app)
    return app


def _scoring_api(settings: Settings, service: ScoringService) -> ScoringAPI:
    uploads = upload_area(settings.upload_tmp_dir)
    for orphan in sweep(uploads):
        log.warning("removed %s, left by a worker that died mid-request", orphan.name)
    queue = None
    if settings.redis_url:
        from scoring.queue import JobQueue  # Redis and RQ only where queue mode is on

        queue = JobQueue(settings)
    return ScoringAPI(service, _challenge_book(settings), queue, uploads, AuditTrail(settings.audit_log))


def _challenge_book(settings: Settings) -> ChallengeBook:
    secret = settings.challenge_secret
    if secret is None:
        secret = secrets.token_urlsafe(32)
        log.warning("CHALLENGE_SECRET is not set: generated a random one; challenge tokens are valid in this process only")
    return ChallengeBook(secret.encode(), settings.challenge_ttl_s, settings.challenge_words)


@functools.cache
def _default_app() -> Flask:
    return create_app()


def __getattr__(name: str):
    """`app:app` for gunicorn: the app is built when a worker first asks for it, not at import."""
    if name == "app":
        return _default_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    allocator.keep_freed_memory()
    logging.basicConfig(level=logging.INFO)
    create_app().run(host="127.0.0.1", port=load_settings().port)
