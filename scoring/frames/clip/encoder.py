"""CLIP ViT-B/16's image tower from inside an installed package: the file, checked, and its graph.

The file is found inside the installed package without importing the package, and refused unless
its sha256 is the catalogue's (`scoring.weights.catalog.CLIP_VIT_B16_INT8`) (or ALLOW_UNVERIFIED_WEIGHTS=1). It is an ONNX export of transformers'
`CLIPVisionModelWithProjection`, dynamically quantised: every projection multiplies uint8
activations, scaled per run, by int8 weights with per-output-channel scales (`MatMulInteger`).

The service does not run that arithmetic. On CPUs without VNNI, ONNX Runtime's u8 x s8 kernel adds
pairs of products in 16-bit registers that saturate (embeddings at cosine 0.37-0.57 to the exact
result); and even computed exactly, the per-run activation quantisation makes the embedding a
discontinuous function of its float inputs: a change of 1e-6 in the input moved embeddings to
cosine 0.977-0.993, so any CPU's own float rounding moves them as far (`bench/bench_clip.py`).
`scoring.frames.clip.tower` dequantises the weights once into a float32 tower instead, which a CPU's
rounding moves by about 1e-7.
"""

from __future__ import annotations

from pathlib import Path

from scoring.weights.catalog import CLIP_VIT_B16_INT8
from scoring.weights.checkpoints import WeightsError
from scoring.weights.files import PackagedFile

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
INPUT_SIZE = 224
EMBEDDING_SIZE = 512


def encoder_file(packaged: PackagedFile = CLIP_VIT_B16_INT8, allow_unverified: bool = False) -> Path:
    """The encoder file, checked; raises WeightsError when the package is missing or the file differs."""
    return packaged.checked_path(allow_unverified)


def read_graph(path: Path):
    """The file's ONNX model (graph and initializers), read without running it."""
    import onnx

    try:
        return onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError and others for a file that is not ONNX
        raise WeightsError(f"{path.name} is not a readable ONNX model: {exc}") from None


def quantised_weights(graph) -> dict[str, tuple[str, str]]:
    """For each `MatMulInteger` node's output: the names of its weight and weight zero point."""
    nodes = [node for node in graph.node if node.op_type == "MatMulInteger"]
    if not nodes:
        raise WeightsError("the encoder has no MatMulInteger node: not the dynamically quantised CLIP tower this service reads")
    return {node.output[0]: (node.input[1], node.input[3]) for node in nodes}
