"""How much of the machine one request keeps busy: the gunicorn processes' CPU time over the wall time.

`python bench/bench_cpu_share.py [NAME=VALUE ...]` serves the bundled frame detector with SyncNet on
seeded random weights in the official format (as bench_end_to_end.py does), posts its 10 s clip once
to warm up and then three times, and prints for each: the wall time of the HTTP request, the CPU
time all gunicorn processes spent on it (user + system, from /proc), their ratio (cores kept busy)
and the slowest stages. A ratio near the core count means running stages side by side cannot make
the request faster: only less work can.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from bench_end_to_end import make_clip, random_syncnet_state, save_state

from scoring.weights.catalog import BUNDLED_FRAME_DETECTOR
from tools.local_server import gunicorn_server


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as scratch:
        work = Path(scratch)
        clip = make_clip(10, work / "talking_10s.mp4")
        syncnet = save_state(random_syncnet_state(0), work / "syncnet_random.model")
        env = {
            "SYNCNET_WEIGHTS": str(syncnet),
            "ALLOW_UNVERIFIED_WEIGHTS": "1",
            "EFFICIENTNET_WEIGHTS": str(BUNDLED_FRAME_DETECTOR.path),
            **dict(pair.split("=", 1) for pair in sys.argv[1:]),
        }
        with gunicorn_server(env) as url:

            def post() -> dict:
                return requests.post(f"{url}/score", files={"video": (clip.name, clip.read_bytes())}, timeout=300).json()

            post()
            pids = [int(p) for p in subprocess.run(["pgrep", "-f", "gunicorn -c gunicorn_config.py"], capture_output=True, text=True).stdout.split()]
            for _ in range(3):
                before = {pid: cpu_seconds(pid) for pid in pids}
                started = time.perf_counter()
                body = post()
                wall = time.perf_counter() - started
                used = sum(cpu_seconds(pid) - before[pid] for pid in pids)
                slowest = ", ".join(f"{name} {ms:,.0f}" for name, ms in sorted(body["timings_ms"].items(), key=lambda item: -item[1])[:5])
                print(f"wall {wall * 1000:,.0f} ms, CPU {used * 1000:,.0f} ms, cores kept busy {used / wall:.2f} ({slowest} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
