"""`python -m scoring.weights provision | check`: install or inspect the official weights (setup.sh runs `provision`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from scoring.weights.files import MODELS_DIR, OFFICIAL_FILES, describe, provision


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    prov = sub.add_parser("provision", help="install the official SyncNet and S3FD weights into models/")
    prov.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    prov.add_argument("--source-dir", type=Path, default=os.environ.get("MODELS_SOURCE_DIR") or None)
    prov.add_argument("--timeout", type=float, default=float(os.environ.get("MODELS_DOWNLOAD_TIMEOUT", "30")))
    check = sub.add_parser("check", help="print what is installed, as JSON")
    check.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    args = parser.parse_args(argv)

    if args.command == "check":
        print(json.dumps({f.name: describe(args.models_dir / f.name, f) for f in OFFICIAL_FILES}, indent=2))
        return 0
    for official in OFFICIAL_FILES:
        ok, message = provision(official, args.models_dir, args.source_dir, args.timeout)
        print(("  ok    " if ok else "  WARN  ") + message, file=sys.stdout if ok else sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
