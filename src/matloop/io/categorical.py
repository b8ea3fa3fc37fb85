"""Whether a text column of a process table is a categorical input (a solvent, a lipid, a SMILES fragment).

A process table's inputs are its numeric columns and its *categorical* text columns: text whose
values repeat (each is a choice made for several experiments), that has a label in every row (a
text column with empty cells is an outcome measured on some rows, such as a crystal score) and at
most :data:`MAX_LABELS` distinct values. A text column with a different value in every row is an
identifier or a note (``sample_name``, ``comment``), not an input, and is reported as ignored.
How a categorical column is turned into numbers (one-hot labels, a chemical encoding of SMILES) is
decided by :class:`matloop.design.encode.ParameterEncoder`.
"""

from __future__ import annotations

import pandas as pd

from matloop.io.compat import is_text_column

__all__ = ["CASE_NOTE", "MAX_LABELS", "case_variants", "categorical_problem"]

#: what follows :func:`case_variants`' labels in a note
CASE_NOTE = "differ only in upper/lower case and are different labels; write one spelling where they are one choice"
#: the most distinct values a text column may have to be a categorical input
MAX_LABELS = 100


def categorical_problem(series: pd.Series) -> str | None:
    """``None`` when ``series`` is a usable categorical input column, else why it is not one."""
    if not is_text_column(series):
        return "not a text column"
    values = series.dropna().astype(str).str.strip()
    values = values[values != ""]
    if values.empty:
        return "empty column"
    n_distinct = values.nunique()
    if n_distinct > MAX_LABELS:
        return (f"text column with {n_distinct} distinct values (at most {MAX_LABELS} for a categorical input), "
                "not an input of a parameter table")
    if len(values) < len(series):
        return (f"text column with {len(series) - len(values)} empty cells (an outcome measured on some rows?); "
                "a categorical input needs a label in every row")
    if n_distinct == len(values) and len(values) > 1:
        return "text column with a different value in every row (an identifier or a note), not an input"
    return None


def case_variants(labels) -> str | None:
    """``"'Ethanol' and 'ethanol'"`` (up to three such groups, ``; ``-separated) when labels differ only in
    upper/lower case, else None: they are different labels as written, which is seldom what was meant."""
    folded: dict[str, list] = {}
    for label in dict.fromkeys(str(v) for v in labels):
        folded.setdefault(label.casefold(), []).append(label)
    alike = [" and ".join(map(repr, v)) for v in folded.values() if len(v) > 1]
    return "; ".join(alike[:3]) if alike else None
