"""Uploads of the dashboard's forms, read as every matloop table is read.

The bytes are read from memory with a size limit into a private temporary file with a fixed name
(the client's file name never becomes a path) and parsed by :func:`matloop.io.files.read_raw`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import UploadFile

from matloop.errors import InputError


async def read_upload(settings, upload: UploadFile | None):
    """The uploaded CSV as a frame through matloop's table reader, or an InputError."""
    from starlette.concurrency import run_in_threadpool

    if upload is None or not upload.filename:
        raise InputError("choose a CSV file to upload")
    limit = int(settings.max_body_bytes)
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"the file is over the upload limit of {limit} bytes")
    if not data.strip():
        raise InputError("the uploaded file is empty")
    return await run_in_threadpool(parse_csv, data)


def parse_csv(data: bytes):
    """Bytes of a CSV file as a frame (:func:`matloop.io.files.read_raw`'s checks)."""
    from matloop.io.files import read_raw

    with tempfile.TemporaryDirectory(prefix="matloop-upload-") as tmp:
        path = Path(tmp) / "upload.csv"  # a fixed name: the client's file name never becomes a path
        path.write_bytes(data)
        frame, _rows = read_raw(path)
    return frame
