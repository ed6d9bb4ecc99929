"""Reading weight files safely and loading them strictly, with messages a user can act on."""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from scoring.weights.files import OfficialFile, WeightsError


def read_checkpoint(path: str | Path) -> object:
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path.name}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, AttributeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"{path.name} is not a loadable PyTorch weights file: {first_line}") from None


def tensor_state(obj: object, what: str) -> dict[str, torch.Tensor]:
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{what}: expected a state dict of tensors, found {type(obj).__name__}")
    return dict(obj)


def load_strict(
    model: nn.Module, state: Mapping[str, torch.Tensor], what: str, may_lack: Iterable[str] = (".num_batches_tracked",)
) -> None:
    """Load every key of `model` from `state` with matching shapes, or refuse with the reasons.

    Only buffers ending in one of `may_lack` may be absent (BatchNorm's step counters, which
    files saved before PyTorch 0.4.1 do not carry and which inference never reads).
    """
    expected = model.state_dict()
    may_lack = tuple(may_lack)
    missing = [k for k in expected if k not in state and not k.endswith(may_lack)]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatches (e.g. {'; '.join(mismatched[:3])})")
    if problems:
        raise WeightsError(f"{what}: the file does not fit the model: " + "; ".join(problems))
    completed = {k: state.get(k, expected[k]) for k in expected}
    model.load_state_dict(completed, strict=True)


def require_official(path: Path, official: OfficialFile) -> None:
    """Refuse a file that is not byte-identical to the official release `official` (scoring.weights.files)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path.name}")
    if not official.matches(path):
        raise WeightsError(
            f"{path.name} is not the official {official.name} (size or sha256 differ); "
            "run setup.sh to install it, or set ALLOW_UNVERIFIED_WEIGHTS=1 to use other weights of the same format"
        )
