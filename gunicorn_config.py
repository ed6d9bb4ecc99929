"""gunicorn settings: `gunicorn -c gunicorn_config.py` (or `gunicorn app:app -c gunicorn_config.py`) serves `app:app`.

Every value comes from the project's settings (`scoring.settings`, which reads `.env` too).
Each worker process loads its own models on its first video (no preloading: torch models created
in the master hang forked workers). Threads let /health answer while a video is being scored;
the app itself runs at most MAX_CONCURRENT_JOBS videos per worker at a time.
"""

import os
import secrets
import shutil
import sys
import tempfile

from scoring.operations.uploads import sweep, upload_area
from scoring.runtime import allocator
from scoring.settings import SettingsError, load_settings

# In the master, before any thread allocates: the workers it forks keep the setting.
allocator.keep_freed_memory()

try:
    settings = load_settings()
except SettingsError as error:
    sys.exit(f"configuration error: {error}")
for warning in settings.warnings:
    print(f"configuration warning: {warning}", file=sys.stderr)
if settings.challenge_secret is None:
    # One secret for every worker, so any of them verifies a challenge another one issued.
    os.environ["CHALLENGE_SECRET"] = secrets.token_urlsafe(32)
    load_settings.cache_clear()
    print("CHALLENGE_SECRET is not set: generated a random one; challenge tokens end with this server", file=sys.stderr)

# One directory where every worker writes its metrics, so a scrape of any worker sums them all
# (scoring.operations.metrics); set before a worker imports prometheus_client, emptied of a previous run's counts.
# By default in shared memory: the counts are memory-mapped files, and a full disk must not take them down.
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    memory = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="deepfake-scoring-metrics-", dir=memory)
else:
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"])

wsgi_app = "app:app"
bind = f"0.0.0.0:{settings.port}"
workers = settings.web_concurrency
# Enough threads for every video a worker admits plus two that always answer /health and 503s.
threads = max(settings.gunicorn_threads, settings.max_concurrent_jobs + settings.max_queued_jobs + 2)
worker_class = "gthread"
preload_app = False
# Above the app's own processing timeout, so a slow video gets its 504 JSON, not a killed worker.
timeout = int(settings.processing_timeout_s) + 30
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
loglevel = settings.log_level


def child_exit(server, worker):
    """A worker that died mid-request (SIGKILL, out of memory) leaves its upload: remove it now; its
    live gauges go too (its counts stay in the sums)."""
    from scoring.operations import metrics  # here, in the master, after PROMETHEUS_MULTIPROC_DIR is set

    metrics.mark_process_dead(worker.pid)
    for orphan in sweep(upload_area(settings.upload_tmp_dir)):
        server.log.warning("removed %s, left by worker %s", orphan.name, worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
