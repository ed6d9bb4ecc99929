"""The catalogue of model files: what the repository bundles is what the catalogue pins, every file is
named once, and provisioning notices a bundled file that changed."""

from __future__ import annotations

import dataclasses
import shutil

from scoring.provision import installed, provision_bundled
from scoring.settings import Settings
from scoring.weights import catalog


def test_the_bundled_files_are_the_catalogues():
    for official in catalog.VOICE_FILES:
        assert official.matches(catalog.BUNDLED_VOICE_DIR / official.name)
    for bundled in (catalog.BUNDLED_FRAME_DETECTOR, catalog.MOUTH_COVER_PROBE):
        assert bundled.matches(bundled.path) and bundled.path.parent.parent == catalog.REPOSITORY_MODELS


def test_every_file_has_one_name_a_digest_and_a_licence():
    files = [*catalog.SETUP_FILES, *catalog.VOICE_FILES, *(d.file for d in catalog.PUBLISHED_DETECTORS)]
    names = [f.name for f in files if f is not catalog.DEFAULT_FRAME_DETECTOR.file]
    assert len(names) == len(set(names))
    assert all(len(f.sha256) == 64 and f.url.startswith("https://") and f.licence for f in files)


def test_provisioning_reports_a_changed_bundled_frame_detector(tmp_path, monkeypatch):
    settings = Settings.from_env({"MODELS_DIR": str(tmp_path)})
    *_, (intact, message) = provision_bundled(settings)
    assert intact and "sha256 verified" in message
    copy = tmp_path / catalog.BUNDLED_FRAME_DETECTOR.name
    shutil.copyfile(catalog.BUNDLED_FRAME_DETECTOR.path, copy)
    with copy.open("ab") as handle:
        handle.write(b"retrained")
    monkeypatch.setattr("scoring.provision.BUNDLED_FRAME_DETECTOR", dataclasses.replace(catalog.BUNDLED_FRAME_DETECTOR, path=copy))
    *_, (intact, message) = provision_bundled(settings)
    assert not intact and "DIFFERS from the catalogue" in message
    assert installed(settings)[copy.name]["checksum_verified"] is False
