"""`GET /metrics` (Prometheus text format) and the count of every request the app answers.

Requests are counted by route template (`/jobs/<job_id>`, never the id; `unmatched` for unknown
paths), so a scanner cannot grow the label set. The scrape is guarded by METRICS_TOKEN when it is set
(a scraper's own credential), otherwise like `/score` (API_KEYS when set), and is not rate limited.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, g, request

from scoring.operations import metrics
from scoring.web import current
from scoring.web.auth import require_one_of

bp = Blueprint("metrics", __name__)


@bp.before_request
def _guard() -> None:
    settings = current().settings
    require_one_of((settings.metrics_token,) if settings.metrics_token else settings.api_keys)


@bp.get("/metrics")
def scrape():
    return Response(metrics.exposition(current().jobs), mimetype="text/plain; version=0.0.4; charset=utf-8")


def _started() -> None:
    g.metrics_started = time.perf_counter()


def _counted(response):
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    metrics.REQUESTS.labels(route, request.method, str(response.status_code)).inc()
    if "metrics_started" in g:
        metrics.REQUEST_SECONDS.labels(route).observe(time.perf_counter() - g.metrics_started)
    return response


def count_requests(app: Flask) -> None:
    app.before_request(_started)
    app.after_request(_counted)
