"""`GET /challenge`: a one-time phrase for the person to read, and its signed token."""

from __future__ import annotations

from flask import Blueprint, jsonify

from scoring.web import current

bp = Blueprint("challenge", __name__)


@bp.get("/challenge")
def challenge():
    response = jsonify(current().challenges.issue().to_json())
    response.headers["Cache-Control"] = "no-store"
    return response
