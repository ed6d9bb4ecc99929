"""Provisioning of the official weights: copy or download, size and sha256 checks, no partial files, one models dir."""

from __future__ import annotations

import hashlib
import http.server
import threading
from functools import partial

import pytest
import torch

from scoring.detectors import Detectors
from scoring.provision import provision, provision_all
from scoring.settings import Settings
from scoring.weights.catalog import S3FD, SYNCNET_V2
from scoring.weights.files import OfficialFile, describe


def official(tmp_path, content: bytes = b"weights " * 1000, url: str = "http://127.0.0.1:9/none") -> tuple[OfficialFile, bytes]:
    return OfficialFile("w.model", url, len(content), hashlib.sha256(content).hexdigest(), "test weights"), content


def test_copy_from_source_dir_is_verified_and_idempotent(tmp_path):
    spec, content = official(tmp_path)
    source, models = tmp_path / "source", tmp_path / "models"
    source.mkdir()
    (source / "w.model").write_bytes(content)
    ok, message = provision(spec, models, source, timeout=5)
    assert ok and "copied" in message and (models / "w.model").read_bytes() == content
    ok, message = provision(spec, models, None, timeout=5)
    assert ok and "present" in message
    assert describe(models / "w.model", spec)["checksum_verified"] is True


@pytest.mark.parametrize("damage", [lambda c: c[:-1], lambda c: c[:-1] + b"X"])
def test_wrong_size_or_hash_is_rejected_without_leaving_a_file(tmp_path, damage):
    spec, content = official(tmp_path)
    source, models = tmp_path / "source", tmp_path / "models"
    source.mkdir()
    (source / "w.model").write_bytes(damage(content))
    ok, message = provision(spec, models, source, timeout=5)
    assert not ok and "NOT installed" in message
    assert list(models.iterdir()) == []


def test_download_over_http_and_failed_download_is_reported(tmp_path):
    spec, content = official(tmp_path)
    served = tmp_path / "served"
    served.mkdir()
    (served / "w.model").write_bytes(content)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/w.model"
        ok, message = provision(OfficialFile(spec.name, url, spec.size, spec.sha256, spec.purpose), tmp_path / "m", None, timeout=5)
        assert ok and "downloaded" in message and (tmp_path / "m" / "w.model").read_bytes() == content
        missing = OfficialFile(spec.name, url.replace("w.model", "absent"), spec.size, spec.sha256, spec.purpose)
        ok, message = provision(missing, tmp_path / "m2", None, timeout=5)
        assert not ok and "404" in message and list((tmp_path / "m2").iterdir()) == []
    finally:
        server.shutdown()


def test_the_official_table_matches_the_published_files():
    assert SYNCNET_V2.size == 54_573_114
    assert SYNCNET_V2.sha256.startswith("961e8696f888")
    assert S3FD.size == 89_844_381
    assert S3FD.sha256.startswith("d54a87c2b754")


def test_models_dir_set_only_in_dotenv_is_where_setup_installs_and_the_service_looks(tmp_path):
    spec, content = official(tmp_path)
    source = tmp_path / "source"
    source.mkdir()
    (source / spec.name).write_bytes(content)
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"MODELS_DIR={tmp_path / 'installed'}\nMODELS_SOURCE_DIR={source}\n")
    settings = Settings.from_env({}, dotenv_file=dotenv)

    [(ok, _)] = provision_all(settings, (spec,))
    assert ok and (tmp_path / "installed" / spec.name).read_bytes() == content
    assert settings.syncnet.weights == tmp_path / "installed" / SYNCNET_V2.name
    assert settings.faces.s3fd_weights == tmp_path / "installed" / S3FD.name
    looked_up = Detectors(settings, torch.device("cpu")).weight_files()
    assert looked_up["syncnet"][0].parent == looked_up["s3fd"][0].parent == tmp_path / "installed"
    assert Settings.from_env({"MODELS_DIR": str(tmp_path / "env")}, dotenv_file=dotenv).models_dir == tmp_path / "env"
