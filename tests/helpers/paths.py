"""Where the tests' outside inputs are: the shared media and data (../shared, never copied into the
repo) and Debian programs; a test that needs one that is absent skips with the reason."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
MEDIA = SHARED / "media"
FFPP = SHARED / "datasets" / "ffpp"
TALKING_CLIPS = sorted((MEDIA / "talking").glob("*.m*")) + [MEDIA / "syncnet_example.avi"]


def system_program(*names: str, package: str) -> str:
    """The path of a Debian program the test needs; in CI (which installs it) its absence fails, elsewhere it skips."""
    found = next((shutil.which(name) for name in names if shutil.which(name)), None)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{names[0]} is not installed; .ci/run installs Debian's {package} package")
    pytest.skip(f"{names[0]} is not installed (apt-get install {package})")


def shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not available (the shared test media live in ../shared)")
    return path
