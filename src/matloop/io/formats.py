"""Table file types by suffix, and the separator of a delimited text file: no pandas here.

Shared by :mod:`matloop.io.files` (the reader of every format) and :mod:`matloop.io.fast_formulas`
(the pandas-free read of a one-column formula list), so that both decide a file's type the same way.
"""

from __future__ import annotations

from pathlib import Path

from matloop.errors import InputError

__all__ = ["COMPRESSIONS", "SUFFIXES", "separator", "table_format", "table_stem"]

#: compression suffixes of text tables (the openers are in matloop.io.guard and matloop.io.files)
COMPRESSIONS = (".gz", ".bz2", ".xz")
SUFFIXES = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "txt",
    ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
}


def table_format(path: Path) -> tuple[str, str | None]:
    """``(format, compression)`` from the suffixes, e.g. ``data.csv.gz`` -> ``("csv", ".gz")``."""
    suffixes = [s.lower() for s in path.suffixes]
    compression = suffixes.pop() if suffixes and suffixes[-1] in COMPRESSIONS else None
    fmt = SUFFIXES.get(suffixes[-1]) if suffixes else None
    if fmt is None or (compression and fmt in ("xlsx", "parquet")):
        known = ", ".join(sorted(SUFFIXES))
        raise InputError(f"cannot read {path.name!r}: unknown table type; use one of {known} "
                         "(text formats may also end in .gz, .bz2 or .xz)")
    return fmt, compression


def table_stem(path: str | Path) -> str:
    """The file name without its table and compression suffixes: ``runs.2024.csv.gz`` -> ``runs.2024``."""
    name = Path(path).name
    for suffix in (*COMPRESSIONS, *SUFFIXES):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return name


def separator(fmt: str, header: str) -> str:
    """The field separator of a delimited text table: tab for TSV; else the header's comma, else its most
    frequent of tab and semicolon, else a comma."""
    if fmt == "tsv":
        return "\t"
    counts = {sep: header.count(sep) for sep in (",", "\t", ";")}
    if fmt == "csv" and counts[","] > 0:
        return ","
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","
