"""Shared fixtures: generated official-format weights, test settings, then the app and its client
(`classifier` -> `app` -> `client`, the chain the HTTP tests use).

Real third-party media and data are read from ../shared (never copied into the repo); tests that
need them skip with a reason when it is absent.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from flask import Flask

from app import create_app
from scoring.faces.stage import build_tracker
from scoring.runtime import torch_env
from scoring.runtime.torchvision_ops import prepare_torchvision
from scoring.settings import FaceSettings, Settings
from scoring.syncnet.inference import load_syncnet_v2
from scoring.syncnet.scorer import SyncNetScorer
from tests import media, weights

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MEDIA = SHARED / "media"
FFPP = SHARED / "datasets" / "ffpp"
TALKING_CLIPS = sorted((MEDIA / "talking").glob("*.m*")) + [MEDIA / "syncnet_example.avi"]

# Under pytest-xdist (`-n 2`, as setup.sh runs the suite) the cores are shared by the test processes
# and by the services they start: more torch threads than cores thrash.
PARALLEL_PROCESSES = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
TORCH_THREADS = torch_env.default_thread_count(PARALLEL_PROCESSES)
torch_env.configure_threads(TORCH_THREADS)
prepare_torchvision()  # before any test imports torchvision, facenet-pytorch or timm


def system_program(*names: str, package: str) -> str:
    """The path of a Debian program the test needs; in CI (which installs it) its absence fails, elsewhere it skips."""
    found = next((shutil.which(name) for name in names if shutil.which(name)), None)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{names[0]} is not installed; .ci/run installs Debian's {package} package")
    pytest.skip(f"{names[0]} is not installed (apt-get install {package})")


def shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not available (the shared test media live in ../shared)")
    return path


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("weights")
    weights.write_all(directory)
    return directory


def make_settings(weights_dir: Path, upload_dir: Path, **changes) -> Settings:
    """The service's defaults, pointed at generated official-format weights (plumbing only)."""
    base = Settings.from_env({})
    return base.replace(
        syncnet=dataclasses.replace(base.syncnet, weights=weights_dir / "syncnet_probe.model"),
        faces=dataclasses.replace(base.faces, s3fd_weights=weights_dir / "absent_sfd_face.pth", face_detector="mtcnn"),
        allow_unverified_weights=True,
        upload_tmp_dir=upload_dir,
        queue_timeout_s=2.0,
        rate_limit_per_minute=0,  # the suite's clients post far more than a person would; tests/test_limits.py sets one
        **changes,
    )


def service_env(weights_dir: Path, upload_dir: Path, **more: str) -> dict[str, str]:
    """The environment of a real gunicorn service on generated official-format weights (plumbing only)."""
    return {
        "SYNCNET_WEIGHTS": str(weights_dir / "syncnet_probe.model"),
        "ALLOW_UNVERIFIED_WEIGHTS": "1",
        "FACE_DETECTOR": "mtcnn",
        "UPLOAD_TMP_DIR": str(upload_dir),
        "GUNICORN_THREADS": "2",
        "TORCH_THREADS": str(TORCH_THREADS),
        **more,
    }


@pytest.fixture(scope="session")
def probe(weights_dir) -> SyncNetScorer:
    """SyncNet on the stand-in probe network (tests.weights.probe_syncnet_state): plumbing and offsets only."""
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


def upload(client, path: Path | None = None, data: bytes = b"", name: str = "clip.mp4", headers: dict | None = None, **fields):
    """POST /score through a Flask test client: the video at `path`, or `data`, as multipart 'video'."""
    payload = {"video": (io.BytesIO(path.read_bytes() if path else data), name), **fields}
    return client.post("/score", data=payload, headers=headers, content_type="multipart/form-data")


def post_images(client, *images: bytes, route: str = "/score/image", headers: dict | None = None, **fields):
    """POST photos as multipart 'image' fields through a Flask test client."""
    payload = {"image": [(io.BytesIO(data), f"photo{i}.jpg") for i, data in enumerate(images)], **fields}
    return client.post(route, data=payload, headers=headers, content_type="multipart/form-data")


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


def app_settings(weights_dir: Path, upload_dir: Path, classifier: Path, **changes) -> Settings:
    """`make_settings` with the generated classifier as the frame detector."""
    base = make_settings(weights_dir, upload_dir)
    efficientnet = dataclasses.replace(base.efficientnet, weights=(classifier,))
    return dataclasses.replace(base, efficientnet=efficientnet, **changes)


@pytest.fixture(scope="module")
def app(weights_dir, upload_dir, classifier) -> Flask:
    return create_app(app_settings(weights_dir, upload_dir, classifier))


@pytest.fixture()
def client(app, upload_dir):
    yield app.test_client()
    assert list(upload_dir.iterdir()) == [], "an upload was left in the temp directory"


def write_labels(path, rows) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


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
