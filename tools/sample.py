"""Score the bundled sample through the real service: `./setup.sh --sample` runs this.

Makes a 4 s 640x480 clip from the public-domain photo in docs/sample (see its README), starts
gunicorn on a free loopback port, uploads the clip with test_ensemble.py and stops the server.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

from tools import client
from tools.local_server import PROJECT_ROOT, gunicorn_server

PHOTO = PROJECT_ROOT / "docs" / "sample" / "eileen_collins_nasa.jpg"
WIDTH, HEIGHT, FPS, SECONDS = 640, 480, 25, 4


def make_clip(photo: Path, target: Path) -> Path:
    """A slow zoom over the photo, letterboxed to 640x480, encoded as H.264."""
    image = cv2.imread(str(photo))
    canvas_side = HEIGHT
    with av.open(str(target), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for index in range(FPS * SECONDS):
            zoom = 1.0 + 0.1 * index / (FPS * SECONDS)
            side = int(image.shape[0] / zoom)
            offset = (image.shape[0] - side) // 2
            face = cv2.resize(image[offset : offset + side, offset : offset + side], (canvas_side, canvas_side), interpolation=cv2.INTER_AREA)
            frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
            frame[:, (WIDTH - canvas_side) // 2 : (WIDTH + canvas_side) // 2] = face
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return target


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="sample-") as workdir:
        clip = make_clip(PHOTO, Path(workdir) / "sample_still_photo.mp4")
        print("starting the service (gunicorn) ...", flush=True)
        with gunicorn_server() as url:
            print(f"service up at {url}; scoring {clip.name}\n", flush=True)
            return client.main([str(clip), "--url", url, "--session-id", "bundled-sample"])


if __name__ == "__main__":
    sys.exit(main())
