"""Where a request's uploaded files land while it runs: its private directory in the upload area.

Werkzeug spools multipart file parts to the system temp directory by default, so a full disk there
failed the request before the service's own code ran, and a worker killed mid-upload left the parts
where nothing swept them. `SpoolingRequest` writes every file part into `score-<pid>-...` under the
upload area instead (`scoring.operations.uploads`), made on the first part and removed when the request ends,
on every path; the sweep removes what a killed worker leaves. A full disk while spooling is an
OSError the error handlers answer with 507.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import IO

from flask import Flask, Request, g

from scoring.operations.uploads import private_dir
from scoring.web import current


class SpoolingRequest(Request):
    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None) -> IO[bytes]:
        if "request_files" not in g:
            g.request_files, g.spooled = private_dir(current().uploads), []
        # Open past this call: werkzeug writes the part into it; the request's teardown closes and removes it.
        part = tempfile.NamedTemporaryFile(prefix="part-", dir=g.request_files, delete=False)  # noqa: SIM115
        g.spooled.append(part)
        return part


def _remove_request_files(_exc: BaseException | None) -> None:
    """Closed as well as removed: a part the parser was writing when the disk filled is held by nothing
    else that closes it, and its blocks stay taken while it is open."""
    for part in g.pop("spooled", ()):
        part.close()
    workdir = g.pop("request_files", None)
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)


def spool_into_upload_area(app: Flask) -> None:
    app.request_class = SpoolingRequest
    app.teardown_request(_remove_request_files)
