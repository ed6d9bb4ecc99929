"""The packaged encoder's weights dequantised once into a float vision tower, run in torch.

Each `MatMulInteger` weight of the file becomes (weight - zero point) x scale, per output channel,
in float32; biases, norms and embeddings are the file's own float tensors, named as transformers'
`CLIPVisionModelWithProjection` names them. The tower's shapes are read off the file, so nothing is
downloaded. Float has no per-run activation scaling: a face embeds the same in any batch, on a GPU
too, and the tower has gradients.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from scoring.frames.clip.encoder import EMBEDDING_SIZE, quantised_weights, read_graph
from scoring.runtime.torchvision_ops import prepare_torchvision
from scoring.weights.checkpoints import WeightsError, load_strict

CLIP_HEAD_WIDTH = 64  # every CLIP vision tower's attention heads are 64 wide (ViT-L/14: 16 heads of 1024)
PROJECTION_OUTPUT = "image_embeds"
BATCH = 16


def state_name(node_output: str) -> str:
    """transformers' weight name of the projection whose MatMulInteger writes `node_output`:
    `/vision_model/encoder/layers.3/mlp/fc1/MatMul_...` -> `vision_model.encoder.layers.3.mlp.fc1.weight`."""
    if node_output.startswith(PROJECTION_OUTPUT):
        return "visual_projection.weight"
    parts = node_output.strip("/").split("/")
    if len(parts) < 3 or parts[0] != "vision_model":
        raise WeightsError(f"the encoder's projection {node_output} is not a layer of the CLIP vision tower")
    return ".".join(parts[:-1]) + ".weight"


def dequantised_state(model) -> dict[str, torch.Tensor]:
    """The tower's float32 state dict from the quantised ONNX model."""
    from onnx import numpy_helper

    arrays = {initializer.name: numpy_helper.to_array(initializer) for initializer in model.graph.initializer}
    state = {name: torch.from_numpy(values.astype(np.float32)) for name, values in arrays.items() if name.startswith("vision_model.")}
    for output, (weight, zero_point) in quantised_weights(model.graph).items():
        scale = weight.removesuffix("_quantized") + "_scale"
        if weight not in arrays or zero_point not in arrays or scale not in arrays:
            raise WeightsError(f"the encoder's projection {output} lacks its stored weight, zero point or scale")
        integers = arrays[weight].astype(np.float32) - arrays[zero_point].astype(np.float32)  # exact: at most 255 apart
        state[state_name(output)] = torch.from_numpy((integers * arrays[scale].astype(np.float32)).T.copy())
    return state


def tower_shapes(state: dict[str, torch.Tensor], prefix: str) -> dict[str, int]:
    """The width, depth, MLP width, patch and image size of the CLIP vision tower whose weights
    `state` holds under `prefix` (transformers' names), read off their shapes."""
    blocks = f"{prefix}encoder.layers."
    try:
        hidden, _, patch, _ = state[f"{prefix}embeddings.patch_embedding.weight"].shape
        positions = state[f"{prefix}embeddings.position_embedding.weight"].shape[0]
        intermediate = state[f"{blocks}0.mlp.fc1.weight"].shape[0]
    except KeyError as exc:
        raise WeightsError(f"the file lacks {exc.args[0]}: not a CLIP vision tower") from None
    layers = 1 + max(int(name[len(blocks) :].split(".")[0]) for name in state if name.startswith(blocks))
    return {"hidden": hidden, "layers": layers, "intermediate": intermediate, "patch": patch, "image": int(round((positions - 1) ** 0.5)) * patch}


def vision_config(hidden: int, layers: int, intermediate: int, patch: int, image: int, projection: int = 512):
    """transformers' CLIPVisionConfig of a tower of these shapes, with CLIP's QuickGELU and LayerNorm epsilon."""
    prepare_torchvision()  # transformers imports torchvision
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // CLIP_HEAD_WIDTH),
        image_size=image,
        patch_size=patch,
        projection_dim=projection,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
    )


def without_initialising(model_class, config) -> torch.nn.Module:
    """transformers' `model_class(config)` without drawing its random weights (2.8 s for ViT-B/16 on
    2 cores), for a caller that loads every weight strictly next."""
    from transformers.modeling_utils import no_init_weights

    with no_init_weights():
        return model_class(config)


def tower_for(state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """A CLIPVisionModelWithProjection with the shapes of `state`, its weights not yet loaded."""
    config = vision_config(**tower_shapes(state, "vision_model."), projection=state["visual_projection.weight"].shape[0])
    from transformers import CLIPVisionModelWithProjection

    return without_initialising(CLIPVisionModelWithProjection, config)


class FloatTowerEncoder:
    """The dequantised tower in float32 on `device`, faces in batches of BATCH, on torch's threads.

    Called on a tensor it keeps autograd's state (heat maps take gradients through it); `embed`
    is the numpy form, without gradients."""

    arithmetic = "float32"

    def __init__(self, path: Path, device: torch.device | str | None = None):
        state = dequantised_state(read_graph(path))
        self.tower = tower_for(state)
        load_strict(self.tower, state, f"the CLIP vision tower ({path.name})")
        self.device = torch.device(device or "cpu")
        self.tower = self.tower.eval().to(self.device)
        self.path = path

    def __call__(self, faces: torch.Tensor) -> torch.Tensor:
        """(N, 512) embeddings of (N, 3, 224, 224) CLIP-normalised faces, on the faces' device."""
        if not len(faces):
            return faces.new_zeros((0, EMBEDDING_SIZE))
        rows = [self.tower(pixel_values=faces[i : i + BATCH].to(self.device, torch.float32)).image_embeds for i in range(0, len(faces), BATCH)]
        return torch.cat(rows).to(faces.device)

    @torch.inference_mode()
    def embed(self, faces: np.ndarray) -> np.ndarray:
        """(N, 512) float32 embeddings of (N, 3, 224, 224) float32 CLIP-normalised faces."""
        return self(torch.from_numpy(np.ascontiguousarray(faces, dtype=np.float32))).cpu().numpy()

    def hidden_states(self, faces: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Every block's (N, 1 + patches, width) output for (N, 3, 224, 224) CLIP-normalised faces,
        on the faces' device: the embeddings' first, then one per block (13 for ViT-B/16)."""
        runs = [
            self.tower.vision_model(pixel_values=faces[i : i + BATCH].to(self.device, torch.float32), output_hidden_states=True).hidden_states
            for i in range(0, len(faces), BATCH)
        ]
        return tuple(torch.cat([run[layer] for run in runs]).to(faces.device) for layer in range(len(runs[0])))

    def tokens_entering(self, faces: torch.Tensor, block: int) -> torch.Tensor:
        """The (N, 1 + patches, width) tokens that enter block `block` (0-based) for CLIP-normalised faces:
        what a fine-tuning of the later blocks starts from, computed once per face."""
        vision = self.tower.vision_model
        tokens = vision.pre_layrnorm(vision.embeddings(faces.to(self.device, torch.float32)))
        for layer in vision.encoder.layers[:block]:
            tokens = layer(tokens, None, None)[0]
        return tokens

    def embed_from(self, tokens: torch.Tensor, block: int) -> torch.Tensor:
        """(N, 512) embeddings of tokens entering block `block`: the rest of the forward pass."""
        vision = self.tower.vision_model
        for layer in vision.encoder.layers[block:]:
            tokens = layer(tokens, None, None)[0]
        return self.tower.visual_projection(vision.post_layernorm(tokens[:, 0]))

    def final_norm(self, tokens: torch.Tensor) -> torch.Tensor:
        """The LayerNorm CLIP puts on the class token before its projection, on any token."""
        return self.tower.vision_model.post_layernorm(tokens)

    def transformer_blocks(self) -> torch.nn.ModuleList:
        return self.tower.vision_model.encoder.layers
