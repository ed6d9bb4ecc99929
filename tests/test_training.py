"""The training tools: the evaluation CLI over labelled videos, both model families' trainers, their splits and the transfer table."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch

from efficientnet_detector import EfficientNetDetector
from tests.helpers import media
from tests.helpers.labels import write_labels
from tests.helpers.paths import MEDIA, shared
from training import data, evaluate, train_efficientnet, train_spectrum, transfer_report


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
        {
            "path": str(shared(MEDIA / "talking" / "grid_lbax4n.mpg")),
            "label": "REAL",
            "kind": "video",
            "source_dataset": "GRID",
            "split_group": "a",
        },
        {
            "path": str(MEDIA / "wav2lip_pair" / "FAKE_wav2lip_result_voice.mp4"),
            "label": "FAKE",
            "kind": "video",
            "source_dataset": "Wav2Lip",
            "split_group": "a",
        },
        {
            "path": str(media.faceless_clip(tmp_path / "noface.mp4")),
            "label": "REAL",
            "kind": "video",
            "source_dataset": "GRID",
            "split_group": "a",
        },
        {"path": str(MEDIA / "syncnet_example.avi"), "label": "REAL", "kind": "video", "source_dataset": "VGG", "split_group": "other"},
    ]
    labels = tmp_path / "labels.csv"
    write_labels(labels, rows)
    out, roc = tmp_path / "eval.json", tmp_path / "roc.png"
    assert evaluate.main(["--labels", str(labels), "--groups", "a", "--roc", str(roc), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["summary"]) == {"ALL", "GRID", "Wav2Lip"}
    overall = report["summary"]["ALL"]
    assert (overall["videos"], overall["real"], overall["fake"]) == (2, 1, 1)
    assert overall["combined"]["auc"] in (0.0, 1.0) and overall["efficientnet"]["n"] == 2
    assert sum("refused" in v for v in report["videos"]) == 1
    assert roc.stat().st_size > 0 and (tmp_path / "roc_reliability.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "Wav2Lip" in printed and "refused:" in printed and "422 no_face" in printed
    # Genuine videos only (what a genuine person gets): a report, and no diagram that would need both classes.
    assert evaluate.main(["--labels", str(labels), "--groups", "other", "--roc", str(tmp_path / "genuine.png")]) == 0
    assert "no reliability diagram" in capsys.readouterr().out and not (tmp_path / "genuine_reliability.png").exists()


TINY_DATA = ["--val-groups", "val", "--input-size", "64", "--cache-size", "72", "--val-frames", "4", "--workers", "0", "--no-cache"]


def test_tiny_training_run_writes_a_loadable_checkpoint(tmp_path, tiny_labels):
    out = tmp_path / "out"
    args = ["--labels", str(tiny_labels), "--out", str(out), "--name", "tiny", "--epochs", "1", "--max-steps", "2", "--batch-size", "4"]
    assert train_efficientnet.main(args + TINY_DATA) == 0
    for suffix in (".pt", ".pt.json", ".metrics.json", ".curve.png"):
        assert (out / f"tiny{suffix}").stat().st_size > 0
    report = json.loads((out / "tiny.metrics.json").read_text())
    assert report["validation_groups"] == ["val"] and report["train_crops"] == {"real": 6, "fake": 6}
    assert set(report["best"]["video"]) >= {"auc", "accuracy", "eer"} and report["best"]["video"]["n"] == 2
    assert sorted(v["label"] for v in report["best"]["videos"]) == [0, 1]
    detector = EfficientNetDetector(out / "tiny.pt", "cpu")
    assert detector.spec.profile.input_size == 64 and detector.spec.profile.class_order == ("real", "fake")
    faces = [np.random.default_rng(i).integers(0, 255, (64, 64, 3), dtype=np.uint8) for i in range(2)]
    assert 0 <= detector.predict_frames(faces)["score"] <= 1


def ffpp_row(path: str, label: str, group: str, kind: str = "video") -> dict:
    return {"path": path, "label": label, "kind": kind, "split_group": group}


def test_a_held_out_manipulation_never_trains_and_is_the_only_fake_validated():
    rows = [
        ffpp_row("videos/c40/real/youtube/a.mp4", "REAL", "g1"),
        ffpp_row("videos/c40/fake/Face2Face/a_b.mp4", "FAKE", "g1"),
        ffpp_row("videos/c40/fake/Deepfakes/a_b.mp4", "FAKE", "g1"),
        ffpp_row("videos/c40/real/youtube/c.mp4", "REAL", "g2"),
        ffpp_row("videos/c40/fake/Face2Face/c_d.mp4", "FAKE", "g2"),
        ffpp_row("videos/c40/fake/FaceSwap/c_d.mp4", "FAKE", "g2"),
        ffpp_row("crops/x/train/fake/Face2Face/roi_1.jpg", "FAKE", "crops", kind="image"),
        ffpp_row("crops/x/train/fake/NeuralTextures/roi_1.jpg", "FAKE", "crops", kind="image"),
    ]
    assert [data.manipulation(r) for r in rows] == [
        None,
        "Face2Face",
        "Deepfakes",
        None,
        "Face2Face",
        "FaceSwap",
        "Face2Face",
        "NeuralTextures",
    ]
    train, validation = data.split_rows(rows, {"g1"}, "Face2Face")
    assert [r["path"] for r in train] == [rows[3]["path"], rows[5]["path"], rows[7]["path"]]
    assert [r["path"] for r in validation] == [rows[0]["path"], rows[1]["path"]]
    train, validation = data.split_rows(rows, {"g1"}, None)
    assert len(train) == 5 and len(validation) == 3


def test_extra_genuine_videos_train_as_genuine_in_groups_of_their_own(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ("a.mp4", "b.mpg", "notes.txt"):
        (folder / name).write_bytes(b"x")
    rows = data.extra_real_rows([folder])
    assert [(Path(r["path"]).name, r["label"], r["kind"], r["split_group"]) for r in rows] == [
        ("a.mp4", "REAL", "video", "extra:a"),
        ("b.mpg", "REAL", "video", "extra:b"),
    ]


def test_the_spectrum_feature_tells_fine_grain_from_smooth_faces():
    model = train_spectrum.SpectrumClassifier(64)
    rng = np.random.default_rng(0)
    grain = rng.normal(0, 1, (1, 3, 64, 64))
    smooth = cv2.GaussianBlur(grain[0].transpose(1, 2, 0), (0, 0), 3).transpose(2, 0, 1)[None]
    spectra = model.spectrum(torch.tensor(np.concatenate([grain, smooth]), dtype=torch.float32))
    high_minus_low = (spectra[:, -8:].mean(1) - spectra[:, 1:9].mean(1)).numpy()
    assert abs(high_minus_low[0]) < 1.0 and high_minus_low[1] < -5.0
    assert {"feature_mean", "feature_std", "head.weight", "head.bias"} == set(model.state_dict())


def test_tiny_spectrum_run_reports_the_held_out_videos(tmp_path, tiny_labels):
    out = tmp_path / "spectrum"
    args = ["--labels", str(tiny_labels), "--out", str(out), "--name", "identity", "--passes", "1", "--sbi", "0.5"]
    assert train_spectrum.main(args + TINY_DATA) == 0
    report = json.loads((out / "identity.metrics.json").read_text())
    assert report["train_features"] == 12 and report["best"]["video"]["n"] == 2

    def metrics_file(folder, scores):
        folder.mkdir()
        videos = [{"video": f"v{i}", "group": f"g{i % 3}", "label": i % 2, "score": s} for i, s in enumerate(scores)]
        (folder / "identity.metrics.json").write_text(json.dumps({"best": {"videos": videos}}))

    metrics_file(tmp_path / "perfect", [0.1, 0.9, 0.2, 0.8, 0.3, 0.7])
    metrics_file(tmp_path / "reversed", [0.9, 0.1, 0.8, 0.2, 0.7, 0.3])
    table = tmp_path / "table.md"
    families = [f"good={tmp_path / 'perfect'}", f"bad={tmp_path / 'reversed'}"]
    assert transfer_report.main([*families, "--combine", "both=good+bad", "--out", str(table)]) == 0
    lines = table.read_text().splitlines()
    good, bad, both = (next(line for line in lines if f"| {name} |" in line).split(" | ") for name in ("good", "bad", "both"))
    assert good[2:5] == ["3/3", "1.000", "1.000"] and bad[2:5] == ["3/3", "0.000", "0.000"]
    assert both[2:4] == ["3/3", "0.500"]  # the mean of a perfect and a reversed ranking ranks nothing
    assert good[-1].rstrip(" |").count("/") == 3  # genuine videos' risk levels: LOW/MEDIUM/HIGH/CRITICAL


def test_a_folder_of_videos_is_labelled_by_its_folder_names(tmp_path):
    for relative in ("celeb/Celeb-real/id0_0001.mp4", "celeb/Celeb-synthesis/id0_id1_0001.mp4", "celeb/YouTube-real/00001.mp4"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"x")
    (tmp_path / "ffpp/manipulated_sequences/Deepfakes/c23/videos").mkdir(parents=True)
    (tmp_path / "ffpp/manipulated_sequences/Deepfakes/c23/videos/000_003.mp4").write_bytes(b"x")
    (tmp_path / "ffpp/original_sequences/youtube/c23/videos").mkdir(parents=True)
    (tmp_path / "ffpp/original_sequences/youtube/c23/videos/000.mp4").write_bytes(b"x")
    (tmp_path / "misc").mkdir()
    (tmp_path / "misc/clip.mp4").write_bytes(b"x")
    rows, unlabelled = evaluate.folder_rows(tmp_path)
    assert {(r["path"], r["label"], r["source_dataset"]) for r in rows} == {
        ("celeb/Celeb-real/id0_0001.mp4", "REAL", "celeb"),
        ("celeb/Celeb-synthesis/id0_id1_0001.mp4", "FAKE", "celeb"),
        ("celeb/YouTube-real/00001.mp4", "REAL", "celeb"),
        ("ffpp/manipulated_sequences/Deepfakes/c23/videos/000_003.mp4", "FAKE", "ffpp"),
        ("ffpp/original_sequences/youtube/c23/videos/000.mp4", "REAL", "ffpp"),
    }
    assert unlabelled == [Path("misc/clip.mp4")]
