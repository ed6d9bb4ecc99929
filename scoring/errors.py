"""The service's error vocabulary: each error is an HTTP status, a stable code and a message.

Pipeline code raises these; `app.py` turns them into `{"error": code, "message": ...}`.
"""

from __future__ import annotations


class ServiceError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_json(self) -> dict:
        return {"error": self.code, "message": self.message}


class BadRequest(ServiceError):
    status = 400
    code = "bad_request"


class Forbidden(ServiceError):
    status = 403
    code = "path_not_allowed"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "too_large"


class UnsupportedMedia(ServiceError):
    status = 415
    code = "unsupported_media"


class Unprocessable(ServiceError):
    status = 422
    code = "unprocessable_video"


class ServiceUnavailable(ServiceError):
    status = 503
    code = "service_unavailable"


class ProcessingTimeout(ServiceError):
    status = 504
    code = "processing_timeout"


class CannotScore(Unprocessable):
    """A detector cannot judge this particular video (no audio, no usable face, too short).

    The service records it in `degraded` and lets the other detector's score stand; only when no
    detector could judge the video does it become the 422 answer.
    """
