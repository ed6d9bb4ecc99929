"""The service under test on generated official-format weights: its settings, its environment, and
posts through a Flask test client (plumbing only)."""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

from scoring.runtime import torch_env
from scoring.settings import Settings

# Under pytest-xdist (`-n 2`, as setup.sh runs the suite) the cores are shared by the test processes
# and by the services they start: more torch threads than cores thrash.
PARALLEL_PROCESSES = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
TORCH_THREADS = torch_env.default_thread_count(PARALLEL_PROCESSES)


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


def app_settings(weights_dir: Path, upload_dir: Path, classifier: Path, **changes) -> Settings:
    """`make_settings` with the generated classifier as the frame detector."""
    base = make_settings(weights_dir, upload_dir)
    efficientnet = dataclasses.replace(base.efficientnet, weights=(classifier,))
    return dataclasses.replace(base, efficientnet=efficientnet, **changes)


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


def upload(client, path: Path | None = None, data: bytes = b"", name: str = "clip.mp4", headers: dict | None = None, **fields):
    """POST /score through a Flask test client: the video at `path`, or `data`, as multipart 'video'."""
    payload = {"video": (io.BytesIO(path.read_bytes() if path else data), name), **fields}
    return client.post("/score", data=payload, headers=headers, content_type="multipart/form-data")


def post_images(client, *images: bytes, route: str = "/score/image", headers: dict | None = None, **fields):
    """POST photos as multipart 'image' fields through a Flask test client."""
    payload = {"image": [(io.BytesIO(data), f"photo{i}.jpg") for i, data in enumerate(images)], **fields}
    return client.post(route, data=payload, headers=headers, content_type="multipart/form-data")
