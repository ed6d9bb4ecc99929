"""Rate limits: requests per minute per API key (per client address when keys are off) on the POSTs
that score or queue, with flask-limiter. Counts are shared across workers through Redis in queue
mode (REDIS_URL), kept in each worker's memory otherwise; a Redis that does not answer lets the
request through rather than failing it. `/health`, the page and `/challenge` are not limited.
Over the limit: 429 `rate_limited` with Retry-After.
"""

from __future__ import annotations

from flask import Blueprint, Flask, request

from scoring.settings import Settings
from scoring.web.auth import client_key_id


def limit_rates(app: Flask, settings: Settings, blueprints: list[Blueprint], handshakes: list[Blueprint] = ()) -> None:
    """Attach the per-minute limit to `blueprints`' POSTs and `handshakes`' GETs (a WebSocket opens with a
    GET), before they are registered; nothing when it is 0."""
    if settings.rate_limit_per_minute <= 0:
        return
    from flask_limiter import Limiter

    def client() -> str:
        if settings.api_keys:
            return "key:" + (client_key_id() or "none")
        return "address:" + (request.remote_addr or "unknown")

    limiter = Limiter(
        key_func=client, app=app, storage_uri=settings.redis_url or "memory://", headers_enabled=True, swallow_errors=True, key_prefix="deepfake-scoring"
    )
    for blueprint in blueprints:
        # Submissions only: following a job (GET /jobs/<id>) is polling, and must not use the budget up.
        limiter.limit(f"{settings.rate_limit_per_minute} per minute", methods=["POST"])(blueprint)
    for blueprint in handshakes:
        limiter.limit(f"{settings.rate_limit_per_minute} per minute", methods=["GET"])(blueprint)
