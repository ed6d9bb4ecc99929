"""Run the real service (gunicorn) on a free loopback port, for the sample and the tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn_server(env: dict[str, str] | None = None, startup_timeout: float = 120.0, app_spec: str | None = None):
    """Start gunicorn with gunicorn_config.py on 127.0.0.1; yields its base URL; stops it after.

    `app_spec` (e.g. "app:app", the design document's command) names the app on the command line.
    """
    port = free_port()
    environment = {**os.environ, **(env or {}), "PORT": str(port)}
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        *([app_spec] if app_spec else []),
        "-c",
        "gunicorn_config.py",
        "--bind",
        f"127.0.0.1:{port}",
    ]
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(url, process, startup_timeout, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float, log) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log.read()[-3000:]}")
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer /health within {timeout:.0f} s")
