"""Content keys of structure inputs: what :mod:`matloop.represent.feature_cache` indexes rows by.

A key names what a cell *holds*, not where it came from: the SHA-256 of inline text (CIF, POSCAR,
JSON), of a file's bytes for a path (renaming keeps the key, editing changes it), or of the
canonical JSON of a dict or pymatgen ``Structure``. Values that cannot be keyed (missing cells,
unreadable paths) get None: they are always handed to the featurizer, which reports them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["content_keys"]


def _digest(tag: bytes, payload: bytes) -> str:
    return hashlib.sha256(tag + b"\0" + payload).hexdigest()


def content_keys(values: Sequence, base_dir: str | os.PathLike | None = None) -> list[str | None]:
    """A content key per value; None for values that cannot be keyed (missing, unreadable paths).

    Inline text (anything with a line break, or JSON) is hashed as text; a one-line string is a path
    and its file's bytes are hashed; dicts and pymatgen structures by their canonical JSON.
    """
    base = Path(base_dir) if base_dir is not None else None
    return [_key(v, base) for v in values]


def _key(value, base: Path | None) -> str | None:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if "\n" in text or text.startswith(("{", "[")):
            return _digest(b"text", text.encode("utf-8", "surrogatepass"))
        return _file_key(Path(text), base)
    if isinstance(value, os.PathLike):
        return _file_key(Path(value), base)
    if isinstance(value, dict):
        return _json_key(value)
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict) and hasattr(value, "lattice"):
        return _json_key(as_dict())
    return None


def _json_key(data: dict) -> str | None:
    try:
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return None
    return _digest(b"json", text.encode("utf-8", "surrogatepass"))


def _file_key(path: Path, base: Path | None) -> str | None:
    if not path.is_absolute() and base is not None:
        path = base / path
    try:
        if not path.is_file():
            return None  # the featurizer reports the row (file not found)
        h = hashlib.sha256(b"file\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    except OSError:
        return None
