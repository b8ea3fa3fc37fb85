"""Column names inside the small expressions users write (``--failed-if``, a design space's constraints).

Both are parsed with :mod:`ast` and checked node by node, so a column must read as a Python name. Two
kinds of real column names do not: names that are not identifiers (``yield (%)``, ``temp-C``) and
words Python reserves (a chemist's ``yield``, a spectroscopist's ``lambda``, a ``class`` label).
:func:`protect_names` replaces both by placeholders before parsing (never inside quoted text) and
returns the map back to the column names.
"""

from __future__ import annotations

import keyword
import re

#: the reserved words an expression may use as such; every other keyword is read as a column name
OPERATOR_WORDS = ("and", "or", "not", "in")
_KEYWORD_NAMES = re.compile(r"\b(" + "|".join(k for k in keyword.kwlist if k not in OPERATOR_WORDS) + r")\b")
_QUOTED = re.compile(r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")


def protect_names(source: str, columns=(), prefix: str = "__col") -> tuple[str, dict[str, str]]:
    """``source`` with every column name that is not an identifier (longest first) and every reserved
    word other than ``and``/``or``/``not``/``in`` replaced by a placeholder (``__col0__``, ...), outside
    quoted text; and the map placeholder -> column name (a placeholder per name, however often used)."""
    names: dict[str, str] = {}  # placeholder -> column
    tokens: dict[str, str] = {}  # column -> placeholder

    def token(column: str) -> str:
        if column not in tokens:
            tokens[column] = f"{prefix}{len(tokens)}__"
            names[tokens[column]] = column
        return tokens[column]

    odd = sorted((str(c) for c in columns if not str(c).isidentifier()), key=len, reverse=True)
    parts = _QUOTED.split(source)  # odd positions: quoted text, kept as it is
    for i in range(0, len(parts), 2):
        for column in odd:
            if column in parts[i]:
                parts[i] = parts[i].replace(column, f" {token(column)} ")
        parts[i] = _KEYWORD_NAMES.sub(lambda m: token(m.group(1)), parts[i])
    return "".join(parts).strip(), names
