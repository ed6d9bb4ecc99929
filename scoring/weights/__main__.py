"""`python -m scoring.weights provision | check`: install or inspect the official weights (setup.sh runs `provision`).

Where they go and come from are the project's settings (MODELS_DIR, MODELS_SOURCE_DIR,
MODELS_DOWNLOAD_TIMEOUT), so setup installs exactly where the service looks.
"""

from __future__ import annotations

import argparse
import json
import sys

from scoring.settings import Settings, SettingsError, load_settings
from scoring.weights.files import OFFICIAL_FILES, OfficialFile, describe, provision


def provision_all(settings: Settings, files: tuple[OfficialFile, ...] = OFFICIAL_FILES) -> list[tuple[bool, str]]:
    return [provision(f, settings.models_dir, settings.models_source_dir, settings.models_download_timeout) for f in files]


def installed(settings: Settings, files: tuple[OfficialFile, ...] = OFFICIAL_FILES) -> dict[str, dict]:
    return {f.name: {**describe(settings.models_dir / f.name, f), "path": str(settings.models_dir / f.name)} for f in files}


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scoring.weights", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("provision", help="install the official SyncNet and S3FD weights into MODELS_DIR")
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
    for ok, message in provision_all(settings):
        print(("  ok    " if ok else "  WARN  ") + message, file=sys.stdout if ok else sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
