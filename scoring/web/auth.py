"""API keys: with API_KEYS set, the blueprints that score (and queue) ask for `Authorization: Bearer <key>`."""

from __future__ import annotations

import hmac

from flask import Blueprint, request

from scoring.errors import Code, ServiceError
from scoring.web import current


def require_api_key() -> None:
    keys = current().settings.api_keys
    if not keys:
        return
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    # Compare with every key, in constant time each, so the answer's timing tells nothing about them.
    matches = [hmac.compare_digest(presented.strip().encode(), key.encode()) for key in keys]
    if scheme.lower() != "bearer" or not any(matches):
        raise ServiceError(Code.UNAUTHORIZED, "this service needs an API key: send 'Authorization: Bearer <key>'")


def protected(blueprint: Blueprint) -> Blueprint:
    blueprint.before_request(require_api_key)
    return blueprint
