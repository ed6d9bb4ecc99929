"""Process-wide torch set-up: thread count, device choice, a working torchvision, and a malloc that keeps freed memory.

Import this module before anything that imports torchvision (facenet-pytorch does).

The only torchvision release that fits torch 2.13 ships on PyPI as a CUDA build whose compiled
ops do not load next to the CPU torch wheel; `import torchvision` then dies on the missing
`torchvision::nms` operator. When, and only when, the compiled ops fail to load, we define the
two box operators torchvision's import needs and give `nms` a pure-torch kernel. Models and
transforms work either way; image decoding through `torchvision.io` does not (we use PyAV/OpenCV).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os
import threading
from pathlib import Path

import numpy as np
import torch

_lock = threading.Lock()
_native_torchvision_ops: bool | None = None
_fallback_library: torch.library.Library | None = None


def box_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression with torchvision's semantics (no +1 in box areas).

    Returns the indices of kept boxes, highest score first. The loop runs over numpy arrays of the
    boxes' own dtype (the same IEEE arithmetic as torch's): per kept box it costs microseconds where
    small torch ops cost tens, and MTCNN calls this for every pyramid scale of every frame batch.
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    order = torch.argsort(scores, descending=True, stable=True)
    x1, y1, x2, y2 = boxes[order].detach().cpu().numpy().T
    areas = (x2 - x1) * (y2 - y1)
    suppressed = np.zeros(len(areas), dtype=bool)
    keep = []
    for i in range(len(areas)):
        if suppressed[i]:
            continue
        keep.append(i)
        rest = slice(i + 1, None)
        inter_w = np.maximum(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0)
        inter_h = np.maximum(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0)
        inter = inter_w * inter_h
        suppressed[rest] |= inter / (areas[i] + areas[rest] - inter) > iou_threshold
    return order[torch.tensor(keep, dtype=torch.long, device=boxes.device)]


def _load_native_torchvision_ops() -> bool:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    libraries = sorted(package_dir.glob("_C*.so")) + sorted(package_dir.glob("_C*.pyd"))
    if not libraries:
        return False
    try:
        torch.ops.load_library(str(libraries[0]))
        return True
    except (OSError, RuntimeError):
        return False


def _register_fallback_box_ops() -> None:
    global _fallback_library
    _fallback_library = torch.library.Library("torchvision", "DEF")
    _fallback_library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _fallback_library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _fallback_library.impl("nms", box_nms, "CompositeExplicitAutograd")


def prepare_torchvision() -> bool:
    """Make `import torchvision` work; returns True when its compiled ops are in use."""
    global _native_torchvision_ops
    with _lock:
        if _native_torchvision_ops is None:
            _native_torchvision_ops = _load_native_torchvision_ops()
            if not _native_torchvision_ops:
                _register_fallback_box_ops()
            import torchvision.ops.boxes as tv_boxes

            if not _native_torchvision_ops:
                # torchvision's box functions refuse to run without the compiled extension even
                # though the operator they dispatch to now exists; lift that check for box ops only.
                tv_boxes._assert_has_ops = lambda: None
        return _native_torchvision_ops


def configure_threads(num_threads: int) -> int:
    """Pin torch's intra-op pool. On small machines oversubscription costs up to 20x per frame."""
    num_threads = max(1, int(num_threads))
    if torch.get_num_threads() != num_threads:
        torch.set_num_threads(num_threads)
    return num_threads


def apply_threads_in_this_thread() -> None:
    """Set the process's torch thread count again from the calling thread. A thread that never set
    it (a gunicorn request thread) ran EfficientNet-B4 in bfloat16 15-25 % slower on this 2-core
    machine than the thread that did (measured: 700-766 ms against 567-602 ms for 16 faces)."""
    torch.set_num_threads(torch.get_num_threads())


# glibc's mallopt parameters (malloc.h) and our values: one arena, blocks up to 32 MB (the most glibc
# accepts at run time) from the heap, and up to 1 GB of freed heap kept.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
ALLOCATOR_SETTINGS = ((M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, 32 * 2**20), (M_TRIM_THRESHOLD, 2**30))


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep the memory a request frees for the next one; False where there is no glibc.

    A request allocates and frees a few hundred MB of tensors. By default glibc hands blocks over
    128 KB (a threshold it raises only as such blocks are freed) back to the kernel and trims its
    heap, and threads allocate from arenas of their own that trim apart from the main one, so every
    request page-faulted its memory in again: 100,000-180,000 faults per request for a 10 s clip,
    most of them in the request thread's EfficientNet and MTCNN. With one arena, blocks up to 32 MB
    from the heap and a 1 GB trim threshold, a gunicorn worker takes 30 faults per request once its
    heap has grown to the working size (with the classifier's batches of 8, whose activations stay
    under 32 MB); the request went from 2.5-2.7 s to 1.9-2.4 s, and the resident size did not grow.
    Called at import, before any thread allocates: the arena limit only holds for arenas not yet made.
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return all(mallopt(param, value) == 1 for param, value in ALLOCATOR_SETTINGS)


def default_thread_count(workers: int) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, workers))


def resolve_device(requested: str = "auto") -> torch.device:
    requested = (requested or "auto").strip().lower()
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"DEVICE={requested} was requested but CUDA is not available")
    return device


def bfloat16_is_fast(device: torch.device) -> bool:
    """Whether bfloat16 convolutions run natively here: a CUDA GPU that supports them, or a CPU with
    AVX512-BF16 or AMX (measured on such a CPU: 654 against 121 GFLOP/s for float32 matmuls)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(requested: str, device: torch.device) -> torch.dtype:
    """`auto`: bfloat16 where it runs natively, else float32; `float32` / `bfloat16` as asked."""
    if requested == "auto":
        return torch.bfloat16 if bfloat16_is_fast(device) else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[requested]


def dtype_name(dtype: torch.dtype) -> str:
    """`torch.bfloat16` -> "bfloat16", as /health and the responses name precisions."""
    return str(dtype).removeprefix("torch.")


def precision_name(requested: str, device: torch.device) -> str:
    """What `requested` resolves to here."""
    return dtype_name(resolve_precision(requested, device))


prepare_torchvision()
keep_freed_memory()
