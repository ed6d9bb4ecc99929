"""Queue mode: with REDIS_URL set, web processes only receive, enqueue and answer; workers score.

The engine is RQ on Redis (one Redis serves the queue, the uploads and the results; RQ's jobs are
plain function calls, so the worker runs exactly the service's code). Start workers on any machine
that reaches the Redis with

    python -m scoring.queue            # the same settings (.env, environment) as the web service

An upload travels in Redis (a key with a TTL, at most MAX_UPLOAD_MB), never on a shared disk, and is
deleted when its job ends. Workers run jobs in their own process (RQ's SimpleWorker: models load once,
and torch does not survive fork), keep a short heartbeat while a job runs, and a job whose worker
died (SIGKILL, out of memory, a lost machine) is retried once on another worker, then reported failed.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry, SimpleWorker, Worker, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.worker import WorkerStatus

from scoring.errors import Code, ServiceError
from scoring.operations import metrics
from scoring.operations.audit import AuditTrail, decision_lines
from scoring.operations.uploads import request_dir, upload_area
from scoring.runtime import allocator
from scoring.settings import Settings, load_settings

QUEUE_NAME = "deepfake-scoring"
UPLOAD_PREFIX = "deepfake-scoring:upload:"
HEARTBEAT_S = 2
HEARTBEAT_TTL_S = 10  # a running job whose worker has not beaten for this long is abandoned
WORKER_TTL_S = 25  # an idle worker beats every WORKER_TTL_S - 15 s; one silent for longer is not counted
POLL_S = 0.2
STATES = {
    JobStatus.QUEUED: "queued",
    JobStatus.SCHEDULED: "queued",
    JobStatus.DEFERRED: "queued",
    JobStatus.STARTED: "running",
    JobStatus.FINISHED: "done",
}
log = logging.getLogger("deepfake_scoring")


def _unavailable(exc: RedisError) -> ServiceError:
    return ServiceError(Code.QUEUE_UNAVAILABLE, f"the job queue (Redis) cannot be reached: {type(exc).__name__}", retry_after_s=5)


class JobQueue:
    """The web side: submit a video, follow its job, report the queue."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=10)
        self.queue = Queue(QUEUE_NAME, connection=self.redis)

    def submit(self, video: Path, session_id: str | None, phrase: str | None, explain: bool = False, audit: dict | None = None) -> str:
        """The job's id. `audit` ({"route", "client_key_id"}): the worker writes the decision's audit line,
        for answers no web request carries (POST /jobs); /score's are written by the web process."""
        key = UPLOAD_PREFIX + uuid.uuid4().hex
        job_timeout = int(self.settings.processing_timeout_s) + 30
        try:
            # Long enough for a retry after an abandoned first attempt; deleted by the job before that.
            self.redis.set(key, video.read_bytes(), ex=3 * job_timeout + HEARTBEAT_TTL_S)
            job = self.queue.enqueue(
                run_job,
                key,
                video.suffix,
                session_id,
                phrase,
                explain,
                audit,
                job_timeout=job_timeout,
                result_ttl=int(self.settings.job_result_ttl_s),
                failure_ttl=int(self.settings.job_result_ttl_s),
                retry=Retry(max=1),
            )
        except RedisError as exc:
            raise _unavailable(exc) from None
        return job.id

    def state(self, job_id: str) -> dict:
        """`{"id", "status": queued | running | done | failed, ...}`; done carries `result`, failed `error`."""
        try:
            StartedJobRegistry(queue=self.queue).cleanup()  # retries or fails jobs whose worker died
            job = Job.fetch(job_id, connection=self.redis)
            status = job.get_status()
        except NoSuchJobError:
            raise ServiceError(Code.JOB_NOT_FOUND, f"no job {job_id} (unknown, or its result expired)") from None
        except RedisError as exc:
            raise _unavailable(exc) from None
        state = {"id": job.id, "status": STATES.get(status, "failed")}
        if status == JobStatus.FINISHED:
            answer = job.return_value()
            if answer["status"] == 200:
                state["result"] = answer["body"]
            else:
                state.update(status="failed", error=answer["body"], http_status=answer["status"])
        elif state["status"] == "failed":
            state["error"] = {"error": str(Code.JOB_FAILED), "message": _failure(job)}
        return state

    def wait(self, job_id: str, timeout_s: float) -> tuple[int, dict]:
        """The job's answer as /score gives it: (HTTP status, JSON)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.state(job_id)
            if state["status"] == "done":
                return 200, state["result"]
            if state["status"] == "failed":
                return state.get("http_status", 500), state["error"]
            time.sleep(POLL_S)
        raise ServiceError(
            Code.PROCESSING_TIMEOUT, f"job {job_id} did not finish within {timeout_s:.0f} s; follow it at /jobs/{job_id}"
        )

    def health(self) -> dict:
        try:
            now = datetime.now(UTC)
            alive = [
                w
                for w in Worker.all(queue=self.queue)
                if w.last_heartbeat and (now - _utc(w.last_heartbeat)).total_seconds() < WORKER_TTL_S
            ]
            oldest = self.queue.get_jobs(0, 1)
            age = (now - _utc(oldest[0].enqueued_at)).total_seconds() if oldest else 0.0
            failed = FailedJobRegistry(queue=self.queue).count
            return {"reachable": True, "depth": self.queue.count, "workers": len(alive), "oldest_job_age_s": round(age, 1), "failed": failed}
        except RedisError as exc:
            return {"reachable": False, "error": f"the job queue (Redis) cannot be reached: {type(exc).__name__}"}


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _failure(job: Job) -> str:
    info = (job.latest_result().exc_string if job.latest_result() else None) or ""
    last = info.strip().splitlines()[-1] if info.strip() else "the worker stopped"
    if "AbandonedJobError" in info or not info:
        return "the worker scoring this video died, and so did its retry"
    return f"the job failed: {last}"


@functools.cache
def _service():
    from scoring.detectors import Detectors
    from scoring.runtime import torch_env
    from scoring.service import ScoringService

    settings = load_settings()
    torch_env.configure_threads(settings.torch_threads or torch_env.default_thread_count(1))
    return ScoringService(settings, Detectors(settings, torch_env.resolve_device(settings.device)))


def run_job(upload_key: str, suffix: str, session_id: str | None, phrase: str | None, explain: bool = False, audit: dict | None = None) -> dict:
    """The job a worker runs: the service's own scoring of the upload stored under `upload_key`."""
    job = get_current_job()
    data = job.connection.get(upload_key)
    if data is None:
        answer = {"status": 410, "body": {"error": str(Code.UPLOAD_EXPIRED), "message": "the upload expired before a worker took it"}}
    else:
        answer = _scored(job, upload_key, data, suffix, session_id, phrase, explain)
    metrics.JOBS.labels(str(answer["status"])).inc()
    if audit is not None:
        for line in decision_lines(audit["route"], answer["status"], answer["body"], audit["client_key_id"], _service().model_digests()):
            _audit_trail().record(line)
    return answer


def _scored(job: Job, upload_key: str, data: bytes, suffix: str, session_id: str | None, phrase: str | None, explain: bool) -> dict:
    try:
        with request_dir(upload_area(load_settings().upload_tmp_dir)) as workdir:
            target = workdir / f"upload{suffix}"
            target.write_bytes(data)
            answer = {"status": 200, "body": _service().score(target, session_id, phrase, explain)}
    except ServiceError as exc:
        answer = {"status": exc.status, "body": exc.to_json()}
    except Exception:
        metrics.JOBS.labels("error").inc()
        if not job.retries_left:  # the last attempt: nothing will read the upload again
            job.connection.delete(upload_key)
        raise
    job.connection.delete(upload_key)
    return answer


@functools.cache
def _audit_trail() -> AuditTrail:
    return AuditTrail(load_settings().audit_log)


class ScoringWorker(SimpleWorker):
    """RQ's in-process worker with a heartbeat thread, so a worker killed mid-job is noticed in seconds."""

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return HEARTBEAT_TTL_S

    def execute_job(self, job: Job, queue: Queue):
        execution = self.prepare_execution(job)
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, execution, stop), name="heartbeat", daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            stop.set()
            beat.join()
        self.set_state(WorkerStatus.IDLE)

    def _beat(self, job: Job, execution, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_S):
            try:
                self.maintain_heartbeats(job, execution)
            except RedisError:
                log.warning("heartbeat for job %s could not reach Redis", job.id)


def main() -> int:
    allocator.keep_freed_memory()
    settings = load_settings()
    if not settings.redis_url:
        print("REDIS_URL is not set: queue mode is off (set it, in the environment or .env, for the web service and the workers)")
        return 2
    logging.basicConfig(level=settings.log_level.upper())
    connection = Redis.from_url(settings.redis_url)
    queue = Queue(QUEUE_NAME, connection=connection)
    worker = ScoringWorker([queue], connection=connection, maintenance_interval=HEARTBEAT_TTL_S, worker_ttl=WORKER_TTL_S)
    worker.work(with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
