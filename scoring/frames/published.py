"""Published frame-detector files this service recognises by their sha256, and the one setup installs.

- polimi-ispl/icpr2020dfdc (`architectures/weights.py`): each file name ends in that file's sha256
  (torch.hub checks it on download); their sizes are not published, so only the digest is pinned.
- selimsef/dfdc_deepfake_challenge (release 0.0.1, `download_weights.sh`): the 7 files of the DFDC
  winner; size and sha256 as recorded by the Git LFS pointers of a third-party copy
  (msaidbilgehan/DeepFake-Detection `weights/`), since the release lists no digests.

SelfBlendedImages (Google Drive, research-only licence), DeepfakeBench (CC BY-NC 4.0) and
DeepfakeDetector publish no digest: their files are recognised by their layout instead, and
setup does not install them.
"""

from __future__ import annotations

from dataclasses import dataclass

from scoring.weights.files import OfficialFile

# The authors' profiles (scoring.frames.profiles.PROFILES), by the name EFFICIENTNET_PROFILE takes.
PROFILE_NAMES = ("polimi", "selimsef", "sbi", "deepfakebench", "deepfakedetector", "effort")
POLIMI_URL = "https://f002.backblazeb2.com/file/icpr2020/{}"
SELIMSEF_URL = "https://github.com/selimsef/dfdc_deepfake_challenge/releases/download/0.0.1/{}"
POLIMI_LICENCE = "GPL-3.0 (polimi-ispl/icpr2020dfdc)"
SELIMSEF_LICENCE = "MIT (selimsef/dfdc_deepfake_challenge)"


@dataclass(frozen=True)
class PublishedDetector:
    file: OfficialFile
    family: str
    architecture: str
    trained_on: str
    licence: str

    def summary(self) -> dict:
        return {"name": self.file.name, "architecture": self.architecture, "trained_on": self.trained_on, "licence": self.licence}


def _polimi(architecture: str, dataset: str, sha256: str) -> PublishedDetector:
    name = f"{architecture}_{dataset}_bestval-{sha256}.pth"
    purpose = f"polimi-ispl {architecture} trained on {dataset}"
    return PublishedDetector(
        OfficialFile(name, POLIMI_URL.format(name), None, sha256, purpose), "polimi", architecture, dataset, POLIMI_LICENCE
    )


def _selimsef(name: str, size: int, sha256: str) -> PublishedDetector:
    purpose = "selimsef DFDC winner, one of 7 tf_efficientnet_b7_ns models"
    file = OfficialFile(name, SELIMSEF_URL.format(name), size, sha256, purpose)
    return PublishedDetector(file, "selimsef", "DeepFakeClassifier tf_efficientnet_b7_ns", "DFDC", SELIMSEF_LICENCE)


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
    _selimsef(
        "final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36",
        266_910_617,
        "9db77ab9318863e2f8ab287c8eb83c2232584b82dc2fb41f1d614ddd7900cccb",
    ),
    _selimsef(
        "final_555_DeepFakeClassifier_tf_efficientnet_b7_ns_0_19",
        266_910_618,
        "e2f0066a8ff036add2f5b418d2eba1051c2d2788f84168f00a85207f3b666e04",
    ),
    _selimsef(
        "final_777_DeepFakeClassifier_tf_efficientnet_b7_ns_0_29",
        266_910_617,
        "9fe4311d551a9cbaa1475dbcd6b15fccb31a1e17a8d63069e90a8899aef03b5c",
    ),
    _selimsef(
        "final_777_DeepFakeClassifier_tf_efficientnet_b7_ns_0_31",
        266_910_617,
        "00dd6cd9466cddfd7da7c333d8fecae81593307827093deaf4d7cdf704bc8bfa",
    ),
    _selimsef(
        "final_888_DeepFakeClassifier_tf_efficientnet_b7_ns_0_37",
        266_910_615,
        "d4a2bb4aefde59e045463ad469ed9660765beb086f65a09f9478ab060d403c7c",
    ),
    _selimsef(
        "final_888_DeepFakeClassifier_tf_efficientnet_b7_ns_0_40",
        266_910_613,
        "c1d326a6651011390efe602e42cb8228232d6d18a15c404cf85d7233482f6d6d",
    ),
    _selimsef(
        "final_999_DeepFakeClassifier_tf_efficientnet_b7_ns_0_23",
        266_910_615,
        "849036dc211387420412feb68c7451e98a948072b94e213e1104e2f2bf7791ad",
    ),
)
PUBLISHED = {detector.file.sha256: detector for detector in PUBLISHED_DETECTORS}
PUBLISHED_BY_NAME = {detector.file.name: detector.file for detector in PUBLISHED_DETECTORS}  # what a file claims to be
