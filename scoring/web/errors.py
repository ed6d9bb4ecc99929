"""Every error as JSON `{"error": code, "message": ...}` with its status, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from scoring.errors import HTTP_ERROR_CODES, Code, ServiceError
from scoring.operations.uploads import insufficient_storage, is_full_disk
from scoring.web import current

log = logging.getLogger("deepfake_scoring")


def service_error(exc: ServiceError):
    response = jsonify(exc.to_json())
    if exc.retry_after_s:
        response.headers["Retry-After"] = str(exc.retry_after_s)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="deepfake-scoring"'
    return response, exc.status


def http_error(exc: HTTPException):
    code = str(HTTP_ERROR_CODES.get(exc.code, "http_error"))
    message = exc.description
    if exc.code == 413:
        message = f"the upload exceeds the limit of {current().settings.max_upload_mb:g} MB"
    if exc.code == 429:
        message = f"too many requests for this API key (or address): the limit is {exc.description}; retry after Retry-After seconds"
    response = jsonify({"error": code, "message": message})
    response.headers.extend((name, value) for name, value in exc.get_headers() if name.lower() != "content-type")  # e.g. 405's Allow
    return response, exc.code


def os_error(exc: OSError):
    """A full disk wherever bytes land (the upload's spool, the decoder, a cache) is 507, not a failure of ours."""
    if not is_full_disk(exc):
        return unexpected(exc)
    log.warning("no disk space while serving %s %s: %s", request.method, request.path, exc)
    return service_error(insufficient_storage())


def unexpected(exc: Exception):
    log.exception("unhandled error while serving %s %s", request.method, request.path)
    return jsonify({"error": str(Code.INTERNAL_ERROR), "message": "the server failed to process this request"}), 500


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ServiceError, service_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(OSError, os_error)
    app.register_error_handler(Exception, unexpected)
