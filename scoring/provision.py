"""`python -m scoring.provision [--check]`: install the model files setup needs, or print what is installed.

`setup.sh` runs it. For each file of `scoring.weights.catalog.SETUP_FILES` (SyncNet v2, S3FD and
the default published frame detector) it copies `$MODELS_SOURCE_DIR/<name>` when that setting is
set, else downloads the official URL; either way into a temporary file beside the target, checked
for size and sha256 before it is moved into place. A failed download is reported and setup
carries on: the service then reports that detector unavailable (without the published frame
detector it scores frames with the bundled one, and says so) instead of scoring with anything
else. The files the repository bundles are checked in place: the AASIST files are fetched from
their URL only if missing; the frame classifier trained here is only checked.

Where files go and come from are the project's settings (MODELS_DIR, MODELS_SOURCE_DIR,
MODELS_DOWNLOAD_TIMEOUT), so setup installs exactly where the service looks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

from scoring.settings import PROJECT_ROOT, Settings, SettingsError, load_settings
from scoring.weights.catalog import BUNDLED_FRAME_DETECTOR, BUNDLED_VOICE_DIR, DEFAULT_FRAME_DETECTOR, SETUP_FILES, VOICE_FILES
from scoring.weights.files import OfficialFile, describe

FALLBACK = f"the service scores frames with the bundled {BUNDLED_FRAME_DETECTOR.path.relative_to(PROJECT_ROOT)} (fallback)"


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


def provision_bundled(settings: Settings) -> list[tuple[bool, str]]:
    """The files the repository ships, checked in place (the voice's downloaded only where missing)."""
    voice = [provision(f, BUNDLED_VOICE_DIR, None, settings.models_download_timeout) for f in VOICE_FILES]
    frames = BUNDLED_FRAME_DETECTOR
    intact = frames.path.is_file() and frames.matches(frames.path)
    return [*voice, (intact, f"{frames.name}: bundled, sha256 {'verified' if intact else 'DIFFERS from the catalogue (retrained? update scoring/weights/catalog.py)'}")]


def provision_all(settings: Settings, files: tuple[OfficialFile, ...] = SETUP_FILES) -> list[tuple[bool, str]]:
    return [
        provision(
            f,
            settings.models_dir,
            settings.models_source_dir,
            settings.models_download_timeout,
            settings.allow_unverified_weights,
            FALLBACK if f is DEFAULT_FRAME_DETECTOR.file else None,
        )
        for f in files
    ]


def installed(settings: Settings, files: tuple[OfficialFile, ...] = SETUP_FILES) -> dict[str, dict]:
    places = [(f, settings.models_dir / f.name) for f in files] + [(f, BUNDLED_VOICE_DIR / f.name) for f in VOICE_FILES]
    found = {f.name: {**describe(path, f), "path": str(path)} for f, path in places}
    frames = BUNDLED_FRAME_DETECTOR
    found[frames.name] = {**describe(frames.path, frames), "path": str(frames.path)}
    return found


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scoring.provision", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="print what is installed, as JSON, and install nothing")
    args = parser.parse_args(argv)
    try:
        settings = settings or load_settings()
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    if args.check:
        print(json.dumps(installed(settings), indent=2))
        return 0
    for ok, message in provision_bundled(settings) + provision_all(settings):
        print(("  ok    " if ok else "  WARN  ") + message, file=sys.stdout if ok else sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
