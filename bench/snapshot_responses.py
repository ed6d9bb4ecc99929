"""The JSON of `/score` and `/health` for every shared clip, to show a change left the API's answers alone.

    python bench/snapshot_responses.py --out before.json            # record
    python bench/snapshot_responses.py --compare before.json        # record again and compare

Two configurations, through the app's own test client:
- `offline`: the service's defaults (the bundled frame classifier; SyncNet and S3FD as installed);
- `plumbing`: SyncNet on the tests' generated probe weights with MTCNN (plumbing only: those numbers
  are never results), written once into `--weights-dir` and reused, so both runs read the same bytes.
Fields that measure time (`processing_time_ms`, `timings_ms`) are left out; everything else must be
identical, scores to the last digit the response carries.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import sys
import tempfile
from pathlib import Path

from app import create_app
from scoring.settings import Settings, load_settings
from tests.helpers import generated_weights

SHARED_MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
CLIP_SUFFIXES = {".mp4", ".mpg", ".avi", ".webm", ".mov", ".mkv"}
TIMED_FIELDS = ("processing_time_ms", "timings_ms")


def shared_clips() -> list[Path]:
    return sorted(p for p in SHARED_MEDIA.rglob("*") if p.suffix.lower() in CLIP_SUFFIXES)


def plumbing_settings(base: Settings, weights_dir: Path) -> Settings:
    if not (weights_dir / "syncnet_probe.model").is_file():
        weights_dir.mkdir(parents=True, exist_ok=True)
        generated_weights.write_all(weights_dir)
    return base.replace(
        syncnet=dataclasses.replace(base.syncnet, weights=weights_dir / "syncnet_probe.model"),
        faces=dataclasses.replace(base.faces, face_detector="mtcnn"),
        allow_unverified_weights=True,
    )


def without_timings(body: dict) -> dict:
    return {key: value for key, value in body.items() if key not in TIMED_FIELDS}


def responses(settings: Settings, clips: list[Path]) -> dict:
    client = create_app(settings).test_client()
    answers = {}
    for clip in clips:
        payload = {"video": (io.BytesIO(clip.read_bytes()), clip.name), "session_id": clip.stem}
        reply = client.post("/score", data=payload, content_type="multipart/form-data")
        answers[str(clip.relative_to(SHARED_MEDIA))] = {"status": reply.status_code, "body": without_timings(reply.get_json())}
        print(f"{clip.name}: {reply.status_code} {reply.get_json().get('final_score')}", file=sys.stderr)
    health = client.get("/health")
    answers["/health"] = {"status": health.status_code, "body": health.get_json()}
    return answers


def snapshot(weights_dir: Path) -> dict:
    base = load_settings()
    clips = shared_clips()
    return {"offline": responses(base, clips), "plumbing": responses(plumbing_settings(base, weights_dir), clips)}


def differences(before, after, where: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        found = [f"{where}/{key}: only {'before' if key in before else 'after'}" for key in before.keys() ^ after.keys()]
        for key in before.keys() & after.keys():
            found += differences(before[key], after[key], f"{where}/{key}")
        return found
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [d for i, (b, a) in enumerate(zip(before, after, strict=True)) for d in differences(b, a, f"{where}[{i}]")]
    return [] if before == after else [f"{where}: {json.dumps(before)} -> {json.dumps(after)}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="write the snapshot here")
    group.add_argument("--compare", type=Path, help="compare with this earlier snapshot")
    parser.add_argument("--weights-dir", type=Path, default=Path(tempfile.gettempdir()) / "snapshot-weights")
    args = parser.parse_args(argv)
    current = snapshot(args.weights_dir)
    if args.out:
        args.out.write_text(json.dumps(current, indent=1, sort_keys=True))
        return 0
    found = differences(json.loads(args.compare.read_text()), current)
    print("\n".join(found) or f"identical: {sum(len(v) for v in current.values())} responses")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
