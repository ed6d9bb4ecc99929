"""The live path against the upload path: a recording streamed in real time to WS /score/live.

    python bench/bench_live.py [--clip PATH] [--seconds 10] [--runs 3]

Starts the real service (gunicorn, the environment's configuration: the offline defaults unless it
says otherwise; two video slots, `MAX_CONCURRENT_JOBS=2`, so that two sessions can run side by
side), turns the first `--seconds` of `--clip` into a MediaRecorder WebM, and sends it in 250 ms
chunks paced by the clock, as a browser would. Prints, per scenario, the median over `--runs` of:

- **stop -> result**: from sending `stop` to the verdict, against the upload path's whole request
  for the same bytes (`POST /score`, sent at once);
- **lag**: how far the service's view of the recording (the `seconds` of its latest `progress`)
  trails the seconds sent, while streaming: the median and the largest;
- the same with **two streams at once**, and **one stream beside an upload** of the same clip;
- the stages the verdict still ran after `stop` (its `timings_ms`), beside the upload's, and the
  steps each detector had done on the way (faces, voice windows, SyncNet passes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from simple_websocket import Client, ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.local_server import gunicorn_server  # noqa: E402
from tools.recordings import as_mediarecorder_webm  # noqa: E402

CHUNK_S = 0.25
DEFAULT_CLIP = ROOT.parent / "shared" / "media" / "talking" / "ankurbhatia24_test_video_crop.mp4"


def stream(url: str, data: bytes, seconds: float) -> dict:
    """One live session paced by the clock: its stop -> result time, its lag, its answer."""
    ws = Client.connect(url.replace("http", "ws", 1) + "/score/live")
    pieces = max(1, round(seconds / CHUNK_S))
    size = -(-len(data) // pieces)
    received = []
    listener = threading.Thread(target=lambda: received.extend(_events(ws)), daemon=True)
    ws.send(json.dumps({"type": "start", "session_id": "bench-live"}))
    listener.start()
    started = time.monotonic()
    for index in range(pieces):
        time.sleep(max(0.0, started + index * CHUNK_S - time.monotonic()))
        ws.send(data[index * size : (index + 1) * size])
    time.sleep(max(0.0, started + pieces * CHUNK_S - time.monotonic()))
    stopped = time.monotonic()
    ws.send(json.dumps({"type": "stop"}))
    listener.join()
    answer, answered = received[-1]
    lags = [at - started - event["seconds"] for event, at in received if event["type"] == "progress" and at <= stopped]
    with contextlib.suppress(ConnectionClosed, OSError):  # the service closes after its answer, maybe first
        ws.close()
    progress = [event for event, _ in received if event["type"] == "progress"]
    judged = {name: len(entries) for name, entries in progress[-1]["judged"].items()} if progress else {}
    return {"stop_to_result_s": answered - stopped, "lags": lags or [float("nan")], "status": answer["type"], "answer": answer, "judged": judged}


def _events(ws) -> list[tuple[dict, float]]:
    out = []
    while not out or out[-1][0]["type"] not in ("result", "error"):
        try:
            message = ws.receive(timeout=120)
        except ConnectionClosed:
            break
        if message is None:
            break
        out.append((json.loads(message), time.monotonic()))
    return out


def upload(url: str, data: bytes) -> dict:
    """One POST /score of the same bytes: its time and its stages."""
    started = time.monotonic()
    response = requests.post(url + "/score", files={"video": ("recording.webm", data)}, timeout=300)
    response.raise_for_status()
    return {"seconds": time.monotonic() - started, "timings_ms": response.json()["timings_ms"]}


def median_stages(timings: list[dict]) -> str:
    """The median milliseconds of each stage over runs, largest first."""
    stages = {name for timing in timings for name in timing}
    medians = {name: median(timing.get(name, 0.0) for timing in timings) for name in stages}
    return ", ".join(f"{name} {ms:.0f}" for name, ms in sorted(medians.items(), key=lambda item: -item[1]))


def side_by_side(*jobs) -> list:
    results = [None] * len(jobs)
    threads = [threading.Thread(target=lambda i=i, job=job: results.__setitem__(i, job())) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def median(values) -> float:
    return statistics.median(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch, gunicorn_server({"MAX_CONCURRENT_JOBS": "2", "RATE_LIMIT_PER_MINUTE": "0"}) as url:
        data = as_mediarecorder_webm(args.clip, Path(scratch) / "recording.webm", args.seconds).read_bytes()
        upload(url, data)  # loads the models
        print(f"{args.clip.name}, first {args.seconds:g} s as MediaRecorder WebM ({len(data) / 1e6:.2f} MB), {CHUNK_S * 1000:.0f} ms chunks, {args.runs} runs")
        alone = [stream(url, data, args.seconds) for _ in range(args.runs)]
        uploads = [upload(url, data) for _ in range(args.runs)]
        pairs = [side_by_side(lambda: stream(url, data, args.seconds), lambda: stream(url, data, args.seconds)) for _ in range(args.runs)]
        beside = [side_by_side(lambda: stream(url, data, args.seconds), lambda: (time.sleep(args.seconds / 2), upload(url, data)["seconds"])[1]) for _ in range(args.runs)]
        print(f"answer: {alone[0]['status']}, {alone[0]['answer'].get('result', alone[0]['answer']).get('risk_level', alone[0]['answer'].get('error'))}")
        print(f"{'scenario':38s} {'stop -> result s':>17s} {'lag median s':>13s} {'lag max s':>10s} {'upload s':>9s}")
        rows = [
            ("one stream", alone, None),
            ("two streams at once", [s for pair in pairs for s in pair], None),
            ("one stream beside an upload", [s for s, _ in beside], [u for _, u in beside]),
        ]
        print(f"{'upload alone (POST /score, same bytes)':38s} {'':>17s} {'':>13s} {'':>10s} {median(u['seconds'] for u in uploads):9.2f}")
        for name, sessions, ups in rows:
            lags = [lag for s in sessions for lag in s["lags"]]
            print(
                f"{name:38s} {median(s['stop_to_result_s'] for s in sessions):17.2f} {median(lags):13.2f} {max(lags):10.2f} "
                f"{median(ups) if ups else float('nan'):9.2f}"
            )
        print("stages after stop, one stream (median ms):", median_stages([s["answer"]["result"]["timings_ms"] for s in alone if s["status"] == "result"]))
        print("stages of the upload (median ms):", median_stages([u["timings_ms"] for u in uploads]))
        print("done on the way, one stream (median steps, at the last progress):", median_stages([s["judged"] for s in alone]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
