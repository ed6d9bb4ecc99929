"""Does a sample of lip windows give exact mode's offset? Every shared talking clip, the test suite's stand-in network.

    python bench/window_sampling.py [--windows 48 64 96 128] [--clips ...]

For each clip the speaker track's distance to every shifted audio window is computed once for every
lip window (exact mode's curve), then the offset is read again from fast mode's own sample of K
windows (`SyncNetScorer.lip_starts`: a lattice over the track that only thins as it grows). Prints, per clip: the windows available, exact mode's offset and confidence (marked
`settled` where even every window passes the decisiveness test), and per K the sample's offset,
marked `settled` where the sample passes it.

This is what fast mode's window cap means clip by clip: a settled sample should give exact mode's
offset; an unsettled one is reported as such, and its offset is not an answer.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from bench_syncnet import branch  # noqa: E402  (this folder is on the path when run as a script)

from scoring.faces.stage import build_tracker
from scoring.media.video import decode_video
from scoring.runtime import torch_env
from scoring.runtime.timing import Stopwatch
from syncnet_python.sync import summarise
from syncnet_wrapper import SyncNetWrapper
from tests.helpers.generated_weights import probe_syncnet_state, save_state

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"


def speaker_distances(wrapper: SyncNetWrapper, tracker, clip: Path) -> torch.Tensor | None:
    """Every lip window's distances for the track exact mode would call the speaker (highest confidence)."""
    decoded = decode_video(clip)
    measured = [t.measurement for t in wrapper.measure_tracks(decoded, tracker.track(decoded.frames).tracks, Stopwatch())]
    measured = [m for m in measured if m is not None]
    return max(measured, key=lambda m: m.confidence).dists if measured else None


def settled_mark(measurement) -> str:
    return " settled" if measurement.decisive else " " * 8


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, nargs="+", default=[48, 64, 96, 128])
    parser.add_argument("--clips", type=Path, nargs="*")
    args = parser.parse_args()
    clips = args.clips or sorted((MEDIA / "talking").glob("*.mp*")) + [MEDIA / "syncnet_example.avi"]
    torch_env.configure_threads(torch_env.default_thread_count(1))
    with tempfile.TemporaryDirectory() as folder:
        weights = save_state(probe_syncnet_state(), Path(folder) / "syncnet_probe.model")
        wrapper = branch(torch.device("cpu"), "exact", weights)
    tracker, _ = build_tracker(wrapper.faces, torch.device("cpu"), allow_unverified_weights=True)
    vshift = wrapper.settings.vshift
    print(f"{'clip':36} {'windows':>7} {'exact':>6} {'conf':>6}          " + "  ".join(f"{k:>3} windows" for k in args.windows))
    matches = dict.fromkeys(args.windows, 0)
    measured = 0
    for clip in clips:
        dists = speaker_distances(wrapper, tracker, clip)
        if dists is None:
            print(f"{clip.name:36} no usable track")
            continue
        measured += 1
        exact = summarise(dists, torch.arange(len(dists)).numpy(), vshift, len(dists))
        cells = []
        for k in args.windows:
            chosen = torch.as_tensor(wrapper.scorer.lip_starts(len(dists), k))
            sample = summarise(dists[chosen], chosen.numpy(), vshift, len(dists))
            matches[k] += sample.offset == exact.offset
            cells.append(f"{sample.offset:+4d}{settled_mark(sample)}")
        print(f"{clip.name:36} {len(dists):7d} {exact.offset:+6d} {exact.confidence:6.3f}{settled_mark(exact)}  " + "  ".join(cells))
    print("sample offset = exact offset: " + ", ".join(f"{k} windows {matches[k]}/{measured}" for k in args.windows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
