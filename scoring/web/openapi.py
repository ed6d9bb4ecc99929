"""`GET /openapi.json`: the API's contract in OpenAPI 3.1, for frontends, SDK generators and fuzzers.

The document is built for the running configuration: queue mode's routes (`/jobs`) only when they
are served, the photo routes only outside it, the bearer scheme on the routes that need a key. Error
answers are described from `scoring.errors.Code`, so every status lists exactly the codes that are
answered with it. Tests validate real responses against it and fuzz the live service with
schemathesis (`tests/test_openapi.py`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from flask import Blueprint, jsonify

from scoring import __version__
from scoring.contract import COUNT, UNIT, Detector, schema_object
from scoring.errors import Code
from scoring.settings import Settings
from scoring.web import current
from scoring.web.page import PAGE_FILES

bp = Blueprint("openapi", __name__)

TEXT_OR_NULL = {"type": ["string", "null"]}
MILLISECONDS = {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}}
RISK_LEVELS = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
SESSION_ID = {"type": "string", "maxLength": 256, "pattern": "^[^\\x00-\\x1f]*$", "description": "the client's reference, echoed back; no control characters"}
EXPLAIN = {"type": "string", "description": "1, true or yes (any case) asks for heat maps of the faces scored least genuine"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error_schemas() -> dict:
    """One schema per status, naming exactly the codes answered with it."""
    by_status: dict[int, list[str]] = defaultdict(list)
    for code in Code:
        by_status[code.status].append(code.value)
    return {
        f"Error{status}": schema_object({"error": {"type": "string", "enum": codes}, "message": {"type": "string", "minLength": 1}}, closed=True)
        for status, codes in by_status.items()
    }


def _schemas(detectors: Iterable[type[Detector]]) -> dict:
    verdict = {"combined_score": UNIT, "risk_level": {"type": "string", "enum": RISK_LEVELS}, "is_likely_real": {"type": "boolean"}}
    degraded = {
        "type": ["object", "null"],
        "additionalProperties": schema_object({"code": {"type": "string"}, "message": {"type": "string"}}),
        "description": "per detector that gave no score, why; null when every detector scored",
    }
    common = {
        **verdict,
        "weights": {"type": "object", "additionalProperties": UNIT},
        **{kind.name: kind.report_schema() for kind in detectors},
        "degraded": degraded,
        "models": {"type": "object", "additionalProperties": {"type": "object"}},
    }
    answered = {"session_id": TEXT_OR_NULL, "processing_time_ms": COUNT, "timings_ms": MILLISECONDS}
    video = schema_object(
        {
            "duration_s": {"type": "number", "minimum": 0},
            "fps": {"type": "number", "minimum": 0},
            "width": COUNT,
            "height": COUNT,
            "has_audio": {"type": "boolean"},
            "analysed_fps": COUNT,
            "analysed_frames": COUNT,
            "container": TEXT_OR_NULL,
            "video_codec": TEXT_OR_NULL,
            "audio_codec": TEXT_OR_NULL,
        }
    )
    challenge_result = schema_object(
        {"passed": {"type": "boolean"}, "matched_words": COUNT, "total_words": COUNT}, {"phrase": {"type": "string"}, "heard": {"type": "string"}}
    )
    score = schema_object(
        {**common, **answered, "video": video, "faces": schema_object({"detector": {"type": "string"}, "tracks": COUNT, "scenes": COUNT, "frames_searched": COUNT})},
        {"error": {"type": "string"}, "risk_note": {"type": "string"}, "challenge": challenge_result},
    )
    judged_image = {
        **common,
        "image": schema_object({"format": {"type": "string"}, "width": COUNT, "height": COUNT, "analysed_width": COUNT, "analysed_height": COUNT}),
        "faces": schema_object({"detector": {"type": "string"}, "found": {"type": "integer", "minimum": 1}, "box": {"type": "array", "items": {"type": "number"}}}),
    }
    item_error = schema_object({"error": {"type": "string", "enum": [c.value for c in Code]}, "message": {"type": "string"}, "status": {"type": "integer"}}, closed=True)
    images = schema_object(
        {
            "results": {"type": "array", "items": {"oneOf": [schema_object(judged_image), item_error]}, "minItems": 1},
            "counts": schema_object({"images": COUNT, "real": COUNT, "fake": COUNT, "failed": COUNT}),
            **answered,
        }
    )
    health = schema_object(
        {
            "status": {"type": "string", "enum": ["healthy", "degraded", "unavailable"]},
            "service": {"type": "string"},
            "version": {"type": "string"},
            "detectors": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "detector_details": {"type": "object", "additionalProperties": {"type": "object"}},
            "face_detector": {"type": "object"},
            "jobs": schema_object({"running": COUNT, "waiting": COUNT, "capacity": COUNT, "queue_depth": COUNT}),
            "config": {"type": "object"},
        },
        {"queue": schema_object({"reachable": {"type": "boolean"}}, {"depth": COUNT, "workers": COUNT, "oldest_job_age_s": {"type": "number"}, "failed": COUNT})},
    )
    challenge = schema_object({"challenge": {"type": "string", "minLength": 1}, "phrase": {"type": "string", "minLength": 1}, "expires_at": COUNT}, closed=True)
    accepted = schema_object({"id": {"type": "string"}, "status": {"const": "queued"}, "location": {"type": "string"}}, closed=True)
    job = schema_object(
        {"id": {"type": "string"}, "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]}},
        {"result": _ref("ScoreResponse"), "error": schema_object({"error": {"type": "string"}, "message": {"type": "string"}})},
    )
    return {
        "ScoreResponse": score,
        "ImageResponse": schema_object({**judged_image, **answered}),
        "ImagesResponse": images,
        "Health": health,
        "Challenge": challenge,
        "JobAccepted": accepted,
        "JobState": job,
        **_error_schemas(),
    }


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
ERROR_DESCRIPTIONS = {
    400: "a malformed request",
    401: "no valid API key",
    403: "a server path outside ALLOWED_VIDEO_DIRS",
    404: "unknown job or file, or an expired result",
    405: "wrong method",
    409: "the challenge token was used already",
    410: "the challenge token, or a queued upload, expired",
    413: "too large: the upload, the video's length or its resolution",
    415: "not a video (or not an image)",
    422: "nothing could be judged in it (no face, too short, ...)",
    429: "over the rate limit",
    500: "the server failed on it (logged)",
    503: "busy, no detector available, or the queue unreachable",
    504: "processing took longer than PROCESSING_TIMEOUT_S",
    507: "no disk space left for it",
}
UPLOAD_ERRORS = (400, 401, 403, 409, 410, 413, 415, 422, 429, 500, 503, 504, 507)


def _errors(statuses) -> dict:
    answers = {}
    for status in statuses:
        answers[str(status)] = _json(_ref(f"Error{status}"), ERROR_DESCRIPTIONS[status])
        if status in (429, 503):
            answers[str(status)]["headers"] = RETRY_AFTER
    return answers


def _multipart(properties: dict, required: list[str]) -> dict:
    return {"required": True, "content": {"multipart/form-data": {"schema": {"type": "object", "properties": properties, "required": required}}}}


BINARY = {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}


def _score_operation(queued: bool) -> dict:
    body = _multipart(
        {
            "video": {**BINARY, "description": "the video: mp4, webm, mov, avi, mkv, ... (FFmpeg decodes it)"},
            "session_id": SESSION_ID,
            "challenge": {"type": "string", "description": "the token from GET /challenge whose phrase the person read"},
            "explain": EXPLAIN,
        },
        ["video"],
    )
    body["content"]["application/json"] = {
        "schema": {
            "type": "object",
            "required": ["video_path"],
            "properties": {
                "video_path": {"type": "string", "minLength": 1, "description": "a file under ALLOWED_VIDEO_DIRS (off by default: 403)"},
                "session_id": SESSION_ID,
                "challenge": {"type": "string"},
                "explain": {"type": ["boolean", "string"]},
            },
        }
    }
    answers = {"200": _json(_ref("ScoreResponse"), "the verdict"), **_errors(UPLOAD_ERRORS)}
    return {
        "summary": "Score one video" + (" (a queue worker scores it while the request waits)" if queued else ""),
        "operationId": "scoreVideo",
        "requestBody": body,
        "responses": answers,
    }


def _image_operations(most: int) -> dict:
    single = _multipart({"image": {**BINARY, "description": "JPEG, PNG or WebP"}, "session_id": SESSION_ID, "explain": EXPLAIN}, ["image"])
    batch = _multipart(
        {"image": {"type": "array", "items": BINARY, "minItems": 1, "maxItems": most}, "session_id": SESSION_ID, "explain": EXPLAIN}, ["image"]
    )
    statuses = [s for s in UPLOAD_ERRORS if s not in (403, 409, 410)]
    return {
        "/score/image": {
            "post": {
                "summary": "Score one still image: its largest face",
                "operationId": "scoreImage",
                "requestBody": single,
                "responses": {"200": _json(_ref("ImageResponse"), "the verdict"), **_errors(statuses)},
            }
        },
        "/score/images": {
            "post": {
                "summary": f"Score up to {most} still images: each image's verdict or error, and counts",
                "operationId": "scoreImages",
                "requestBody": batch,
                "responses": {"200": _json(_ref("ImagesResponse"), "each image's answer"), **_errors(statuses)},
            }
        },
    }


def _job_operations(queued_score: dict) -> dict:
    submit = {**queued_score, "summary": "Queue one video; answers at once", "operationId": "submitJob"}
    submit["responses"] = {
        "202": {**_json(_ref("JobAccepted"), "queued"), "headers": {"Location": {"schema": {"type": "string"}}}},
        **_errors(s for s in UPLOAD_ERRORS if s not in (422, 500, 504)),
    }
    follow = {
        "summary": "A job's state and, when done, its result",
        "operationId": "jobState",
        "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": _json(_ref("JobState"), "the job's state"), **_errors((401, 404, 503))},
    }
    return {"/jobs": {"post": submit}, "/jobs/{job_id}": {"get": follow}}


def _open_operations(settings: Settings) -> dict:
    operations = {
        "/health": {
            "get": {
                "summary": "The service's and each detector's state",
                "operationId": "health",
                "responses": {"200": _json(_ref("Health"), "something can score"), "503": _json(_ref("Health"), "nothing can score")},
            }
        },
        "/challenge": {
            "get": {
                "summary": "A one-time phrase for the person to read, and its signed token",
                "operationId": "challenge",
                "responses": {"200": _json(_ref("Challenge"), "a new challenge")},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "operationId": "metrics",
                "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}, **_errors((401,))},
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}},
            }
        },
    }
    if settings.page_enabled:
        operations["/"] = {
            "get": {
                "summary": "The verification page",
                "operationId": "page",
                "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}},
            }
        }
        operations["/page/{name}"] = {
            "get": {
                "summary": "The page's own files",
                "operationId": "pageFile",
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string", "enum": sorted(PAGE_FILES)}}],
                "responses": {
                    "200": {"description": "the file", "content": {"text/css": {"schema": {"type": "string"}}, "text/javascript": {"schema": {"type": "string"}}}},
                    **_errors((404,)),
                },
            }
        }
    return operations


def _secured(operations: dict, scheme: str) -> dict:
    for path_item in operations.values():
        for operation in path_item.values():
            operation["security"] = [{scheme: []}]
    return operations


def document(settings: Settings, detectors: Iterable[type[Detector]]) -> dict:
    """The contract of a service running with `settings` and these detectors."""
    queued = bool(settings.redis_url)
    scoring = {"/score": {"post": _score_operation(queued)}}
    scoring.update(_job_operations(scoring["/score"]["post"]) if queued else _image_operations(settings.max_batch_images))
    if settings.api_keys:
        _secured(scoring, "apiKey")
    open_routes = _open_operations(settings)
    if settings.metrics_token or settings.api_keys:
        _secured({"/metrics": open_routes["/metrics"]}, "metricsToken" if settings.metrics_token else "apiKey")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Deepfake scoring",
            "version": __version__,
            "description": "Scores a short verification video (or a photo): 0..1, 1 = a real person, with a risk level. "
            "Every error is JSON {error, message} with the status its code implies.",
        },
        "paths": {**scoring, **open_routes},
        "components": {
            "schemas": _schemas(detectors),
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "one of API_KEYS"},
                "metricsToken": {"type": "http", "scheme": "bearer", "description": "METRICS_TOKEN"},
            },
        },
    }


@bp.get("/openapi.json")
def openapi():
    api = current()
    return jsonify(document(api.settings, api.service.detectors.types.values()))
