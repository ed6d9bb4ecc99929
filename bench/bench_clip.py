"""The CLIP encoder's arithmetics against each other: exactness, stability and cost on this CPU.

    python bench/bench_clip.py [--faces 16] [--runs 3] [--threads 2] [--head models/clip/clip_vitb16_probe.pt]

For `--faces` FF++ face crops from ../shared, each arithmetic the packaged file can run in:

- `int8 u8s8 (ONNX Runtime)`: the file as packaged (uint8 activations x int8 weights), one face per
  run on two one-thread sessions side by side, as the service ran it before;
- `int8 u8u8 (ONNX Runtime)`: the same weights shifted into uint8 (zero points 128), which ORT runs
  on its u8 x u8 kernel;
- `float32 tower (torch)`: the weights dequantised once (`scoring.frames.clip.tower`, what the service runs);
- `bfloat16 tower (torch)`: the same tower cast to bfloat16 (native only with AVX512-BF16 or AMX).

Columns: the lowest cosine of each face's embedding to an independent float64 computation of the
dequantised weights and to an exact computation of the file's integer arithmetic
(`tests/helpers/clip_reference.py`); the lowest cosine between a face and the same face changed by 1e-6
(how far a CPU's own float rounding can move the embedding); milliseconds per face at batch 1 and
16 (the int8 rows run one face per run whatever the batch: their activation scale is per run).
With `--head`, also the largest change of that probe's P(real) for a face, against the float32 tower
(raw, before calibration): what serving the head on another arithmetic would move.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from scoring.frames.clip.encoder import encoder_file
from scoring.frames.clip.tower import FloatTowerEncoder
from scoring.frames.families.clip_probe import ClipProbe
from scoring.runtime.torch_env import bfloat16_is_fast
from tests.helpers import clip_reference

CROPS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ffpp" / "crops" / "tranthuhoai3786" / "test"


class OnnxFaces:
    """One face per ONNX Runtime run, `threads` one-thread sessions side by side."""

    def __init__(self, model: bytes | str, threads: int):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.sessions = [onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"]) for _ in range(threads)]
        self.pool = ThreadPoolExecutor(threads)

    def embed(self, faces: np.ndarray) -> np.ndarray:
        def one(index: int) -> np.ndarray:
            return self.sessions[index % len(self.sessions)].run(["image_embeds"], {"pixel_values": faces[index : index + 1]})[0][0]

        return np.stack(list(self.pool.map(one, range(len(faces)))))


class Bfloat16Tower(FloatTowerEncoder):
    def __init__(self, path: Path):
        super().__init__(path)
        self.tower = copy.deepcopy(self.tower).to(torch.bfloat16)

    @torch.inference_mode()
    def embed(self, faces: np.ndarray) -> np.ndarray:
        return self.tower(pixel_values=torch.from_numpy(faces).to(torch.bfloat16)).image_embeds.float().numpy()


def lowest_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(clip_reference.cosines(a, b).min())


def head_p_real(head: Path | None, embeddings: np.ndarray) -> np.ndarray | None:
    """The probe's raw P(real) of each embedding (class order real, fake), or None without a head."""
    if head is None:
        return None
    probe = ClipProbe(None)
    probe.load_state_dict(torch.load(head, weights_only=True))
    with torch.inference_mode():
        logits = probe.classify(torch.nn.functional.normalize(torch.from_numpy(embeddings).float(), dim=1))
    return logits.softmax(1)[:, 0].numpy()


def ms_per_face(embed, faces: np.ndarray, batch: int, runs: int) -> float:
    def once() -> None:
        for start in range(0, len(faces), batch):
            embed(faces[start : start + batch])

    once()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        once()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000 / len(faces)


def cpu_kind() -> str:
    text = Path("/proc/cpuinfo").read_text()
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "unknown CPU")
    flags = set(text.split())
    features = [flag for flag in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16") if flag in flags]
    return f"{name} ({', '.join(features)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--head", type=Path, help="a CLIP probe file: also print how far each arithmetic moves its P(real)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = encoder_file()
    faces = clip_reference.clip_inputs(clip_reference.spread_crops(CROPS, args.faces))
    nudged = faces + np.float32(1e-6) * np.random.default_rng(0).standard_normal(faces.shape).astype(np.float32)
    reference = clip_reference.read_reference(path)
    exact_float = np.stack([clip_reference.embedding(reference, face, quantised=False) for face in faces])
    exact_int = np.stack([clip_reference.embedding(reference, face, quantised=True) for face in faces])
    candidates = {
        "int8 u8s8 (ONNX Runtime)": OnnxFaces(str(path), args.threads),
        "int8 u8u8 (ONNX Runtime)": OnnxFaces(clip_reference.stored_as_uint8(path), args.threads),
        "float32 tower (torch)": FloatTowerEncoder(path),
        f"bfloat16 tower (torch, {'native' if bfloat16_is_fast(torch.device('cpu')) else 'emulated'})": Bfloat16Tower(path),
    }
    print(f"{path.name}, {len(faces)} FF++ faces, {args.threads} threads, median of {args.runs}; {cpu_kind()}")
    header = ("arithmetic", "cos to float64", "cos to exact int", "cos after 1e-6", "ms/face b1", "ms/face b16")
    header += ("max |dP(real)|",) if args.head else ()
    print(f"{header[0]:34s} " + " ".join(f"{h:>16s}" for h in header[1:]))
    served = head_p_real(args.head, candidates["float32 tower (torch)"].embed(faces))
    for name, encoder in candidates.items():
        embedded = encoder.embed(faces)
        moved = head_p_real(args.head, embedded)
        cells = (
            f"{lowest_cosine(embedded, exact_float):.6f}",
            f"{lowest_cosine(embedded, exact_int):.6f}",
            f"{lowest_cosine(embedded, encoder.embed(nudged)):.6f}",
            f"{ms_per_face(encoder.embed, faces, 1, args.runs):.1f}",
            f"{ms_per_face(encoder.embed, faces, 16, args.runs):.1f}",
        ) + ((f"{np.abs(moved - served).max():.4f}",) if moved is not None else ())
        print(f"{name:34s} " + " ".join(f"{c:>16s}" for c in cells))


if __name__ == "__main__":
    main()
