"""Reading crystal structures from CIF, POSCAR and pymatgen JSON, with row-level error reports.

A structure column in a user's table holds file paths (CIF, POSCAR/CONTCAR/``*.vasp``, pymatgen
``Structure.as_dict()`` JSON, extended XYZ through ASE, optionally gzip/bz2/xz compressed), the
text of such files (CIF, POSCAR or JSON inline in the cell), or
pymatgen ``Structure`` objects / dicts. :func:`read_structures` turns every row into a pymatgen
``Structure`` and reports *all* rows it cannot use in one :class:`matloop.InputError`: missing or
unreadable files, parse errors, POSCARs without element names (pymatgen would silently call the
elements H, He, Li, ...), and structures that are physically broken (no sites, zero cell volume,
unknown element symbols, overlapping atoms; partial occupancies where the caller cannot use them).

JSON is read with :func:`json.loads` (never pickle); ``@module`` references inside the JSON may only
point into pymatgen, so a file cannot make us import arbitrary code.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from matloop.errors import InputError, error_table
from matloop.io.rows import source_rows

#: atoms closer than this (Angstrom) are reported as overlapping (pymatgen ``Structure.is_valid``)
MIN_DISTANCE = 0.5
#: most characters read from one structure file (after decompression): 50 MB, far above any unit cell
MAX_TEXT_CHARS = 50_000_000
#: most sites in one structure: neighbour lists and descriptors grow quadratically with cell size
MAX_SITES = 10_000

_COMPRESSED = (".gz", ".bz2", ".xz", ".lzma", ".z")
_POSCAR_NAME = re.compile(r"^(POSCAR|CONTCAR)", re.IGNORECASE)
_CIF_CONTENT = re.compile(r"^\s*data_", re.MULTILINE)


class _RowError(Exception):
    """A reason why one row cannot be used (becomes the ``reason`` of its error-table line)."""


def read_structures(
    paths_or_objects,
    column: str = "structure",
    rows: Sequence[int] | None = None,
    base_dir: str | os.PathLike | None = None,
    min_distance: float = MIN_DISTANCE,
    allow_disorder: bool = True,
) -> list:
    """Read one pymatgen ``Structure`` per input value.

    Parameters
    ----------
    paths_or_objects : iterable, pandas Series or one-column DataFrame
        Each value is a path (``str``/``PathLike``) to a CIF, POSCAR/CONTCAR/``.vasp`` or pymatgen JSON
        file; the text of such a file (any string with a line break); a pymatgen ``Structure``; or a
        ``Structure.as_dict()`` dict. The format of a path is taken from its name and, when the name
        says nothing, sniffed from the content.
    column : str
        Column name used in error reports (a DataFrame's own column name wins).
    rows : sequence of int, optional
        Row numbers to report (1-based data rows); default ``1..n``.
    base_dir : path, optional
        Directory that relative paths are resolved against (default: the working directory).
    min_distance : float
        Atoms closer than this many Angstrom are reported as overlapping.
    allow_disorder : bool
        False: structures with partial occupancies (disordered sites) are bad rows, for methods that
        need one species per site (graph networks, interatomic potentials).

    Returns
    -------
    list of pymatgen.core.Structure

    Raises
    ------
    matloop.InputError
        Listing every row that could not be read, with the value and the reason.
    """
    values, column = _as_values(paths_or_objects, column)
    if rows is None:  # the user's file rows when the values come from a Dataset (matloop.io.rows)
        rows = source_rows(paths_or_objects, len(values)) if isinstance(
            paths_or_objects, (pd.Series, pd.DataFrame)) else range(1, len(values) + 1)
    elif len(rows) != len(values):
        raise ValueError(f"rows has {len(rows)} entries for {len(values)} values")
    base = Path(base_dir) if base_dir is not None else None
    structures, records = [], []
    for row, value in zip(rows, values, strict=True):
        try:
            structure = _read_one(value, base)
            _check(structure, min_distance, allow_disorder)
            structures.append(structure)
        except _RowError as exc:
            records.append(
                {"row": int(row), "column": column, "value": _report_value(value), "reason": str(exc)}
            )
    if records:
        raise InputError(f"could not read {len(records)} of {len(values)} structures", error_table(records))
    return structures


def _as_values(data, column: str) -> tuple[list, str]:
    if isinstance(data, pd.DataFrame):
        if data.shape[1] != 1:
            raise ValueError(
                f"structure input takes one column, got {data.shape[1]} columns ({list(data.columns)[:5]}); "
                "select the structure column first"
            )
        column = str(data.columns[0])
        data = data.iloc[:, 0]
    if isinstance(data, pd.Series):
        return list(data.to_numpy(dtype=object)), column
    if isinstance(data, (str, os.PathLike, dict)) or _is_structure_like(data):
        return [data], column  # a single value
    if isinstance(data, Iterable):
        return list(data), column
    raise TypeError(f"expected structures, paths or file contents, got {type(data).__name__}")


def _is_structure_like(value) -> bool:
    from pymatgen.core import IStructure, Molecule

    return isinstance(value, (IStructure, Molecule))


def _report_value(value):
    """What to show in the ``value`` column: the path or text itself, else a short description."""
    if isinstance(value, (str, os.PathLike)):
        return str(value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return value
    return f"<{type(value).__name__}>"


def _read_one(value, base: Path | None):
    from pymatgen.core import IStructure, Molecule, Structure

    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        raise _RowError("missing value")
    if isinstance(value, Structure):
        return value
    if isinstance(value, IStructure):
        return Structure.from_sites(value.sites)
    if isinstance(value, Molecule):
        raise _RowError("a pymatgen Molecule has no lattice; give a periodic Structure")
    if isinstance(value, dict):
        return _from_dict(value)
    if isinstance(value, os.PathLike):
        return _read_path(Path(value), base)
    if isinstance(value, str):
        if not value.strip():
            raise _RowError("empty value")
        text = value.strip()
        if "\n" in text or text.startswith(("{", "[")):  # file contents (JSON may be on one line)
            return _parse_text(value, fmt=None)
        return _read_path(Path(text), base)
    raise _RowError(f"cannot read a structure from a {type(value).__name__}")


def _read_path(path: Path, base: Path | None):
    if not path.is_absolute() and base is not None:
        path = base / path
    try:
        if not path.exists():
            raise _RowError(f"file not found: {path}")
        if not path.is_file():
            raise _RowError(f"not a file: {path}")
        from monty.io import zopen

        with zopen(path, mode="rt", encoding="utf-8", errors="replace") as handle:
            text = handle.read(MAX_TEXT_CHARS + 1)  # capped: a small .gz can inflate without limit
    except _RowError:
        raise
    except OSError as exc:
        raise _RowError(f"cannot read file ({exc.strerror or type(exc).__name__})") from None
    except Exception as exc:  # a corrupt archive: gzip/bz2/lzma errors, EOFError
        raise _RowError(f"cannot read file ({type(exc).__name__}: corrupt or not the format its name says)") from None
    if len(text) > MAX_TEXT_CHARS:
        raise _RowError(f"file holds more than {MAX_TEXT_CHARS:,} characters (uncompressed); too large for one structure")
    if not text.strip():
        raise _RowError("file is empty")
    try:
        return _parse_text(text, fmt=_format_from_name(path.name))
    except _RowError as exc:  # never echo a file's contents: it may not be a structure file at all
        raise _RowError(_redact(str(exc), text)) from None


def _redact(message: str, text: str) -> str:
    """``message`` with every word that appears in the file's ``text`` replaced by an ellipsis.

    Parser messages quote the offending line (``could not convert string to float: 'root:x:0:0'``);
    a table that names some other file must not turn matloop into a way to read it.
    """
    words = []
    for word in message.split(" "):
        core = word.strip("'\"()[]{}<>,;:.!?|")
        secret = len(core) >= 3 and core.lower() not in _OWN_WORDS and core in text
        words.append(word.replace(core, "...") if secret else word)
    return " ".join(words)


_OWN_WORDS = frozenset(
    "not readable cif mcif poscar json file holds structure structures pymatgen expected the keys lattice sites "
    "refers modules outside refusing load parser said does name its elements vasp format add element-symbol line "
    "above counts give one per row data blocks list items valid and are for with from".split()
)


def _format_from_name(name: str) -> str | None:
    lower = name.lower()
    for suffix in _COMPRESSED:
        if lower.endswith(suffix):
            lower, name = lower[: -len(suffix)], name[: -len(suffix)]
            break
    if lower.endswith((".cif", ".mcif")):
        return "cif"
    if lower.endswith(".json"):
        return "json"
    if lower.endswith((".xyz", ".extxyz")):
        return "extxyz"
    if lower.endswith((".vasp", ".poscar")) or _POSCAR_NAME.match(name):
        return "poscar"
    return None


def _sniff(text: str) -> str:
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return "json"
    if _CIF_CONTENT.search(text) and "_cell_length_a" in text:
        return "cif"
    return "poscar"


def _parse_text(text: str, fmt: str | None):
    fmt = fmt or _sniff(text)
    parser = {"cif": _parse_cif, "poscar": _parse_poscar, "json": _parse_json, "extxyz": _parse_extxyz}[fmt]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return parser(text, caught)
        except _RowError:
            raise
        except Exception as exc:  # parsers raise anything from IndexError to KeyError on bad files
            notes = _warning_notes(caught)
            raise _RowError(f"not a readable {fmt.upper()} ({type(exc).__name__}: {exc}){notes}") from None


def _warning_notes(caught) -> str:
    messages = list(dict.fromkeys(str(w.message).strip() for w in caught if str(w.message).strip()))
    return f"; parser said: {' | '.join(messages)[:300]}" if messages else ""


def _parse_cif(text: str, caught):
    from pymatgen.io.cif import CifParser

    parser = CifParser.from_str(text)
    structures = parser.parse_structures(primitive=False, on_error="raise")
    if not structures:
        raise _RowError(f"CIF holds no structure{_warning_notes(caught)}")
    if len(structures) > 1:
        raise _RowError(f"CIF holds {len(structures)} structures (data blocks); give one structure per row")
    return structures[0]


def _parse_poscar(text: str, caught):
    from pymatgen.io.vasp import Poscar

    structure = Poscar.from_str(text, read_velocities=False).structure
    if any("cannot be determined" in str(w.message) for w in caught):
        raise _RowError(
            "POSCAR does not name its elements (VASP 4 format); add the element-symbol line above the counts"
        )
    return structure


def _parse_extxyz(text: str, caught):
    """An extended-XYZ frame (``Lattice="..."`` on the comment line) through ASE, as a pymatgen Structure."""
    try:
        import ase.io
        from pymatgen.io.ase import AseAtomsAdaptor
    except ImportError:
        raise _RowError("reading extended XYZ needs ASE: pip install ase (or give CIF, POSCAR or pymatgen JSON)") from None
    import io

    frames = ase.io.read(io.StringIO(text), index=":", format="extxyz")
    if len(frames) != 1:
        raise _RowError(f"extended XYZ holds {len(frames)} frames; give one structure per row")
    atoms = frames[0]
    if not atoms.pbc.all() or abs(atoms.cell.volume) < 1e-6:
        raise _RowError("extended XYZ has no periodic cell (add Lattice=\"...\" and pbc=\"T T T\" to its comment line)")
    return AseAtomsAdaptor.get_structure(atoms)


def _parse_json(text: str, caught):
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _RowError(f"not valid JSON: {exc}") from None
    if isinstance(data, list):
        raise _RowError(f"JSON holds a list of {len(data)} items; give one structure per row")
    return _from_dict(data)


def _from_dict(data) -> object:
    from pymatgen.core import Structure

    if not isinstance(data, dict) or "lattice" not in data or "sites" not in data:
        raise _RowError("JSON is not a pymatgen Structure (expected the keys 'lattice' and 'sites')")
    if data.get("@class", "Structure") not in ("Structure", "IStructure"):
        raise _RowError(f"JSON holds a {data['@class']}, not a Structure")
    foreign = _foreign_modules(data)
    if foreign:
        raise _RowError(
            f"JSON refers to modules outside pymatgen ({', '.join(sorted(foreign))}); refusing to load"
        )
    try:
        return Structure.from_dict(data)
    except Exception as exc:
        unknown = re.search(r"'([^']*)' is not a valid Element", str(exc))
        if unknown:
            raise _RowError(f"unknown element symbol {unknown.group(1)!r}") from None
        raise _RowError(f"not a readable pymatgen Structure dict ({type(exc).__name__}: {exc})") from None


def _foreign_modules(data) -> set[str]:
    """``@module`` values that do not point into pymatgen (monty would import them on decoding)."""
    found: set[str] = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            module = item.get("@module")
            if module is not None and not (isinstance(module, str) and module.split(".")[0] == "pymatgen"):
                found.add(str(module))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _check(structure, min_distance: float, ordered: bool = True) -> None:
    """Raise :class:`_RowError` when a structure cannot be featurized meaningfully."""
    from pymatgen.core import DummySpecies

    if len(structure) == 0:
        raise _RowError("structure has no sites")
    if len(structure) > MAX_SITES:
        raise _RowError(f"structure has {len(structure):,} sites (at most {MAX_SITES:,})")
    matrix = structure.lattice.matrix
    coords = structure.frac_coords
    if not (np.all(np.isfinite(matrix)) and np.all(np.isfinite(coords))):
        raise _RowError("lattice or coordinates are not finite numbers")
    volume = abs(float(np.linalg.det(matrix)))
    if volume < 1e-6:
        raise _RowError(f"zero cell volume ({volume:.3g} A^3): the lattice vectors are degenerate")
    dummies = sorted({getattr(sp, "symbol", str(sp)) for site in structure for sp in site.species
                      if isinstance(sp, DummySpecies)})
    if dummies:
        raise _RowError(f"unknown element symbol{'s' if len(dummies) > 1 else ''} {', '.join(map(repr, dummies))} "
                        "(read as dummy species, not elements)")
    if not ordered and not structure.is_ordered:
        mixed = [i + 1 for i, site in enumerate(structure) if not site.is_ordered]
        raise _RowError(f"partial occupancies (disordered site{'s' if len(mixed) > 1 else ''} "
                        f"{', '.join(map(str, mixed[:5]))}{', ...' if len(mixed) > 5 else ''}) are not supported "
                        "here; give an ordered cell (e.g. pymatgen's OrderDisorderedStructureTransformation)")
    if min_distance > 0:
        centers, points, _, distances = structure.get_neighbor_list(min_distance)
        if len(distances):
            k = int(np.argmin(distances))
            i, j = int(centers[k]), int(points[k])
            what = (
                f"site {i + 1} ({structure[i].species_string}) is {distances[k]:.3f} A from its own periodic image"
                if i == j
                else f"sites {i + 1} and {j + 1} ({structure[i].species_string}, {structure[j].species_string}) "
                f"are {distances[k]:.3f} A apart"
            )
            raise _RowError(f"overlapping atoms: {what} (< {min_distance} A)")
