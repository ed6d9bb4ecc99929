"""The two published AASIST files, recognised by sha256, and where the repository bundles them.

Both are byte-exact copies of clovaai/aasist `models/weights/` at commit
a04c9863f63d44471dde8a6abcb3b082b07cd1d1 (MIT), trained by the authors on ASVspoof 2019 LA. They
are small (1.3 MB and 0.4 MB), so they ship in `models/aasist/` with the licence instead of being
downloaded at setup. Each may have a calibration sidecar beside it (`<file>.json`, written by
`bench/bench_voice.py --write-calibration`).
"""

from __future__ import annotations

from pathlib import Path

from scoring.settings import BUNDLED_VOICE_DIR as BUNDLED_DIR
from scoring.weights.files import OfficialFile

SOURCE_COMMIT = "a04c9863f63d44471dde8a6abcb3b082b07cd1d1"
LICENCE = "MIT (clovaai/aasist)"
TRAINED_ON = "ASVspoof 2019 LA (bona fide vs TTS/VC spoofed speech)"

AASIST = OfficialFile(
    name="AASIST.pth",
    url="https://github.com/clovaai/aasist/raw/main/models/weights/AASIST.pth",
    size=1_281_532,
    sha256="51d2d9cf0738172f61e2a384ec50a54a55363240f67c971ed55a92435bc1a1c0",
    purpose="AASIST spoofed-speech countermeasure (clovaai)",
)
AASIST_L = OfficialFile(
    name="AASIST-L.pth",
    url="https://github.com/clovaai/aasist/raw/main/models/weights/AASIST-L.pth",
    size=426_428,
    sha256="814331d088032bb4c3fa61cc014789eadeed464209dd094ab3a2dd6ffbdce27a",
    purpose="AASIST-L, the light AASIST spoofed-speech countermeasure (clovaai)",
)
VOICE_FILES = (AASIST, AASIST_L)


def bundled_path(official: OfficialFile = AASIST) -> Path:
    return BUNDLED_DIR / official.name


def voice_match(path: Path) -> OfficialFile | None:
    """The published file `path` is a byte-exact copy of, if any."""
    return next((official for official in VOICE_FILES if official.matches(path)), None)


def sidecar_path(weights: Path) -> Path:
    """The calibration sidecar of a weights file: the same name with `.json` appended."""
    return weights.with_name(weights.name + ".json")
