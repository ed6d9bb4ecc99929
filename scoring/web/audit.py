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
    api = current()
    if not api.audit.enabled or response.status_code == 401 or not response.is_json:
        return response
    body = response.get_json(silent=True)
    if isinstance(body, dict) and ({"combined_score", "results", "error"} & set(body)):
        for line in decision_lines(request.path, response.status_code, body, client_key_id(), api.service.model_digests()):
            api.audit.record(line)
    return response
