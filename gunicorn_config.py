"""gunicorn settings: `gunicorn -c gunicorn_config.py` serves `app:create_app()`.

Each worker process loads its own models on its first video (no preloading: torch models created
in the master hang forked workers). Threads let /health answer while a video is being scored;
the app itself runs at most MAX_CONCURRENT_JOBS videos per worker at a time.
"""

import os

from dotenv import load_dotenv

load_dotenv(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".env"), override=False)

wsgi_app = "app:create_app()"
bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
preload_app = False
# Above the app's own processing timeout, so a slow video gets its 504 JSON, not a killed worker.
timeout = int(float(os.environ.get("PROCESSING_TIMEOUT_S", "120"))) + 30
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
