"""`python -m scoring.provision provision | check`: install or inspect the weights (setup.sh runs `provision`).

The official SyncNet and S3FD files, and the default published frame detector
(scoring.frames.published.DEFAULT_FRAME_DETECTOR); without the latter the service scores
frames with the bundled model, and says so. The published AASIST files ship in the repository
(models/aasist/, MIT): they are checked there, and fetched from their URL only if missing.

Where they go and come from are the project's settings (MODELS_DIR, MODELS_SOURCE_DIR,
MODELS_DOWNLOAD_TIMEOUT), so setup installs exactly where the service looks.
"""

from __future__ import annotations

import argparse
import json
import sys

from scoring.frames.published import DEFAULT_FRAME_DETECTOR
from scoring.settings import BUNDLED_FRAME_DETECTOR, PROJECT_ROOT, Settings, SettingsError, load_settings
from scoring.voice.files import BUNDLED_DIR, VOICE_FILES
from scoring.weights.files import OFFICIAL_FILES, OfficialFile, describe, provision

SETUP_FILES = (*OFFICIAL_FILES, DEFAULT_FRAME_DETECTOR.file)
FALLBACK = f"the service scores frames with the bundled {BUNDLED_FRAME_DETECTOR.relative_to(PROJECT_ROOT)} (fallback)"


def provision_bundled(settings: Settings) -> list[tuple[bool, str]]:
    """The files the repository ships, checked in place (downloaded only where missing)."""
    return [provision(f, BUNDLED_DIR, None, settings.models_download_timeout) for f in VOICE_FILES]


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
    places = [(f, settings.models_dir) for f in files] + [(f, BUNDLED_DIR) for f in VOICE_FILES]
    return {f.name: {**describe(folder / f.name, f), "path": str(folder / f.name)} for f, folder in places}


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scoring.provision", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("provision", help="install the SyncNet, S3FD and default frame-detector weights into MODELS_DIR")
    sub.add_parser("check", help="print what is installed, as JSON")
    args = parser.parse_args(argv)
    try:
        settings = settings or load_settings()
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2

    if args.command == "check":
        print(json.dumps(installed(settings), indent=2))
        return 0
    for ok, message in provision_bundled(settings) + provision_all(settings):
        print(("  ok    " if ok else "  WARN  ") + message, file=sys.stdout if ok else sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
