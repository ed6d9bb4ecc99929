"""The model files the service can use: where they come from, how they are checked and installed.

`python -m scoring.weights provision` is what `setup.sh` runs. For each official file it copies
`$MODELS_SOURCE_DIR/<name>` when that setting is set, else downloads the official URL; either way
into a temporary file beside the target, checked for size and sha256 before it is moved into
place. A failed download is reported and setup carries on: the service then reports that detector
unavailable instead of scoring with anything else.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OfficialFile:
    name: str
    url: str
    size: int
    sha256: str
    purpose: str


SYNCNET_V2 = OfficialFile(
    name="syncnet_v2.model",
    url="https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model",
    size=54_573_114,
    sha256="961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442",
    purpose="SyncNet v2 lip-sync network (VGG Oxford)",
)
S3FD = OfficialFile(
    name="sfd_face.pth",
    url="https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/sfd_face.pth",
    size=89_844_381,
    sha256="d54a87c2b7543b64729c9a25eafd188da15fd3f6e02f0ecec76ae1b30d86c491",
    purpose="S3FD face detector, as used by syncnet_python",
)
OFFICIAL_FILES = (SYNCNET_V2, S3FD)

_digest_cache: dict[tuple[str, int, int], str] = {}
_digest_lock = threading.Lock()


def sha256_of(path: Path) -> str:
    """sha256 of a file, cached per (path, size, mtime) so /health and loads stay cheap."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _digest_lock:
        if key in _digest_cache:
            return _digest_cache[key]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _digest_lock:
        _digest_cache[key] = value
    return value


def official_match(path: Path) -> OfficialFile | None:
    """The official file `path` is a byte-exact copy of, if any (size checked before hashing)."""
    size = path.stat().st_size
    for official in OFFICIAL_FILES:
        if size == official.size and sha256_of(path) == official.sha256:
            return official
    return None


def describe(path: Path | None, expected: OfficialFile | None = None) -> dict:
    """What /health and responses say about a weights file, without loading it (its name, never its path)."""
    if path is None:
        return {"file": None, "present": False}
    info: dict = {"file": path.name, "present": path.is_file()}
    if not info["present"]:
        return info
    info["bytes"] = path.stat().st_size
    info["sha256"] = sha256_of(path)
    if expected is not None:
        info["checksum_verified"] = info["sha256"] == expected.sha256 and info["bytes"] == expected.size
    return info


def _install(source_stream_opener, official: OfficialFile, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{official.name}.", suffix=".part", dir=target.parent)
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(handle, "wb") as out, source_stream_opener() as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                out.write(block)
                digest.update(block)
                size += len(block)
        if size != official.size:
            raise ValueError(f"size {size} bytes, expected {official.size}")
        if digest.hexdigest() != official.sha256:
            raise ValueError(f"sha256 {digest.hexdigest()}, expected {official.sha256}")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def provision(official: OfficialFile, models_dir: Path, source_dir: Path | None, timeout: float) -> tuple[bool, str]:
    target = models_dir / official.name
    if target.is_file() and target.stat().st_size == official.size and sha256_of(target) == official.sha256:
        return True, f"{official.name}: present, sha256 verified"
    try:
        if source_dir is not None:
            source = source_dir / official.name
            _install(lambda: source.open("rb"), official, target)
            return True, f"{official.name}: copied from {source}, sha256 verified"
        request = urllib.request.Request(official.url, headers={"User-Agent": "deepfake-scoring-setup"})
        _install(lambda: urllib.request.urlopen(request, timeout=timeout), official, target)
        return True, f"{official.name}: downloaded from {official.url}, sha256 verified"
    except (OSError, ValueError) as exc:
        return False, f"{official.name}: NOT installed ({exc}); the service will report {official.purpose} unavailable"
