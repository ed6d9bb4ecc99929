"""The verification page (plain HTML, CSS and JavaScript from scoring/page; nothing from a CDN)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, send_from_directory

PAGE_DIR = Path(__file__).resolve().parents[1] / "page"
PAGE_FILES = {"page.css", "page.js"}  # what index.html loads

bp = Blueprint("page", __name__)


@bp.get("/")
def page():
    return send_from_directory(PAGE_DIR, "index.html")


@bp.get("/page/<path:name>")
def page_file(name: str):
    return send_from_directory(PAGE_DIR, name)
