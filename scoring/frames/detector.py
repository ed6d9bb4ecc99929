"""The frame-classifier half of the ensemble: does the face look generated?

`FrameDetector(model_path, device)` loads any file `scoring.frames.layouts` recognises
(the published detectors of polimi-ispl, selimsef, SelfBlendedImages, DeepfakeBench and
DeepfakeDetector, and the project's own), each with its authors' preprocessing profile
(`scoring.frames.profiles`). Several files form an ensemble: each scores the same frames
with its own crop, and the video score is the mean of their video scores, as the DFDC winner
averaged its models, weighted by each file's share where the settings give shares (the line-up
document's 0.25 each is an example). A file that cannot be loaded is left out, and named in the
report, while at least `min_models` files load.

- score = P(real) of the video, aggregated as each file's authors did; is_real = score > 0.5;
  confidence = max(score, 1 - score);
- frame_scores = P(real) per frame (the ensemble's weighted mean); consistency = 1 - min(2 x std, 1);
- models: each file's score, profile and weight; model_predictions and models_used, the line-up
  document's names for the same.

In the service it is one detector of `scoring.contract`: `measure` takes frames sampled uniformly
along the face track the service shares (`scoring.faces.crops.sample_faces`), so no second
face-detection pass runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from scoring.contract import AHEAD_FRAMES, COUNT, UNIT, Detector, Measurement, RecordingSoFar, schema_object
from scoring.faces.crops import longest_track, sample_faces, track_offsets
from scoring.faces.tracking import FaceTrack, TrackingResult
from scoring.frames.explain import METHODS, overlay_png
from scoring.frames.inference import for_inference, serving_autocast
from scoring.frames.layouts import load_checkpoint
from scoring.frames.register import CheckpointSpec, named_profiles
from scoring.media.video import DecodedVideo, to_rgb
from scoring.runtime import memo
from scoring.runtime.timing import Stopwatch
from scoring.runtime.torch_env import dtype_name, precision_name, resolve_precision
from scoring.settings import Settings
from scoring.weights.catalog import BUNDLED_FRAME_DETECTOR, DEFAULT_FRAME_DETECTOR, published_file
from scoring.weights.checkpoints import WeightsError
from scoring.weights.files import OfficialFile

EXPLAINED_FRAMES = 3  # heat maps per video, on request


def aggregate(frame_scores: np.ndarray, video_score: float | None = None) -> dict:
    """The response fields from P(real) per frame; `video_score` (default: their mean) is the verdict."""
    scores = np.asarray(frame_scores, dtype=np.float64)
    mean, std = float(scores.mean()), float(scores.std())
    score = mean if video_score is None else float(video_score)
    return {
        "is_real": score > 0.5,
        "score": round(score, 4),
        "confidence": round(max(score, 1 - score), 4),
        "consistency": round(1 - min(2 * std, 1.0), 4),
        "num_frames": int(scores.size),
        "probabilities": {"fake": round(1 - score, 4), "real": round(score, 4)},
        "frame_scores": [round(float(s), 4) for s in scores],
        "statistics": {
            "mean": round(mean, 4),
            "std": round(std, 4),
            "min": round(float(scores.min()), 4),
            "max": round(float(scores.max()), 4),
        },
    }


def is_bundled_fallback(files: tuple[Path, ...]) -> bool:
    return tuple(files) == (BUNDLED_FRAME_DETECTOR.path,)


@dataclass
class FrameModel:
    path: Path
    network: nn.Module
    spec: CheckpointSpec
    share: float = 1.0  # its weight in the ensemble, before renormalising over the files that loaded
    precision: torch.dtype = torch.float32  # what it runs at (serving_autocast)

    @property
    def profile(self):
        return self.spec.profile

    def describe(self) -> dict:
        return {"file": self.path.name, **self.spec.summary(), "precision": dtype_name(self.precision)}


class FrameDetector(Detector):
    name = "efficientnet"  # the design document's key
    ahead_rank = 2  # a face chosen now may leave the choice as the track grows
    title = "The frame classifier"
    always_reported = False  # null when it did not run, as in the design document
    stands_alone = True
    needs_faces = True

    def __init__(
        self,
        model_path: str | Path | Sequence[str | Path],
        device: str | torch.device = "cpu",
        overrides: dict | None = None,
        num_frames: int | None = None,
        allow_unverified_weights: bool = False,
        precision: torch.dtype = torch.float32,
        max_frames: int | None = None,
        shares: Sequence[float] = (),
        min_models: int = 1,
    ):
        """`num_frames` faces per video, else the profile's count (its authors'), at most `max_frames`;
        `precision` bfloat16 runs the networks under autocast (convolutions and matmuls in bfloat16).
        Several files form an ensemble weighted by `shares` (default: equal); a file that cannot be
        loaded is left out and named (`unavailable`) while at least `min_models` load."""
        paths = [Path(model_path)] if isinstance(model_path, (str, Path)) else [Path(p) for p in model_path]
        if not paths:
            raise WeightsError("no frame-detector file is configured (EFFICIENTNET_WEIGHTS is empty)")
        self.device = torch.device(device)
        self.precision = precision
        self.min_models = min_models
        self.models: list[FrameModel] = []
        self.unavailable: list[dict] = []
        for path, share in zip(paths, shares or [1.0] * len(paths), strict=True):
            try:
                self.models.append(self._load(path, overrides or {}, allow_unverified_weights, share))
            except WeightsError as exc:
                self.unavailable.append({"file": path.name, "reason": str(exc)})
        if len(self.models) < min_models:
            reasons = "; ".join(f"{entry['file']}: {entry['reason']}" for entry in self.unavailable)
            raise WeightsError(reasons if len(paths) == 1 else f"{len(self.models)} of {len(paths)} files loaded, {min_models} needed ({reasons})")
        self.title = f"The frame classifier ({', '.join(dict.fromkeys(model.spec.title for model in self.models))})"
        authors_frames = self.models[0].profile.frames
        self.num_frames = num_frames or min(authors_frames, max_frames or authors_frames)

    def _load(self, path: Path, overrides: dict, allow_unverified: bool, share: float) -> FrameModel:
        claimed = published_file(path)
        if claimed is not None and path.is_file() and not claimed.matches(path) and not allow_unverified:
            raise WeightsError(f"{path.name} is named as a published release but its sha256 differs; set ALLOW_UNVERIFIED_WEIGHTS=1 to use it anyway")
        network, spec = load_checkpoint(path, overrides, allow_unverified, self.device)
        # A packaged encoder's features (the CLIP probe's) are computed in float32 and read in float32:
        # bfloat16 is native only on some CPUs, and the score must not depend on which one serves it.
        precision = torch.float32 if spec.encoder is not None else self.precision
        network = for_inference(network, precision).to(self.device).to(memory_format=torch.channels_last)
        return FrameModel(path, network, spec, share, precision)

    @classmethod
    def from_settings(cls, settings: Settings, device: torch.device) -> FrameDetector:
        e = settings.efficientnet
        precision = resolve_precision(e.precision, torch.device(device))
        return cls(
            e.weights,
            device,
            e.overrides,
            e.num_frames,
            settings.allow_unverified_weights,
            precision,
            e.max_frames,
            e.shares,
            e.min_models,
        )

    @staticmethod
    def weights_file(settings: Settings) -> tuple[Path | None, OfficialFile | None]:
        first = next(iter(settings.efficientnet.weights), None)
        return first, published_file(first) if first is not None else None

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(model.path for model in self.models)

    @classmethod
    def health_config(cls, settings: Settings, device: torch.device) -> dict:
        """The configured files and precision, without loading them."""
        files = settings.efficientnet.weights
        report = {"files": [path.name for path in files], "bundled_fallback": is_bundled_fallback(files)}
        if report["bundled_fallback"]:
            report["note"] = f"the published {DEFAULT_FRAME_DETECTOR.file.name} is not installed (setup.sh downloads it where the network allows)"
        return {"frame_detector": report, "efficientnet_precision": precision_name(settings.efficientnet.precision, device)}

    @classmethod
    def check_settings(cls, settings: Settings) -> list[str]:
        profile, profiles = settings.efficientnet.profile, named_profiles()
        if profile is None or profile in profiles:
            return []
        return [f"invalid value for EFFICIENTNET_PROFILE: {profile!r} is not one of {', '.join(sorted(profiles))}"]

    @property
    def spec(self) -> CheckpointSpec:
        return self.models[0].spec

    @property
    def is_bundled_fallback(self) -> bool:
        return is_bundled_fallback(self.paths)

    def normalise(self, faces: np.ndarray, model: FrameModel) -> torch.Tensor:
        return model.profile.normalise(torch.from_numpy(faces).to(self.device).permute(0, 3, 1, 2))

    def outputs(self, model: FrameModel, faces: np.ndarray) -> torch.Tensor:
        """The network's raw outputs for N x S x S x 3 RGB faces already at its input size: each face run
        alone, so its output is the same whatever it is judged with; within a live session it is
        remembered by its content (`scoring.runtime.memo`), so a face judged as the recording arrived is
        not run again."""
        rows = memo.each(list(faces), lambda face: self._output(model, face), scope=model.path)
        return torch.stack(rows)

    @torch.inference_mode()
    def _output(self, model: FrameModel, face: np.ndarray) -> torch.Tensor:
        with serving_autocast(self.device, model.precision):
            return model.network(self.normalise(face[None], model))[0].float().cpu()

    def judge(self, faces_per_model: list[np.ndarray]) -> dict:
        """The report from each model's faces (the same frames, each model's own crop); a file with a
        calibration has its frame and video scores mapped to P(genuine), and reports its raw score too."""
        per_model = []
        for model, faces in zip(self.models, faces_per_model, strict=True):
            raw = self.outputs(model, faces)
            frames, video = model.profile.real_probability(raw).numpy(), model.profile.video_real_probability(raw)
            calibrate = model.spec.calibration or (lambda scores: np.asarray(scores, dtype=np.float64))
            per_model.append((model, calibrate(frames), float(calibrate(video)), video))
        shares = self.applied_shares
        frame_scores = np.average([frames for _, frames, _, _ in per_model], axis=0, weights=shares)
        report = aggregate(frame_scores, float(np.average([v for _, _, v, _ in per_model], weights=shares)))
        report["models"] = [self._model_entry(model, video, raw, share) for (model, _, video, raw), share in zip(per_model, shares, strict=True)]
        report["model_predictions"] = {entry["file"]: entry["score"] for entry in report["models"]}
        report["models_used"] = [model.path.name for model in self.models]
        if self.unavailable:
            report["models_unavailable"] = self.unavailable
        report["detector"] = self.spec.architecture if len(self.models) == 1 else f"ensemble of {len(self.models)}"
        report["profile"] = self.spec.profile.name
        return report

    @property
    def applied_shares(self) -> np.ndarray:
        """The loaded files' shares, summing to 1 (equal where every share left is 0)."""
        shares = np.array([model.share for model in self.models], dtype=np.float64)
        return shares / shares.sum() if shares.sum() > 0 else np.full(len(shares), 1 / len(shares))

    @staticmethod
    def _model_entry(model: FrameModel, score: float, raw: float, share: float) -> dict:
        entry = {
            "file": model.path.name,
            "architecture": model.spec.architecture,
            "profile": model.profile.name,
            "score": round(score, 4),
            "weight": round(float(share), 4),
        }
        if model.spec.encoder is not None:
            entry["encoder"] = model.spec.encoder_summary()
        if model.spec.calibration is not None:
            entry.update(raw_score=round(raw, 4), calibration=model.spec.calibration.method)
        return entry

    def measure(self, video: DecodedVideo, tracking: TrackingResult, track: FaceTrack | None, watch: Stopwatch) -> Measurement:
        """Faces along `track` (else the longest track, else single detections); raises CannotScore without a face."""
        with watch.stage("classifier_crops"):
            faces = sample_faces(tracking, self.num_frames, track)
            inputs = self.face_inputs(video.rgb_frames(faces.frame_indices), faces.boxes)
        with watch.stage("classifier"):
            report = {
                **self.judge(inputs),
                "frame_indices": [int(i) for i in faces.frame_indices],
                "face_source": faces.source,
            }
        return Measurement(report, faces.track)

    def measure_ahead(self, recording: RecordingSoFar, notes: dict) -> dict | None:
        """One face `measure` will judge on the longest track so far if the recording ends now (or at
        AHEAD_FRAMES, if sooner), judged now: a longer recording's faces are these, less some,
        plus later ones (`scoring.faces.crops.track_offsets`)."""
        track = longest_track(recording.tracking)
        if track is None:
            return None
        for offset in track_offsets(max(track.length, AHEAD_FRAMES), self.num_frames):
            if offset >= track.length:
                break
            frame = track.start + int(offset)
            inputs = self.face_inputs([to_rgb(recording.frames_bgr[frame])], [track.boxes[offset]])
            if not all(memo.known(faces[0], model.path) for model, faces in zip(self.models, inputs, strict=True)):
                return {"frame_index": frame, "score": self.judge(inputs)["frame_scores"][0]}
        return None

    def explain(self, video: DecodedVideo, tracking: TrackingResult, measurement: Measurement) -> list[dict]:
        """Heat maps of the EXPLAINED_FRAMES frames `measure` scored lowest (those a reviewer should
        look at first), by the ensemble's largest share."""
        faces = sample_faces(tracking, self.num_frames, measurement.track)  # the frames measure judged
        scores = measurement.report["frame_scores"]
        chosen = np.argsort(scores, kind="stable")[:EXPLAINED_FRAMES]
        frames = video.rgb_frames([faces.frame_indices[i] for i in chosen])
        maps = self._explanations(frames, [faces.boxes[i] for i in chosen])
        return [{"frame_index": int(faces.frame_indices[i]), "frame_score": scores[i], **entry} for i, entry in zip(chosen, maps, strict=True)]

    def explain_image(self, image_rgb: np.ndarray, box: Sequence[float], report: dict) -> list[dict]:
        """The heat map of the still image's face that `judge_image` reported on."""
        return [{"frame_score": report["frame_scores"][0], **entry} for entry in self._explanations([image_rgb], [box])]

    def _explanations(self, frames_rgb: list[np.ndarray], boxes: Sequence) -> list[dict]:
        model = self.models[int(np.argmax(self.applied_shares))]
        crops = model.profile.face_inputs(frames_rgb, boxes)
        return [
            {"model": model.path.name, **details, "png": overlay_png(crop, heat)}
            for crop, (heat, details) in zip(crops, self._heat_maps(model, crops), strict=True)
        ]

    def _heat_maps(self, model: FrameModel, crops: np.ndarray) -> list[tuple[np.ndarray, dict]]:
        """Per crop, its map and how it was made, by the method of the model's family (`scoring.frames.explain.METHODS`)."""

        def fake_evidence(outputs: torch.Tensor) -> torch.Tensor:
            return -torch.logit(model.profile.real_probability(outputs), eps=1e-6)

        def p_real(faces: np.ndarray) -> np.ndarray:
            return model.profile.real_probability(self.outputs(model, faces)).numpy()

        with serving_autocast(self.device, model.precision):
            return METHODS[model.spec.heat_map](model.network, self.normalise(crops, model), crops, fake_evidence, p_real)

    def judge_image(self, image_rgb: np.ndarray, box: Sequence[float]) -> dict:
        """The report for one face of a still image (`box`: x1, y1, x2, y2 in its pixels)."""
        return {**self.judge(self.face_inputs([image_rgb], [box])), "face_source": "image"}

    def face_inputs(self, frames_rgb: list[np.ndarray], boxes: Sequence) -> list[np.ndarray]:
        """Each model's crops of the faces at `boxes`, cut and sized as its authors did."""
        return [model.profile.face_inputs(frames_rgb, boxes) for model in self.models]

    def describe(self) -> dict:
        return {
            "models": [{**m.describe(), "weight": round(float(share), 4)} for m, share in zip(self.models, self.applied_shares, strict=True)],
            "min_models": self.min_models,
            "models_unavailable": self.unavailable,
            "bundled_fallback": self.is_bundled_fallback,
            "precision": dtype_name(self.precision),
        }

    @classmethod
    def report_schema(cls) -> dict:
        model = schema_object(
            {"file": {"type": "string"}, "architecture": {"type": "string"}, "profile": {"type": "string"}},
            {"score": UNIT, "weight": UNIT, "raw_score": UNIT, "calibration": {"type": "string"}, "encoder": {"type": "object"}},
        )
        report = schema_object(
            {
                "score": UNIT,
                "is_real": {"type": "boolean"},
                "confidence": UNIT,
                "probabilities": schema_object({"fake": UNIT, "real": UNIT}),
                "frame_scores": {"type": "array", "items": UNIT, "minItems": 1},
                "num_frames": {"type": "integer", "minimum": 1},
                "statistics": schema_object({"mean": UNIT, "std": {"type": "number", "minimum": 0}, "min": UNIT, "max": UNIT}),
                "consistency": UNIT,
                "detector": {"type": "string"},
                "profile": {"type": "string"},
                "models": {"type": "array", "items": model, "minItems": 1},
                "model_predictions": {"type": "object", "additionalProperties": UNIT},
                "models_used": {"type": "array", "items": {"type": "string"}},
            },
            {
                "frame_indices": {"type": "array", "items": COUNT},
                "face_source": {"type": "string", "enum": ["track", "detections", "image"]},
                "models_unavailable": {"type": "array", "items": schema_object({"file": {"type": "string"}, "reason": {"type": "string"}})},
                "explanations": {"type": "array", "items": {"type": "object"}},
            },
        )
        return {"oneOf": [report, {"type": "null"}]}
