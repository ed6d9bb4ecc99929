"""How many videos a worker takes on: a few scored, a few waiting, the rest told at once to come back.

One video already uses every torch thread, so at most `capacity` are scored at once and at most
`queue_depth` more wait for a slot. A request beyond that gets `503 server_busy` with a Retry-After
before its upload is read, instead of holding a server thread: the threads left over always answer
`/health` and light requests, so a platform's health check never queues behind uploads.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections import deque
from contextlib import contextmanager

from scoring.errors import Code, ServiceError
from scoring.operations import metrics

TYPICAL_JOB_S = 5.0  # Retry-After before any job has been timed


class Admission:
    def __init__(self, capacity: int, queue_depth: int, wait_s: float):
        self.capacity = max(1, capacity)
        self.queue_depth = max(0, queue_depth)
        self.wait_s = wait_s
        self.admitted = 0  # running and waiting
        self.running = 0
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(self.capacity)
        self._recent_s: deque[float] = deque(maxlen=20)

    @property
    def waiting(self) -> int:
        return max(0, self.admitted - self.running)

    def retry_after_s(self) -> int:
        """About when a slot frees up: the typical job time, times the jobs ahead per slot."""
        typical = statistics.median(self._recent_s) if self._recent_s else TYPICAL_JOB_S
        return max(1, math.ceil(typical * max(1, self.admitted - self.capacity + 1) / self.capacity))

    def _busy(self, message: str) -> ServiceError:
        metrics.ADMISSION_REJECTIONS.inc()
        return ServiceError(Code.SERVER_BUSY, message, retry_after_s=self.retry_after_s())

    @contextmanager
    def ticket(self):
        """A place in this worker, running or waiting, or 503 at once."""
        with self._lock:
            if self.admitted >= self.capacity + self.queue_depth:
                raise self._busy(f"the server is busy with {self.admitted} videos; retry in a few seconds")
            self.admitted += 1
            self._publish()
        try:
            yield
        finally:
            with self._lock:
                self.admitted -= 1
                self._publish()

    @contextmanager
    def slot(self):
        """One of the `capacity` job slots, waited for at most `wait_s`."""
        if not self._slots.acquire(timeout=self.wait_s):
            raise self._busy(f"the server is busy with other videos; retry in a few seconds (waited {self.wait_s:.0f} s)")
        with self._lock:
            self.running += 1
            self._publish()
        started = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1
                self._publish()
            self._recent_s.append(time.monotonic() - started)
            self._slots.release()

    def _publish(self) -> None:
        metrics.JOBS_IN_WORKER.labels("running").set(self.running)
        metrics.JOBS_IN_WORKER.labels("waiting").set(self.waiting)

    def summary(self) -> dict:
        return {"running": self.running, "waiting": self.waiting, "capacity": self.capacity, "queue_depth": self.queue_depth}
