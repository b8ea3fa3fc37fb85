"""A one-column list of formulas read and validated without pandas, when that is exactly what
:func:`matloop.io.read_table` would make of it.

``matloop featurize formulas.csv -o out.parquet`` on 200,000 formulas spent 0.3 s importing pandas
and 0.45 s reading the list through the general table reader (a frame, numeric conversion, input
detection, duplicate keys), against 0.35 s computing the features. A list of formulas needs none
of it: :func:`read_formula_list` reads such a file as its lines and parses them with the same
parser, under the same rules, and returns the same cells, file rows and compositions.

It answers ``None`` whenever the general reader might decide anything else or has anything to say:
another format or compression it cannot vouch for, a separator or a quote anywhere, control
characters, an encoding warning, no data rows, a column named like SMILES or structure files, a
sample that :mod:`matloop.io.detect` would not call formulas, or any bad formula. The caller then
reads the file with :func:`matloop.io.read_table`, which reports every bad row with its row,
value and reason as always. So this module never raises :class:`matloop.InputError` itself and
never words a message: every message still comes from one place.
(tests/io/test_fast_formulas.py checks that both readers agree on generated and bundled tables.)
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matloop.errors import InputError
from matloop.io.detect import _NAME_HINTS, ColumnGuess, _sample, looks_like_structure
from matloop.io.formats import separator, table_format
from matloop.io.formula import MAX_FORMULA_CHARS, Compositions, _parse_fast, _parse_unique
from matloop.io.guard import CONTROL_CHARACTERS, decode_text, read_bytes

__all__ = ["FormulaList", "read_formula_list"]

_DOT_LETTER = re.compile(r"\.[A-Za-z]")


@dataclass(frozen=True)
class FormulaList:
    """A formula list as :func:`matloop.io.read_table` reads it: the column's name, its cells as
    written (blank lines left out), their 1-based file rows, and their parsed compositions."""

    column: str
    cells: list[str]
    rows: np.ndarray
    compositions: Compositions

    def __len__(self) -> int:
        return len(self.cells)


def read_formula_list(path: str | Path, input: str | None = None, kind: str | None = None) -> FormulaList | None:
    """The one-column formula table at ``path``, or ``None`` when :func:`matloop.io.read_table` (with
    this ``input`` and ``kind``, no target, no extra inputs) might read it differently or reject it.

    Cells, rows and compositions are those of ``read_table``'s dataset (``frame[column]``,
    ``rows``, and the compositions its validation parsed), bit for bit.
    """
    if kind not in (None, "composition"):
        return None
    path = Path(path)
    fmt, text = _text(path)
    if text is None:
        return None
    header, _, body = text.partition("\n")
    column = header.strip()
    # matloop.io.files._one_text_column's condition, and check_text's (no control character)
    if not column or separator(fmt, header) in text or '"' in text or CONTROL_CHARACTERS.search(text):
        return None
    if input is not None and input != column:
        return None
    lines = body.split("\n")
    if lines and lines[-1] == "":  # the final line break ends the last row
        lines.pop()
    if all(map(str.strip, lines)):  # (no blank line: the common case, at C speed)
        cells, rows = lines, np.arange(1, len(lines) + 1)
    else:  # blank lines are left out and keep their row numbers (read_raw)
        kept = [i for i, line in enumerate(lines) if line.strip()]
        cells, rows = [lines[i] for i in kept], np.array(kept, dtype=np.int64) + 1
    if not cells or not _detected(cells, column, input, kind):
        return None
    compositions = _parse_all(cells)
    if compositions is None:
        return None
    return FormulaList(column, cells, rows, compositions)


def _text(path: Path) -> tuple[str, str | None]:
    """The format and decoded text of a CSV/TSV/TXT file; text None for another format, a problem
    (size cap, decompression, encoding) or a warning (Windows-1252): the general reader says so."""
    try:
        if not path.is_file():
            return "", None
        fmt, compression = table_format(path)
        if fmt not in ("csv", "tsv", "txt"):
            return fmt, None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            text = decode_text(read_bytes(path, compression), path.name)
    except (InputError, OSError, ValueError):
        return "", None
    return fmt, None if caught else text


def _detected(cells: list[str], column: str, input: str | None, kind: str | None) -> bool:
    """Whether :func:`matloop.io.detect.detect_input` calls this single text column formulas
    without needing RDKit's opinion: the column is not named like SMILES (without ``kind``) and
    every sampled value is a formula (so no value can be SMILES only)."""
    if kind is None and _NAME_HINTS["molecule"].search(column):
        return False  # RDKit decides (or its absence is an error): the general reader
    if kind == "composition" and input is not None:
        return True  # given: nothing is detected
    sample = _sample(np.array(cells, dtype=object))
    if not sample or _parse_all(sample) is None:
        return False  # some sampled value is not a formula: a share, not a certainty
    if kind == "composition":
        return True  # a column whose values all read as formulas qualifies for kind composition
    if _pattern_files(sample):
        return False  # detect_input looks for diffraction pattern files first: the general reader decides
    structure = float(np.mean([looks_like_structure(v) for v in sample]))  # as classify_column
    # every sampled value is a formula, so none is SMILES only: the SMILES share cannot decide
    # (ColumnGuess.kind reads it only for columns named like SMILES, excluded above)
    guess = ColumnGuess(column, len(sample), formula=1.0, smiles=0.0, smiles_only=0.0, structure=structure)
    return guess.kind == "composition"


def _pattern_files(sample: list[str]) -> bool:
    """Whether any sampled value names a diffraction pattern file (``.xy``, ``.xrdml``...): every
    such name has a dot followed by a letter, which plain formulas (``Fe0.5Ni0.5``) do not."""
    if not any(_DOT_LETTER.search(v) for v in sample):
        return False
    from matloop.io.patterns import looks_like_pattern_path

    return any(looks_like_pattern_path(v) for v in sample)


def _parse_all(cells: list[str]) -> Compositions | None:
    """The compositions of ``cells`` as :func:`matloop.io.formula.parse_formulas` gives them, or None
    if any cell is not a formula (too long, or any reason of the parser).

    The parser reads each string on its own, so parsing every cell gives the compositions that
    ``parse_formulas`` gets by parsing the distinct strings once and repeating them. Plain formulas
    are parsed for the whole column at once (cheaper than finding the distinct strings first); when
    some need the slow recursive parser (brackets, hydrates), the distinct strings are parsed, as
    ``parse_formulas`` does, so a repeated ``Ca3(PO4)2`` is read once."""
    if max(map(len, cells)) > MAX_FORMULA_CHARS:
        return None
    fast = _parse_fast(cells)
    if not fast[3].any():  # no string for the slow parser
        parsed, reasons = _parse_unique(cells, fast)
        codes = None
    else:
        first: dict[str, int] = dict.fromkeys(cells)  # distinct strings, in order of first appearance
        uniq = list(first)
        first.update(zip(uniq, range(len(uniq)), strict=True))
        codes = np.fromiter(map(first.__getitem__, cells), dtype=np.intp, count=len(cells))
        parsed, reasons = _parse_unique(uniq)
    if reasons:
        return None
    if codes is None:  # all but the trailing empty row (views)
        return Compositions(parsed.indptr[:-1], parsed.z, parsed.amount)
    return parsed.take(codes)
