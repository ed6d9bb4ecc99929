"""The HTTP layer: blueprints that read requests and write JSON, and nothing else.

`ScoringAPI(service, challenges, jobs, uploads, audit).init_app(app)` attaches what the routes serve, as
Flask extensions attach themselves; the routes reach it through `current()`. Scoring, admission
and the health report are the service's (`scoring.service.ScoringService`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, current_app

from scoring.liveness.tokens import ChallengeBook
from scoring.operations.audit import AuditTrail
from scoring.service import ScoringService
from scoring.settings import Settings

if TYPE_CHECKING:  # queue mode's Redis client is imported only where queue mode is on
    from scoring.queue import JobQueue


@dataclass
class ScoringAPI:
    service: ScoringService
    challenges: ChallengeBook
    jobs: JobQueue | None  # queue mode: /score and /jobs hand videos to scoring.queue workers
    uploads: Path  # where request bodies and uploads are kept while a request runs
    audit: AuditTrail  # one JSON line per decision (scoring.operations.audit)

    @property
    def settings(self) -> Settings:
        return self.service.settings

    def init_app(self, app: Flask) -> None:
        app.extensions["scoring"] = self


def current() -> ScoringAPI:
    return current_app.extensions["scoring"]
