"""The service's error vocabulary: every code the API answers with, and the HTTP status family it belongs to.

Pipeline code raises a family with a named code, e.g. `raise UnsupportedMedia(Code.NOT_A_VIDEO, "...")`;
`app.py` turns it into `{"error": code, "message": ...}` with the family's status.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    # 400
    BAD_REQUEST = "bad_request"
    MISSING_VIDEO = "missing_video"
    EMPTY_UPLOAD = "empty_upload"
    INVALID_JSON = "invalid_json"
    INVALID_SESSION_ID = "invalid_session_id"
    VIDEO_NOT_FOUND = "video_not_found"
    INVALID_CHALLENGE = "invalid_challenge"
    # 401
    UNAUTHORIZED = "unauthorized"
    # 403
    PATH_NOT_ALLOWED = "path_not_allowed"
    # 409, 410: a challenge token used twice, or too late
    CHALLENGE_USED = "challenge_used"
    CHALLENGE_EXPIRED = "challenge_expired"
    # 404, 405 (routing, job ids)
    NOT_FOUND = "not_found"
    JOB_NOT_FOUND = "job_not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # 413
    FILE_TOO_LARGE = "file_too_large"
    VIDEO_TOO_LONG = "video_too_long"
    RESOLUTION_TOO_LARGE = "resolution_too_large"
    # 415
    UNSUPPORTED_MEDIA = "unsupported_media"
    NOT_A_VIDEO = "not_a_video"
    NO_VIDEO_STREAM = "no_video_stream"
    # 422: the video, or (CannotScore) what one detector needs from it
    VIDEO_TOO_SHORT = "video_too_short"
    NO_AUDIO = "no_audio"
    SILENT_AUDIO = "silent_audio"
    NO_FACE = "no_face"
    NO_FACE_TRACK = "no_face_track"
    TOO_SHORT = "too_short"
    # 410: an upload that waited in the queue past its TTL
    UPLOAD_EXPIRED = "upload_expired"
    # 500
    INTERNAL_ERROR = "internal_error"
    DETECTOR_FAILED = "detector_failed"
    JOB_FAILED = "job_failed"
    # 503
    SERVER_BUSY = "server_busy"
    NO_DETECTOR_AVAILABLE = "no_detector_available"
    UNAVAILABLE = "unavailable"
    QUEUE_UNAVAILABLE = "queue_unavailable"
    # 507
    INSUFFICIENT_STORAGE = "insufficient_storage"
    # 504
    PROCESSING_TIMEOUT = "processing_timeout"


class ServiceError(Exception):
    status = 500

    def __init__(self, code: Code, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def to_json(self) -> dict:
        return {"error": str(self.code), "message": self.message}


class BadRequest(ServiceError):
    status = 400


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Gone(ServiceError):
    status = 410


class PayloadTooLarge(ServiceError):
    status = 413


class UnsupportedMedia(ServiceError):
    status = 415


class Unprocessable(ServiceError):
    status = 422


class CannotScore(Unprocessable):
    """A detector cannot judge this particular video (no audio, no usable face, too short).

    The service records it in `degraded` and lets the other detector's score stand; only when no
    detector could judge the video does it become the 422 answer, with the code of the reason.
    """


class ServiceUnavailable(ServiceError):
    status = 503

    def __init__(self, code: Code, message: str, retry_after_s: int | None = None):
        super().__init__(code, message)
        self.retry_after_s = retry_after_s  # sent as Retry-After


class DetectorUnavailable(ServiceUnavailable):
    """A detector without usable weights: named in `degraded` (code `unavailable`), while the others still score."""


class DetectorFailed(ServiceError):
    """A detector that broke on this video (a bug, or an input it cannot handle): named in
    `degraded` (code `detector_failed`), logged with its traceback, while the others still score."""


class ProcessingTimeout(ServiceError):
    status = 504


class InsufficientStorage(ServiceError):
    status = 507


# Werkzeug's own HTTP errors (routing, size limit), answered in the same JSON shape.
HTTP_ERROR_CODES = {
    400: Code.BAD_REQUEST,
    404: Code.NOT_FOUND,
    405: Code.METHOD_NOT_ALLOWED,
    413: Code.FILE_TOO_LARGE,
    415: Code.UNSUPPORTED_MEDIA,
}
