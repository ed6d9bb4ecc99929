"""The audit trail's hook on the scoring routes: every answer, a score or an error, becomes audit
lines (`scoring.operations.audit`); requests refused for want of an API key are not decisions and are left out."""

from __future__ import annotations

from flask import Blueprint, request

from scoring.operations.audit import decision_lines
from scoring.web import current
from scoring.web.auth import client_key_id


def audited(blueprint: Blueprint) -> Blueprint:
    blueprint.after_request(_audit)
    return blueprint


def _audit(response):
    if response.status_code != 401 and response.is_json:
        record_answer(response.status_code, response.get_json(silent=True))
    return response


def record_answer(status: int, body) -> None:
    """The audit lines of one answer of this request's route (a decision or an error; anything else is not audited)."""
    api = current()
    if api.audit.enabled and isinstance(body, dict) and ({"combined_score", "results", "error"} & set(body)):
        for line in decision_lines(request.path, status, body, client_key_id(), api.service.model_digests()):
            api.audit.record(line)
