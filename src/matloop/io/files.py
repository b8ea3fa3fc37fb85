"""Read a table file as written: CSV, TSV, XLSX, JSON or Parquet, chosen by the file's suffix.

Text formats are read as text, so that nothing is converted before validation looks at it: an empty
cell becomes missing, but ``NaN``, ``inf`` or ``n/a`` stay the strings the user wrote (a target cell
holding them is reported, not quietly turned into a candidate). Wholly blank lines are left out but
keep their place in the row numbering, so row ``N`` in a message is the ``N``-th line under the header.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import re
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from matloop.errors import InputError, error_table
from matloop.io.formats import SUFFIXES, table_format, table_stem
from matloop.io.formats import separator as _separator
from matloop.io.guard import (
    check_cells,
    check_parquet,
    check_text,
    check_xlsx,
    csv_records,
    decode_text,
    max_table_bytes,
    read_bytes,
)

__all__ = ["SUFFIXES", "read_columns", "read_raw", "table_format", "table_stem"]

_COMPRESSIONS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def read_columns(path: str | Path) -> list[str]:
    """The column names of a table (only the first MiB is read for text formats)."""
    path = Path(path)
    fmt, compression = table_format(path)
    if fmt in ("csv", "tsv", "txt") and path.is_file():
        opener = _COMPRESSIONS.get(compression or "", open)
        try:
            with opener(path, "rb") as fh:
                head = fh.read(1 << 20)
        except (EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
            raise InputError(f"cannot read {path.name}: {exc}") from None
        header = decode_text(head, path.name, partial=True).split("\n", 1)[0]
        sep = _separator(fmt, header)
        return [n.strip() for n in next(csv_records(header, sep), [])]
    return list(read_raw(path)[0].columns)


def _read_text(path: Path, compression: str | None) -> str:
    """The file's text, size-capped and decoded (:func:`matloop.io.guard.decode_text`)."""
    return decode_text(read_bytes(path, compression), path.name)


def _read_delimited(path: Path, fmt: str, compression: str | None) -> pd.DataFrame:
    text = _read_text(path, compression)
    header = text.split("\n", 1)[0]
    sep = _separator(fmt, header)
    check_text(text, sep, path.name)  # before pandas, whose C parser cuts a cell at a NUL byte
    names = next(csv_records(header, sep), [])
    _check_header([n.strip() for n in names], path, allow_blank=True)
    frame = _one_text_column(text, sep)
    if frame is not None:
        return frame
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            # index_col=False: a row with one field too many must not turn the first column into an index
            frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""],
                                skip_blank_lines=False, lineterminator="\n", index_col=False)
        lost = [w for w in caught if issubclass(w.category, pd.errors.ParserWarning)]
        if lost:  # "... leads to a loss of data": some row has more fields than the header
            raise pd.errors.ParserError(str(lost[0].message))
    except pd.errors.EmptyDataError:
        raise InputError(f"{path.name} is empty: it needs a header line and at least one data row") from None
    except (pd.errors.ParserError, ValueError, OverflowError) as exc:
        raise _ragged_rows(text, sep, path, exc) from None
    return _decimal_commas(frame, sep, path.name) if sep in (";", "\t") and "," in text else frame


def _decimal_commas(frame: pd.DataFrame, sep: str, name: str) -> pd.DataFrame:
    """A ``;``/tab-separated spreadsheet export's decimal commas read as decimal points, and said: on
    stderr in a command, as a :class:`UserWarning` in Python (:func:`matloop.io.number_hints.decimal_comma_columns`)."""
    from matloop.io.number_hints import decimal_comma_columns

    cols = decimal_comma_columns(frame, sep)
    if cols:
        from matloop import progress

        for c in cols:
            frame[c] = frame[c].str.replace(",", ".", regex=False)
        shown = ", ".join(repr(str(c)) for c in cols[:6]) + (", ..." if len(cols) > 6 else "")
        note = (f"{name} is {'semicolon' if sep == ';' else 'tab'}-separated with decimal commas: {shown} read as "
                "numbers (1,5 = 1.5)")
        if progress.active():
            progress.say(f"note: {note}")
        else:
            warnings.warn(note, UserWarning, stacklevel=4)
    return frame


def _one_text_column(text: str, sep: str) -> pd.DataFrame | None:
    """A table of one column without quotes (a list of formulas or SMILES) read as its lines: the
    frame ``pd.read_csv`` gives (same cells, empty lines as missing values, same dtype), 3x faster.
    ``None`` for any other text (a separator or a quote anywhere: pandas reads it)."""
    header, _, body = text.partition("\n")
    if not header.strip() or sep in text or '"' in text:
        return None
    lines = body.split("\n")
    if lines and lines[-1] == "":  # the final line break ends the last row
        lines.pop()
    cells = np.array(lines, dtype=object)
    cells[cells == ""] = np.nan
    return pd.DataFrame({header: pd.Series(cells, dtype=str)})


def _ragged_rows(text: str, sep: str, path: Path, exc: Exception) -> InputError:
    """Every data row whose number of fields differs from the header's."""
    reader = csv_records(text, sep)
    header = next(reader, [])
    records = []
    try:
        for row_number, fields in enumerate(reader, start=1):
            if fields and len(fields) != len(header):
                records.append({"row": row_number, "column": "", "value": sep.join(fields),
                                "reason": f"{len(fields)} fields, but the header has {len(header)}"})
    except csv.Error:
        pass
    if not records:
        return InputError(f"cannot read {path.name}: {_short(exc)}")
    return InputError(f"{path.name} has rows with the wrong number of fields", error_table(records))


def _short(exc: BaseException, width: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= width else text[: width - 1] + "…"


def _check_header(names: list[str], path: Path, allow_blank: bool = False) -> None:
    """Repeated names are an error; ``allow_blank``: blank names may repeat (a CSV header before pandas
    names them ``Unnamed: N``; empty ones are dropped by :func:`_unnamed_columns`)."""
    seen: dict[str, int] = {}
    dupes = []
    for n in names:
        if allow_blank and not n:
            continue
        seen[n] = seen.get(n, 0) + 1
        if seen[n] == 2:
            dupes.append(n)
    if dupes:
        raise InputError(f"{path.name} has repeated column names: {', '.join(map(repr, dupes))}; "
                         "give every column its own name")


class _RepeatedKey(ValueError):
    pass


def _pairs(pairs: list[tuple[str, object]]) -> dict:
    """``object_pairs_hook``: a key given twice in one JSON object is an error, not last-wins."""
    data = dict(pairs)
    if len(data) < len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _RepeatedKey(key)
    return data


def _read_json(path: Path, fmt: str, compression: str | None) -> pd.DataFrame:
    """Records (``[{...}]``), columns (``{col: {idx: v}}`` or ``{col: [...]}``) or split orient.

    ``NaN`` and ``Infinity`` tokens are kept as text so that validation can report them. A key
    repeated inside one object is an error (JSON parsers would silently keep the last value).
    """
    text = _read_text(path, compression)

    def loads(s: str):
        return json.loads(s, parse_constant=str, object_pairs_hook=_pairs)

    line = None
    try:
        if fmt == "jsonl":
            data = []
            for number, chunk in enumerate(text.split("\n"), start=1):
                line = number
                if chunk.strip():
                    data.append(loads(chunk))
        else:
            data = loads(text)
    except _RepeatedKey as exc:
        where = f" (line {line})" if line else ""
        raise InputError(f"{path.name}: the key {_short(exc, 80)!r} appears twice in one JSON object{where}; "
                         "every key must be unique, or a value would be silently lost") from None
    except RecursionError:
        raise InputError(f"{path.name} is not a JSON table: it is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and integers too long to convert
        where = f" (line {line})" if fmt == "jsonl" and line else ""
        raise InputError(f"{path.name} is not valid JSON{where}: {_short(exc)}") from None
    try:
        frame = _json_frame(data)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path.name}: cannot make a table of this JSON ({_short(exc)})") from None
    if frame is None:
        raise InputError(f"{path.name}: expected a JSON table: a list of records, a dict of columns, or "
                         "pandas' 'split' layout")
    return frame


def _json_frame(data: object) -> pd.DataFrame | None:
    if isinstance(data, dict) and {"columns", "data"} <= set(data):
        if not (isinstance(data["columns"], list) and isinstance(data["data"], list)
                and all(isinstance(r, list) for r in data["data"])):
            return None
        return pd.DataFrame(data["data"], columns=data["columns"], dtype=object)
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        return pd.DataFrame({k: pd.Series(list(v.values()), dtype=object) for k, v in data.items()})
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        lengths = {len(v) for v in data.values()}
        if len(lengths) == 1:
            return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in data.items()})
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return pd.DataFrame.from_records(data).astype(object) if data else pd.DataFrame()
    return None


def _read_xlsx(path: Path) -> pd.DataFrame:
    """A workbook's first sheet, after :func:`matloop.io.guard.check_xlsx` has looked at the zip."""
    check_xlsx(path)
    try:
        frame = pd.read_excel(path, dtype=object, keep_default_na=False, na_values=[""])
    except (ImportError, MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # openpyxl raises many kinds on a damaged workbook; all mean "unreadable"
        raise InputError(f"cannot read {path.name} as an Excel workbook ({type(exc).__name__}: {_short(exc)}); "
                         "save it again from Excel, or as CSV") from None
    _check_header([str(c).rpartition(".")[0] if _mangled(c, frame.columns) else str(c)
                   for c in frame.columns], path)
    return frame


def other_sheets_hint(path: Path, columns: list[str]) -> str:
    """For a workbook whose first sheet (the one read) lacks ``columns``: the other sheets, and which of
    them has them ('' for other files or a single sheet)."""
    if Path(path).suffix.lower() != ".xlsx":
        return ""
    try:
        with pd.ExcelFile(path) as book:
            names = book.sheet_names
            having = [n for n in names[1:] if set(columns) <= {str(c).strip() for c in book.parse(n, nrows=0).columns}]
    except Exception:  # noqa: BLE001 - only a hint: the error it joins stands without it
        return ""
    if len(names) < 2:
        return ""
    where = f"; sheet {having[0]!r} has {'it' if len(columns) == 1 else 'them'}" if having else ""
    return (f". Only the first sheet ({names[0]!r}) of {Path(path).name} is read (it also has "
            f"{', '.join(map(repr, names[1:]))}){where}: move the table to the first sheet, or save it as CSV")


def _read_parquet(path: Path) -> pd.DataFrame:
    """Read in batches of rows, stopping at the size cap (declared sizes are checked first)."""
    parquet = check_parquet(path)
    cap, total, batches = max_table_bytes(), 0, []
    try:
        for batch in parquet.iter_batches(batch_size=16_384):
            total += batch.nbytes
            if total > cap:
                raise InputError(f"{path.name}: its data inflate to more than the limit of {cap:,} bytes for a "
                                 "table; split it, or raise the limit with MATLOOP_MAX_TABLE_BYTES")
            batches.append(batch)
        import pyarrow as pa

        frame = pa.Table.from_batches(batches, schema=parquet.schema_arrow).to_pandas()
        # a named index (a DataFrame saved with set_index) is data: keep it as a column
        return frame.reset_index() if any(n is not None for n in frame.index.names) else frame
    except InputError:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError, NotImplementedError) as exc:
        raise InputError(f"cannot read {path.name}: it is not a valid Parquet file ({_short(exc)})") from None
    finally:
        parquet.close()


def read_raw(path: str | Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a table file; returns the frame (column names as stripped strings) and its row numbers.

    Raises :class:`FileNotFoundError` when there is no such file and :class:`matloop.InputError`
    when the file cannot be read as a table (also when it has no data rows). Before any parser runs,
    the file is size-capped, decompressed with a cap and checked for control characters
    (:mod:`matloop.io.guard`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{'not a file' if path.exists() else 'no such file'}: {path}")
    fmt, compression = table_format(path)
    if fmt in ("csv", "tsv", "txt"):
        frame = _read_delimited(path, fmt, compression)
    elif fmt in ("json", "jsonl"):
        frame = _read_json(path, fmt, compression)
    elif fmt == "xlsx":
        frame = _read_xlsx(path)
    else:
        frame = _read_parquet(path)
    if fmt not in ("csv", "tsv", "txt"):  # text was checked before parsing
        check_cells(frame, path.name)
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = _unnamed_columns(frame)
    _check_header(list(frame.columns), path)
    frame = frame.reset_index(drop=True)
    rows = np.arange(1, len(frame) + 1)
    blank = np.ones(len(frame), dtype=bool)
    for col in frame.columns:  # only rows blank so far are looked at again
        idx = np.flatnonzero(blank)
        if not len(idx):
            break
        cells = frame[col].to_numpy(dtype=object)[idx]
        blank[idx] = pd.isna(cells) | np.array([isinstance(v, str) and not v.strip() for v in cells], dtype=bool)
    if len(frame.columns) and blank.any():
        frame, rows = frame.loc[~blank].reset_index(drop=True), rows[~blank]
    if frame.empty:  # empty, header-only or wholly blank: say so here, for every caller
        raise InputError(f"{path.name} has no data rows: it needs a header line and at least one row of values")
    return frame, rows


_UNNAMED = re.compile(r"^(?:Unnamed: \d+(?:_level_\d+)?(?:\.\d+)?)?$")  # pandas' name for an empty header cell


def _unnamed_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns without a name whose every cell is empty are dropped: a spreadsheet's trailing columns hold
    nothing (they were an error, "repeated column names: ''"). One holding values keeps pandas' name
    (``Unnamed: 0``, an exported index) and is reported like any other column. By position: two blank
    names may share one."""
    keep = [i for i, c in enumerate(frame.columns) if not _UNNAMED.match(c)
            or (frame.iloc[:, i].notna() & (frame.iloc[:, i].astype(str).str.strip() != "")).any()]
    return frame if len(keep) == frame.shape[1] else frame.iloc[:, keep]


def _mangled(name: object, columns) -> bool:
    """pandas renames a repeated Excel header ``a`` to ``a.1``; spot that to report it."""
    text = str(name)
    base, _, tail = text.rpartition(".")
    return bool(base) and tail.isdigit() and base in [str(c) for c in columns]

