"""The reference side of bench/parity_frame_detectors.py: one published detector, run by its authors' code.

    python bench/reference_frame_detectors.py FAMILY --repo DIR --inputs faces.npz --weights OUT --outputs result.npz

Runs in its own process with the author's repository (a scratch checkout outside this project)
first on sys.path; from this project it imports only `scoring.runtime.torchvision_ops` (the fix that lets this
machine's torchvision wheel import next to the CPU torch) and the test suite's weight randomiser
`tests.helpers.generated_weights.calibrate_batchnorm`. It builds the author's model class with
seeded random weights (BatchNorm statistics measured on these faces and the head scaled so the probabilities
spread over (0, 1) on these faces), saves them in the author's checkpoint format to OUT, then
scores every face with the author's own crop, resize, normalisation and output code, and each
clip with the author's per-video aggregation. Where the authors' code downloads ImageNet weights
or hard-codes CUDA, the model is built with its `from_name` / `pretrained=False` twin instead.

`faces.npz` holds `frame_<i>` (RGB frames), `boxes` (x1, y1, x2, y2 per face, from this project's
face stage) and `clips` (the clip of each face). `result.npz` gets `p_real` per face and
`video_p_real` per clip, and for the families whose face detector runs here (polimi's BlazeFace,
selimsef's MTCNN) also `their_boxes` and `p_real_their_box` (the same model on their own box) and
`our_boxes` (ours as their pipeline widens it, to compare like with like).
"""

from __future__ import annotations

import argparse
import sys
import types
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch import nn

from scoring.runtime.torchvision_ops import prepare_torchvision
from tests.helpers.generated_weights import calibrate_batchnorm

prepare_torchvision()  # before any author's code imports torchvision

SEED = 1234
TARGET_LOGIT_STD = 1.5


def spread_head(head: nn.Linear, logits: torch.Tensor) -> None:
    """Scale the last linear layer so the decision logit (one output, or the difference of two) has a
    spread that tests something, centred on 0."""
    decision = (logits[:, 1] - logits[:, 0]) if logits.shape[1] == 2 else logits[:, 0]
    scale = TARGET_LOGIT_STD / max(float(decision.std()), 1e-6)
    with torch.no_grad():
        head.weight.mul_(scale)
        head.bias.mul_(scale)
        head.bias[-1] -= float(decision.mean()) * scale


def forward(model: nn.Module, batch: torch.Tensor, size: int = 8) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(batch[i : i + size]) for i in range(0, len(batch), size)])


def load_inputs(path: Path) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    data = np.load(path)
    boxes, clips = data["boxes"], data["clips"]
    return [data[f"frame_{i}"] for i in range(len(boxes))], boxes, clips


def per_clip(values: np.ndarray, clips: np.ndarray, aggregate) -> np.ndarray:
    return np.array([aggregate(values[clips == c]) for c in np.unique(clips)])


def patch_efficientnet_downloads() -> None:
    """from_pretrained downloads ImageNet weights: build the same network with from_name instead."""
    from efficientnet_pytorch import EfficientNet

    def from_name_instead(cls, model_name, weights_path=None, advprop=False, in_channels=3, num_classes=1000, **override):
        return cls.from_name(model_name, in_channels=in_channels, num_classes=num_classes, **override)

    EfficientNet.from_pretrained = classmethod(from_name_instead)


# polimi-ispl/icpr2020dfdc


def polimi(repo: Path, architecture: str, frames, boxes, clips, weights: Path) -> dict:
    patch_efficientnet_downloads()
    sys.modules.setdefault("matplotlib.pyplot", types.ModuleType("matplotlib.pyplot"))  # imported at the top of utils, unused
    from architectures import fornet
    from blazeface import BlazeFace, FaceExtractor
    from isplutils import utils
    from scipy.special import expit

    torch.manual_seed(SEED)
    net = getattr(fornet, architecture)().eval()
    transformer = utils.get_transformer("scale", 224, net.get_normalizer(), train=False)

    def their_face(frame: np.ndarray, detection: torch.Tensor) -> torch.Tensor:
        ymin, xmin, ymax, xmax = detection[:4].tolist()
        face = utils.extract_bb(Image.fromarray(frame), (xmin, ymin, xmax, ymax), "scale", 224)
        return transformer(image=np.array(face))["image"]

    def with_margin(frame: np.ndarray, box) -> torch.Tensor:
        detection = torch.zeros(1, 17)
        detection[0, :4] = torch.tensor([box[1], box[0], box[3], box[2]], dtype=torch.float32)
        size = (frame.shape[1], frame.shape[0])
        return FaceExtractor._add_margin_to_detections(None, detection, size, 0.2)[0]

    our_detections = [with_margin(f, b) for f, b in zip(frames, boxes, strict=True)]
    batch = torch.stack([their_face(f, d) for f, d in zip(frames, our_detections, strict=True)])
    head = net.classifier[-1] if isinstance(net.classifier, nn.Sequential) else net.classifier
    calibrate_batchnorm(net, batch, SEED)
    spread_head(head, forward(net, batch))
    torch.save({"net": net.state_dict(), "opt": {}, "epoch": 0}, weights)
    logits = forward(net, batch)[:, 0].numpy()

    facedet = BlazeFace()
    facedet.load_weights(str(repo / "blazeface" / "blazeface.pth"))
    facedet.load_anchors(str(repo / "blazeface" / "anchors.npy"))
    extractor = FaceExtractor(facedet=facedet)
    their_boxes, their_logits = [], []
    for frame in frames:
        found = extractor.process_image(img=frame)
        if not len(found["detections"]):
            their_boxes.append([np.nan] * 4)
            their_logits.append(np.nan)
            continue
        detection = torch.as_tensor(found["detections"][0])
        ymin, xmin, ymax, xmax = detection[:4].tolist()
        their_boxes.append([xmin, ymin, xmax, ymax])
        their_logits.append(float(forward(net, their_face(frame, detection)[None])[0, 0]))
    aggregate = partial(utils.aggregate, deadzone=0, pre_mult=1, policy="mean", post_mult=1, clipmargin=0)
    return {
        "p_real": 1 - expit(logits),
        "video_p_real": 1 - per_clip(logits, clips, aggregate),
        "their_boxes": np.array(their_boxes),
        "our_boxes": np.array([[d[1], d[0], d[3], d[2]] for d in (d.tolist() for d in our_detections)]),
        "p_real_their_box": 1 - expit(np.array(their_logits)),
    }


# selimsef/dfdc_deepfake_challenge


class _GivenBoxes:
    """Stands in for their MTCNN: returns this project's box for each frame, at the half scale they detect on."""

    def __init__(self, boxes):
        self.boxes = list(boxes)

    def detect(self, image, landmarks=False):
        return np.array([np.asarray(self.boxes.pop(0), dtype=np.float64) / 2]), np.array([1.0])


def _selimsef_faces(kernel_utils, frames, detector) -> list:
    extractor = object.__new__(kernel_utils.FaceExtractor)  # their __init__ builds MTCNN on CUDA
    extractor.detector = detector
    faces = []
    for frame in frames:
        extractor.video_read_fn = lambda path, frame=frame: (frame[None], [0])
        found = extractor.process_video("frame")
        faces.append(found[0]["faces"][0] if found and found[0]["faces"] else None)
    return faces


def selimsef(repo: Path, frames, boxes, clips, weights: Path) -> dict:
    import kernel_utils
    from facenet_pytorch.models.mtcnn import MTCNN
    from timm.models.efficientnet import tf_efficientnet_b7_ns

    from training.zoo import classifiers

    classifiers.encoder_params["tf_efficientnet_b7_ns"]["init_op"] = partial(tf_efficientnet_b7_ns, pretrained=False, drop_path_rate=0.2)
    torch.manual_seed(SEED)
    model = classifiers.DeepFakeClassifier(encoder="tf_efficientnet_b7_ns").eval()

    def their_batch(faces) -> torch.Tensor:
        images = [kernel_utils.put_to_center(kernel_utils.isotropically_resize_image(face, 380), 380) for face in faces]
        x = torch.tensor(np.stack(images)).float().permute((0, 3, 1, 2))
        return torch.stack([kernel_utils.normalize_transform(image / 255.0) for image in x])

    batch = their_batch(_selimsef_faces(kernel_utils, frames, _GivenBoxes(boxes)))
    calibrate_batchnorm(model, batch, SEED)
    spread_head(model.fc, forward(model, batch, 4))
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "epoch": 0}, weights)
    p_fake = torch.sigmoid(forward(model, batch, 4)[:, 0]).numpy()

    their_faces = _selimsef_faces(kernel_utils, frames, _HalfFrameMTCNN(MTCNN(margin=0, thresholds=[0.7, 0.8, 0.8], device="cpu")))
    found = [face is not None for face in their_faces]
    p_fake_theirs = np.full(len(frames), np.nan)
    if any(found):
        p_fake_theirs[np.array(found)] = torch.sigmoid(forward(model, their_batch([f for f in their_faces if f is not None]), 4)[:, 0]).numpy()
    return {
        "p_real": 1 - p_fake,
        "video_p_real": 1 - per_clip(p_fake, clips, kernel_utils.confident_strategy),
        "their_boxes": np.array(_HalfFrameMTCNN.last_boxes),
        "our_boxes": boxes.astype(int),
        "p_real_their_box": 1 - p_fake_theirs,
    }


class _HalfFrameMTCNN:
    """Their MTCNN, recording the full-frame box of the first face (theirs multiplies the half-scale box by 2)."""

    last_boxes: list = []

    def __init__(self, mtcnn):
        self.mtcnn = mtcnn
        _HalfFrameMTCNN.last_boxes = []

    def detect(self, image, landmarks=False):
        boxes, probs = self.mtcnn.detect(image, landmarks=landmarks)
        first = [int(b * 2) for b in boxes[0]] if boxes is not None else [np.nan] * 4
        _HalfFrameMTCNN.last_boxes.append(first)
        return (boxes[:1], probs[:1]) if boxes is not None else (None, None)


# mapooon/SelfBlendedImages


def sbi(repo: Path, frames, boxes, clips, weights: Path) -> dict:
    patch_efficientnet_downloads()
    sys.path.insert(0, str(repo / "src" / "inference"))
    from model import Detector
    from preprocess import crop_face

    torch.manual_seed(SEED)
    model = Detector().eval()
    faces = []
    for frame, (x0, y0, x1, y1) in zip(frames, boxes, strict=True):
        bbox = np.array([[x0, y0], [x1, y1]])
        face = crop_face(frame, None, bbox, False, crop_by_bbox=True, only_img=True, phase="test")
        faces.append(cv2.resize(face, dsize=(380, 380)).transpose((2, 0, 1)))
    batch = torch.tensor(np.stack(faces)).float() / 255
    calibrate_batchnorm(model, batch, SEED)
    spread_head(model.net._fc, forward(model, batch, 4))
    torch.save({"model": model.state_dict(), "optimizer": {}, "epoch": 0}, weights)
    p_fake = forward(model, batch, 4).softmax(1)[:, 1].numpy()
    # Their video: per frame the most fake face (one per frame here), then the mean over frames.
    return {"p_real": 1 - p_fake, "video_p_real": 1 - per_clip(p_fake, clips, np.mean)}


# SCLBD/DeepfakeBench


def deepfakebench_batch(regions) -> torch.Tensor:
    """Their loader: cv2 INTER_CUBIC to the resolution, ToTensor, Normalize(0.5, 0.5)."""
    import torchvision.transforms as T

    normalize = T.Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])
    images = [Image.fromarray(cv2.resize(region, (256, 256), interpolation=cv2.INTER_CUBIC)) for region in regions]
    return torch.stack([normalize(T.ToTensor()(image)) for image in images])


def deepfakebench(repo: Path, frames, boxes, clips, weights: Path, regions) -> dict:
    sys.path.insert(0, str(repo / "training"))
    from networks.efficientnetb4 import EfficientNetB4

    torch.manual_seed(SEED)
    backbone = EfficientNetB4({"num_classes": 2, "inc": 3, "dropout": False, "mode": "Original", "pretrained": None}).eval()
    batch = deepfakebench_batch(regions)
    calibrate_batchnorm(backbone, batch, SEED)
    spread_head(backbone.last_layer, forward(backbone, batch, 4))
    torch.save({f"backbone.{k}": v for k, v in backbone.state_dict().items()}, weights)
    p_fake = forward(backbone, batch, 4).softmax(1)[:, 1].numpy()
    return {"p_real": 1 - p_fake, "video_p_real": 1 - per_clip(p_fake, clips, np.mean)}


def deepfakebench_detector_module(repo: Path, name: str) -> types.ModuleType:
    """Their detectors/<name>.py without their training stack: the registries, loss, metrics,
    tensorboard and loralib that the file imports are stood in for (no forward uses them)."""
    import importlib.util

    from metrics.registry import BACKBONE, DETECTOR, LOSSFUNC

    detectors = types.ModuleType("detectors")
    detectors.__path__ = [str(repo / "training" / "detectors")]
    detectors.DETECTOR = DETECTOR
    stand_ins = {
        "detectors": detectors,
        "networks": types.SimpleNamespace(BACKBONE=BACKBONE),
        "loss": types.SimpleNamespace(LOSSFUNC=LOSSFUNC),
        "metrics.base_metrics_class": types.SimpleNamespace(calculate_metrics_for_train=None),
        "sklearn": types.SimpleNamespace(metrics=None),
        "torch.utils.tensorboard": types.SimpleNamespace(SummaryWriter=None),
        "loralib": types.SimpleNamespace(),
    }
    for stood_in, module in stand_ins.items():
        sys.modules.setdefault(stood_in, module)
    spec = importlib.util.spec_from_file_location(f"detectors.{name}", repo / "training" / "detectors" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def deepfakebench_xception(repo: Path, frames, boxes, clips, weights: Path, regions, frequency_aware: bool = False) -> dict:
    """Their Xception detector, or (`frequency_aware`) their F3Net: FAD_Head(256) into an Xception whose
    first convolution they replace by a 12-channel one, Dropout(0.5) before the head (their f3net.yaml)."""
    sys.path.insert(0, str(repo / "training"))
    from networks.xception import Xception

    torch.manual_seed(SEED)
    backbone = Xception({"mode": "original", "num_classes": 2, "inc": 3, "dropout": 0.5 if frequency_aware else False})
    parts = {"backbone": backbone}
    if frequency_aware:
        backbone.conv1 = nn.Conv2d(12, 32, 3, 2, 0, bias=False)
        parts["FAD_head"] = deepfakebench_detector_module(repo, "f3net_detector").FAD_Head(256)
    model = nn.Module()
    for name, part in parts.items():
        model.add_module(name, part)

    def classify(x: torch.Tensor) -> torch.Tensor:
        if frequency_aware:
            x = model.FAD_head(x)
        return backbone.classifier(backbone.features(x))

    model.eval()
    batch = deepfakebench_batch(regions)
    calibrate_batchnorm(model, batch, SEED, classify)
    head = backbone.last_linear[-1] if frequency_aware else backbone.last_linear
    spread_head(head, forward(classify, batch, 4))
    torch.save(model.state_dict(), weights)
    p_fake = forward(classify, batch, 4).softmax(1)[:, 1].numpy()
    return {"p_real": 1 - p_fake, "video_p_real": 1 - per_clip(p_fake, clips, np.mean)}


def effort(repo: Path, frames, boxes, clips, weights: Path, regions) -> dict:
    """Their EffortDetector (detectors/effort_detector.py): CLIP ViT-L/14's vision tower, built from its
    config where they load OpenAI's weights, its attention projections split by their own SVD code.
    Random weights: LayerNorms and scales drawn so the pooled token depends on the face, each residual
    singular value raised so the residual matters."""
    import torchvision.transforms as T
    import transformers

    sys.path.insert(0, str(repo / "training"))
    config = transformers.CLIPVisionConfig(
        hidden_size=1024,
        intermediate_size=4096,
        num_hidden_layers=24,
        num_attention_heads=16,
        image_size=224,
        patch_size=14,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
    )
    transformers.CLIPModel.from_pretrained = classmethod(
        lambda cls, *_, **__: types.SimpleNamespace(vision_model=transformers.CLIPVisionModel(config).vision_model)
    )
    module = deepfakebench_detector_module(repo, "effort_detector")
    torch.manual_seed(SEED)
    model = module.EffortDetector({}).eval()
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for layer in model.backbone.modules():
            if isinstance(layer, nn.LayerNorm):
                layer.weight.uniform_(0.5, 1.5, generator=generator)
                layer.bias.normal_(0, 0.2, generator=generator)
            elif isinstance(layer, nn.Linear):
                layer.weight.mul_(4)
            elif isinstance(layer, module.SVDResidualLinear):
                layer.weight_main.mul_(4)
                layer.S_residual.copy_(4 * layer.S_residual + 2 * torch.linalg.matrix_norm(layer.weight_main, ord=2))
    normalize = T.Normalize(mean=[0.48145466, 0.4578275, 0.40821073], std=[0.26862954, 0.26130258, 0.27577711])
    images = [Image.fromarray(cv2.resize(region, (224, 224), interpolation=cv2.INTER_CUBIC)) for region in regions]
    batch = torch.stack([normalize(T.ToTensor()(image)) for image in images])

    def classify(x: torch.Tensor) -> torch.Tensor:
        return model({"image": x}, inference=True)["cls"]

    spread_head(model.head, forward(classify, batch, 4))
    torch.save(model.state_dict(), weights)
    p_fake = forward(classify, batch, 4).softmax(1)[:, 1].numpy()
    return {"p_real": 1 - p_fake, "video_p_real": 1 - per_clip(p_fake, clips, np.mean)}


# TRahulsingh/DeepfakeDetector


def deepfakedetector(repo: Path, frames, boxes, clips, weights: Path, regions) -> dict:
    import torchvision.transforms as T
    from torchvision.models import efficientnet_b0

    torch.manual_seed(SEED)
    model = efficientnet_b0(weights=None)  # theirs starts from ImageNet weights, then loads the file
    model.classifier = nn.Sequential(nn.Dropout(0.4), nn.Linear(model.classifier[1].in_features, 2))
    model.eval()
    transform = T.Compose([T.Resize((224, 224)), T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    batch = torch.stack([transform(Image.fromarray(region)) for region in regions])
    calibrate_batchnorm(model, batch, SEED)
    spread_head(model.classifier[1], forward(model, batch))
    torch.save(model.state_dict(), weights)
    probs = forward(model, batch).softmax(1).numpy()
    return {"p_real": probs[:, 0], "video_p_real": per_clip(probs[:, 0], clips, np.mean)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "family",
        choices=[
            "polimi",
            "polimi-att",
            "polimi-att-st",
            "selimsef",
            "sbi",
            "deepfakebench",
            "deepfakebench-xception",
            "deepfakebench-f3net",
            "effort",
            "deepfakedetector",
        ],
    )
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--inputs", type=Path, required=True)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--outputs", type=Path, required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(args.repo))
    torch.set_num_threads(max(1, torch.get_num_threads()))
    frames, boxes, clips = load_inputs(args.inputs)
    if args.family.startswith("polimi"):
        architecture = {"polimi": "EfficientNetB4", "polimi-att": "EfficientNetAutoAttB4", "polimi-att-st": "EfficientNetAutoAttB4ST"}[args.family]
        result = polimi(args.repo, architecture, frames, boxes, clips, args.weights)
    elif args.family.startswith("deepfakebench") or args.family in ("effort", "deepfakedetector"):
        regions = [np.load(args.inputs)[f"region_{i}"] for i in range(len(boxes))]
        if args.family in ("deepfakebench-xception", "deepfakebench-f3net"):
            result = deepfakebench_xception(args.repo, frames, boxes, clips, args.weights, regions, args.family.endswith("f3net"))
        else:
            result = globals()[args.family](args.repo, frames, boxes, clips, args.weights, regions)
    else:
        result = globals()[args.family](args.repo, frames, boxes, clips, args.weights)
    np.savez(args.outputs, **result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
