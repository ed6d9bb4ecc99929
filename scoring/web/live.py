"""`WS /score/live`: a recording scored while it arrives (flask-sock; simple-websocket under gunicorn's gthread worker).

The protocol (docs/api.md has it whole):

- the client opens with a text message, JSON `{"type": "start", "session_id": ..., "challenge": ..., "explain": ...}`
  (the fields `POST /score` takes), then sends the MediaRecorder's chunks as binary messages, then
  `{"type": "stop"}`;
- the service answers `{"type": "ready", "guidance": [codes it can give]}`, then `progress` and `guidance` events as it goes, then
  `{"type": "result", "result": <what POST /score answers for the same bytes>}`, or
  `{"type": "error", "error": code, "message": ...}` with the codes and statuses of `scoring.errors`,
  and closes.

The handshake is an HTTP GET on the scoring blueprints' rules: API keys, the rate limit and the
audit line apply as to `POST /score`, and the session holds a video slot of the worker from `start`
to its verdict. A silent client (LIVE_IDLE_TIMEOUT_S), a recording past MAX_UPLOAD_MB or
MAX_DURATION_S, or a message out of protocol ends the session with its error. Nothing is written to disk.
"""

from __future__ import annotations

import json
import logging
import queue

from flask import Blueprint
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from scoring.errors import Code, ServiceError
from scoring.live import LiveRequest, LiveSession
from scoring.web import current
from scoring.web.audit import record_answer
from scoring.web.auth import protected
from scoring.web.requests import challenged_phrase, parse_explain, parse_session_id

log = logging.getLogger("deepfake_scoring")
bp = protected(Blueprint("live", __name__))
sock = Sock()
CLOSE_NORMAL, CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_SERVER_ERROR = 1000, 1008, 1009, 1011


@sock.route("/score/live", bp=bp)
def live(ws) -> None:
    api = current()
    events: queue.Queue = queue.Queue()
    try:
        start = _start(ws, api.settings.live_idle_timeout_s)
        with api.service.live_slot():
            api.service.require_a_judge()
            request_ = LiveRequest(parse_session_id(start.get("session_id")), challenged_phrase(api.challenges, start.get("challenge")), parse_explain(start.get("explain")))
            session = LiveSession(api.service, request_, events.put)
            try:
                ws.send(json.dumps({"type": "ready", "guidance": session.guidance_given}))
                _stream(ws, session, events, api.settings.live_idle_timeout_s)
                result = session.finish()
            finally:
                session.close()
        _send_events(ws, events)
        ws.send(json.dumps({"type": "result", "result": result}))
        record_answer(200, result)
        ws.close(CLOSE_NORMAL, "verdict sent")
    except ServiceError as exc:
        _refuse(ws, events, exc)
    except ConnectionClosed:
        raise
    except Exception:
        log.exception("a live session failed")
        _refuse(ws, events, ServiceError(Code.INTERNAL_ERROR, "the server failed to process this recording"))


def _refuse(ws, events: queue.Queue, exc: ServiceError) -> None:
    """The session's error as its last event, then the close (its code: too big, policy or server)."""
    _send_events(ws, events)
    ws.send(json.dumps({"type": "error", **exc.to_json(), "status": exc.status}))
    record_answer(exc.status, exc.to_json())
    ws.close(_close_code(exc.status), exc.code)


def _next_message(ws, idle_s: float, awaited: str):
    """The client's next message, or 408 after `idle_s` without one."""
    message = ws.receive(timeout=idle_s)
    if message is None:
        raise ServiceError(Code.IDLE_TIMEOUT, f"no {awaited} came for {idle_s:g} s; the recording was closed")
    return message


def _start(ws, idle_s: float) -> dict:
    start = _control(_next_message(ws, idle_s, "start message"))
    if start.get("type") != "start":
        raise ServiceError(Code.BAD_REQUEST, 'the first message must be JSON {"type": "start", ...}')
    return start


def _stream(ws, session: LiveSession, events: queue.Queue, idle_s: float) -> None:
    """Chunks into the session until `stop`, the session's events out between them."""
    while True:
        try:
            message = _next_message(ws, idle_s, "chunk")
        finally:
            _send_events(ws, events)
        if isinstance(message, bytes):
            session.feed(message)
            continue
        control = _control(message)
        if control.get("type") == "stop":
            return
        raise ServiceError(Code.BAD_REQUEST, 'after start, send binary chunks, then JSON {"type": "stop"}')


def _control(message) -> dict:
    try:
        value = json.loads(message) if isinstance(message, str) else None
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ServiceError(Code.INVALID_JSON, "control messages are JSON objects with a 'type'")
    return value


def _send_events(ws, events: queue.Queue) -> None:
    while True:
        try:
            ws.send(json.dumps(events.get_nowait()))
        except queue.Empty:
            return


def _close_code(status: int) -> int:
    if status == 413:
        return CLOSE_TOO_BIG
    return CLOSE_SERVER_ERROR if status >= 500 else CLOSE_POLICY


def init_live(app) -> None:
    sock.init_app(app)
    app.register_blueprint(bp)

