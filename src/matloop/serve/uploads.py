"""What the dashboard's forms send: uploaded tables, read as every matloop table is read, and the
results row of the failure form.

Uploaded bytes are read from memory with a size limit into a private temporary file with a fixed name
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


def failure_row(db, name: str, candidate: str, reason: str) -> dict:
    """A results row saying the experiment on ``candidate`` (``#id``, key or material) failed."""
    from matloop.design.campaign_failures import _keys
    from matloop.design.ledger_events import resolve_candidates
    from matloop.serve import service

    camp = service.open_campaign(db, name)
    if not reason.strip():
        raise InputError("say what happened (the failure's reason)")
    [(cid, _key)] = resolve_candidates(camp.ledger, [candidate.strip()], lambda texts: _keys(camp, texts))
    cfg = camp.config
    inputs = (cfg.get("parameter_columns") or []) if cfg["kind"] == "parameters" else [cfg["input"]]
    cands = camp.ledger.candidates()
    row = cands.loc[cands["candidate_id"] == cid].iloc[0]
    from matloop.design.campaign_multi import outcome_columns

    blank = dict.fromkeys(outcome_columns(cfg))  # the goal cells of a failed experiment are empty
    return {**{c: row[c] for c in inputs}, **blank, "status": "failed", "reason": reason.strip()}
