"""Weights in the official file formats, made by the tests (no real weights can be downloaded here).

- `random_syncnet_state(seed)` / `random_s3fd_state(seed)`: the official layouts with seeded random
  values, saved as plain state dicts (legacy serialisation, no BatchNorm step counters, as the
  2017 files are). They exercise loading and plumbing; their outputs mean nothing.
- `calibrate_batchnorm(model, batch)`: random BatchNorm parameters with statistics measured on
  `batch`, for random networks whose outputs must depend on their input (frame-detector tests and
  bench/reference_frame_detectors.py).
- `probe_syncnet_state()`: a SyncNet v2 state dict whose values are set by hand so that the
  network measures something audio-visual: the lip stream reports how dark the mouth region of
  each frame pair is (an open mouth shows its dark inside) and the audio stream the log energy of
  the matching 10 ms frames, each centred within its window. Synced speech then gives a distance
  curve with a minimum near offset 0 that moves with the audio, which is what the offset tests
  need; it is a crude stand-in for the trained network and never a detector.

These numbers test plumbing and never appear as results anywhere else.

`python -m tests.helpers.generated_weights DIR` writes all three files (used by the parity procedure in the README).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from scoring.faces.s3fd import S3FDNet
from syncnet_python.model import SyncNetV2

PROBE_ENERGY_FLOOR = 12.0  # log energy of quiet room noise for int16 audio
PROBE_AUDIO_SCALE = 0.2  # log-energy units against 0..255 grey levels
MOUTH_ROW, MOUTH_COLUMNS = 3, (2, 3)  # cells of the 6x6 lip map covering rows ~.43-.67, columns ~.27-.67


def calibrate_batchnorm(model: nn.Module, batch: torch.Tensor, seed: int = 0, forward=None) -> nn.Module:
    """Random BatchNorm affine parameters, and running statistics measured on `batch` by one training-mode
    pass of `forward` (default: the model), so every layer passes on a signal that depends on its input:
    a random network with default statistics gives nearly the same output for every input, and a
    comparison on it would pass whatever the preprocessing or wiring."""
    generator = torch.Generator().manual_seed(seed)
    for norm in model.modules():
        if isinstance(norm, (nn.BatchNorm1d, nn.BatchNorm2d)):
            norm.weight.data.uniform_(0.5, 1.5, generator=generator)
            norm.bias.data.normal_(0, 0.2, generator=generator)
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average over the pass
    model.train()
    with torch.no_grad():
        (forward or model)(batch)
    return model.eval()


def save_state(state: dict[str, torch.Tensor], path: Path) -> Path:
    torch.save(state, path, _use_new_zipfile_serialization=False)
    return path


def _official(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in state.items() if not k.endswith("num_batches_tracked")}


def random_syncnet_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return _official(SyncNetV2().state_dict())


def random_s3fd_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return _official(S3FDNet().state_dict())


def _zero(module: nn.Module) -> None:
    for tensor in module.state_dict().values():
        if tensor.is_floating_point():
            tensor.zero_()
    for sub in module.modules():
        if isinstance(sub, nn.modules.batchnorm._BatchNorm):
            sub.weight.data.fill_(1.0)
            sub.running_var.fill_(1.0)


def _pass_through(conv: nn.Module, channels: range) -> None:
    """Centre tap 1 from channel c to channel c: the layer copies those channels."""
    centre = tuple(k // 2 for k in conv.kernel_size)
    for c in channels:
        conv.weight.data[(c, c) + centre] = 1.0


def _centring_head(head: nn.Sequential, features: int, scale: float) -> None:
    """Linear(512,512) passes `features` channels; the last Linear centres them (x - mean) * scale."""
    for c in range(features):
        head[0].weight.data[c, c] = 1.0
        for d in range(features):
            head[3].weight.data[c, d] = scale * ((c == d) - 1.0 / features)


def probe_syncnet_state() -> dict[str, torch.Tensor]:
    model = SyncNetV2()
    _zero(model)
    lip = model.netcnnlip
    # conv1: channel k = 255 - mean grey of frames k and k+1 over a 7x7 patch (darkness, >= 0).
    for k in range(4):
        lip[0].weight.data[k, :, k : k + 2] = -0.5 / (3 * 49)
        lip[0].bias.data[k] = 255.0
    for index in (4, 8, 11, 14):
        _pass_through(lip[index], range(4))
    # conv6 (6x6): the mouth cells, averaged.
    for k in range(4):
        for column in MOUTH_COLUMNS:
            lip[18].weight.data[k, k, 0, MOUTH_ROW, column] = 1.0 / len(MOUTH_COLUMNS)
    _centring_head(model.netfclip, 4, 1.0)

    audio = model.netcnnaud
    # conv1: channel 0 = x + 100 (> 0 on every MFCC row), channel 1 = x - floor.
    audio[0].weight.data[0, 0, 1, 1] = 1.0
    audio[0].bias.data[0] = 100.0
    audio[0].weight.data[1, 0, 1, 1] = 1.0
    audio[0].bias.data[1] = -PROBE_ENERGY_FLOOR
    # conv2: channel 0 = relu(c0 - floor) on row 0 only: the row above is zero padding only for
    # row 0, elsewhere it is >= 40 and, times -10, silences the cepstral rows.
    audio[4].weight.data[0, 1, 1, 1] = 1.0
    audio[4].weight.data[0, 0, 0, 1] = -10.0
    for index in (8, 11, 14):
        _pass_through(audio[index], range(1))
    # conv6 (5x4): energy of MFCC frames 4k..4k+6 (max-pooled) -> channel k, matching lip frames k, k+1.
    for k in range(4):
        audio[18].weight.data[k, 0, 0, k] = 1.0
    _centring_head(model.netfcaud, 4, PROBE_AUDIO_SCALE)
    return _official(model.state_dict())


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return [
        save_state(random_syncnet_state(seed=0), directory / "syncnet_random.model"),
        save_state(probe_syncnet_state(), directory / "syncnet_probe.model"),
        save_state(random_s3fd_state(seed=0), directory / "sfd_random.pth"),
    ]


if __name__ == "__main__":
    import sys

    for written in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "test-weights")):
        print(written)
