"""What makes recording a measurement idempotent: keys made of normalised values only.

A measurement's key is a hash of the campaign, the candidate's canonical key, the target and the
user's ``measurement_id`` when the cell is filled, else the value as a float (see
:mod:`matloop.design.ledger`). ``_legacy_key`` recognises the keys older ledgers stored.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

__all__ = ["measurement_ident", "idempotency_key"]


def _json(data: dict) -> str:
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if hasattr(v, "item"):
            return clean(v.item())
        return v
    return json.dumps({str(k): clean(v) for k, v in data.items()}, sort_keys=True, default=str)


def measurement_ident(value: Any) -> str | None:
    """The user's ``measurement_id`` cell normalised: None when empty (NaN, None, blank text);
    numbers as numbers (``7``, ``7.0`` and ``"7"`` are one id); text stripped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip()
    if not text or text.lower() in ("nan", "none", "null", "<na>"):
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return repr(float(f"{number:.15g}")) if math.isfinite(number) else text


def idempotency_key(campaign_id: int, key: str, target: str, value: float, ident: str | None) -> str:
    """The key that makes recording idempotent: a hash of normalised values only (never of the
    row's text or of columns that do not define the measurement)."""
    what = f"id:{ident}" if ident is not None else f"value:{float(value) + 0.0!r}"  # -0.0 is 0.0
    raw = f"v2|{campaign_id}|{key}|{target}|{what}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _legacy_key(campaign_id: int, key: str, target: str, value: float, rec: dict) -> str | None:
    """The key older ledgers stored (the id as given, else the row's whole text), so that results
    recorded before the normalised key are still recognised. None where that key was ambiguous (an
    empty measurement_id cell, read as the id "nan")."""
    ident = rec.get("measurement_id")
    if isinstance(ident, float) and math.isnan(ident):
        return None
    raw = f"{campaign_id}|{key}|{target}|{ident if ident is not None else repr(value)}|" + (
        "" if ident is not None else _json(rec))
    return hashlib.sha256(raw.encode()).hexdigest()
