"""Why a cell that should hold a number does not: the ways chemists write numbers in tables.

:func:`number_hint` turns a cell that failed to parse into a short parenthesis for the error table, so
the reason says what to write instead: a decimal comma (``12,5``) or a thousands separator
(``1,200``), a detection limit (``<5``), a note meaning "not measured" (``n.d.``), a value with its
error (``45 ± 2``), a percent sign (``45%``) or a unit in the cell (``60 °C``). Nothing is converted:
the user decides what the number is.

One convention is read as written, because the file states it: a semicolon- or tab-separated file
from a spreadsheet in a comma-decimal locale writes ``1,5`` for 1.5. :func:`decimal_comma_columns`
finds the columns of such a file whose every cell is a number with a decimal comma (or a whole
number), so that the reader takes them as numbers and says so; a comma-separated file cannot hold
an unquoted decimal comma, and a quoted one stays an error with the hint above.
"""

from __future__ import annotations

import re

_NUMBER = r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)(?:[eE][+-]?[0-9]+)?"
_DECIMAL_COMMA = re.compile(r"^[+-]?[0-9]+,[0-9]+$")
_THOUSANDS = re.compile(r"^[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?$")
_LIMIT = re.compile(rf"^\s*(<|>|<=|>=|≤|≥)\s*{_NUMBER}\s*\S*$")
_PLUS_MINUS = re.compile(rf"^{_NUMBER}\s*(±|\+/-|\+-)\s*{_NUMBER}\s*\S*$")
_PERCENT = re.compile(rf"^{_NUMBER}\s*%$")
_WITH_UNIT = re.compile(rf"^{_NUMBER}\s*([A-Za-zµμ°Å][A-Za-z0-9µμ°Å/·.%^-]{{0,11}})$")
NOT_MEASURED = {"nd", "n.d.", "n.d", "n/d", "not detected", "not measured", "-", "--", "?", "tbd", "pending"}


_COMMA_NUMBER = re.compile(r"^[+-]?[0-9]+(?:,[0-9]+)?(?:[eE][+-]?[0-9]+)?$")


def decimal_comma_columns(frame, sep: str) -> list:
    """Columns of a ``;``- or tab-separated ``frame`` (cells as text) that are numbers with decimal commas:
    every filled cell ``12,5`` or ``12`` (no point anywhere), at least one with a comma."""
    if sep not in (";", "\t"):
        return []
    found = []
    for col in frame.columns:
        cells = frame[col].dropna().astype(str).str.strip()
        cells = cells[cells != ""]
        if len(cells) and cells.str.contains(",", regex=False).any() and cells.str.match(_COMMA_NUMBER).all():
            found.append(col)
    return found


def number_hint(value: object) -> str:
    """A short parenthesis (or '') saying why ``value`` is probably not read as a number (module doc)."""
    text = str(value).strip()
    if _THOUSANDS.match(text) and "." in text:
        return " (a thousands separator? write 1200.5, not 1,200.5)"
    if _THOUSANDS.match(text):
        return " (a decimal comma or a thousands separator? write 1.2 or 1200, not 1,200)"
    if _DECIMAL_COMMA.match(text):
        return " (decimal comma? write 1.5, not 1,5)"
    if _LIMIT.match(text):
        return (" (a detection limit? a value must be a number: record the limit itself or leave the cell blank, "
                "and keep the qualifier in a column of its own)")
    if _PLUS_MINUS.match(text):
        return " (a value with its error? write the value, and the error in a column of its own)"
    if _PERCENT.match(text):
        return " (a percent sign? write the number, 45 for 45 %, and the unit in the column's name)"
    if _WITH_UNIT.match(text):
        return " (a number with its unit? write the number, and the unit in the column's name)"
    if text.lower() in NOT_MEASURED:
        return " (not measured? leave the cell blank)"
    return ""
