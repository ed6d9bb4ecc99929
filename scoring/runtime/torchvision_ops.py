"""A working `import torchvision` beside the CPU torch wheel.

The only torchvision release that fits torch 2.13 ships on PyPI as a CUDA build whose compiled
ops do not load next to the CPU torch wheel; `import torchvision` then dies on the missing
`torchvision::nms` operator. When, and only when, the compiled ops fail to load, we define the
two box operators torchvision's import needs and give `nms` a pure-torch kernel. Models and
transforms work either way; image decoding through `torchvision.io` does not (we use PyAV/OpenCV).

Call `prepare_torchvision()` before importing anything that imports torchvision (facenet-pytorch,
timm); it is idempotent and thread-safe.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import torch

from scoring.runtime.nms import box_nms

_lock = threading.Lock()
_native_torchvision_ops: bool | None = None
_fallback_library: torch.library.Library | None = None


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
