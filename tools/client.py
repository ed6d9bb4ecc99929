"""Score videos with a running service and print the results.

    python test_ensemble.py VIDEO_OR_FOLDER [...] [--url http://localhost:5000] [--json] [--challenge TOKEN]

Folders are searched for video files. Exit status: 0 when every video was scored, 1 when any
request failed (an HTTP error or an unreachable service), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import requests
from tqdm import tqdm

from scoring.media.files import collect


def score(
    url: str, video: Path, session_id: str | None, timeout: float, challenge: str | None = None, api_key: str | None = None, retries: int = 5
) -> tuple[int, dict]:
    """POST the video; a busy service's 503 with Retry-After is waited out and retried (up to `retries` times)."""
    data = {k: v for k, v in {"session_id": session_id, "challenge": challenge}.items() if v}
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    for attempt in range(retries + 1):
        with video.open("rb") as handle:
            response = requests.post(
                f"{url.rstrip('/')}/score", files={"video": (video.name, handle)}, data=data, headers=headers, timeout=timeout
            )
        wait = response.headers.get("Retry-After")
        if response.status_code != 503 or not wait or not wait.isdigit() or attempt == retries:
            break
        time.sleep(min(int(wait), 60))
    try:
        body = response.json()
    except ValueError:
        body = {"error": "invalid_response", "message": response.text[:200]}
    return response.status_code, body


def describe(video: Path, status: int, body: dict, seconds: float) -> str:
    lines = [f"==== {video} ===="]
    if status != 200:
        lines.append(f"  ERROR {status} {body.get('error')}: {body.get('message')}")
        return "\n".join(lines)
    likely = "yes" if body["is_likely_real"] else "no"
    lines.append(f"  Combined score: {body['combined_score']:.3f}   Risk: {body['risk_level']}   Likely real: {likely}")
    sync = body.get("syncnet")
    if sync and sync.get("score") is not None:
        lines.append(
            f"  SyncNet:        offset {sync['offset_frames']:+d} frames ({sync['lag_ms']:+d} ms), confidence {sync['confidence']:.2f}, "
            f"min dist {sync['min_dist']:.2f}, score {sync['score']:.3f}"
        )
    effnet = body.get("efficientnet")
    if effnet:
        verdict = "real" if effnet["is_real"] else "fake"
        lines.append(
            f"  EfficientNet:   score {effnet['score']:.3f} ({verdict}), confidence {effnet['confidence']:.3f}, "
            f"consistency {effnet['consistency']:.3f}, {effnet['num_frames']} frames"
        )
    weights = ", ".join(f"{name} {weight:.2f}" for name, weight in body["weights"].items())
    lines.append(f"  Weights:        {weights}")
    if body.get("challenge"):
        said = body["challenge"]
        verdict = "said" if said["passed"] else "NOT said"
        lines.append(f"  Phrase:         {verdict}: '{said['phrase']}' ({said['matched_words']}/{said['total_words']} words heard)")
    for name, reason in (body.get("degraded") or {}).items():
        lines.append(f"  Degraded:       {name}: {reason['code']} ({reason['message']})")
    lines.append(f"  Time:           {body['processing_time_ms'] / 1000:.2f} s in the service, {seconds:.2f} s round trip")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path, help="video files or folders of videos")
    parser.add_argument("--url", default="http://localhost:5000", help="service base URL (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per video")
    parser.add_argument("--session-id", help="session_id to send with each video")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for each answer")
    parser.add_argument("--api-key", default=os.environ.get("DEEPFAKE_API_KEY"), help="sent as 'Authorization: Bearer KEY' (default: $DEEPFAKE_API_KEY)")
    parser.add_argument("--challenge", help="a token from GET /challenge: the video must say its phrase (one video per token)")
    args = parser.parse_args(argv)
    if args.challenge and len(args.paths) != 1:
        print("a challenge token is accepted once: pass exactly one video with --challenge", file=sys.stderr)
        return 2
    try:
        videos = collect(args.paths)
    except FileNotFoundError as exc:
        print(f"no such file or folder: {exc}", file=sys.stderr)
        return 2
    if not videos:
        print("no video files found", file=sys.stderr)
        return 2

    failures = 0
    progress = tqdm(videos, unit="video", disable=len(videos) < 2 or args.json, file=sys.stderr)
    for video in progress:
        progress.set_description(video.name)
        started = time.perf_counter()
        try:
            status, body = score(args.url, video, args.session_id, args.timeout, args.challenge, args.api_key)
        except requests.RequestException as exc:
            status, body = 0, {"error": "unreachable", "message": f"{args.url}: {exc}"}
        failures += status != 200
        seconds = time.perf_counter() - started
        if args.json:
            print(json.dumps({"file": str(video), "status": status, "response": body}))
        else:
            tqdm.write(describe(video, status, body, seconds), file=sys.stdout)
    if failures:
        print(f"{failures} of {len(videos)} videos failed", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
