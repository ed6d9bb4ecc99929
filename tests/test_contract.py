"""The detector contract's promise: a detector added to the register reaches every response, /health,
the OpenAPI document and the audit trail with no edit to the service, the web layer, the audit or the
metrics; and a detector that judges no photos answers a photo with its reason.

The detector here exists only in this test: it measures how bright the clip is (a real measurement,
not a verdict; plumbing), beside the others at fusion weight 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from app import create_app
from scoring.contract import UNIT, Detector, Measurement, schema_object
from scoring.detectors import DETECTOR_TYPES
from scoring.operations.audit import decision_lines
from scoring.settings import Settings
from scoring.weights.files import OfficialFile
from tests.helpers.media import PHOTO
from tests.helpers.service import app_settings, post_images, upload

BRIGHTNESS_FILE = "brightness.cfg"


class BrightnessDetector(Detector):
    name = "brightness"
    title = "The brightness meter"
    always_reported = False
    stands_alone = False
    needs_faces = False
    image_reason = "a test detector of videos only"
    folder: Path

    @classmethod
    def from_settings(cls, settings: Settings, device: torch.device) -> BrightnessDetector:
        return cls()

    @classmethod
    def weights_file(cls, settings: Settings) -> tuple[Path | None, OfficialFile | None]:
        return cls.folder / BRIGHTNESS_FILE, None

    def measure(self, video, tracking, track, watch) -> Measurement:
        return Measurement({"score": round(float(np.mean(video.frames)) / 255, 4)}, track=None)

    def describe(self) -> dict:
        return {"measures": "mean pixel value"}

    @classmethod
    def report_schema(cls) -> dict:
        return {"oneOf": [schema_object({"score": UNIT}), {"type": "null"}]}


def test_a_new_detector_needs_no_edit_to_the_service_web_audit_or_metrics(monkeypatch, tmp_path, weights_dir, upload_dir, classifier, clips):
    (tmp_path / BRIGHTNESS_FILE).write_text("no weights: it measures pixels")
    monkeypatch.setattr(BrightnessDetector, "folder", tmp_path, raising=False)
    monkeypatch.setattr("scoring.detectors.DETECTOR_TYPES", (*DETECTOR_TYPES, BrightnessDetector))
    app = create_app(app_settings(weights_dir, upload_dir, classifier))
    client = app.test_client()

    scored = upload(client, clips["talking"])
    body = scored.get_json()
    assert scored.status_code == 200 and 0 < body["brightness"]["score"] < 1
    assert body["weights"]["brightness"] == 0 and body["models"]["brightness"]["file"] == BRIGHTNESS_FILE

    health = client.get("/health").get_json()
    assert health["detectors"]["brightness"] is True and health["detector_details"]["brightness"]["available"]
    document = client.get("/openapi.json").get_json()
    assert document["components"]["schemas"]["ScoreResponse"]["properties"]["brightness"] == BrightnessDetector.report_schema()

    digests = app.extensions["scoring"].service.model_digests()
    (line,) = decision_lines("/score", 200, body, None, digests)
    assert line["detectors"]["brightness"] == {"score": body["brightness"]["score"], "file": BRIGHTNESS_FILE, "sha256": digests["brightness"]}

    photo = post_images(client, PHOTO.read_bytes()).get_json()
    assert photo["brightness"] is None and photo["weights"]["brightness"] == 0
    assert photo["syncnet"] == {"score": None, "confidence": None, "available": True, "code": "not_applicable", "reason": DETECTOR_TYPES[0].image_reason}
    assert list(upload_dir.iterdir()) == []
