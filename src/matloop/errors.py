"""Errors that carry a table of what was wrong, row by row.

Users hand us spreadsheets. When a row is bad they need the row number, the value and the
reason, for every bad row at once, not a traceback about the first one.

Messages never grow with the input: a cell of 10 MB must not become a 10 MB line on stderr. Every
string in an error table is shortened here, in one place (:func:`shorten`: values and column names
to ``MAX_VALUE_CHARS``, reasons to ``MAX_REASON_CHARS``, with the original length), and so is an
:class:`InputError`'s message (``MAX_MESSAGE_CHARS``). The full cells of rows left out by
``--skip-invalid`` stay in the skipped table's original columns.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported where a table is built, not here: ``import matloop`` (and every CLI start, e.g.
# ``matloop featurize``'s pandas-free path for a formula list) must not pay its 0.3 s import

ERROR_COLUMNS = ["row", "column", "value", "reason"]
MAX_VALUE_CHARS = 200  # longer than real formulas of steels (~100) and most SMILES; the terminal shows 40
MAX_REASON_CHARS = 500
MAX_MESSAGE_CHARS = 2000
_LIMITS = {"column": MAX_VALUE_CHARS, "value": MAX_VALUE_CHARS, "reason": MAX_REASON_CHARS}


def shorten(text: object, width: int = MAX_VALUE_CHARS) -> object:
    """A string longer than ``width`` cut to its start, an ellipsis and its original length; other
    values unchanged. ``shorten("Q" * 10**7)`` is ``'QQQ…QQ… (10,000,000 characters)'``."""
    if not isinstance(text, str) or len(text) <= width:
        return text
    return f"{text[:width]}… ({len(text):,} characters)"


def _shorten_middle(text: str, width: int) -> str:
    """Keep the start and the end (where hints such as 'use --input COL' sit) of a long message."""
    if len(text) <= width:
        return text
    tail = width // 4
    return f"{text[: width - tail]} … ({len(text):,} characters) … {text[-tail:]}"


def _bounded(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the long strings of its error columns shortened (copied only when needed)."""
    import pandas as pd

    copied = False
    for column, width in _LIMITS.items():
        if column not in frame.columns:
            continue
        cells = frame[column].to_numpy(dtype=object)
        long = [i for i, v in enumerate(cells) if isinstance(v, str) and len(v) > width]
        if not long:
            continue
        if not copied:
            frame, copied = frame.copy(), True
        cells = cells.copy()
        for i in long:
            cells[i] = shorten(cells[i], width)
        frame[column] = pd.Series(cells, index=frame.index, dtype=frame[column].dtype)
    return frame


def error_table(records: Iterable[dict] | None = None) -> pd.DataFrame:
    """A DataFrame with the standard error columns ``row, column, value, reason``.

    ``row`` is the 1-based data row (the first row under the header is row 1). Long strings are
    shortened (:func:`shorten`) so that no message grows with the size of a cell.
    """
    import pandas as pd

    frame = pd.DataFrame(list(records or []), columns=ERROR_COLUMNS)
    return _bounded(frame.astype({"value": object, "reason": str}))


def format_error_table(table: pd.DataFrame, max_rows: int = 50) -> str:
    """Render an error table for a terminal: aligned columns, long values shortened."""
    if table.empty:
        return "(no errors)"
    shown = _bounded(table.head(max_rows)).copy()
    shown["value"] = [_short(v) for v in shown["value"]]
    width = max(len("reason"), *(len(str(r)) for r in shown["reason"]))
    vwidth = max(len("value"), *(len(str(v)) for v in shown["value"]))
    text = shown.to_string(index=False, justify="left",
                           formatters={"reason": lambda r: f"{r:<{width}}", "value": lambda v: f"{v:<{vwidth}}"})
    text = "\n".join(line.rstrip() for line in text.splitlines())
    if len(table) > max_rows:
        text += f"\n... and {len(table) - max_rows} more rows"
    return text


def _short(value: object, width: int = 40) -> str:
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, list | tuple | dict | set | frozenset | bytes | bytearray):
        text = reprlib.repr(value)  # bounded, unlike str() of a big container
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


class MatloopError(Exception):
    """Base class of every error matloop raises on purpose."""


class InputError(MatloopError, ValueError):
    """Bad user input, with one row per problem in :attr:`table`.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``row`` (1-based data row), ``column``, ``value`` and ``reason``.
    """

    def __init__(self, message: str, table: pd.DataFrame | None = None):
        self.table = error_table() if table is None else _bounded(table.reset_index(drop=True))
        self.message = _shorten_middle(str(message), MAX_MESSAGE_CHARS)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.table.empty:
            return self.message
        n = len(self.table)
        return f"{self.message} ({n} problem{'s' if n != 1 else ''}):\n{format_error_table(self.table)}"

    def __reduce__(self):  # keep the table when the error crosses process boundaries
        return (type(self), (self.message, self.table))
