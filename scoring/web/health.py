"""`GET /health`: the service's own report; 503 when nothing can score, 200 otherwise."""

from __future__ import annotations

from flask import Blueprint, jsonify

from scoring.web import current

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    api = current()
    report = api.service.health(api.jobs)
    return jsonify(report), 503 if report["status"] == "unavailable" else 200
