"""Per-stage wall-clock accounting and the request deadline, shared by the pipeline and benchmarks."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager

from scoring.errors import Code, ServiceError


class Stopwatch:
    def __init__(self, deadline: float | None = None):
        self.seconds: dict[str, float] = defaultdict(float)
        self.deadline = deadline

    @contextmanager
    def stage(self, name: str):
        self.check()
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started

    def check(self) -> None:
        """Raise the 504 processing_timeout once the request's deadline (time.monotonic) has passed."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ServiceError(Code.PROCESSING_TIMEOUT, "processing took longer than the configured timeout")

    def milliseconds(self) -> dict[str, float]:
        return {name: round(value * 1000, 1) for name, value in self.seconds.items()}
