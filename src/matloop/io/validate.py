"""Row-level checks of a user's table: targets, inputs and parameters, one error record per problem.

Every function here returns the converted values *and* a list of error records (``row``, ``column``,
``value``, ``reason``) instead of raising on the first problem, so that :func:`matloop.io.read_table`
can report every bad row of every column at once. Values are never coerced silently: an empty cell
is missing (a candidate in a target column), but a literal ``NaN``, ``inf`` or ``abc`` is an error.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import numpy as np
import pandas as pd

from matloop.errors import InputError, error_table
from matloop.io.compat import is_text_column
from matloop.io.factorize import factorize_exact
from matloop.io.formula import parse_formulas
from matloop.io.number_hints import number_hint

__all__ = [
    "check_finite_features",
    "classify_cells",
    "convert_numeric_columns",
    "convert_target",
    "is_missing",
    "validate_formulas",
    "validate_parameters",
    "validate_smiles",
    "validate_structure_paths",
]

# unambiguous (no two quantifiers compete for the same digits): linear time on a 10 MB cell
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
NOT_A_VALUE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity",
               "#num!", "#div/0!", "#value!", "#n/a", "n/a", "na", "null", "none"}
_TRUE, _FALSE = {"true", "yes"}, {"false", "no"}
_BOOL_WORDS = {"True": True, "TRUE": True, "true": True, "False": False, "FALSE": False, "false": False}
MAX_CLASSES = 50  # more distinct text labels than this and a target is not a class label column
#: longest target, parameter or label cell looked at (characters). A number needs < 30, a class label a
#: few words; a longer cell is reported as too long *before* any regex or numeric parsing, so that a
#: 10 MB cell costs no more than its length check.
MAX_CELL_CHARS = 1000
#: longest structure file path accepted (characters): PATH_MAX on Linux
MAX_PATH_CHARS = 4096


def too_long_reason(n_chars: int, limit: int = MAX_CELL_CHARS, what: str = "value") -> str:
    """The error reason for a cell of ``n_chars`` characters, longer than ``limit``."""
    return f"{what} too long: {n_chars:,} characters (at most {limit:,})"


def is_missing(value: object) -> bool:
    """An empty cell: ``None``, NaN/NA, or a string of whitespace."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _classify(value: object) -> tuple[str, object]:
    """One cell -> (category, value): missing, number, nonfinite, bool, text or long (a string of more
    than :data:`MAX_CELL_CHARS` characters, never parsed)."""
    if isinstance(value, (bool, np.bool_)):
        return "bool", bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        x = float(value)
        if np.isnan(x):
            return "missing", None
        return ("number", x) if np.isfinite(x) else ("nonfinite", value)
    if is_missing(value):
        return "missing", None
    if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
        return "long", value
    text = str(value).strip()
    if _NUMBER.match(text):
        x = float(text)
        return ("number", x) if np.isfinite(x) else ("nonfinite", value)
    low = text.lower()
    if low in NOT_A_VALUE:
        return "nonfinite", value
    if low in _TRUE or low in _FALSE:
        return "bool", low in _TRUE
    return "text", text


def cell_reason(kind: str, value: object, what: str) -> str | None:
    """The reason for a cell whose category is not a usable value, or None: ``long`` (over
    :data:`MAX_CELL_CHARS`) and ``nonfinite`` cells; ``what`` names the column's role."""
    if kind == "long":
        return f"{too_long_reason(len(value))}: {what} must be a number or a short label"
    if kind == "nonfinite":
        return _nonfinite_reason(value)
    return None


def _nonfinite_reason(value: object) -> str:
    return (f"{value!r} is not a measured value; leave the cell empty to mark a candidate (pool) row, "
            "or remove the row")


def _not_number_reason(value: object, what: str) -> str:
    return f"not a number{number_hint(value)}: {what} must be numeric"


def classify_cells(values: pd.Series) -> tuple[np.ndarray, np.ndarray, list]:
    """Every cell of a column -> category (missing/number/nonfinite/bool/text/long), number, value.

    Numbers are recognised with pandas' vectorised parser; only the remaining cells (usually few)
    go through :func:`_classify` one by one. Strings longer than :data:`MAX_CELL_CHARS` are ``long``
    and are never handed to a parser (see :func:`cell_reason`).
    """
    n = len(values)
    kinds = np.full(n, "number", dtype=object)
    numbers = np.full(n, np.nan)
    if pd.api.types.is_bool_dtype(values.dtype):
        present = values.notna().to_numpy()
        kinds[:] = np.where(present, "bool", "missing")
        return kinds, numbers, [bool(v) if p else None for v, p in zip(values, present, strict=True)]
    if pd.api.types.is_numeric_dtype(values.dtype):
        x = values.to_numpy(dtype=float)
        kinds[np.isnan(x)] = "missing"
        kinds[np.isinf(x)] = "nonfinite"
        numbers[np.isfinite(x)] = x[np.isfinite(x)]
        return kinds, numbers, list(values)
    out = list(values.to_numpy(dtype=object))
    long = np.array([isinstance(v, str) and len(v) > MAX_CELL_CHARS for v in out], dtype=bool)
    stripped = pd.Series([None if big else v.strip() if isinstance(v, str) else v
                          for v, big in zip(out, long, strict=True)], dtype=object)
    is_bool = np.array([isinstance(v, (bool, np.bool_)) for v in out], dtype=bool)
    x = pd.to_numeric(stripped.where(~is_bool, None), errors="coerce").to_numpy(dtype=float)
    fast = np.isfinite(x) & ~is_bool & ~long
    numbers[fast] = x[fast]
    for i in np.flatnonzero(~fast):
        kinds[i], v = _classify(out[i])
        if kinds[i] == "number":
            numbers[i] = v
        elif kinds[i] in ("bool", "text"):
            out[i] = v
    return kinds, numbers, out


def convert_target(values: pd.Series, column: str, rows: np.ndarray, task: str | None = None
                   ) -> tuple[pd.Series, str, list[dict]]:
    """Convert a target column and infer its task.

    Empty cells stay missing (they mark the candidate pool). Bools, yes/no, true/false and 0/1
    columns are classification targets; numbers are regression targets. A column of a few distinct
    text labels is a (multi-class) classification target. Returns ``(values, task, records)``.
    """
    kinds, numbers, cells = classify_cells(values)
    counts = {k: int((kinds == k).sum()) for k in ("number", "bool", "text", "nonfinite")}
    present = counts["number"] + counts["bool"] + counts["text"]
    distinct_numbers = set(np.unique(numbers[kinds == "number"]).tolist())
    records: list[dict] = []

    def record(i: int, reason: str) -> None:
        records.append({"row": int(rows[i]), "column": column, "value": values.iloc[i], "reason": reason})

    for i in np.flatnonzero((kinds == "nonfinite") | (kinds == "long")):
        record(i, cell_reason(kinds[i], values.iloc[i], "a target"))
    if task is None:
        if counts["text"] == 0 and counts["bool"] > 0 and distinct_numbers <= {0.0, 1.0}:
            task = "classification"
        elif counts["text"] == 0 and counts["bool"] == 0:
            task = "classification" if distinct_numbers == {0.0, 1.0} else "regression"
        elif counts["number"] >= 0.5 * present:
            task = "regression"
        else:
            task = "classification"
    if task == "regression":
        for i in np.flatnonzero((kinds == "bool") | (kinds == "text")):
            record(i, _not_number_reason(values.iloc[i], "a regression target"))
        out = pd.Series(np.where(kinds == "number", numbers, np.nan), index=values.index, dtype=float)
        return out, task, records
    labelled = (kinds == "number") | (kinds == "bool") | (kinds == "text")
    if counts["text"] == 0 and distinct_numbers <= {0.0, 1.0} and counts["bool"] > 0:  # True/False, yes/no
        labels = [bool(c if k == "bool" else x) if k in ("bool", "number") else None
                  for k, x, c in zip(kinds, numbers, cells, strict=True)]
        out = pd.Series(labels, index=values.index, dtype="boolean" if not labelled.all() else bool)
    elif counts["text"] == 0 and counts["bool"] == 0:  # numeric class labels such as 0/1
        out = pd.Series(np.where(kinds == "number", numbers, np.nan), index=values.index, dtype=float)
        if not out.isna().any() and np.all(out == np.round(out)):
            out = out.astype(np.int64)
    else:  # text labels: keep them as written
        out = pd.Series([str(values.iloc[i]).strip() if ok else np.nan for i, ok in enumerate(labelled)],
                        index=values.index, dtype=object)
        distinct = out.dropna().nunique()
        if distinct > MAX_CLASSES:
            raise InputError(
                f"target column {column!r} holds text with {distinct} distinct values: neither numbers nor "
                f"class labels (at most {MAX_CLASSES}); check that it is the right column"
            )
    return out, task, records


def number_share(values: pd.Series) -> float:
    """Share of non-empty cells that are numbers (used to decide whether a column is numeric)."""
    kinds = classify_cells(values)[0]
    present = int((kinds != "missing").sum())
    return float((kinds == "number").sum()) / present if present else 0.0


def convert_numeric_columns(frame: pd.DataFrame, skip: set[str]) -> pd.DataFrame:
    """Give text columns whose every non-empty cell is a number (or a bool word) a proper dtype.

    Only whole columns are converted; a column with one odd cell stays text, so that nothing is
    coerced. Columns in ``skip`` (targets, the input) are left alone.
    """
    out = frame.copy()
    for col in frame.columns:
        if col in skip or not is_text_column(frame[col]):
            continue
        cells = frame[col].to_numpy(dtype=object)
        head = [v.strip() for v in cells[:200] if isinstance(v, str) and v.strip()]
        if not all(len(v) <= MAX_CELL_CHARS and (_NUMBER.match(v) or v in _BOOL_WORDS) for v in head):
            continue  # a text column: one non-number is enough to leave it alone
        if any(isinstance(v, (bool, np.bool_)) for v in cells):
            continue
        stripped = pd.Series([v.strip() if isinstance(v, str) else v for v in cells], index=frame.index,
                             dtype=object)
        present = ~(stripped.isna() | stripped.eq("")).to_numpy(dtype=bool)
        if not present.any():
            continue
        x = pd.to_numeric(stripped.where(present, np.nan), errors="coerce")  # pandas' dtype: int64 or float
        if np.isfinite(x.to_numpy(dtype=float)[present]).all():
            out[col] = x
        elif present.all() and stripped.isin(list(_BOOL_WORDS)).all():
            out[col] = stripped.map(_BOOL_WORDS).astype(bool)
    return out


def validate_formulas(values: pd.Series, column: str, rows: np.ndarray) -> tuple[list, list[dict]]:
    """Parse a formula column; returns one duplicate key per row (``None`` when bad) and errors.

    Two formulas are the same material when their element fractions agree to 1e-9 (``Fe2O3`` and
    ``Fe4O6`` are the same composition).
    """
    cells = values.to_numpy(dtype=object)
    comps, table = parse_formulas(cells, column=column, rows=rows, errors="collect")
    if _PARSED.get("keep"):  # inside keep_parsed(): featurize and screen parse once, not twice
        _PARSED["last"] = (np.asarray(rows), cells, comps)
    bad = np.isin(np.asarray(rows), table["row"].to_numpy()).tolist()
    q = np.rint(comps.fraction * 1e9).astype(np.int64)
    entry = (comps.z.astype(np.int64) * (1 << 40) + q).tobytes()  # slicing bytes: 3x faster than arrays
    ip = (comps.indptr * 8).tolist()
    keys = [None if bad[i] else entry[ip[i]:ip[i + 1]] for i in range(len(values))]
    return keys, table.to_dict("records")


#: the last formula column validate_formulas parsed: (file rows, cells, compositions); see take_parsed
_PARSED: dict = {}


@contextlib.contextmanager
def keep_parsed():
    """Within this block :func:`validate_formulas` keeps its parse for one :func:`take_parsed` (outside
    it nothing is kept, so reading a table never holds its compositions in memory afterwards)."""
    _PARSED["keep"] = True
    try:
        yield
    finally:
        _PARSED["keep"] = False


def take_parsed(values, rows):
    """The compositions :func:`validate_formulas` parsed for these cells (at these file ``rows``), or
    None when they are not those of the last validated column. One use: the cache is emptied, so a
    10^6-row column is not held longer than needed. Saves ``featurize`` and ``screen`` a second parse."""
    last = _PARSED.pop("last", None)
    if last is None:
        return None
    cached_rows, cells, comps = last
    rows = np.asarray(rows)
    idx = np.searchsorted(cached_rows, rows)
    if len(rows) and (idx.max() >= len(cached_rows) or not np.array_equal(cached_rows[idx], rows)):
        return None
    if len(rows) != len(values) or not np.array_equal(cells[idx], np.asarray(values, dtype=object)):
        return None
    return comps.take(idx)


def validate_smiles(values: pd.Series, column: str, rows: np.ndarray) -> tuple[list, list[dict]]:
    """Check SMILES with the rule featurization uses; returns canonical SMILES per row (``None`` when
    bad) and errors.

    The rule is :func:`matloop.io.smiles.parse_unique` (size bounds before RDKit, then parsing,
    sanitisation and polymer ``*`` end groups), shared with the molecule featurizers, so a row that
    passes here featurizes and ``--skip-invalid`` skips what featurization would reject.
    Polymer repeat units written with ``*`` end groups (``*CC(*)c1ccccc1``) are accepted.
    """
    try:
        from rdkit import Chem
    except ImportError as exc:  # pragma: no cover - the molecule extra is part of `make test`
        raise ImportError("reading SMILES needs RDKit: pip install 'matloop[molecule]'") from exc
    from matloop.io.smiles import parse_unique

    codes, uniques = factorize_exact(values.map(lambda v: v.strip() if isinstance(v, str) else v))
    mols, _, reasons = parse_unique(list(uniques))
    canon = [None if m is None else Chem.MolToSmiles(m) for m in mols]
    keys: list = []
    records: list[dict] = []
    for i, code in enumerate(codes):
        reason = "empty SMILES" if code < 0 else reasons[code]
        keys.append(None if code < 0 else canon[code])
        if reason is not None:
            records.append({"row": int(rows[i]), "column": column, "value": values.iloc[i], "reason": reason})
    return keys, records


#: largest structure file read (bytes): a CIF/POSCAR of a 10,000-atom cell is about 1 MB
MAX_STRUCTURE_FILE_BYTES = 50_000_000


def validate_structure_paths(values: pd.Series, column: str, rows: np.ndarray, base_dir: Path,
                             root: Path | None = None) -> tuple[list, list[dict]]:
    """Resolve structure file paths against ``base_dir``, confined to ``root``; bad paths are row errors.

    Paths are resolved (symlinks and ``..`` included) *before* anything is checked, and the result
    must lie inside ``root`` (default: ``base_dir``, the table's folder): a table cannot make matloop
    read ``../../etc/passwd`` or follow a symlink out of its folder. Whether a file outside exists is
    never revealed, and no message shows a file's contents. A cell holding the text of a structure
    (inline CIF, POSCAR or pymatgen JSON: a line break, or JSON) is kept as its stripped text. Returns
    the resolved absolute paths or texts (``None`` when bad; also the duplicate keys) and errors. The files are not parsed here:
    :mod:`matloop.represent` reads them when featurizing.
    """
    from matloop.io.detect import is_inline_text

    root = Path(root if root is not None else base_dir).expanduser().resolve()
    resolved: list = []
    records: list[dict] = []
    for i, value in enumerate(values):
        reason = None
        path = None
        if is_missing(value):
            reason = "empty structure file path"
        elif not isinstance(value, str):
            reason = f"expected a structure file path, found {type(value).__name__} {value!r}"
        elif is_inline_text(value):  # the file's contents in the cell (CIF, POSCAR, pymatgen JSON)
            path, reason = _check_structure_text(value)
        elif len(value) > MAX_PATH_CHARS:  # before any path operation (which would raise on it)
            reason = too_long_reason(len(value), MAX_PATH_CHARS, "structure file path")
        else:
            try:
                path, reason = _check_structure_path(value, base_dir, root)
            except OSError as exc:  # a name the OS refuses (a component over 255 bytes, ...): a row error
                reason = f"unusable structure file path: {exc.strerror or type(exc).__name__}"
        resolved.append(path)
        if reason is not None:
            records.append({"row": int(rows[i]), "column": column, "value": value, "reason": reason})
    return resolved, records


def _check_structure_text(value: str) -> tuple[str | None, str | None]:
    """(the text, None) for a cell that looks like inline CIF/POSCAR/JSON, else (None, reason).

    Only the form is checked here (:func:`matloop.io.detect.looks_like_structure_text`); the text is
    parsed, and bad structures reported per row, by :func:`matloop.represent.read_structures`.
    """
    from matloop.io.detect import looks_like_structure_text

    if len(value) > MAX_STRUCTURE_FILE_BYTES:
        return None, (f"inline structure text of {len(value):,} characters, more than the "
                      f"{MAX_STRUCTURE_FILE_BYTES:,} limit")
    if not looks_like_structure_text(value):
        return None, ("not a structure: the cell holds text that is neither a CIF (data_ block with _cell_length_a "
                      "and _atom_site), a POSCAR (scale line and three lattice vectors) nor pymatgen Structure "
                      "JSON (an object with 'lattice' and 'sites')")
    return value.strip(), None


def _check_structure_path(value: str, base_dir: Path, root: Path) -> tuple[str | None, str | None]:
    """(resolved path, None) for a usable structure file path, else (None, reason); may raise OSError."""
    from matloop.io.detect import looks_like_structure_path

    reason = None
    path = None
    p = Path(value.strip()).expanduser()
    p = (p if p.is_absolute() else base_dir / p).resolve()
    if not p.is_relative_to(root):
        reason = (f"structure file path leads outside {root} (after resolving '..' and symlinks); "
                  "structure files must lie in the table's folder, or in the folder given with "
                  "--structures-root DIR (Python: structures_root=DIR)")
    elif not looks_like_structure_path(p.name) and not looks_like_structure_path(value):
        reason = ("not a structure file name (expected .cif, .vasp, POSCAR/CONTCAR, .xyz/.extxyz or pymatgen "
                  ".json) nor inline CIF/POSCAR/JSON text")
    elif not p.exists():
        reason = f"structure file not found: {p}"
    elif not p.is_file():
        reason = f"not a regular file: {p}"
    elif p.stat().st_size == 0:
        reason = f"structure file is empty: {p}"
    elif p.stat().st_size > MAX_STRUCTURE_FILE_BYTES:
        reason = (f"structure file is {p.stat().st_size / 1e6:.0f} MB, larger than the "
                  f"{MAX_STRUCTURE_FILE_BYTES / 1e6:.0f} MB limit: {p}")
    else:
        path = str(p)
    return path, reason


def validate_parameters(frame: pd.DataFrame, columns: list[str], rows: np.ndarray, extra: bool = False
                        ) -> tuple[pd.DataFrame, list[dict]]:
    """Convert the input columns of a parameter table (``extra``: the extra numeric inputs beside a
    material column) to float; every non-number is a row error."""
    every = "every extra input column" if extra else "every input column of a parameter table"
    inputs = "extra inputs" if extra else "parameter inputs"
    out = {}
    records: list[dict] = []
    for col in columns:
        series = frame[col]
        if pd.api.types.is_bool_dtype(series):
            out[col] = series
            continue
        kinds, numbers, _ = classify_cells(series)
        vals = np.where(kinds == "number", numbers, np.nan)
        for i in np.flatnonzero(kinds != "number"):
            cat, v = kinds[i], series.iloc[i]
            if cat == "long":
                reason = f"{too_long_reason(len(v))}: {every} needs a number"
            else:
                reason = {"missing": f"missing value: {every} needs a number",
                          "nonfinite": f"{v!r} is not a number: {every} needs a value",
                          }.get(cat, _not_number_reason(v, inputs))
            records.append({"row": int(rows[i]), "column": col, "value": v, "reason": reason})
        out[col] = pd.Series(vals, index=series.index)
    converted = frame.copy()
    for col, s in out.items():
        converted[col] = s
    return converted, records


def validate_categorical(frame: pd.DataFrame, columns: list[str], rows: np.ndarray) -> list[dict]:
    """Row errors of the categorical (text) inputs of a parameter table: an empty or over-long cell."""
    records: list[dict] = []
    for col in columns:
        for i, v in enumerate(frame[col].to_numpy(dtype=object)):
            text = None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v).strip()
            if not text:
                records.append({"row": int(rows[i]), "column": col, "value": v,
                                "reason": "missing value: a categorical input column needs a label in every row"})
            elif len(text) > MAX_CELL_CHARS:
                records.append({"row": int(rows[i]), "column": col, "value": v,
                                "reason": f"{too_long_reason(len(text))}: a categorical input needs a short label"})
    return records


def check_finite_features(features: pd.DataFrame | np.ndarray, values: pd.Series | np.ndarray, column: str,
                          rows: np.ndarray) -> None:
    """Raise :class:`InputError` naming every row whose features broke down numerically.

    A row is bad when any feature is infinite or when *every* feature is NaN: both mean the input
    overflowed or could not be featurized, and a model would otherwise impute a made-up material and
    predict for it. Scattered NaN (a descriptor undefined for one element or molecule) are documented
    missing values that models impute, and stay.
    """
    F = np.asarray(features, dtype=float)
    if F.ndim != 2 or F.shape[1] == 0 or not len(F):
        return
    inf = np.isinf(F).any(axis=1)
    empty = np.isnan(F).all(axis=1)
    bad = np.flatnonzero(inf | empty)
    if not len(bad):
        return
    if isinstance(values, pd.Series):
        cells = list(values.iloc[bad])
    elif hasattr(values, "formulas") and hasattr(values, "take"):  # Compositions (screening)
        cells = values.take(bad).formulas()
    else:
        try:
            cells = [values[int(i)] for i in bad]
        except (TypeError, IndexError, KeyError):
            cells = [None] * len(bad)
    records = [{"row": int(rows[i]), "column": column, "value": cell,
                "reason": "features are infinite (an overflow in the input)" if inf[i] else
                "no feature could be computed (every value is NaN); the input is outside what the featurizer handles"}
               for i, cell in zip(bad, cells, strict=True)]
    raise InputError(f"Could not featurize column '{column}': {len(bad)} row{'s' if len(bad) > 1 else ''} gave "
                     "features that are not finite numbers", error_table(records))
