"""The SyncNet command line: `python -m syncnet_wrapper VIDEO [--json]` runs `main`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from scoring.errors import ServiceError
from scoring.media.video import DecodeLimits, decode_video
from scoring.runtime import allocator, torch_env
from scoring.runtime.timing import Stopwatch
from scoring.settings import load_settings
from scoring.syncnet.detector import SyncNetDetector
from scoring.syncnet.standalone import measure_file, tracker_for
from scoring.weights.checkpoints import WeightsError
from syncnet_python.crops import WholeFrameCrops

CLI_HELP = """`python -m syncnet_wrapper VIDEO [--json]`: audio-visual offset, min dist, confidence and tracks.

`--precropped` skips face detection and treats every whole frame as the face crop, as the
reference's demo does with its already-cropped example clip.
"""


def run(args) -> dict:
    settings = load_settings()
    sync_settings = dataclasses.replace(
        settings.syncnet,
        **{k: v for k, v in {"weights": args.weights, "mode": args.mode, "vshift": args.vshift}.items() if v is not None},
    )
    settings = settings.replace(syncnet=sync_settings, allow_unverified_weights=args.allow_unverified or settings.allow_unverified_weights)
    torch_env.configure_threads(args.threads or torch_env.default_thread_count(1))
    detector = SyncNetDetector.from_settings(settings, torch_env.resolve_device(args.device or settings.device))
    watch = Stopwatch()
    limits = DecodeLimits(settings.max_duration_s, settings.max_source_side, settings.frame_max_side)
    if not args.precropped:
        result = measure_file(detector, tracker_for(detector), args.video, limits, watch)
    else:
        with watch.stage("decode"):
            decoded = decode_video(args.video, limits)
        if not decoded.has_audio:
            raise SystemExit("the video has no audio track")
        m = detector.scorer.measure(
            WholeFrameCrops(decoded.frames), decoded.num_frames, decoded.audio, sync_settings.vshift, detector.window_budget(1), watch
        )
        if m is None:
            raise SystemExit("the clip is shorter than one 5-frame window")
        result = {
            "offset_frames": m.offset,
            "min_dist": m.min_dist,
            "confidence": m.confidence,
            "mode": sync_settings.mode,
            "settled": m.decisive,
            "windows_used": m.windows_used,
            "windows_available": m.available_windows,
            "framewise_confidence": [round(float(v), 3) for v in m.framewise_confidence],
        }
    result["timings_ms"] = watch.milliseconds()
    return result


def print_text(result: dict) -> None:
    print(f"AV offset:  {result['offset_frames']}")
    print(f"Min dist:   {result['min_dist']:.3f}")
    print(f"Confidence: {result['confidence']:.3f}")
    if "speaker_track" in result:
        tracks = [result["speaker_track"]] + result["other_tracks"]
        print(f"Tracks ({result['face_detector']}):")
        for i, t in enumerate(tracks):
            label = "speaker" if i == 0 else "other  "
            scores = f"offset {t['offset_frames']:+d}, conf {t['confidence']:.3f}" if "offset_frames" in t else t["skipped"]
            print(f"  {label} frames {t['start_frame']}-{t['end_frame']}, face {t['face_size_px']:.0f} px: {scores}")
    print("Stage times (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in result["timings_ms"].items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m syncnet_wrapper", description=CLI_HELP)
    parser.add_argument("video", type=Path)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--weights", type=Path, help="SyncNet v2 weights (default: SYNCNET_WEIGHTS or models/)")
    parser.add_argument("--mode", choices=("fast", "exact"), help="fast: a subset of lip windows; exact: all")
    parser.add_argument("--vshift", type=int, help="largest offset searched, in frames (default 15)")
    parser.add_argument("--precropped", action="store_true", help="frames are already face crops (no detection)")
    parser.add_argument("--allow-unverified", action="store_true", help="accept weights that are not the official files")
    parser.add_argument("--device", help="cpu, cuda, or auto")
    parser.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    args = parser.parse_args(argv)
    allocator.keep_freed_memory()
    try:
        result = run(args)
    except (WeightsError, ServiceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_text(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
