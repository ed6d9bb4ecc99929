"""Which files are videos, told by their suffix: what a folder given to a tool is searched for.

It imports nothing of the project, so the client, the benchmarks and training walk folders the
same way and training never imports the HTTP client.
"""

from __future__ import annotations

from pathlib import Path

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".mpg", ".mpeg"}


def collect(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(path)
    return files
