"""A small real filesystem for full-disk tests: a tmpfs mounted by the test, else a loop-mounted ext4
image; where the runner may mount neither (not root, no mount namespace), the test is skipped with
the reason. CI runs as root, so there it runs."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(arguments: list[str]) -> str | None:
    """None when mounted, else why not."""
    if shutil.which("mount") is None:
        return "no mount program"
    result = subprocess.run(["mount", *arguments], capture_output=True, text=True)
    return None if result.returncode == 0 else (result.stderr.strip() or f"mount exited with {result.returncode}")


def _loop_image(image: Path, megabytes: int, target: Path) -> str | None:
    if shutil.which("mkfs.ext4") is None:
        return "no mkfs.ext4 for a loop image"
    with image.open("wb") as handle:
        handle.truncate(megabytes * 1024 * 1024)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True, text=True)
    if made.returncode != 0:
        return made.stderr.strip()
    return _mount(["-o", "loop", str(image), str(target)])


@contextmanager
def small_filesystem(parent: Path, megabytes: int) -> Iterator[Path]:
    """An empty directory on a real filesystem of `megabytes`, unmounted afterwards."""
    target = parent / "small-disk"
    target.mkdir()
    refused = _mount(["-t", "tmpfs", "-o", f"size={megabytes}m,mode=0700", "tmpfs", str(target)])
    if refused is not None:
        loop_refused = _loop_image(parent / "small-disk.img", megabytes, target)
        if loop_refused is not None:
            pytest.skip(f"cannot mount a small filesystem here: tmpfs: {refused}; loop image: {loop_refused}")
        shutil.rmtree(target / "lost+found", ignore_errors=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", "--lazy", str(target)], check=True)


def files_under(directory: Path) -> list[Path]:
    """Every file left anywhere below `directory` (directories meant to exist are not files)."""
    return sorted(path for path in directory.rglob("*") if not path.is_dir())
