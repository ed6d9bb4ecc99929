"""Queue mode against a real Redis server and real worker processes (`python -m scoring.queue`).

Debian's `redis-server` is started on a free loopback port; `.ci/run` installs it, and outside CI the
tests skip when it is missing.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.helpers.disks import files_under, small_filesystem
from tests.helpers.paths import MEDIA, shared, system_program
from tests.helpers.prometheus import samples, value
from tests.helpers.service import service_env
from tools.local_server import PROJECT_ROOT, free_port, gunicorn_server

RESULT_TTL_S = 6  # results are read as soon as a job is done; the expiry test waits this long


class RedisServer:
    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> None:
        command = [system_program("redis-server", package="redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True).stdout.strip() != "PONG":
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="module")
def redis():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env(redis, weights_dir, tmp_path_factory) -> dict[str, str]:
    uploads, counts = tmp_path_factory.mktemp("queue-uploads"), tmp_path_factory.mktemp("queue-metrics")
    audit = tmp_path_factory.mktemp("queue-audit") / "audit.log"
    # The web workers and the queue workers count into one directory and audit into one file, as on one host.
    return service_env(
        weights_dir, uploads, REDIS_URL=redis.url, JOB_RESULT_TTL_S=str(RESULT_TTL_S), PROMETHEUS_MULTIPROC_DIR=str(counts), AUDIT_LOG=str(audit)
    )


@contextmanager
def queue_worker(env: dict[str, str]):
    process = subprocess.Popen(
        [sys.executable, "-m", "scoring.queue"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture(scope="module")
def web(env):
    with gunicorn_server(env) as url:
        yield url


def post(url: str, route: str, clip, **data):
    with clip.open("rb") as stream:
        return requests.post(f"{url}{route}", files={"video": (clip.name, stream)}, data=data, timeout=300)


def wait_for(url: str, job_id: str, states=("done", "failed"), timeout_s: float = 180) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = requests.get(f"{url}/jobs/{job_id}", timeout=10).json()
        if state["status"] in states:
            return state
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {state['status']} after {timeout_s} s")


def without_timings(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in {"processing_time_ms", "timings_ms", "session_id"}}


def test_sync_and_async_scoring_give_the_same_answer(web, env):
    clip = shared(MEDIA / "talking" / "grid_bbaf2n.mpg")
    with queue_worker(env):
        health = requests.get(f"{web}/health", timeout=10).json()
        deadline = time.monotonic() + 30
        while health["queue"]["workers"] == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
            health = requests.get(f"{web}/health", timeout=10).json()
        assert health["status"] == "healthy" and health["queue"]["reachable"] is True
        sync = post(web, "/score", clip, session_id="sync")
        assert sync.status_code == 200, sync.text
        accepted = post(web, "/jobs", clip, session_id="async")
        assert accepted.status_code == 202 and accepted.headers["Location"] == f"/jobs/{accepted.json()['id']}"
        done = wait_for(web, accepted.json()["id"])
    assert done["status"] == "done" and done["result"]["session_id"] == "async"
    assert without_timings(done["result"]) == without_timings(sync.json())
    scraped = samples(requests.get(f"{web}/metrics", timeout=10).text)
    assert value(scraped, "deepfake_scoring_jobs_total", status="200") == 2
    assert value(scraped, "deepfake_scoring_verdicts_total", risk_level=sync.json()["risk_level"], kind="video") == 2
    assert value(scraped, "deepfake_scoring_queue_reachable") == 1 and value(scraped, "deepfake_scoring_queue_depth") == 0
    decisions = [json.loads(line) for line in Path(env["AUDIT_LOG"]).read_text().splitlines()]
    by_session = {(d["route"], d["session_id"]): d for d in decisions}
    assert len(decisions) == 2  # /score's line from the web process, /jobs' from the queue worker
    assert by_session[("/score", "sync")]["combined_score"] == by_session[("/jobs", "async")]["combined_score"] == sync.json()["combined_score"]


def test_a_refused_video_is_refused_the_same_way_through_the_queue(web, env, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with queue_worker(env):
        refused = post(web, "/score", text)
        job_id = post(web, "/jobs", text).json()["id"]
        failed = wait_for(web, job_id)
    assert refused.status_code == 415 and refused.json()["error"] == "not_a_video"
    assert failed["status"] == "failed" and failed["error"] == refused.json()


def test_a_full_disk_answers_507_in_queue_mode_and_leaves_nothing(redis, weights_dir, tmp_path):
    with small_filesystem(tmp_path, megabytes=3) as disk:
        env = service_env(weights_dir, disk, REDIS_URL=redis.url, TMPDIR=str(disk))
        with gunicorn_server(env) as url:
            too_big = requests.post(f"{url}/score", files={"video": ("big.mp4", io.BytesIO(os.urandom(5 * 1024 * 1024)))}, timeout=60)
            assert too_big.status_code == 507 and too_big.json()["error"] == "insufficient_storage"
            assert files_under(disk) == []
            with queue_worker(env):
                small = post(url, "/score", shared(MEDIA / "talking" / "grid_bbaf2n.mpg"))
            assert small.status_code == 200, small.text
            assert files_under(disk) == []


def test_a_worker_killed_mid_job_is_replaced_and_nothing_is_left(web, env, redis):
    clip = shared(MEDIA / "talking" / "akash_video_8s.mp4")
    with queue_worker(env) as first:
        job_id = post(web, "/jobs", clip).json()["id"]
        wait_for(web, job_id, states=("running",), timeout_s=60)
        os.killpg(first.pid, signal.SIGKILL)
    with queue_worker(env):
        state = wait_for(web, job_id)
    assert state["status"] == "done" or "died" in state["error"]["message"]
    keys = subprocess.run(["redis-cli", "-p", str(redis.port), "keys", "deepfake-scoring:upload:*"], capture_output=True, text=True)
    assert keys.stdout.strip() == ""


def test_results_expire_and_unknown_jobs_are_404(web, env):
    with queue_worker(env):
        job_id = post(web, "/jobs", shared(MEDIA / "talking" / "grid_lbax4n.mpg")).json()["id"]
        assert wait_for(web, job_id)["status"] == "done"
    time.sleep(RESULT_TTL_S + 1)
    expired = requests.get(f"{web}/jobs/{job_id}", timeout=10)
    assert expired.status_code == 404 and expired.json()["error"] == "job_not_found"
    assert requests.get(f"{web}/jobs/no-such-job", timeout=10).status_code == 404


def test_without_workers_health_is_degraded_and_without_redis_answers_503_then_recovers(web, env, redis):
    assert requests.get(f"{web}/health", timeout=10).json()["status"] == "degraded"  # no worker alive
    redis.stop()
    try:
        refused = post(web, "/score", shared(MEDIA / "talking" / "grid_bbaf2n.mpg"))
        assert refused.status_code == 503 and refused.json()["error"] == "queue_unavailable"
        assert int(refused.headers["Retry-After"]) > 0
        assert requests.get(f"{web}/health", timeout=10).status_code == 503
    finally:
        redis.start()
    with queue_worker(env):
        job_id = post(web, "/jobs", shared(MEDIA / "talking" / "grid_bbaf2n.mpg")).json()["id"]
        assert wait_for(web, job_id)["status"] == "done"
