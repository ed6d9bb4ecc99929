"""The audit trail: one JSON line per decision, for disputes and audits.

A line says who was judged (the client's session id), when, on which route, with what answer (the
verdict, or the error code), by which model files (each detector's score, file name and sha256),
what was degraded, whether the spoken phrase was said, how long it took, and which API key asked
(a digest of the key, never the key). Never the video, a face, a path or the phrase heard.

`AUDIT_LOG`: `stderr` (the default, beside the service's log), `off`, or a file, appended to by
every worker (one `write` per line) and reopened when it is moved away, so logrotate rotates it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from datetime import UTC, datetime
from logging.handlers import WatchedFileHandler


class AuditTrail:
    def __init__(self, sink: str):
        self.enabled = sink.lower() != "off"
        self.logger = logging.getLogger(f"deepfake_scoring.audit.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        if self.enabled:
            handler = logging.StreamHandler(sys.stderr) if sink.lower() == "stderr" else WatchedFileHandler(sink, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(message)s"))
            self.logger.addHandler(handler)

    def record(self, line: dict) -> None:
        if self.enabled:
            self.logger.info(json.dumps(line, sort_keys=True))


def key_id(presented: str | None) -> str | None:
    """A stable, non-reversible name for an API key: the first 12 hex digits of its sha256."""
    return hashlib.sha256(presented.encode()).hexdigest()[:12] if presented else None


def decision_lines(route: str, status: int, body: dict, client_key_id: str | None, sha256_of: dict[str, str | None]) -> list[dict]:
    """The lines for one answer: one per judged item (a batch of images gives one per image).
    `sha256_of`: every detector's weights digest by detector name (ScoringService.model_digests)."""
    common = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "route": route, "client_key_id": client_key_id}
    common["session_id"] = body.get("session_id")
    if "results" in body:
        return [{**common, "item": index, **_decision(result.get("status", 200), result, sha256_of)} for index, result in enumerate(body["results"])]
    return [{**common, "processing_time_ms": body.get("processing_time_ms"), **_decision(status, body, sha256_of)}]


def _decision(status: int, body: dict, sha256_of: dict[str, str | None]) -> dict:
    if "error" in body and "combined_score" not in body:
        return {"status": status, "outcome": body["error"]}
    models = body.get("models") or {}
    detectors = {
        name: {"score": (body.get(name) or {}).get("score"), "file": models[name]["file"], "sha256": sha256_of.get(name) or models[name]["sha256"]}
        for name in sha256_of
        if name in models
    }
    challenge = body.get("challenge")
    return {
        "status": status,
        "outcome": "scored",
        "combined_score": body["combined_score"],
        "risk_level": body["risk_level"],
        "is_likely_real": body["is_likely_real"],
        "detectors": detectors,
        "degraded": {name: entry["code"] for name, entry in (body.get("degraded") or {}).items()},
        "challenge": None if challenge is None else {k: challenge[k] for k in ("passed", "matched_words", "total_words")},
    }
