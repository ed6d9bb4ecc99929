"""`WS /score/live` through a real socket: a recording streamed in chunks gets the answer `POST /score`
gives for the same bytes, guidance on the way, and every limit closes it with a JSON error and
nothing left on disk (generated official-format weights: plumbing only)."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

import pytest
from simple_websocket import Client, ConnectionClosed
from simple_websocket import ConnectionError as HandshakeRefused
from werkzeug.serving import make_server

from app import create_app
from tests.helpers import media
from tests.helpers.paths import MEDIA, shared
from tests.helpers.service import app_settings, upload
from tools.recordings import as_mediarecorder_webm
from training.fit_mouth_cover import COVER_FROM_S
from training.occluders import mask

CHUNK = 32 * 1024  # about 250 ms of a MediaRecorder's VP8 at 1 Mbit/s
TIMINGS = ("processing_time_ms", "timings_ms")


@pytest.fixture(scope="module")
def recordings(tmp_path_factory, tracker) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("recordings")
    talking = shared(MEDIA / "talking" / "akash_video_8s.mp4")
    return {
        "talking": as_mediarecorder_webm(talking, folder / "akash.webm"),
        "faceless": as_mediarecorder_webm(media.faceless_clip(folder / "faceless.mp4", seconds=2.0), folder / "faceless.webm"),
        "masked": as_mediarecorder_webm(media.covered_clip(talking, folder / "masked.mp4", tracker.detector, mask), folder / "masked.webm"),
    }


def served(app) -> tuple[str, callable]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"ws://127.0.0.1:{server.server_port}/score/live", server.shutdown


@pytest.fixture(scope="module")
def live_url(app):
    url, stop = served(app)
    yield url
    stop()


def session(url: str, chunks: list, start: dict | None = None, headers: dict | None = None) -> list[dict]:
    """Every event of one session: `start`, then `chunks` (bytes are chunks, a dict a control message)."""
    ws = Client.connect(url, headers=headers)
    events = []
    try:
        ws.send(json.dumps({"type": "start", **(start or {})}))
        for chunk in chunks:
            ws.send(json.dumps(chunk) if isinstance(chunk, dict) else chunk)
        while not events or events[-1]["type"] not in ("result", "error"):
            message = ws.receive(timeout=120)
            assert message is not None, f"no answer after {[e['type'] for e in events]}"
            events.append(json.loads(message))
    except ConnectionClosed:
        pass
    finally:
        with contextlib.suppress(ConnectionClosed, OSError):  # the service may have closed it first
            ws.close()
    return events


def recorded(path: Path) -> list:
    data = path.read_bytes()
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] + [{"type": "stop"}]


def test_a_streamed_recording_gets_the_uploads_answer(live_url, client, recordings, upload_dir):
    events = session(live_url, recorded(recordings["talking"]), {"session_id": "live-1"})
    kinds = [event["type"] for event in events]
    assert kinds[0] == "ready" and kinds[-1] == "result", kinds
    progress = [event for event in events if event["type"] == "progress"]
    assert progress and all(event["faces"] == 1 and event["bytes"] > 0 for event in progress)
    posted = upload(client, recordings["talking"], name="recording.webm", session_id="live-1").get_json()
    streamed = events[-1]["result"]
    assert {k: v for k, v in streamed.items() if k not in TIMINGS} == {k: v for k, v in posted.items() if k not in TIMINGS}
    verdict = dict(zip(streamed["efficientnet"]["frame_indices"], streamed["efficientnet"]["frame_scores"], strict=True))
    for judged in progress[-1]["judged"].get("efficientnet", []):  # a face judged on the way scores the same in the verdict
        assert verdict.get(judged["frame_index"], judged["score"]) == judged["score"]
    assert streamed["video"]["container"] == "matroska,webm" and streamed["session_id"] == "live-1"
    assert not [event for event in events if event["type"] == "guidance" and event["codes"]]  # a lit, bare, near face
    assert list(upload_dir.iterdir()) == []


def test_a_recording_without_a_face_is_told_so_on_the_way(live_url, recordings):
    events = session(live_url, recorded(recordings["faceless"]))
    guidance = [event for event in events if event["type"] == "guidance"]
    assert guidance and "no_face" in guidance[0]["codes"] and guidance[0]["messages"]
    assert events[-1]["type"] == "error" and events[-1]["status"] == 422


def test_a_mouth_covered_on_the_way_is_told_within_a_second(live_url, recordings):
    events = session(live_url, recorded(recordings["masked"]))
    assert "mouth_hidden" in events[0]["guidance"]
    told = [event["seconds"] for event in events if event["type"] == "guidance" and "mouth_hidden" in event["codes"]]
    assert told and COVER_FROM_S <= told[0] <= COVER_FROM_S + 1.0, told


@pytest.mark.parametrize(
    ("chunks", "code", "status"),
    [
        ([b"\x1a\x45\xdf\xa3 not a webm at all" * 400, {"type": "stop"}], "not_a_video", 415),
        (["hello"], "invalid_json", 400),
        ([{"type": "pause"}], "bad_request", 400),
    ],
)
def test_a_chunk_out_of_place_ends_the_session_with_its_error(live_url, chunks, code, status):
    events = session(live_url, chunks)
    assert events[-1] == {"type": "error", "error": code, "message": events[-1]["message"], "status": status}


def test_limits_close_the_session_with_a_json_error(weights_dir, upload_dir, classifier, recordings):
    app = create_app(app_settings(weights_dir, upload_dir, classifier, max_upload_mb=0.25, live_idle_timeout_s=1.0))
    url, stop = served(app)
    try:
        too_big = session(url, recorded(recordings["talking"]))
        assert too_big[-1]["error"] == "file_too_large" and too_big[-1]["status"] == 413
        silent = session(url, recorded(recordings["talking"])[:2])  # then nothing: no stop
        assert silent[-1]["error"] == "idle_timeout" and silent[-1]["status"] == 408
    finally:
        stop()
    assert list(upload_dir.iterdir()) == []


def test_the_handshake_asks_for_the_api_key(weights_dir, upload_dir, classifier, recordings):
    app = create_app(app_settings(weights_dir, upload_dir, classifier, api_keys=("k" * 20,)))
    url, stop = served(app)
    try:
        with pytest.raises(HandshakeRefused) as refused:
            Client.connect(url)
        assert refused.value.status_code == 401
        events = session(url, [{"type": "nonsense"}], headers={"Authorization": "Bearer " + "k" * 20})
        assert events[-1]["error"] == "bad_request"
    finally:
        stop()
