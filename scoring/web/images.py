"""`POST /score/image` and `POST /score/images`: still images (a selfie, an ID photo) in, the verdict out.

Each image is read into memory (at most MAX_IMAGE_MB) from the request's spool (`scoring.web.spool`). A photo has no lip
movement or sound, so the frame classifier judges its largest face alone and `syncnet` says so.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from scoring.web import current
from scoring.web.audit import audited
from scoring.web.auth import protected
from scoring.web.requests import images_of_request

bp = audited(protected(Blueprint("images", __name__)))


@bp.post("/score/image")
def score_image():
    api = current()
    with api.service.admitted():
        images = images_of_request(api.settings, most=1)
        return jsonify(api.service.score_image(images.data[0], images.session_id, images.explain))


@bp.post("/score/images")
def score_images():
    api = current()
    with api.service.admitted():
        images = images_of_request(api.settings, most=api.settings.max_batch_images)
        return jsonify(api.service.score_images(images.data, images.session_id, images.explain))
