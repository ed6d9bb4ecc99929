"""The fixtures: generated official-format weights, then the app and its client (`classifier` ->
`app` -> `client`, the chain the HTTP tests use); and the process-wide torch set-up. What test
modules import (inputs made here, the shared media's paths, the service's test settings) is in tests/helpers/.

Real third-party media and data are read from ../shared (never copied into the repo); tests that
need them skip with a reason when it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from flask import Flask

from app import create_app
from scoring.faces.stage import build_tracker
from scoring.runtime import torch_env
from scoring.runtime.torchvision_ops import prepare_torchvision
from scoring.settings import FaceSettings
from scoring.syncnet.inference import load_syncnet_v2
from scoring.syncnet.scorer import SyncNetScorer
from tests.helpers import generated_weights, media
from tests.helpers.labels import write_labels
from tests.helpers.paths import FFPP, MEDIA, shared
from tests.helpers.service import TORCH_THREADS, app_settings

torch_env.configure_threads(TORCH_THREADS)
prepare_torchvision()  # before any test imports torchvision, facenet-pytorch or timm


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("weights")
    generated_weights.write_all(directory)
    return directory


@pytest.fixture(scope="session")
def probe(weights_dir) -> SyncNetScorer:
    """SyncNet on the stand-in probe network (tests.helpers.generated_weights.probe_syncnet_state): plumbing and offsets only."""
    return SyncNetScorer(load_syncnet_v2(weights_dir / "syncnet_probe.model"), torch.device("cpu"))


@pytest.fixture(scope="session")
def probe_bfloat16(weights_dir) -> SyncNetScorer:
    return SyncNetScorer(load_syncnet_v2(weights_dir / "syncnet_probe.model"), torch.device("cpu"), precision=torch.bfloat16)


@pytest.fixture(scope="session")
def tracker():
    """The service's face stage on MTCNN (S3FD's official weights are not available here)."""
    return build_tracker(FaceSettings(face_detector="mtcnn"), torch.device("cpu"))[0]


@pytest.fixture(scope="session")
def upload_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Small clips made here: synced talking (3 s), mute, faceless, too short (0.6 s), audio only."""
    folder = tmp_path_factory.mktemp("clips")
    return {
        "talking": media.synced_talking_clip(folder / "talking.mp4", seconds=3),
        "mute": media.write_video(folder / "mute.mp4", media.talking_face(media.speech_like_signal(60))),
        "noface": media.faceless_clip(folder / "noface.mp4"),
        "short": media.synced_talking_clip(folder / "short.mp4", seconds=0.6),
        "audio": media.audio_only(folder / "audio.wav"),
    }


@pytest.fixture(scope="session")
def classifier(tmp_path_factory) -> Path:
    """A seeded EfficientNet-B0 frame classifier in the efficientnet_pytorch layout (plumbing only)."""
    from efficientnet_pytorch import EfficientNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("classifier") / "effb0_test.pt"
    torch.save(EfficientNet.from_name("efficientnet-b0", num_classes=2).state_dict(), path)
    path.with_name(path.name + ".json").write_text(json.dumps({"class_order": ["real", "fake"], "input_size": 96}))
    return path


@pytest.fixture(scope="module")
def app(weights_dir, upload_dir, classifier) -> Flask:
    return create_app(app_settings(weights_dir, upload_dir, classifier))


@pytest.fixture()
def client(app, upload_dir):
    yield app.test_client()
    assert list(upload_dir.iterdir()) == [], "an upload was left in the temp directory"


@pytest.fixture
def tiny_labels(tmp_path):
    """Six genuine and six Deepfakes FF++ crops to train on; a genuine GRID clip and the Wav2Lip fake to validate on."""
    rows = []
    for label, folder in (("REAL", "train/real/youtube"), ("FAKE", "train/fake/Deepfakes")):
        for path in sorted((shared(FFPP) / "crops" / "tranthuhoai3786" / folder).glob("*.jpg"))[:6]:
            rows.append({"path": str(path), "label": label, "kind": "image", "split_group": "crops:train"})
    rows.append({"path": str(shared(MEDIA / "talking" / "grid_bbaf2n.mpg")), "label": "REAL", "kind": "video", "split_group": "val"})
    rows.append(
        {"path": str(MEDIA / "wav2lip_pair" / "FAKE_wav2lip_result_voice.mp4"), "label": "FAKE", "kind": "video", "split_group": "val"}
    )
    labels = tmp_path / "labels.csv"
    write_labels(labels, rows)
    return labels
