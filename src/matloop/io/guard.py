"""Checks that run on a user's table file *before* a parser sees it: size caps, decompression caps,
text encodings, control characters, and the cells a parser hands back.

Why: parsers trust their input. pandas' C parser stops a cell at a NUL byte (``Fe2O3\\x00junk`` is
read as ``Fe2O3``, a target ``1\\x00999`` as 1), a 6 MB ``.xlsx`` can inflate to gigabytes inside
openpyxl, a truncated ``.csv.gz`` raises ``EOFError``. Everything here turns such a file into a
:class:`matloop.InputError` (the CLI's exit status 2) before memory or meaning is lost.

Limits (generous for real tables, documented in ``docs/ARCHITECTURE.md``):

- :func:`max_table_bytes`: at most ``MAX_TABLE_BYTES`` (1 GiB) of uncompressed data per table file,
  checked on the file size, on the declared sizes of an ``.xlsx``'s zip members and of a Parquet
  file's row groups, and while decompressing ``.gz``/``.bz2``/``.xz`` (streamed in 1 MiB pieces,
  stopped at the cap, so a bomb never allocates more than the cap). The environment variable
  ``MATLOOP_MAX_TABLE_BYTES`` (bytes; suffixes K, M, G allowed) changes it.
- ``MAX_ZIP_RATIO`` (200): a zip member of an ``.xlsx`` larger than 1 MiB, and a compressed text
  table past 64 MiB, may not inflate more than 200-fold (real tables inflate 5-30-fold; DEFLATE bombs
  about 1000-fold), so a bomb is stopped long before the size cap.
- A table holds at most ``max_table_bytes() // 8`` cells (Parquet, whose run-length encoding can
  hide a huge table in a tiny file).
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import lzma
import os
import re
import sys
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from matloop.errors import InputError, error_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CONTROL_CHARACTERS",
    "MAX_TABLE_BYTES",
    "MAX_ZIP_RATIO",
    "check_cells",
    "check_parquet",
    "check_text",
    "check_xlsx",
    "decode_text",
    "max_table_bytes",
    "read_bytes",
]

MAX_TABLE_BYTES = 1 << 30
MAX_ZIP_RATIO = 200
MAX_PROBLEMS = 1000  # control-character problems listed per file (a binary file would give millions)
_CHUNK = 1 << 20
_ENV = "MATLOOP_MAX_TABLE_BYTES"
# C0 control characters except tab, line feed and carriage return.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_OPENERS = {".gz": gzip.GzipFile, ".bz2": bz2.BZ2File, ".xz": lzma.LZMAFile}
_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"), (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"), (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)
_NAMES = {0: "NUL", 7: "BEL", 8: "BS", 11: "VT", 12: "FF", 27: "ESC"}


def _scalars() -> tuple[type, ...]:
    """The types of a single cell value (pandas imported here: reading a CSV need not load it)."""
    import pandas as pd

    return (str, int, float, bool, np.integer, np.floating, np.bool_, type(None), pd.Timestamp, type(pd.NaT),
            type(pd.NA))


def max_table_bytes() -> int:
    """The cap on a table's uncompressed size: ``MATLOOP_MAX_TABLE_BYTES`` if set, else 1 GiB."""
    text = os.environ.get(_ENV, "").strip().upper()
    if not text:
        return MAX_TABLE_BYTES
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    try:
        value = int(float(text.rstrip("KMGB") or "x") * scale)
    except ValueError:
        raise InputError(f"{_ENV}={os.environ[_ENV]!r} is not a size in bytes (e.g. 2G or 500M)") from None
    if value <= 0:
        raise InputError(f"{_ENV} must be a positive size, got {os.environ[_ENV]!r}")
    return value


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _too_large(name: str, what: str) -> InputError:
    return InputError(f"{name}: {what}, more than the limit of {_size(max_table_bytes())} for a table; "
                      f"split the table, or raise the limit with the environment variable {_ENV} (e.g. 4G)")


def read_bytes(path: Path, compression: str | None) -> bytes:
    """The file's bytes, decompressed in 1 MiB pieces and stopped at :func:`max_table_bytes`."""
    cap = max_table_bytes()
    size = path.stat().st_size
    if size > cap:
        raise _too_large(path.name, f"the file holds {_size(size)}")
    if compression is None:
        return path.read_bytes()
    out = io.BytesIO()
    try:
        with _OPENERS[compression](path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                if out.tell() + len(chunk) > cap:
                    raise _too_large(path.name, f"it decompresses to more than {_size(cap)}")
                out.write(chunk)
                if out.tell() > 64 * _CHUNK and out.tell() > MAX_ZIP_RATIO * max(size, 1):
                    raise InputError(f"cannot read {path.name}: its {_size(size)} inflate more than "
                                     f"{MAX_ZIP_RATIO}-fold (to over {_size(out.tell())}), like a decompression "
                                     "bomb; real tables compress far less")
    except (EOFError, OSError, zlib.error, lzma.LZMAError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot read {path.name}: it is not a valid {compression} file or it is truncated "
                         f"({_oneline(exc)})") from None
    return out.getvalue()


def _oneline(exc: BaseException, width: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= width else text[: width - 1] + "…"


def _utf16_without_bom(data: bytes) -> str | None:
    """``utf-16-le``/``-be`` when every other byte of the start is NUL (ASCII text saved as UTF-16)."""
    head = data[:4096]
    if len(head) < 4 or len(head) % 2:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    half = len(head) // 2
    if odd >= 0.9 * half and even == 0:
        return "utf-16-le"
    if even >= 0.9 * half and odd == 0:
        return "utf-16-be"
    return None


def decode_text(data: bytes, name: str, *, partial: bool = False) -> str:
    """Text from bytes: by byte-order mark (UTF-8/16/32), else UTF-8, else Windows-1252 with a warning.

    Line endings become ``\\n`` (Windows ``\\r\\n`` and old-Mac ``\\r``). ``partial`` (a prefix of a
    file) tolerates a character cut at the end.
    """
    errors = "replace" if partial else "strict"
    encoding, label = next(((enc, lab) for bom, enc, lab in _BOMS if data.startswith(bom)), (None, None))
    if encoding is None and (encoding := _utf16_without_bom(data)):
        label = "UTF-16 (without a byte-order mark)"
    try:
        if encoding is not None:
            text = data.decode(encoding, errors)
        else:
            try:
                text = data.decode("utf-8", errors)
            except UnicodeDecodeError:
                text = data.decode("cp1252")
                warnings.warn(f"{name} is not UTF-8 text; it was read as Windows-1252 (Excel's default). "
                              "Save it as 'CSV UTF-8' if characters look wrong.", UserWarning, stacklevel=4)
    except UnicodeDecodeError as exc:
        what = f"not valid {label} text" if label else "neither UTF-8 nor Windows-1252 text"
        raise InputError(f"cannot read {name}: it is {what} (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start:,}); save it as UTF-8 text (Excel: 'CSV UTF-8')") from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


@contextmanager
def _field_limit() -> Iterator[None]:
    """Let :mod:`csv` read fields as long as the file (its default stops at 131,072 characters)."""
    old = csv.field_size_limit()
    csv.field_size_limit(min(sys.maxsize, 1 << 62))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def csv_records(text: str, sep: str) -> Iterator[list[str]]:
    """:func:`csv.reader` over ``text`` without the field-length limit."""
    with _field_limit():
        yield from csv.reader(io.StringIO(text), delimiter=sep)


def _describe(char: str) -> str:
    code = ord(char)
    return f"U+{code:04X}" + (f" ({_NAMES[code]})" if code in _NAMES else "")


def _control_reason(text: str) -> str:
    found = sorted(set(CONTROL_CHARACTERS.findall(text)))
    chars = ", ".join(_describe(c) for c in found[:3]) + (", ..." if len(found) > 3 else "")
    return (f"contains the control character{'s' if len(found) > 1 else ''} {chars}, which no table cell "
            "should hold (a binary or corrupted file?); parsers would cut or change the cell")


def check_text(text: str, sep: str, name: str) -> None:
    """Reject control characters in delimited text before pandas' parser can truncate cells at them.

    The problems table names the 1-based data row and the column of every such cell (the first
    ``MAX_PROBLEMS``).
    """
    if not CONTROL_CHARACTERS.search(text):
        return
    records = csv_records(text, sep)
    header = next(records, [])
    bad_header = [h for h in header if CONTROL_CHARACTERS.search(h)]
    if bad_header:
        raise InputError(f"cannot read {name}: its header line {_control_reason(bad_header[0])}")
    problems: list[dict] = []
    more = 0
    for row, fields in enumerate(records, start=1):
        for i, cell in enumerate(fields):
            if CONTROL_CHARACTERS.search(cell):
                if len(problems) < MAX_PROBLEMS:
                    column = header[i] if i < len(header) else f"(field {i + 1})"
                    problems.append({"row": row, "column": column, "value": cell, "reason": _control_reason(cell)})
                else:
                    more += 1
    _raise_cells(name, problems, more)


def _raise_cells(name: str, problems: list[dict], more: int = 0) -> None:
    if not problems:
        return
    extra = f" (the first {len(problems)} shown; {more} more)" if more else ""
    raise InputError(f"{name}: {len(problems) + more} cell{'s' if len(problems) + more != 1 else ''} cannot be "
                     f"read as table values{extra}", error_table(problems))


def check_cells(frame: pd.DataFrame, name: str) -> None:
    """Every cell a single value (no JSON object/array, no bytes) and no control characters.

    For formats parsed before we can look at their text (JSON, XLSX, Parquet). Rows are 1-based
    positions in ``frame`` (blank rows are still in it).
    """
    bad_names = [str(c) for c in frame.columns if CONTROL_CHARACTERS.search(str(c))]
    if bad_names:
        raise InputError(f"cannot read {name}: the column name {bad_names[0]!r} {_control_reason(bad_names[0])}")
    import pandas as pd

    scalars = _scalars()
    problems: list[dict] = []
    more = 0
    for position in range(frame.shape[1]):
        column = str(frame.columns[position])
        cells = frame.iloc[:, position]
        kind = cells.dtype
        if (pd.api.types.is_numeric_dtype(kind) or pd.api.types.is_bool_dtype(kind)
                or pd.api.types.is_datetime64_any_dtype(kind)):
            continue  # object, string and categorical columns are looked at
        values = cells.to_numpy(dtype=object)
        types = set(map(type, values))
        odd = {t for t in types if not issubclass(t, scalars)}
        texts = [v for v in values if type(v) is str] if str in types else []
        if not odd and not (texts and CONTROL_CHARACTERS.search("\n".join(texts))):
            continue
        for row, value in enumerate(values, start=1):
            if type(value) in odd:
                reason = (f"holds a {_kind(value)}, not a single value; a table cell must be a number or text")
            elif isinstance(value, str) and CONTROL_CHARACTERS.search(value):
                reason = _control_reason(value)
            else:
                continue
            if len(problems) < MAX_PROBLEMS:
                problems.append({"row": row, "column": column, "value": _shown(value), "reason": reason})
            else:
                more += 1
    _raise_cells(name, problems, more)


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "JSON object"
    if isinstance(value, list | tuple | np.ndarray):
        return "list"
    if isinstance(value, bytes | bytearray):
        return "byte string"
    return type(value).__name__


def _shown(value: object) -> object:
    """A short stand-in for a nested value (never the repr of a whole big structure)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple | np.ndarray | bytes | bytearray):
        return f"<{_kind(value)} of {len(value):,} item{'s' if len(value) != 1 else ''}>"
    return f"<{type(value).__name__}>"


def check_xlsx(path: Path) -> None:
    """An ``.xlsx`` is a zip archive: check that it is one, and its declared sizes, before openpyxl."""
    cap = max_table_bytes()
    if path.stat().st_size > cap:
        raise _too_large(path.name, f"the file holds {_size(path.stat().st_size)}")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(f"cannot read {path.name}: it is not an Excel workbook (an .xlsx file is a zip archive; "
                         f"this one is empty, truncated or not a zip: {_oneline(exc)}); save it again from "
                         "Excel, or as CSV") from None
    total = sum(m.file_size for m in members)
    if total > cap:
        raise _too_large(path.name, f"its parts inflate to {_size(total)}")
    for m in members:
        if m.file_size > _CHUNK and m.file_size > MAX_ZIP_RATIO * max(m.compress_size, 1):
            raise InputError(f"cannot read {path.name}: its part {m.filename[:80]!r} inflates "
                             f"{m.file_size / max(m.compress_size, 1):,.0f}-fold ({_size(m.compress_size)} to "
                             f"{_size(m.file_size)}), like a decompression bomb (real worksheets inflate less "
                             f"than {MAX_ZIP_RATIO}-fold); save it again from Excel, or as CSV")


def check_parquet(path: Path):
    """Open a Parquet file and check its declared sizes; returns the ``pyarrow.parquet.ParquetFile``."""
    import pyarrow.parquet as pq

    cap = max_table_bytes()
    if path.stat().st_size > cap:
        raise _too_large(path.name, f"the file holds {_size(path.stat().st_size)}")
    try:
        parquet = pq.ParquetFile(path)
        meta = parquet.metadata
        declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:  # ArrowInvalid is a ValueError
        raise InputError(f"cannot read {path.name}: it is not a valid Parquet file ({_oneline(exc)})") from None
    cells = meta.num_rows * max(meta.num_columns, 1)
    if declared > cap or cells > cap // 8:
        parquet.close()
    if declared > cap:
        raise _too_large(path.name, f"its data inflate to {_size(declared)}")
    if cells > cap // 8:
        raise InputError(f"cannot read {path.name}: it declares {meta.num_rows:,} rows x {meta.num_columns:,} "
                         f"columns, more than the {cap // 8:,} cells allowed (1 per 8 bytes of {_ENV})")
    return parquet
