"""Load, list, describe and export the bundled datasets, offline, from package data.

Listing and :func:`info` read only the small ``manifest.json`` and text files; a data file is
decompressed only when :func:`load` (or :func:`export`) asks for that dataset. Small tables are
kept in a bounded LRU cache (copies are handed out); large ones are read afresh every time so
that nothing big stays in memory behind the user's back.
"""

from __future__ import annotations

import difflib
import json
import re
import textwrap
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from matloop.datasets.registry import REPOS, SPECS, DatasetSpec
from matloop.errors import InputError, MatloopError
from matloop.io.compat import EXACT_FLOATS
from matloop.io.dataset import Dataset
from matloop.io.write import WRITE_FORMATS, write_table

#: Uncompressed size (bytes) up to which a table is kept in the LRU cache.
SMALL_BYTES = 2_000_000
EXPORT_FORMATS = WRITE_FORMATS


class UnknownDatasetError(InputError, LookupError):
    """The requested dataset name is not bundled (the message lists close matches)."""


def names() -> list[str]:
    """Names of every bundled dataset, in registry order."""
    return list(SPECS)


def _normalise(name: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[\s\-]+", "_", str(name).strip().lower()))


@lru_cache(maxsize=1)
def _aliases() -> dict[str, str]:
    """Normalised names, including the source folder names (``OQMD_Bandgap``), -> dataset name."""
    out = {_normalise(s.source_name): s.name for s in SPECS.values() if s.group == "crabnet"}
    out.update({_normalise(n): n for n in SPECS})
    return out


def spec(name: str) -> DatasetSpec:
    """The registry entry of ``name``; raises :class:`UnknownDatasetError` with close matches."""
    key = _aliases().get(_normalise(name))
    if key is not None:
        return SPECS[key]
    close = difflib.get_close_matches(_normalise(name), list(SPECS), n=4, cutoff=0.6)
    close += [n for n in SPECS if _normalise(name) and _normalise(name) in n and n not in close]
    hint = f" Did you mean: {', '.join(close[:5])}?" if close else ""
    raise UnknownDatasetError(
        f"unknown dataset {name!r}.{hint} Run 'matloop datasets list' (or "
        f"matloop.datasets.list_datasets()) to see all {len(SPECS)} bundled datasets."
    )


def _resource(relative: str):
    node = resources.files("matloop.datasets").joinpath("data")
    for part in relative.split("/"):
        node = node.joinpath(part)
    return node


@lru_cache(maxsize=1)
def _manifest() -> dict[str, dict]:
    return json.loads(_resource("manifest.json").read_text(encoding="utf-8"))


def _entry(s: DatasetSpec) -> dict:
    try:
        return _manifest()[s.name]
    except KeyError:
        raise MatloopError(f"dataset {s.name!r} is missing from the bundled manifest; reinstall matloop") from None


@lru_cache(maxsize=8)
def _text(relative: str) -> str:
    return _resource(relative).read_text(encoding="utf-8")


def _read(s: DatasetSpec) -> pd.DataFrame:
    """Decompress and parse one bundled file, checking it against the manifest."""
    entry = _entry(s)
    with _resource(entry["file"]).open("rb") as handle:
        # keep_default_na=False: 'NaN' is sodium nitride and 'NA' could be a name; only empty cells are missing
        frame = pd.read_csv(handle, compression="xz", **EXACT_FLOATS,
                            keep_default_na=False, na_values=[""])
    if len(frame) != entry["rows"] or list(frame.columns) != entry["columns"]:
        raise MatloopError(f"bundled file {entry['file']} does not match its manifest "
                           f"({len(frame)} rows, expected {entry['rows']}); reinstall matloop")
    for column in s.strip:
        frame[column] = frame[column].str.strip()
    if s.task == "classification" and s.levels:
        bad = [t for t in s.targets if not frame[t].isin(s.levels).all()]
    elif s.task == "classification":
        bad = [t for t in s.targets if frame[t].dtype != bool]
        if bad:
            raise MatloopError(f"classification target(s) {bad} of {s.name} are not "
                               + (f"one of {list(s.levels)}" if s.levels else "boolean"))
    return frame


@lru_cache(maxsize=16)
def _small(name: str) -> pd.DataFrame:
    return _read(SPECS[name])


def _frame(s: DatasetSpec) -> pd.DataFrame:
    return _small(s.name).copy() if _entry(s)["bytes"] <= SMALL_BYTES else _read(s)


def _provenance(s: DatasetSpec) -> str:
    """Where the data come from (repository, commit, path), what is bundled (file, sizes, SHA-256) and
    where the full notes and the licence text are. The notes themselves (PROVENANCE.md: how the data
    were collected, what was searched for and not found) are for maintainers and are not repeated."""
    repo, commit, path = REPOS[s.group]
    entry = _entry(s)
    where = repo if repo.startswith("pypi.org/") else f"github.com/{repo} at commit {commit}"
    head = (f"Source: {where}, {path}; original file/folder: {s.source_name}.\n"
            f"Bundled as matloop/datasets/data/{entry['file']} "
            f"({entry['xz_bytes'] / 1e3:.0f} kB xz, {entry['bytes'] / 1e3:.0f} kB CSV, "
            f"sha256 {entry['sha256']}).\n"
            f"Full notes: matloop/datasets/data/{s.group}/PROVENANCE.md; licence text: "
            f"matloop/datasets/data/{s.group}/LICENSE.")
    return head


def load(name: str) -> Dataset:
    """Load a bundled dataset (offline) as a :class:`matloop.io.Dataset` with its metadata.

    Parameters
    ----------
    name : str
        One of :func:`names` (case-insensitive; CrabNet folder names such as ``OQMD_Bandgap`` work).

    Returns
    -------
    Dataset
        ``frame`` holds every row and column of the source file (Matbench sets keep their official
        ``fold`` column, CrabNet sets a ``split`` column); ``input``, ``kind``, ``targets``,
        ``task``, ``units``, ``direction``, ``fold_column``, ``citation``, ``license``,
        ``provenance`` and ``description`` are filled from the registry.
    """
    s = spec(name)
    return Dataset(
        frame=_frame(s), input=s.input, kind=s.kind, targets=list(s.targets), task=s.task, name=s.name,
        description=s.description, units=dict(s.units), direction=dict(s.direction),
        fold_column=s.fold_column, citation=s.citation, license=s.license, provenance=_provenance(s),
    )


def list_datasets() -> pd.DataFrame:
    """One row per bundled dataset, without reading any data file.

    Columns: name, rows, kind, task, target, property, units, direction, folds (official
    Matbench folds or CrabNet splits), source, license.
    """
    records = []
    for s in SPECS.values():
        entry = _entry(s)
        folds = ("5 official folds" if "folds" in entry else
                 "split: " + "/".join(entry["splits"]) if "splits" in entry else "")
        records.append({
            "name": s.name, "rows": entry["rows"], "kind": s.kind, "task": s.task,
            "target": ", ".join(s.targets), "property": s.property,
            "units": ", ".join(u for u in s.units.values() if u),
            "direction": ", ".join(s.direction.values()), "folds": folds, "source": s.source,
            "license": s.license,
        })
    return pd.DataFrame.from_records(records)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v:,}" for k, v in counts.items())


def info(name: str) -> str:
    """A human-readable description: meaning, columns, rows, units, folds, citation, licence, provenance.

    Reads only metadata (no data file is decompressed).
    """
    s = spec(name)
    entry = _entry(s)
    wrap = textwrap.TextWrapper(width=96, subsequent_indent=" " * 13)
    lines = [f"{s.name}: {s.property}", "=" * (len(s.name) + len(s.property) + 2), ""]
    lines += textwrap.wrap(s.description, width=96) + [""]
    targets = "; ".join(
        f"{t!r} [{s.units.get(t) or 'no unit'}]" + (f", objective: {s.direction[t]}imise" if t in s.direction else "")
        for t in s.targets)
    fields = [
        ("Rows", f"{entry['rows']:,}"),
        ("Input", f"{s.input!r} (kind: {s.kind})" if s.input else
         f"numeric columns other than the target (kind: {s.kind})"),
        ("Target", f"{targets}; task: {s.task}"),
        ("Columns", ", ".join(entry["columns"])),
    ]
    if "folds" in entry:
        fields.append(("Folds", f"official, column {s.fold_column!r}, rows per fold: {_counts(entry['folds'])}"))
    if "splits" in entry:
        fields.append(("Splits", f"column 'split': {_counts(entry['splits'])}"))
    fields += [("Source", s.source), ("Licence", s.license)]
    lines += [wrap.fill(f"{k + ':':<12} {v}") for k, v in fields]
    lines += ["", "Citation (please cite all):"]
    lines += [textwrap.fill(c, width=96, initial_indent="  - ", subsequent_indent="    ")
              for c in s.citation.splitlines()]
    lines += ["", "Provenance:", _provenance(s)]
    return "\n".join(lines).rstrip() + "\n"


def export(dataset: str | Dataset, path: str | Path, *, overwrite: bool = True) -> Path:
    """Write a bundled dataset (or a loaded :class:`Dataset`) to a file; format from the suffix.

    Supported: ``.csv``, ``.tsv``, ``.xlsx``, ``.json`` (a list of row objects), ``.parquet``;
    ``.csv``/``.tsv``/``.json`` may be compressed by adding ``.gz``, ``.bz2`` or ``.xz``.
    Every row and column is written (no index). Floats keep full precision in CSV, TSV, JSON and
    Parquet; XLSX stores 16 significant digits (what openpyxl writes, more than Excel shows).

    Returns the path written. Raises :class:`matloop.InputError` for an unsupported suffix and
    :class:`FileExistsError` when ``overwrite`` is false and the file exists.
    """
    ds = dataset if isinstance(dataset, Dataset) else load(dataset)
    return write_table(ds.frame, path, overwrite=overwrite, sheet_name=ds.name or "data")
