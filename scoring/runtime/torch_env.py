"""Torch's thread count, device and precision for this process."""

from __future__ import annotations

import os
from pathlib import Path

import torch


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
