"""API keys: with API_KEYS set, the blueprints that score (and queue) ask for `Authorization: Bearer <key>`."""

from __future__ import annotations

import hmac

from flask import Blueprint, request

from scoring.errors import Code, ServiceError
from scoring.operations.audit import key_id
from scoring.web import current


def presented_key() -> str:
    """The key the request presents as `Authorization: Bearer <key>`; "" without one."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def client_key_id() -> str | None:
    """The audit trail's name for the request's API key (`scoring.operations.audit.key_id`); None without API_KEYS."""
    return key_id(presented_key()) if current().settings.api_keys else None


def require_api_key() -> None:
    require_one_of(current().settings.api_keys)


def require_one_of(keys: tuple[str, ...]) -> None:
    """401 unless the request presents one of `keys` (nothing asked when there are none)."""
    if not keys:
        return
    presented = presented_key()
    # Compare with every key, in constant time each, so the answer's timing tells nothing about them.
    matches = [hmac.compare_digest(presented.encode(), key.encode()) for key in keys]
    if not any(matches):
        raise ServiceError(Code.UNAUTHORIZED, "this service needs an API key: send 'Authorization: Bearer <key>'")


def protected(blueprint: Blueprint) -> Blueprint:
    blueprint.before_request(require_api_key)
    return blueprint
