"""Writing tables: one function for every command's output, format from the file name."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from pathlib import Path

import pandas as pd

from matloop.errors import InputError

WRITE_FORMATS = (".csv", ".tsv", ".xlsx", ".json", ".parquet")
_COMPRESSED = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def output_format(path: str | Path) -> tuple[str, str | None]:
    """(format suffix, compression suffix or None) from a file name such as ``x.csv.gz``."""
    path = Path(path)
    suffixes = [x.lower() for x in path.suffixes]
    comp = suffixes[-1] if suffixes and suffixes[-1] in _COMPRESSED else None
    fmt = (suffixes[-2] if comp and len(suffixes) > 1 else suffixes[-1] if suffixes and not comp else "")
    if fmt not in WRITE_FORMATS or (comp and fmt not in (".csv", ".tsv", ".json")):
        raise InputError(
            f"cannot write {path.name!r} (unsupported format): the file name must end in one of "
            f"{', '.join(WRITE_FORMATS)} (.csv, .tsv and .json may add .gz, .bz2 or .xz)"
        )
    return fmt, comp


def write_table(frame: pd.DataFrame, path: str | Path, *, overwrite: bool = True, sheet_name: str = "data") -> Path:
    """Write ``frame`` (every row and column, no index); format from the suffix.

    ``.csv``, ``.tsv``, ``.xlsx``, ``.json`` (a list of row objects, floats exact, missing as
    null) or ``.parquet``; ``.csv``/``.tsv``/``.json`` may add ``.gz``, ``.bz2`` or ``.xz``. Floats keep
    full precision except in XLSX (16 significant digits, what openpyxl writes). Raises
    :class:`matloop.InputError` for an unsupported name and :class:`FileExistsError` when
    ``overwrite`` is false and the file exists.
    """
    path = Path(path)
    fmt, comp = output_format(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; choose another name or allow overwriting")
    if fmt == ".xlsx":
        frame.to_excel(path, index=False, sheet_name=sheet_name[:31] or "data")
    elif fmt == ".parquet":
        frame.to_parquet(path, index=False)
    elif fmt == ".json":
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        with _COMPRESSED.get(comp, open)(path, "wt", encoding="utf-8") as handle:
            json.dump(records, handle, default=lambda v: v.item() if hasattr(v, "item") else str(v))
    else:
        frame.to_csv(path, index=False, sep="\t" if fmt == ".tsv" else ",")
    return path
