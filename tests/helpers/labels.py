"""Labels CSVs for the training tools, written as they read them."""

from __future__ import annotations

import csv
from pathlib import Path


def write_labels(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
