"""What a scoring request carries: the video (an upload, or an allowed server path), its session id
and the phrase of its challenge token."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from flask import request
from werkzeug.datastructures import FileStorage, MultiDict

from scoring.errors import Code, ServiceError
from scoring.liveness.tokens import ChallengeBook
from scoring.settings import Settings

MAX_SESSION_ID = 256


@dataclass(frozen=True)
class VideoRequest:
    path: Path
    session_id: str | None
    phrase: str | None  # of the request's challenge token, used up now
    explain: bool = False  # heat maps asked for (explain=1)


def video_of_request(settings: Settings, challenges: ChallengeBook) -> VideoRequest:
    """The request's video as a file (an allowed server path, or the upload spooled into the request's
    private directory, `scoring.web.spool`), its session_id, and the phrase of its challenge token."""
    if request.mimetype == "application/json":
        path, session_id = _json_video_path(settings)
        body = request.get_json()
        return VideoRequest(path, session_id, challenged_phrase(challenges, body.get("challenge")), parse_explain(body.get("explain")))
    if request.mimetype != "multipart/form-data":
        raise ServiceError(Code.MISSING_VIDEO, "send the video as multipart/form-data in the field 'video', or JSON {\"video_path\": ...}")
    session_id = parse_session_id(_one("session_id", request.form))
    upload = _one("video", request.files)
    if upload is None:
        raise ServiceError(Code.MISSING_VIDEO, "no 'video' field in the upload")
    phrase = challenged_phrase(challenges, _one("challenge", request.form))
    path = _named_upload(upload)
    if path.stat().st_size == 0:
        raise ServiceError(Code.EMPTY_UPLOAD, "the uploaded video is empty")
    return VideoRequest(path, session_id, phrase, parse_explain(_one("explain", request.values)))


def _named_upload(upload: FileStorage) -> Path:
    """The spooled upload, renamed in place to `upload<ext>` (the extension helps FFmpeg pick a demuxer)."""
    upload.stream.flush()
    spooled = Path(upload.stream.name)
    return spooled.rename(spooled.with_name("upload" + _safe_suffix(upload.filename)))


@dataclass(frozen=True)
class ImagesRequest:
    data: list[bytes]
    session_id: str | None
    explain: bool


def images_of_request(settings: Settings, most: int) -> ImagesRequest:
    """The request's images (multipart fields 'image', 1 to `most`), each read into memory within MAX_IMAGE_MB."""
    if request.mimetype != "multipart/form-data":
        raise ServiceError(Code.MISSING_IMAGE, "send the image as multipart/form-data in the field 'image'")
    session_id = parse_session_id(_one("session_id", request.form))
    uploads = request.files.getlist("image")
    if not uploads:
        raise ServiceError(Code.MISSING_IMAGE, "no 'image' field in the upload")
    if len(uploads) > most:
        raise ServiceError(Code.TOO_MANY_IMAGES, f"at most {most} image(s) per request here; this one has {len(uploads)}")
    return ImagesRequest([_read_image(upload, settings) for upload in uploads], session_id, parse_explain(_one("explain", request.values)))


def _one(name: str, fields: MultiDict):
    """The field's value, None without it; a field given twice is refused rather than one of its values
    picked silently (which token, which session?)."""
    values = fields.getlist(name)
    if len(values) > 1:
        raise ServiceError(Code.BAD_REQUEST, f"the field '{name}' is given {len(values)} times; send it once")
    return values[0] if values else None


def _read_image(upload, settings: Settings) -> bytes:
    data = upload.stream.read(settings.max_image_bytes + 1)
    if len(data) > settings.max_image_bytes:
        raise ServiceError(Code.FILE_TOO_LARGE, f"an image exceeds the limit of {settings.max_image_bytes / 1024 / 1024:g} MB")
    return data


def challenged_phrase(challenges: ChallengeBook, token) -> str | None:
    """The phrase of the request's challenge token (used up now), or None when it carries none."""
    if token is None or token == "":
        return None
    if not isinstance(token, str):
        raise ServiceError(Code.INVALID_CHALLENGE, "the challenge must be the token string from GET /challenge")
    return challenges.redeem(token)


def parse_explain(value) -> bool:
    """`explain` as a form field, query parameter or JSON value: 1/true/yes (any case) or true asks for heat maps."""
    return value is True or (isinstance(value, str) and value.strip().lower() in ("1", "true", "yes"))


def parse_session_id(value) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_SESSION_ID or any(ord(c) < 32 for c in value):
        raise ServiceError(Code.INVALID_SESSION_ID, f"session_id must be text of at most {MAX_SESSION_ID} printable characters")
    return value


def _safe_suffix(filename: str | None) -> str:
    """The upload's extension if it is plain (helps FFmpeg pick a demuxer); never its name."""
    suffix = Path(filename or "").suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ""


def _json_video_path(settings: Settings) -> tuple[Path, str | None]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ServiceError(Code.INVALID_JSON, "the JSON body must be an object with 'video_path'")
    session_id = parse_session_id(body.get("session_id"))
    raw = body.get("video_path")
    if not isinstance(raw, str) or not raw.strip():
        raise ServiceError(Code.MISSING_VIDEO, "'video_path' must be a non-empty string")
    if not settings.allowed_video_dirs:
        raise ServiceError(
            Code.PATH_NOT_ALLOWED,
            "reading videos from server paths is disabled; upload the file as multipart 'video', "
            "or list permitted directories in ALLOWED_VIDEO_DIRS (separated by ':') to enable it",
        )
    path = allowed_path(raw, settings.allowed_video_dirs)
    if path.stat().st_size > settings.max_upload_bytes:
        raise ServiceError(Code.FILE_TOO_LARGE, f"the file exceeds the limit of {settings.max_upload_mb:g} MB")
    return path, session_id


def allowed_path(raw: str, allowed_dirs: tuple[Path, ...]) -> Path:
    """The real path of `raw` if it lies inside one of `allowed_dirs` after resolving symlinks and '..'."""
    candidate = Path(raw).expanduser().resolve()
    roots = [directory.expanduser().resolve() for directory in allowed_dirs]
    if not any(candidate.is_relative_to(root) for root in roots):
        raise ServiceError(Code.PATH_NOT_ALLOWED, "video_path is outside the directories listed in ALLOWED_VIDEO_DIRS")
    if not candidate.is_file():
        raise ServiceError(Code.VIDEO_NOT_FOUND, "video_path does not name a file")
    return candidate
