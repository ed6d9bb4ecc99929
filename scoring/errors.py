"""The service's error vocabulary: each error is a class with an HTTP status and a stable code.

Pipeline code raises these; `app.py` turns them into `{"error": code, "message": ...}`. Every code
the API can answer with is a class here, so a raise site names its error instead of a string.
"""

from __future__ import annotations


class ServiceError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict:
        return {"error": self.code, "message": self.message}


class BadRequest(ServiceError):
    status = 400
    code = "bad_request"


class MissingVideo(BadRequest):
    code = "missing_video"


class EmptyUpload(BadRequest):
    code = "empty_upload"


class InvalidJson(BadRequest):
    code = "invalid_json"


class InvalidSessionId(BadRequest):
    code = "invalid_session_id"


class VideoNotFound(BadRequest):
    code = "video_not_found"


class Forbidden(ServiceError):
    status = 403
    code = "path_not_allowed"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "file_too_large"


class VideoTooLong(PayloadTooLarge):
    code = "video_too_long"


class ResolutionTooLarge(PayloadTooLarge):
    code = "resolution_too_large"


class UnsupportedMedia(ServiceError):
    status = 415
    code = "unsupported_media"


class NotAVideo(UnsupportedMedia):
    code = "not_a_video"


class NoVideoStream(UnsupportedMedia):
    code = "no_video_stream"


class Unprocessable(ServiceError):
    status = 422
    code = "unprocessable_video"


class VideoTooShort(Unprocessable):
    code = "video_too_short"


class CannotScore(Unprocessable):
    """A detector cannot judge this particular video (no audio, no usable face, too short).

    The service records it in `degraded` and lets the other detector's score stand; only when no
    detector could judge the video does it become the 422 answer, with the code of the reason.
    """


class NoAudio(CannotScore):
    code = "no_audio"


class SilentAudio(CannotScore):
    code = "silent_audio"


class NoFace(CannotScore):
    code = "no_face"


class NoFaceTrack(CannotScore):
    code = "no_face_track"


class TooShortForWindow(CannotScore):
    code = "too_short"


class ServiceUnavailable(ServiceError):
    status = 503
    code = "service_unavailable"


class ServerBusy(ServiceUnavailable):
    code = "server_busy"


class NoDetectorAvailable(ServiceUnavailable):
    code = "no_detector_available"


class DetectorUnavailable(ServiceUnavailable):
    """A detector without usable weights: named in `degraded`, while the others still score."""

    code = "unavailable"


class DetectorFailed(ServiceError):
    """A detector that broke on this video (a bug, or an input it cannot handle): named in
    `degraded`, logged with its traceback, while the others still score."""

    code = "detector_failed"


class ProcessingTimeout(ServiceError):
    status = 504
    code = "processing_timeout"


# Werkzeug's own HTTP errors (routing, size limit), answered in the same JSON shape.
HTTP_ERROR_CODES = {
    400: BadRequest.code,
    404: "not_found",
    405: "method_not_allowed",
    413: PayloadTooLarge.code,
    415: UnsupportedMedia.code,
}
