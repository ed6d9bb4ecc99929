"""Still images: decoding and its refusals (`scoring.media.images`), and `POST /score/image(s)` on the app.

The frame classifier here is the tests' generated file (plumbing only: its numbers are not results).
"""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from app import create_app
from scoring.errors import Code, ServiceError
from scoring.media.images import decode_image
from scoring.media.video import DecodeLimits
from tests.helpers.media import PHOTO, photo_canvas
from tests.helpers.service import app_settings, post_images

LIMITS = DecodeLimits()


def encoded(rgb: np.ndarray, image_format: str, **options) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, image_format, **options)
    return out.getvalue()


def portrait() -> np.ndarray:
    return np.asarray(Image.open(PHOTO).convert("RGB"))


def png_declaring(width: int, height: int) -> bytes:
    """A few hundred bytes whose header declares a width x height greyscale PNG (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def refused(data: bytes) -> Code:
    with pytest.raises(ServiceError) as raised:
        decode_image(data, LIMITS)
    return raised.value.code


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_jpeg_png_and_webp_decode_to_the_same_picture(image_format):
    rgb = portrait()
    decoded = decode_image(encoded(rgb, image_format, **({"quality": 95} if image_format != "PNG" else {})), LIMITS)
    assert decoded.rgb.shape == rgb.shape and decoded.format == image_format
    assert np.abs(decoded.rgb.astype(int) - rgb).mean() < 3
    assert decoded.summary() == {"format": image_format.lower(), "width": 512, "height": 512, "analysed_width": 512, "analysed_height": 512}


def test_exif_orientation_is_applied_as_phones_mean_it():
    rgb = portrait()[:, :300]  # 512 high, 300 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    decoded = decode_image(encoded(rgb, "JPEG", exif=exif.tobytes(), quality=95), LIMITS)
    assert decoded.rgb.shape[:2] == (300, 512)
    upright = np.rot90(rgb, k=-1)
    assert np.abs(decoded.rgb.astype(int) - upright).mean() < 3


def test_large_pictures_are_analysed_at_the_video_frames_size():
    big = cv2.resize(portrait(), (2000, 1500))
    decoded = decode_image(encoded(big, "PNG"), LIMITS)
    assert decoded.rgb.shape == (480, 640, 3)
    assert decoded.summary()["width"] == 2000 and decoded.summary()["analysed_width"] == 640


def test_empty_unreadable_truncated_and_other_formats_are_refused():
    jpeg = encoded(portrait(), "JPEG")
    assert refused(b"") == Code.EMPTY_UPLOAD
    assert refused(b"<html>not an image</html>") == Code.NOT_AN_IMAGE
    assert refused(jpeg[: len(jpeg) // 2]) == Code.NOT_AN_IMAGE
    assert refused(encoded(portrait(), "GIF")) == Code.NOT_AN_IMAGE
    assert refused(encoded(portrait(), "BMP")) == Code.NOT_AN_IMAGE


def test_a_picture_too_small_to_hold_a_face_is_refused_not_crashed_on():
    assert refused(encoded(np.zeros((1, 1, 3), np.uint8), "PNG")) == Code.RESOLUTION_TOO_SMALL
    assert refused(encoded(np.zeros((31, 400, 3), np.uint8), "PNG")) == Code.RESOLUTION_TOO_SMALL
    assert decode_image(encoded(np.zeros((32, 32, 3), np.uint8), "PNG"), LIMITS).rgb.shape == (32, 32, 3)


def test_a_decompression_bomb_is_refused_from_its_header():
    bomb = png_declaring(60_000, 60_000)
    assert len(bomb) < 1000
    assert refused(bomb) == Code.RESOLUTION_TOO_LARGE
    assert refused(png_declaring(5000, 10)) == Code.RESOLUTION_TOO_LARGE


# --- the routes ------------------------------------------------------------------------------------


def two_faces() -> bytes:
    """The portrait large on the left and at half the size on the right."""
    canvas, _, _ = photo_canvas(960, 480)
    small = cv2.resize(canvas[:, 240:720], (240, 240), interpolation=cv2.INTER_AREA)
    canvas[240:, 720:] = small
    canvas[:, :240] = 90
    return encoded(canvas[:, :, ::-1].copy(), "JPEG", quality=95)


def test_a_photo_is_scored_by_the_frame_classifier_alone_and_says_why(client):
    response = post_images(client, encoded(portrait(), "JPEG", quality=95), session_id="selfie-1")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    frames = body["efficientnet"]
    assert frames["num_frames"] == 1 and frames["face_source"] == "image" and len(frames["frame_scores"]) == 1
    assert body["combined_score"] == frames["score"] and body["weights"] == {"syncnet": 0.0, "efficientnet": 1.0, "voice": 0.0}
    assert body["syncnet"]["score"] is None and body["syncnet"]["code"] == "not_applicable"
    assert body["is_likely_real"] == (body["combined_score"] > 0.6) and body["degraded"] is None
    assert body["image"]["format"] == "jpeg" and body["faces"]["found"] == 1 and body["faces"]["detector"] == "mtcnn"
    assert body["models"]["efficientnet"]["file"] == "effb0_test.pt" and body["session_id"] == "selfie-1"
    assert set(body["timings_ms"]) == {"decode", "face_detection", "classifier"}


def test_the_largest_face_is_the_one_judged(client):
    body = post_images(client, two_faces()).get_json()
    x1, y1, x2, y2 = body["faces"]["box"]  # in the analysed picture: 640 x 320, the small copy right of x = 480
    assert body["faces"]["found"] == 2 and x2 < 480 and (x2 - x1) > 40


def test_bad_images_get_the_same_json_errors_as_bad_videos(client):
    jpeg = encoded(portrait(), "JPEG")
    cases = [
        (b"", 400, "empty_upload"),
        (b"plain text, not a picture", 415, "not_an_image"),
        (jpeg[: len(jpeg) // 3], 415, "not_an_image"),
        (png_declaring(60_000, 60_000), 413, "resolution_too_large"),
        (encoded(np.full((240, 320, 3), 128, np.uint8), "PNG"), 422, "no_face"),
    ]
    for data, status, code in cases:
        response = post_images(client, data)
        assert (response.status_code, response.get_json()["error"]) == (status, code), response.get_data(as_text=True)
        assert "Traceback" not in response.get_data(as_text=True)
    assert client.post("/score/image", json={"image": "x"}).get_json()["error"] == "missing_image"
    assert client.post("/score/image", data={"video": (io.BytesIO(jpeg), "a.jpg")}, content_type="multipart/form-data").status_code == 400
    assert post_images(client, jpeg, jpeg).get_json()["error"] == "too_many_images"
    assert client.get("/health").status_code == 200


def test_an_image_over_max_image_mb_is_413(weights_dir, upload_dir, classifier):
    settings = app_settings(weights_dir, upload_dir, classifier, max_image_mb=0.01)
    response = post_images(create_app(settings).test_client(), encoded(portrait(), "PNG"))
    assert (response.status_code, response.get_json()["error"]) == (413, "file_too_large")


def test_a_batch_answers_each_image_and_counts_them(client):
    photo = encoded(portrait(), "JPEG", quality=95)
    grey = encoded(np.full((240, 320, 3), 128, np.uint8), "PNG")
    response = post_images(client, photo, b"not an image", grey, route="/score/images")
    assert response.status_code == 200, response.get_data(as_text=True)
    scored, unreadable, faceless = response.get_json()["results"]
    assert scored["efficientnet"]["num_frames"] == 1
    assert (unreadable["error"], unreadable["status"]) == ("not_an_image", 415)
    assert (faceless["error"], faceless["status"]) == ("no_face", 422)
    counts = response.get_json()["counts"]
    assert counts == {"images": 3, "failed": 2, "real": int(scored["is_likely_real"]), "fake": int(not scored["is_likely_real"])}


def test_image_routes_ask_for_the_api_key_and_are_absent_in_queue_mode(weights_dir, upload_dir, classifier):
    keyed = create_app(app_settings(weights_dir, upload_dir, classifier, api_keys=("k" * 16,))).test_client()
    assert post_images(keyed, b"x").status_code == 401
    settings = dataclasses.replace(app_settings(weights_dir, upload_dir, classifier), redis_url="redis://127.0.0.1:1")
    assert post_images(create_app(settings).test_client(), b"x").status_code == 404
