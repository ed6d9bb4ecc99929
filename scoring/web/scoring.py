"""`POST /score`: one video in, the verdict out (in queue mode a worker scores it while this waits)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from scoring.web import ScoringAPI, current
from scoring.web.audit import audited
from scoring.web.auth import client_key_id, protected
from scoring.web.requests import video_of_request

bp = audited(protected(Blueprint("scoring", __name__)))


@bp.post("/score")
def score():
    api = current()
    with api.service.admitted():
        if api.jobs is None:
            video = video_of_request(api.settings, api.challenges)
            return jsonify(api.service.score(video.path, video.session_id, video.phrase, video.explain))
        status, body = api.jobs.wait(submit(api), api.settings.processing_timeout_s)
    return jsonify(body), status


def submit(api: ScoringAPI, audited_by_worker: bool = False) -> str:
    """Hand the request's video to the queue; its job id. `audited_by_worker`: the answer reaches no
    web response (POST /jobs), so the worker writes its audit line."""
    video = video_of_request(api.settings, api.challenges)
    audit = None
    if audited_by_worker and api.audit.enabled:
        audit = {"route": request.path, "client_key_id": client_key_id()}
    return api.jobs.submit(video.path, video.session_id, video.phrase, video.explain, audit)
