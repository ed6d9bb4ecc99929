"""The evaluation CLI runs the service pipeline over labelled videos and reports per source."""

from __future__ import annotations

import csv
import json

import torch

from tests import media
from tests.conftest import MEDIA, shared
from training import evaluate


def test_evaluation_reports_per_source_and_writes_an_roc(tmp_path, weights_dir, monkeypatch, capsys):
    from efficientnet_pytorch import EfficientNet

    torch.manual_seed(0)
    classifier = tmp_path / "c.pt"
    torch.save(EfficientNet.from_name("efficientnet-b0", num_classes=2).state_dict(), classifier)
    for name, value in {
        "SYNCNET_WEIGHTS": str(weights_dir / "syncnet_probe.model"),
        "ALLOW_UNVERIFIED_WEIGHTS": "1",
        "FACE_DETECTOR": "mtcnn",
        "EFFICIENTNET_WEIGHTS": str(classifier),
        "EFFICIENTNET_INPUT_SIZE": "96",
    }.items():
        monkeypatch.setenv(name, value)
    rows = [
        {"path": str(shared(MEDIA / "talking" / "grid_lbax4n.mpg")), "label": "REAL", "kind": "video", "source_dataset": "GRID", "split_group": "a"},
        {"path": str(MEDIA / "wav2lip_pair" / "FAKE_wav2lip_result_voice.mp4"), "label": "FAKE", "kind": "video", "source_dataset": "Wav2Lip", "split_group": "a"},
        {"path": str(media.faceless_clip(tmp_path / "noface.mp4")), "label": "REAL", "kind": "video", "source_dataset": "GRID", "split_group": "a"},
        {"path": str(MEDIA / "syncnet_example.avi"), "label": "REAL", "kind": "video", "source_dataset": "VGG", "split_group": "other"},
    ]
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out, roc = tmp_path / "eval.json", tmp_path / "roc.png"
    assert evaluate.main(["--labels", str(labels), "--groups", "a", "--roc", str(roc), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["summary"]) == {"ALL", "GRID", "Wav2Lip"}
    overall = report["summary"]["ALL"]
    assert (overall["videos"], overall["real"], overall["fake"]) == (2, 1, 1)
    assert overall["combined"]["auc"] in (0.0, 1.0) and overall["efficientnet"]["n"] == 2
    assert sum("refused" in v for v in report["videos"]) == 1
    assert roc.stat().st_size > 0
    printed = capsys.readouterr().out
    assert "Wav2Lip" in printed and "refused:" in printed and "422 no_face" in printed
