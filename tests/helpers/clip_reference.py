"""An independent reference of the packaged CLIP encoder, in numpy float64, for the encoder tests.

It reads the file's tensors itself and computes CLIP ViT's forward pass from the paper's equations,
sharing no computation with `scoring.frames.clip` (only CLIP's input constants). Two arithmetics:

- `quantised=True`: the file's own integer arithmetic. Each projection's input is quantised the
  way ONNX's DynamicQuantizeLinear defines it (one scale and zero point over the whole input, round
  half to even, uint8), multiplied by the int8 weights minus their zero points, then scaled. The
  integer products are summed in float64, exact here: every sum is below 2**53.
- `quantised=False`: the dequantised weights in float64, activations unquantised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from scoring.frames.clip.encoder import CLIP_MEAN, CLIP_STD, INPUT_SIZE

LAYER_OUTPUT = re.compile(r"/vision_model/encoder/layers\.(\d+)/(self_attn|mlp)/(\w+)/")
HEAD_WIDTH = 64
EPS = 1e-5


@dataclass
class Projection:
    integers: np.ndarray  # (in, out) weight minus zero point
    scale: np.ndarray  # (out,)
    bias: np.ndarray | None

    def __call__(self, x: np.ndarray, quantised: bool) -> np.ndarray:
        if quantised:
            low, high = min(0.0, float(x.min())), max(0.0, float(x.max()))
            step = np.float32((high - low) / 255)
            zero = np.clip(np.rint(-low / step), 0, 255)
            levels = np.clip(np.rint(x.astype(np.float32) / step) + zero, 0, 255)
            y = ((levels - zero) @ self.integers) * (float(step) * self.scale)
        else:
            y = x @ (self.integers * self.scale)
        return y if self.bias is None else y + self.bias


def read_reference(path: Path) -> dict:
    """The file's tensors by role: embeddings, norms, and each projection (layer, name) -> Projection."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    tensors = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in graph.initializer}
    projections = {}
    for node in graph.node:
        if node.op_type != "MatMulInteger":
            continue
        weight, zero_point = node.input[1], node.input[3]
        found = LAYER_OUTPUT.match(node.output[0])
        role = (int(found[1]), found[3]) if found else (None, "visual_projection")
        bias = f"vision_model.encoder.layers.{role[0]}.{found[2]}.{role[1]}.bias" if found else None
        projections[role] = Projection(
            tensors[weight] - tensors[zero_point], tensors[weight.replace("_quantized", "_scale")], tensors.get(bias)
        )
    return {"tensors": tensors, "projections": projections}


def layer_norm(x: np.ndarray, tensors: dict, name: str) -> np.ndarray:
    centred = x - x.mean(-1, keepdims=True)
    return centred / np.sqrt((centred**2).mean(-1, keepdims=True) + EPS) * tensors[f"{name}.weight"] + tensors[f"{name}.bias"]


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def embedding(reference: dict, face: np.ndarray, quantised: bool) -> np.ndarray:
    """The 512-d image embedding of one (3, 224, 224) CLIP-normalised face."""
    t, p = reference["tensors"], reference["projections"]
    kernel = t["vision_model.embeddings.patch_embedding.weight"]
    width, side = kernel.shape[0], kernel.shape[2]
    grid = face.shape[1] // side
    patches = face.astype(np.float64).reshape(3, grid, side, grid, side).transpose(1, 3, 0, 2, 4).reshape(grid * grid, -1)
    x = np.concatenate([t["vision_model.embeddings.class_embedding"][None], patches @ kernel.reshape(width, -1).T])
    x = layer_norm(x + t["vision_model.embeddings.position_embedding.weight"], t, "vision_model.pre_layrnorm")
    heads = width // HEAD_WIDTH
    layers = 1 + max(layer for layer, _ in p if layer is not None)
    for layer in range(layers):
        prefix = f"vision_model.encoder.layers.{layer}"
        h = layer_norm(x, t, f"{prefix}.layer_norm1")
        q, k, v = (p[layer, name](h, quantised).reshape(-1, heads, HEAD_WIDTH).transpose(1, 0, 2) for name in ("q_proj", "k_proj", "v_proj"))
        attended = softmax(q @ k.transpose(0, 2, 1) / np.sqrt(HEAD_WIDTH)) @ v
        x = x + p[layer, "out_proj"](attended.transpose(1, 0, 2).reshape(-1, width), quantised)
        h = p[layer, "fc1"](layer_norm(x, t, f"{prefix}.layer_norm2"), quantised)
        x = x + p[layer, "fc2"](h / (1 + np.exp(-1.702 * h)), quantised)
    pooled = layer_norm(x[:1], t, "vision_model.post_layernorm")
    return p[None, "visual_projection"](pooled, quantised)[0]


def stored_as_uint8(path: Path) -> bytes:
    """The same model with its int8 weights stored as uint8 and zero points of 128, as other
    exporters write them: (weight + 128) - (0 + 128) is the same integer."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    integer_inputs = {name for node in model.graph.node if node.op_type == "MatMulInteger" for name in (node.input[1], node.input[3])}
    for initializer in model.graph.initializer:
        if initializer.name in integer_inputs:
            shifted = (numpy_helper.to_array(initializer).astype(np.int16) + 128).astype(np.uint8)
            initializer.CopyFrom(numpy_helper.from_array(shifted, initializer.name))
    return model.SerializeToString()


def spread_crops(folder: Path, count: int) -> list[Path]:
    """`count` of the FF++ crops under `folder` (<label>/<method>/*.jpg), spread over people and methods."""
    return sorted(folder.glob("*/*/*.jpg"))[::37][:count]


def clip_inputs(paths: list[Path]) -> np.ndarray:
    """(N, 3, 224, 224) float32 CLIP-normalised faces of the images at `paths`."""
    rgb = [np.asarray(Image.open(path).convert("RGB").resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR), np.float32) / 255 for path in paths]
    return np.stack([((image - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1) for image in rgb]).astype(np.float32)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row by row, the cosine between two sets of embeddings."""
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
