"""Which column of a user's table holds the material, and what kind of material it is.

A table may name its input column (``input=``) or leave it to us. We look at the text columns and
ask, for a sample of each: do the values parse as chemical formulas (our parser)? As SMILES (RDKit
parses them and they are *not* formulas: ``CCO`` is both, ``c1ccccc1`` only SMILES)? Are they
paths to crystal-structure files? A column name such as ``smiles`` or ``formula`` breaks ties. When
two columns qualify we refuse to guess and ask for ``--input``; when none does, the table is a
parameter table whose numeric columns are the inputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from matloop.errors import InputError
from matloop.io.formula import parse_formulas

if TYPE_CHECKING:  # imported where a frame is looked at: matloop.io.fast_formulas uses this module's rules
    import pandas as pd  # on a formula list without loading pandas

__all__ = ["ColumnGuess", "classify_column", "detect_input", "is_inline_text", "looks_like_structure",
           "looks_like_structure_path", "looks_like_structure_text", "material_label", "rdkit_available"]

#: how many non-empty values of a column are looked at to guess what it holds
SAMPLE_SIZE = 400
_MOST = 0.5  # share of values that must fit a kind
_SMILES_ONLY_MIN = 0.1  # share of SMILES that are not formulas, to call a column molecules

_STRUCTURE_SUFFIXES = (".cif", ".vasp", ".poscar", ".contcar", ".json", ".mson", ".xyz", ".extxyz")
_COMPRESSED = (".gz", ".bz2", ".xz", ".lzma")
_POSCAR_NAME = re.compile(r"^(POSCAR|CONTCAR)", re.IGNORECASE)
_NAME_HINTS = {
    "molecule": re.compile(r"smiles|psmiles|molecule|monomer|polymer", re.IGNORECASE),
    "composition": re.compile(r"formula|composition|compound|stoichiometry|chemistry", re.IGNORECASE),
    "structure": re.compile(r"structure|cif|poscar|crystal|file|path", re.IGNORECASE),
}
KIND_WORDS = {"composition": "formulas", "molecule": "SMILES",
              "structure": "crystal structures (file paths or inline CIF/POSCAR/JSON)",
              "pattern": "diffraction pattern files (.xy, .xye, .xrdml, two-column .csv/.txt/.dat)"}
_FLOAT = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eEdD][-+]?\d+)?"
_VECTOR = re.compile(rf"^\s*{_FLOAT}\s+{_FLOAT}\s+{_FLOAT}\s*$")
_SCALE = re.compile(rf"^\s*{_FLOAT}(\s+{_FLOAT}\s+{_FLOAT})?\s*$")
_CIF_BLOCK = re.compile(r"^\s*data_\S*", re.MULTILINE)


@dataclass(frozen=True)
class ColumnGuess:
    """Shares of a column's sampled values that fit each input kind."""

    column: str
    n_sampled: int
    formula: float
    smiles: float
    smiles_only: float
    structure: float

    @property
    def kind(self) -> str | None:
        """The kind this column holds, or ``None`` when it is not a material column."""
        if self.n_sampled == 0:
            return None
        hinted = self.hinted_kind
        if hinted is not None and self.share(hinted) >= _MOST:  # a 'smiles' column of alkanes: C, CC, CCC
            return hinted
        if self.structure >= _MOST:
            return "structure"
        if self.smiles >= _MOST and self.smiles_only >= _SMILES_ONLY_MIN:
            return "molecule"
        if self.formula >= _MOST:
            return "composition"
        return None

    @property
    def hinted_kind(self) -> str | None:
        """The kind the column's name suggests, if any."""
        for kind, pattern in _NAME_HINTS.items():
            if pattern.search(self.column):
                return kind
        return None

    def share(self, kind: str) -> float:
        """Share of sampled values that fit ``kind``."""
        return {"composition": self.formula, "molecule": self.smiles, "structure": self.structure}[kind]


def rdkit_available() -> bool:
    """Whether RDKit (the ``molecule`` extra) is installed."""
    try:
        import rdkit  # noqa: F401
    except ImportError:
        return False
    return True


def looks_like_structure_path(value: str) -> bool:
    """Whether a string names a CIF, POSCAR/CONTCAR, ``.vasp`` or pymatgen JSON file."""
    name = Path(value.strip()).name
    lower = name.lower()
    for comp in _COMPRESSED:
        if lower.endswith(comp):
            lower = lower[: -len(comp)]
    return lower.endswith(_STRUCTURE_SUFFIXES) or bool(_POSCAR_NAME.match(name))


def is_inline_text(value: str) -> bool:
    """Whether a cell holds a file's contents rather than a path: a line break, or JSON."""
    text = value.strip()
    return "\n" in text or text.startswith(("{", "["))


def looks_like_structure_text(value: str) -> bool:
    """Whether a string is the text of a CIF, a POSCAR/CONTCAR or a pymatgen ``Structure`` JSON.

    Decided by form alone (nothing is parsed here): a CIF has a ``data_`` block with a cell length
    and atom sites; a POSCAR has a scale line and three lattice-vector lines of three numbers; the
    JSON is an object with ``lattice`` and ``sites``. Plain text that fits none is not a structure.
    """
    if not isinstance(value, str) or not is_inline_text(value):
        return False
    text = value.strip()
    if text.startswith("{"):
        return '"lattice"' in text and '"sites"' in text
    if "_cell_length_a" in text and "_atom_site" in text and _CIF_BLOCK.search(text):
        return True
    lines = text.splitlines()
    return len(lines) >= 7 and bool(_SCALE.match(lines[1])) and all(_VECTOR.match(ln) for ln in lines[2:5])


def material_label(value: object, width: int = 60) -> str:
    """A one-line label of a material cell for terminal output: inline structure text becomes its
    CIF block name, POSCAR comment line or ``pymatgen JSON (N sites)``; anything else is shortened."""
    text = str(value)
    if isinstance(value, str) and is_inline_text(value):
        stripped = value.strip()
        block = _CIF_BLOCK.search(stripped)
        if stripped.startswith("{"):
            text = "pymatgen JSON ({} sites)".format(stripped.count('"species"'))
        elif block is not None and "_cell_length_a" in stripped:
            text = f"CIF {block.group(0).strip()}"
        else:
            text = f"POSCAR '{stripped.splitlines()[0].strip()}'"
    return text if len(text) <= width else text[: width - 1] + "…"


def looks_like_structure(value: str) -> bool:
    """A structure file path (by its name) or inline structure text (:func:`looks_like_structure_text`)."""
    return looks_like_structure_text(value) if is_inline_text(value) else looks_like_structure_path(value)


def _sample(values: pd.Series | np.ndarray) -> list[str]:
    """Up to SAMPLE_SIZE non-empty string values spread over the column (a Series or an object array)."""
    cells = values if isinstance(values, np.ndarray) else values.to_numpy(dtype=object)
    if len(cells) > 4 * SAMPLE_SIZE:  # look at evenly spread cells first; a sparse column falls through
        spread = cells[np.linspace(0, len(cells) - 1, 2 * SAMPLE_SIZE).astype(int)]
        text = [v.strip() for v in spread if isinstance(v, str) and v.strip()]
        if len(text) >= SAMPLE_SIZE:
            return text[:: max(1, len(text) // SAMPLE_SIZE)][:SAMPLE_SIZE]
    text = [v.strip() for v in cells if isinstance(v, str) and v.strip()]
    if len(text) > SAMPLE_SIZE:
        idx = np.linspace(0, len(text) - 1, SAMPLE_SIZE).astype(int)
        text = [text[i] for i in idx]
    return text


def _smiles_ok(values: list[str]) -> np.ndarray:
    """Which strings RDKit parses as SMILES (with sanitisation); all False without RDKit."""
    if not values or not rdkit_available():
        return np.zeros(len(values), dtype=bool)
    from rdkit import Chem, rdBase

    from matloop.io.smiles import bounds_problem

    blocker = rdBase.BlockLogs()  # noqa: F841 (RDKit logs every failure to stderr otherwise)
    # a string too large for RDKit (a 20,000-atom chain crashes it) is never handed to it
    return np.array([bounds_problem(v) is None and Chem.MolFromSmiles(v) is not None for v in values], dtype=bool)


def classify_column(values: pd.Series, column: str) -> ColumnGuess:
    """Look at a sample of a column and measure how well it fits each input kind."""
    sample = _sample(values)
    n = len(sample)
    if n == 0:
        return ColumnGuess(column, 0, 0.0, 0.0, 0.0, 0.0)
    _, errors = parse_formulas(sample, column=column, errors="collect")
    is_formula = np.ones(n, dtype=bool)
    is_formula[errors["row"].to_numpy(dtype=np.int64) - 1] = False
    is_structure = np.array([looks_like_structure(v) for v in sample])
    is_smiles = _smiles_ok(sample) & ~is_structure
    return ColumnGuess(
        column, n, float(is_formula.mean()), float(is_smiles.mean()),
        float((is_smiles & ~is_formula).mean()), float(is_structure.mean()),
    )


def _text_columns(frame: pd.DataFrame, exclude: set[str]) -> list[str]:
    from matloop.io.compat import is_text_column

    return [c for c in frame.columns if c not in exclude and is_text_column(frame[c])]


def detect_input(frame: pd.DataFrame, exclude: set[str], input: str | None = None,
                 kind: str | None = None, extra_inputs: bool = False) -> tuple[str | None, str, str]:
    """Find the input column and its kind.

    Parameters
    ----------
    frame : DataFrame
        The table as read (text columns have ``object`` dtype under pandas 2, ``str`` under pandas 3).
    exclude : set of str
        Columns that cannot be the input (targets, folds).
    input : str, optional
        The column the user named; only its kind is then inferred (unless ``kind`` is given).
    kind : str, optional
        ``composition``, ``molecule``, ``structure`` or ``parameters``, when the user said so.
    extra_inputs : bool
        Whether columns beside the material were named (then a material column is meant).

    Returns
    -------
    (column, kind, how)
        ``column`` is ``None`` for a parameter table; ``how`` says in words how it was decided.
    """
    if kind == "pattern" or (kind is None and (found := _pattern_column(frame, exclude, input))):
        return _pattern_input(frame, exclude, input) if kind == "pattern" else found
    if kind == "parameters":
        if input is not None:
            raise InputError(f"a parameter table has no input column; drop input={input!r} or choose another kind")
        return None, "parameters", "given"
    if input is not None:
        if input not in frame.columns:
            raise InputError(missing_column_message("input", input, frame.columns))
        if kind == "molecule":
            _require_rdkit(f"the input {input!r} holds SMILES (kind 'molecule')")
        elif kind is None and _NAME_HINTS["molecule"].search(input):
            _require_rdkit(f"column {input!r} is named like a SMILES column")
        if kind is not None:
            return input, kind, "given"
        guess = classify_column(frame[input], input)
        found = guess.kind
        if found is None:  # the user named it: take the best fit and let row validation report the rest
            shares = {k: guess.share(k) for k in ("composition", "molecule", "structure")}
            if guess.hinted_kind and shares[guess.hinted_kind] > 0:
                found = guess.hinted_kind
            elif max(shares.values()) > 0:
                found = max(shares, key=shares.get)
            else:
                raise InputError(
                    f"column {input!r} does not look like formulas, SMILES or structure file paths "
                    "(none of the sampled values could be read); say what it holds with --kind "
                    "(Python: kind=...)"
                )
        return input, found, f"given; values read as {KIND_WORDS[found]}"

    text_columns = _text_columns(frame, exclude)
    if kind == "molecule":
        _require_rdkit("the input holds SMILES (kind 'molecule')")
    if kind is None:
        for c in text_columns:  # without RDKit a SMILES column would be misread (CCC as a formula) or missed
            if _NAME_HINTS["molecule"].search(c):
                _require_rdkit(f"column {c!r} is named like a SMILES column")
    guesses = [classify_column(frame[c], c) for c in text_columns]
    candidates = [g for g in guesses if g.kind is not None and (kind is None or g.kind == kind)]
    if kind is not None and not candidates:  # the user said the kind: accept a weaker fit
        candidates = [g for g in guesses if g.share(kind) >= _MOST]
        candidates = [g for g in candidates if g.hinted_kind == kind] or candidates
    if len(candidates) > 1:
        hinted = [g for g in candidates if g.hinted_kind == (kind or g.kind)]
        if len(hinted) == 1:
            g = hinted[0]
            return g.column, kind or g.kind, f"detected: {_describe(g, kind or g.kind)}; chosen by its name"
        if kind is None and _all_categorical(frame, [g.column for g in candidates]):
            names = ", ".join(repr(g.column) for g in candidates)
            return None, "parameters", (f"{len(candidates)} columns of repeated molecules or formulas ({names}): a "
                                        "process table whose text columns are categorical inputs")
        listed = ", ".join(f"{g.column!r} ({_describe(g, kind or g.kind)})" for g in candidates)
        raise InputError(
            f"more than one column could be the input: {listed}; name the input column with "
            "--input COL (Python: input='COL')"
        )
    if candidates:
        g = candidates[0]
        if kind is None and not extra_inputs and _reagent_column(frame, g.column, exclude):
            return None, "parameters", (f"{g.column!r} repeats a few {KIND_WORDS[g.kind]} beside numeric settings: "
                                        "a process table whose text columns are categorical inputs")
        return g.column, kind or g.kind, f"detected: {_describe(g, kind or g.kind)}"
    if kind is not None:
        raise InputError(
            f"no column looks like {KIND_WORDS[kind]}; name the input column with --input COL "
            "(Python: input='COL')"
        )
    return None, "parameters", "no column of formulas, SMILES or structure file paths"


def _pattern_share(values) -> float:
    from matloop.io.patterns import looks_like_pattern_path

    sample = _sample(values)
    return float(np.mean([looks_like_pattern_path(v) for v in sample])) if sample else 0.0


def _pattern_column(frame: pd.DataFrame, exclude: set[str], input: str | None) -> tuple[str, str, str] | None:
    """The pattern-file column when the names decide it: most cells end in ``.xy``, ``.xye``, ``.xrdml``
    (or ``.csv``/``.txt``/``.dat`` in a column named like a file column); None otherwise."""
    from matloop.io.patterns import looks_like_pattern_path

    columns = [input] if input is not None else _text_columns(frame, exclude)
    found = []
    for c in columns:
        if c not in frame.columns:
            return None
        sample = _sample(frame[c])
        if not sample:
            continue
        plain = np.mean([looks_like_pattern_path(v) and re.sub(r"\.(gz|bz2|xz)$", "", v.lower()).endswith(
            (".xy", ".xye", ".xrdml")) for v in sample])
        any_suffix = np.mean([looks_like_pattern_path(v) for v in sample])
        if plain >= _MOST or (any_suffix >= _MOST and (input is not None or _NAME_HINTS["structure"].search(c)
                                                       or re.search(r"pattern|xrd|spectr", c, re.IGNORECASE))):
            found.append(c)
    if len(found) == 1:
        how = "given" if input is not None else "detected"
        return found[0], "pattern", f"{how}; values read as {KIND_WORDS['pattern']}"
    return None


def _pattern_input(frame: pd.DataFrame, exclude: set[str], input: str | None) -> tuple[str, str, str]:
    """The input column of a table the user said holds patterns (``--kind pattern``)."""
    if input is not None:
        if input not in frame.columns:
            raise InputError(missing_column_message("input", input, frame.columns))
        return input, "pattern", "given"
    columns = _text_columns(frame, exclude)
    shares = {c: _pattern_share(frame[c]) for c in columns}
    best = [c for c, s in shares.items() if s >= _MOST]
    if len(best) == 1:
        return best[0], "pattern", f"detected: {shares[best[0]]:.0%} of sampled values are {KIND_WORDS['pattern']}"
    if not best:
        raise InputError(f"no column looks like {KIND_WORDS['pattern']}; name the input column with --input COL")
    raise InputError(f"more than one column could hold the pattern files ({', '.join(map(repr, best))}); name it "
                     "with --input COL")


#: a formula or SMILES column with at most this many distinct values, beside numeric settings, is a choice
#: of reagent (a base, a solvent) in a process table, not the material of each row
REAGENT_LEVELS = 20


def _reagent_column(frame: pd.DataFrame, column: str, exclude: set[str]) -> bool:
    """Whether ``column`` (read as formulas or SMILES) is a reagent choice of a process table: it repeats at
    most :data:`REAGENT_LEVELS` values and the table has another numeric column (a temperature, a time).
    K2CO3 and Cs2CO3 parse as formulas, but a base column beside temperatures is a categorical input; a
    composition table has (nearly) one material per row."""
    import pandas as pd

    from matloop.io.table import _BOOKKEEPING  # an id or row number is not a setting

    values = frame[column].dropna()
    if not _all_categorical(frame, [column]) or values.nunique() > REAGENT_LEVELS:
        return False
    others = [c for c in frame.columns if c not in exclude and c != column and not _BOOKKEEPING.match(str(c))]
    return any(pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               and frame[c].notna().all() and frame[c].nunique() > 1 for c in others)


def _all_categorical(frame: pd.DataFrame, columns: list[str]) -> bool:
    """Whether every column repeats its values (choices such as fragments or solvents, not one material per row)."""
    from matloop.io.categorical import categorical_problem

    for c in columns:
        values = frame[c].dropna()
        if categorical_problem(frame[c]) is not None or values.nunique() > max(1, len(values) // 2):
            return False
    return True


def _require_rdkit(why: str) -> None:
    """Refuse to guess about SMILES when RDKit (the ``molecule`` extra) is missing: say what to install."""
    if not rdkit_available():
        raise InputError(
            f"{why}, and reading SMILES needs RDKit, which is not installed: pip install 'matloop[molecule]'; "
            "if the input is another column, name it with --input COL and its kind with --kind "
            "(Python: input='COL', kind=...)"
        )


def _describe(guess: ColumnGuess, kind: str) -> str:
    return f"{guess.share(kind):.0%} of sampled values are {KIND_WORDS[kind]}"


def missing_column_message(role: str, names: str | list[str], columns) -> str:
    """'target column 'x' not found; the columns are: ...' with a close match when there is one."""
    import difflib

    cols = [str(c) for c in columns]
    lowered = {c.lower(): c for c in cols}
    parts = []
    for name in [names] if isinstance(names, str) else names:
        ours = (f"{name}_pred", f"{name}_std")  # a batch file's prediction of this column, never the value
        others = [c for c in cols if c not in ours]
        close = difflib.get_close_matches(name, others, n=1, cutoff=0.6) or [
            c for c in others if name.strip() and c.lower().startswith(name.strip().lower())][:1]
        hint = ""
        if name.lower() in lowered:
            hint = f" (did you mean {lowered[name.lower()]!r}? names are case-sensitive)"
        elif close:
            hint = f" (did you mean {close[0]!r}?)"
        elif any(c in cols for c in ours):
            hint = f" ({ours[0]!r} is matloop's prediction: add a column {name!r} with the measured values)"
        parts.append((name, hint))
    listed = ", ".join(map(repr, cols))
    if len(parts) == 1:
        return f"{role} column {parts[0][0]!r} not found{parts[0][1]}; the columns are: {listed}"
    return f"{role} columns {', '.join(f'{n!r}{h}' for n, h in parts)} not found; the columns are: {listed}"


def infer_task(values: pd.Series) -> str:
    """``classification`` for bools or two values such as True/False, yes/no, 0/1; else ``regression``.

    ``values`` are already-converted target values (numbers, bools, or text labels), missing as NaN.
    """
    import pandas as pd

    present = values.dropna()
    if present.empty:
        return "regression"
    if pd.api.types.is_bool_dtype(present) or all(isinstance(v, (bool, np.bool_)) for v in present):
        return "classification"
    if pd.api.types.is_numeric_dtype(present):
        distinct = set(np.unique(present.to_numpy(dtype=float)).tolist())
        return "classification" if distinct == {0.0, 1.0} else "regression"
    return "classification"
