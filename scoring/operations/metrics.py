"""What ops scrape at `GET /metrics`: counts and latencies of requests, stages, verdicts, detectors and jobs.

Every process counts what it does itself. Under gunicorn several workers (and, in queue mode, the
RQ workers on the same host) count in parallel, so `gunicorn_config` points PROMETHEUS_MULTIPROC_DIR
at one fresh directory before any worker starts: each process then writes its counts there, and a
scrape of any worker sums them all (prometheus_client's multiprocess mode). Without that setting
(`python app.py`, the tests) the scrape reads the process's own counts.

The queue's depth, live workers and failed jobs are Redis's, read at scrape time (`QueueCollector`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

NAMESPACE = "deepfake_scoring"
# A health check takes milliseconds and a 60 s clip up to a minute or two.
REQUEST_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144)
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)

REQUESTS = Counter(f"{NAMESPACE}_http_requests", "HTTP requests answered, by route template, method and status", ["route", "method", "status"])
REQUEST_SECONDS = Histogram(
    f"{NAMESPACE}_http_request_duration_seconds", "Time to answer an HTTP request, by route template", ["route"], buckets=REQUEST_BUCKETS
)
STAGE_SECONDS = Histogram(
    f"{NAMESPACE}_stage_duration_seconds", "Time a scoring stage took within one request (decode, face_detection, ...)", ["stage"], buckets=STAGE_BUCKETS
)
VERDICTS = Counter(f"{NAMESPACE}_verdicts", "Decisions made, by risk level and what was judged (video or image)", ["risk_level", "kind"])
DETECTOR_DEGRADED = Counter(
    f"{NAMESPACE}_detector_degraded",
    "Scored videos on which a detector gave no score, by detector and reason (unavailable, detector_failed, no_audio, ...)",
    ["detector", "code"],
)
SCORING_ERRORS = Counter(f"{NAMESPACE}_scoring_errors", "Scoring requests that ended in an error once scoring began, by error code", ["code"])
ADMISSION_REJECTIONS = Counter(f"{NAMESPACE}_admission_rejections", "Requests refused with 503 server_busy because a worker was full")
JOBS = Counter(f"{NAMESPACE}_jobs", "Queue-mode jobs a worker finished, by the HTTP status of their answer (error: the job raised)", ["status"])
JOBS_IN_WORKER = Gauge(
    f"{NAMESPACE}_jobs_in_worker", "Videos the web workers hold now, scored or waiting for a slot", ["state"], multiprocess_mode="livesum"
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")  # noqa: SIM112 (prometheus_client's older name)


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (its counters stay in the sums)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)


def record_answer(response: dict, kind: str) -> None:
    """A decision's verdict, its stages' times and the detectors that gave no score."""
    for stage, milliseconds in response.get("timings_ms", {}).items():
        STAGE_SECONDS.labels(stage).observe(milliseconds / 1000)
    results = response.get("results", [response])  # a batch of images counts each image's verdict
    for result in results:
        if result.get("risk_level"):
            VERDICTS.labels(result["risk_level"], kind).inc()
    for detector, entry in (response.get("degraded") or {}).items():
        DETECTOR_DEGRADED.labels(detector, entry["code"]).inc()


class QueueCollector(Collector):
    """Queue mode's state in Redis, read when scraped: `health()` of a scoring.queue.JobQueue."""

    def __init__(self, queue):
        self.queue = queue

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = self.queue.health()
        yield GaugeMetricFamily(f"{NAMESPACE}_queue_reachable", "1 when the job queue's Redis answers", value=int(state["reachable"]))
        if state["reachable"]:
            yield GaugeMetricFamily(f"{NAMESPACE}_queue_depth", "Jobs waiting in the queue", value=state["depth"])
            yield GaugeMetricFamily(f"{NAMESPACE}_queue_workers", "Queue workers with a recent heartbeat", value=state["workers"])
            yield GaugeMetricFamily(f"{NAMESPACE}_queue_oldest_job_age_seconds", "Age of the oldest waiting job", value=state["oldest_job_age_s"])
            yield GaugeMetricFamily(f"{NAMESPACE}_queue_failed_jobs", "Jobs in the failed registry (kept for JOB_RESULT_TTL_S)", value=state["failed"])


def exposition(queue=None) -> bytes:
    """The text a scrape returns: every process's counts (or this one's), and the queue's state."""
    directory = multiprocess_dir()
    registry = REGISTRY
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
    text = generate_latest(registry)
    if queue is not None:
        queue_registry = CollectorRegistry()
        queue_registry.register(QueueCollector(queue))
        text += generate_latest(queue_registry)
    return text
