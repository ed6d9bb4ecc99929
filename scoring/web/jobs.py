"""Queue mode's asynchronous API: `POST /jobs` answers 202 at once, `GET /jobs/<id>` follows the job."""

from __future__ import annotations

from flask import Blueprint, jsonify

from scoring.web import current
from scoring.web.auth import protected
from scoring.web.scoring import submit

bp = protected(Blueprint("jobs", __name__))


@bp.post("/jobs")
def submit_job():
    job_id = submit(current(), audited_by_worker=True)
    response = jsonify({"id": job_id, "status": "queued", "location": f"/jobs/{job_id}"})
    response.headers["Location"] = f"/jobs/{job_id}"
    return response, 202


@bp.get("/jobs/<job_id>")
def job_state(job_id: str):
    state = current().jobs.state(job_id)
    state.pop("http_status", None)
    return jsonify(state)
