"""The service's error vocabulary: every code the API answers with, and its HTTP status.

Pipeline code raises `ServiceError(Code.NOT_A_VIDEO, "...")`; the code decides the status, so a
raise site cannot pair a code with the wrong one. `scoring.web.errors` turns the error into
`{"error": code, "message": ...}`.
"""

from __future__ import annotations

from enum import Enum


class Code(str, Enum):
    """Every `error` the API answers with, and the HTTP status it is answered with."""

    def __new__(cls, value: str, status: int):
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = status
        return member

    def __str__(self) -> str:
        return self.value

    # 400: malformed requests
    BAD_REQUEST = "bad_request", 400
    MISSING_VIDEO = "missing_video", 400
    MISSING_IMAGE = "missing_image", 400
    TOO_MANY_IMAGES = "too_many_images", 400
    EMPTY_UPLOAD = "empty_upload", 400
    INVALID_JSON = "invalid_json", 400
    INVALID_SESSION_ID = "invalid_session_id", 400
    VIDEO_NOT_FOUND = "video_not_found", 400
    INVALID_CHALLENGE = "invalid_challenge", 400
    # 401: no valid API key
    UNAUTHORIZED = "unauthorized", 401
    # 403: server paths not allowed
    PATH_NOT_ALLOWED = "path_not_allowed", 403
    # 404: unknown routes and jobs
    NOT_FOUND = "not_found", 404
    JOB_NOT_FOUND = "job_not_found", 404
    # 405: wrong method
    METHOD_NOT_ALLOWED = "method_not_allowed", 405
    # 408: a live recording whose chunks stopped coming
    IDLE_TIMEOUT = "idle_timeout", 408
    # 409: a challenge token used twice
    CHALLENGE_USED = "challenge_used", 409
    # 410: too late: a challenge or a queued upload expired
    CHALLENGE_EXPIRED = "challenge_expired", 410
    UPLOAD_EXPIRED = "upload_expired", 410
    # 413: too large
    FILE_TOO_LARGE = "file_too_large", 413
    VIDEO_TOO_LONG = "video_too_long", 413
    RESOLUTION_TOO_LARGE = "resolution_too_large", 413
    # 415: not a video, not an image
    UNSUPPORTED_MEDIA = "unsupported_media", 415
    NOT_A_VIDEO = "not_a_video", 415
    NOT_AN_IMAGE = "not_an_image", 415
    NO_VIDEO_STREAM = "no_video_stream", 415
    # 422: the video, or (CannotScore) what one detector needs from it
    VIDEO_TOO_SHORT = "video_too_short", 422
    NO_AUDIO = "no_audio", 422
    SILENT_AUDIO = "silent_audio", 422
    NO_FACE = "no_face", 422
    NO_FACE_TRACK = "no_face_track", 422
    TOO_SHORT = "too_short", 422
    RESOLUTION_TOO_SMALL = "resolution_too_small", 422
    # 429: over the rate limit (with Retry-After)
    RATE_LIMITED = "rate_limited", 429
    # 500: failures
    INTERNAL_ERROR = "internal_error", 500
    DETECTOR_FAILED = "detector_failed", 500
    JOB_FAILED = "job_failed", 500
    # 503: no capacity, models or queue now (often with Retry-After)
    SERVER_BUSY = "server_busy", 503
    NO_DETECTOR_AVAILABLE = "no_detector_available", 503
    UNAVAILABLE = "unavailable", 503
    QUEUE_UNAVAILABLE = "queue_unavailable", 503
    # 504: too slow
    PROCESSING_TIMEOUT = "processing_timeout", 504
    # 507: no disk space for the upload
    INSUFFICIENT_STORAGE = "insufficient_storage", 507


class ServiceError(Exception):
    """An answer other than a score: `{"error": code, "message": ...}` with the code's status."""

    def __init__(self, code: Code, message: str, retry_after_s: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s  # sent as Retry-After

    @property
    def status(self) -> int:
        return self.code.status

    def to_json(self) -> dict:
        return {"error": str(self.code), "message": self.message}


class CannotScore(ServiceError):
    """A detector cannot judge this particular video (no audio, no usable face, too short).

    The service records it in `degraded` and lets the other detector's score stand; only when no
    detector could judge the video does it become the 422 answer, with the code of the reason.
    """


class DetectorUnavailable(ServiceError):
    """A detector without usable weights: named in `degraded` (code `unavailable`), while the others still score."""


class DetectorFailed(ServiceError):
    """A detector that broke on this video (a bug, or an input it cannot handle): named in
    `degraded` (code `detector_failed`), logged with its traceback, while the others still score."""


# Werkzeug's own HTTP errors (routing, size limit), answered in the same JSON shape.
HTTP_ERROR_CODES = {
    400: Code.BAD_REQUEST,
    404: Code.NOT_FOUND,
    405: Code.METHOD_NOT_ALLOWED,
    413: Code.FILE_TOO_LARGE,
    415: Code.UNSUPPORTED_MEDIA,
    429: Code.RATE_LIMITED,
}
