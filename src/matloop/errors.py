"""Errors that carry a table of what was wrong, row by row.

Users hand us spreadsheets. When a row is bad they need the row number, the value and the
reason, for every bad row at once, not a traceback about the first one.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

ERROR_COLUMNS = ["row", "column", "value", "reason"]


def error_table(records: Iterable[dict] | None = None) -> pd.DataFrame:
    """A DataFrame with the standard error columns ``row, column, value, reason``.

    ``row`` is the 1-based data row (the first row under the header is row 1).
    """
    frame = pd.DataFrame(list(records or []), columns=ERROR_COLUMNS)
    return frame.astype({"value": object, "reason": str})


def format_error_table(table: pd.DataFrame, max_rows: int = 50) -> str:
    """Render an error table for a terminal: aligned columns, long values shortened."""
    if table.empty:
        return "(no errors)"
    shown = table.head(max_rows).copy()
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
    text = repr(value) if isinstance(value, str) else str(value)
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
        self.table = error_table() if table is None else table.reset_index(drop=True)
        self.message = message
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.table.empty:
            return self.message
        n = len(self.table)
        return f"{self.message} ({n} problem{'s' if n != 1 else ''}):\n{format_error_table(self.table)}"

    def __reduce__(self):  # keep the table when the error crosses process boundaries
        return (type(self), (self.message, self.table))
