"""Where uploads wait while they are scored: one private directory per request, named after its process.

`private_dir()` makes `score-<pid>-<random>` under the upload area; `request_dir()` also removes it on
every path out (the web layer removes its own when the request ends). A worker killed mid-request
(SIGKILL, out of memory) cannot remove its own, so `sweep()` removes the directories of processes that
no longer exist: each worker runs it when it starts, and the gunicorn master runs it whenever a worker
exits (`gunicorn_config.child_exit`). A full disk wherever bytes land (`is_full_disk`) becomes a 507
answer (`insufficient_storage()`), with the partial file removed.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scoring.errors import Code, ServiceError

_OWNED = re.compile(r"score-(\d+)-")
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def upload_area(configured: Path | None) -> Path:
    """UPLOAD_TMP_DIR, else a folder of the project's own in the system temp dir (so the sweep touches nothing else)."""
    area = configured or Path(tempfile.gettempdir()) / "deepfake-scoring-uploads"
    area.mkdir(parents=True, exist_ok=True)
    return area


def is_full_disk(exc: OSError) -> bool:
    return exc.errno in _FULL


def insufficient_storage() -> ServiceError:
    return ServiceError(Code.INSUFFICIENT_STORAGE, "the server has no space left for this upload; retry later")


def private_dir(area: Path) -> Path:
    """A new directory for one request's files, named so that `sweep()` knows its owner."""
    return Path(tempfile.mkdtemp(prefix=f"score-{os.getpid()}-", dir=area))


@contextmanager
def request_dir(area: Path) -> Iterator[Path]:
    workdir = private_dir(area)
    try:
        yield workdir
    except OSError as exc:
        if is_full_disk(exc):
            raise insufficient_storage() from None
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def sweep(area: Path) -> list[Path]:
    """Remove the request directories of processes that have died; returns what was removed."""
    removed = []
    for entry in area.iterdir() if area.is_dir() else ():
        owner = _OWNED.match(entry.name)
        if owner and entry.is_dir() and not _alive(int(owner.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed
