"""Load: N clients posting clips for T seconds against a running service, /health polled meanwhile.

    python bench/bench_load.py --url http://127.0.0.1:5000 --clients 8 --seconds 300 [--clips FILE ...]

Each client posts a clip, waits for the answer, and posts the next; a 503 with Retry-After is waited
out as a real client would. /health is polled every 250 ms. Prints the answers by status, the latency
of scored answers (p50, p95, p99), /health's p99, the throughput in clips per minute and the peak RSS
of the service's processes (gunicorn and `scoring.queue` workers found in /proc). Only loopback URLs
are accepted: this is a load test of a service on this machine.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import requests

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIPS = sorted((ROOT.parent / "shared" / "media" / "talking").glob("grid_*.mpg")) + [
    ROOT.parent / "shared" / "media" / "talking" / "akash_video_8s.mp4"
]
SERVICE_MARKERS = ("gunicorn", "scoring.queue")


def is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def service_rss_mb() -> float:
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if any(marker in command for marker in SERVICE_MARKERS) and "bench_load" not in command:
                rss_pages = int((proc / "statm").read_text().split()[1])
                total += rss_pages * 4096 / 1e6
        except (OSError, ValueError, IndexError):
            continue
    return total


class Load:
    def __init__(self, url: str, clips: list[Path], seconds: float):
        self.url, self.clips, self.until = url.rstrip("/"), clips, time.monotonic() + seconds
        self.statuses: Counter = Counter()
        self.latencies: list[float] = []
        self.health: list[float] = []
        self.peak_rss_mb = 0.0
        self.lock = threading.Lock()

    def client(self, index: int) -> None:
        turn = index
        while time.monotonic() < self.until:
            clip = self.clips[turn % len(self.clips)]
            turn += 1
            started = time.monotonic()
            try:
                with clip.open("rb") as stream:
                    answer = requests.post(f"{self.url}/score", files={"video": (clip.name, stream)}, timeout=300)
                status, wait = answer.status_code, answer.headers.get("Retry-After")
            except requests.RequestException:
                status, wait = "no answer", None
            with self.lock:
                self.statuses[status] += 1
                if status == 200:
                    self.latencies.append(time.monotonic() - started)
            if status == 503 and wait and wait.isdigit():
                time.sleep(min(int(wait), max(0.0, self.until - time.monotonic())))

    def poll_health(self) -> None:
        while time.monotonic() < self.until:
            started = time.monotonic()
            try:
                requests.get(f"{self.url}/health", timeout=10)
                self.health.append(time.monotonic() - started)
            except requests.RequestException:
                self.health.append(10.0)
            time.sleep(max(0.0, 0.25 - (time.monotonic() - started)))

    def watch_memory(self) -> None:
        while time.monotonic() < self.until:
            self.peak_rss_mb = max(self.peak_rss_mb, service_rss_mb())
            time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--clips", nargs="*", type=Path, default=DEFAULT_CLIPS)
    args = parser.parse_args(argv)
    if not is_loopback(args.url):
        print("refusing a non-loopback URL: run the service on this machine", file=sys.stderr)
        return 2
    if not (1 <= args.clients <= 64 and 1 <= args.seconds <= 3600):
        print("--clients 1..64 and --seconds 1..3600", file=sys.stderr)
        return 2
    load = Load(args.url, args.clips, args.seconds)
    started = time.monotonic()
    threads = [threading.Thread(target=load.client, args=(i,)) for i in range(args.clients)]
    threads += [threading.Thread(target=load.poll_health), threading.Thread(target=load.watch_memory)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    scored = load.statuses.get(200, 0)
    print(f"{args.clients} clients for {elapsed:.0f} s against {args.url}, {len(args.clips)} clips")
    print("answers by status: " + ", ".join(f"{status}: {count}" for status, count in sorted(load.statuses.items(), key=str)))
    print(
        f"scored latency p50 {percentile(load.latencies, 0.5):.2f} s, p95 {percentile(load.latencies, 0.95):.2f} s, "
        f"p99 {percentile(load.latencies, 0.99):.2f} s"
    )
    print(
        f"/health: {len(load.health)} polls, p50 {percentile(load.health, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(load.health, 0.99) * 1000:.0f} ms, max {max(load.health, default=0) * 1000:.0f} ms"
    )
    print(f"throughput {scored / elapsed * 60:.1f} clips per minute; peak RSS of the service's processes {load.peak_rss_mb:.0f} MB")
    if load.latencies:
        print(f"mean scored latency {statistics.mean(load.latencies):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
