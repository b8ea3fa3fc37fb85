"""Writing tables: one function for every command's output, format from the file name."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from collections.abc import Sequence
from pathlib import Path

import numpy as np
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


#: significant digits of the numbers matloop computes (predictions, stds, features) in text outputs
DIGITS = 6


def round_significant(values, digits: int = DIGITS) -> np.ndarray:
    """``values`` (floats) rounded to ``digits`` significant digits, as the floats nearest to those
    decimals, so that they print short (``0.333333``, ``1.23457e+28``); NaN and inf stay as they are."""
    x = np.array(values, dtype=float)
    ok = np.isfinite(x) & (x != 0)
    v = x[ok]
    k = (digits - 1 - np.floor(np.log10(np.abs(v)))).astype(np.int64)  # decimals to keep
    out = v.copy()
    up = (k >= 0) & (k <= 22)  # powers of ten up to 1e22 are exact doubles: one correctly rounded division
    scale = 10.0 ** k[up]
    out[up] = np.round(v[up] * scale) / scale
    down = (k < 0) & (k >= -22)
    scale = 10.0 ** -k[down]
    out[down] = np.round(v[down] / scale) * scale
    for i in np.flatnonzero(~(up | down)):  # below 1e-16 or above 1e27: rare, done one by one
        out[i] = float(f"{v[i]:.{digits}g}")
    x[ok] = out
    return x


def _rounded(frame: pd.DataFrame, columns, digits: int) -> pd.DataFrame:
    """A copy of ``frame`` with the float columns among ``columns`` rounded (others untouched)."""
    todo = [c for c in columns if c in frame.columns and pd.api.types.is_float_dtype(frame[c].dtype)]
    if not todo:
        return frame
    frame = frame.copy()
    for c in todo:
        frame[c] = round_significant(frame[c].to_numpy(dtype=float, na_value=np.nan), digits)
    return frame


def _whole_numbers_as_integers(frame: pd.DataFrame, skip) -> pd.DataFrame:
    """A copy of ``frame`` whose float columns (except ``skip``) holding only whole numbers are
    nullable integers: a temperature read as ``60`` is written ``60``, not ``60.0`` (validation reads
    every numeric input as float)."""
    skip = set(skip or ())
    todo = []
    for c in frame.columns:
        if c in skip or not pd.api.types.is_float_dtype(frame[c].dtype):
            continue
        x = frame[c].to_numpy(dtype=float, na_value=np.nan)
        x = x[~np.isnan(x)]
        if len(x) and np.isfinite(x).all() and (np.abs(x) < 2**53).all() and (x == np.round(x)).all():
            todo.append(c)
    if not todo:
        return frame
    frame = frame.copy()
    for c in todo:
        frame[c] = frame[c].astype("Int64")
    return frame


def write_table(frame: pd.DataFrame, path: str | Path, *, overwrite: bool = True, sheet_name: str = "data",
                round_columns: Sequence[str] | None = None, digits: int = DIGITS) -> Path:
    """Write ``frame`` (every row and column, no index); format from the suffix.

    ``.csv``, ``.tsv``, ``.xlsx``, ``.json`` (a list of row objects, missing as null) or
    ``.parquet``; ``.csv``/``.tsv``/``.json`` may add ``.gz``, ``.bz2`` or ``.xz``. The user's own
    values are written as read (floats in their shortest exact form, whole numbers without ``.0``). ``round_columns`` names the
    columns matloop computed (predictions, stds, scores, features): in every format but Parquet
    their floats are written to ``digits`` significant digits (``0.333333``, not
    ``0.33333333333333331``): a model's 7th digit is noise. Parquet keeps every value exact. Raises
    :class:`matloop.InputError` for an unsupported name and :class:`FileExistsError` when
    ``overwrite`` is false and the file exists.
    """
    path = Path(path)
    fmt, comp = output_format(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; choose another name or allow overwriting")
    if fmt != ".parquet":
        if round_columns:
            frame = _rounded(frame, list(round_columns), int(digits))
        frame = _whole_numbers_as_integers(frame, round_columns)
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
