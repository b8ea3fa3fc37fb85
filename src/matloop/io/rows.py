"""Row numbers that follow the data: errors raised after validation name the user's file rows.

``read_table`` drops blank lines and, with ``skip_invalid``, bad rows, so the *n*-th row a
featurizer sees is not the *n*-th data row of the file. :class:`matloop.io.Dataset` keeps the
1-based source row of every kept row (``Dataset.rows``); :attr:`Dataset.X` and
:attr:`Dataset.inputs` hand them on in the pandas ``attrs`` of the Series/DataFrame they return
(:func:`attach_source_rows`). A featurizer that reports a bad row asks :func:`source_rows` for the
row labels of what it was given: the source rows when present (looked up through the object's index,
so a subset such as ``X.iloc[train]`` keeps its own rows), else the positions ``1..n``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas is imported where a frame is looked at (represent.base imports this module)
    import pandas as pd

__all__ = ["ATTR", "SourceRows", "attach_source_rows", "source_rows"]

ATTR = "matloop_source_rows"


class SourceRows:
    """The row numbers kept in ``attrs``: immutable, compared by value, never deep-copied.

    pandas compares ``attrs`` with ``==`` when concatenating (a bare array raises there) and deep-
    copies them after every operation (a 200,000-row array each time); this wrapper avoids both.
    """

    __slots__ = ("array",)

    def __init__(self, rows) -> None:
        array = np.array(rows, dtype=np.int64)
        array.setflags(write=False)
        self.array = array

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, SourceRows) and np.array_equal(self.array, other.array))

    def __hash__(self) -> int:
        return hash((len(self.array), self.array[:8].tobytes()))

    def __copy__(self) -> SourceRows:
        return self

    def __deepcopy__(self, memo: dict) -> SourceRows:
        return self

    def __reduce__(self):
        return (SourceRows, (self.array,))

    def __repr__(self) -> str:
        return f"SourceRows({len(self.array)} rows)"


def attach_source_rows(obj: pd.Series | pd.DataFrame, rows: np.ndarray) -> pd.Series | pd.DataFrame:
    """A shallow copy of ``obj`` (whose index is ``0..n-1``) carrying its 1-based source rows."""
    out = obj.copy(deep=False)
    out.attrs = {**obj.attrs, ATTR: SourceRows(rows)}
    return out


def source_rows(X: object, n: int | None = None) -> np.ndarray:
    """1-based row labels of the values of ``X`` for error messages.

    The source rows attached by :func:`attach_source_rows`, indexed by ``X``'s own index; positions
    ``1..n`` when ``X`` carries none or its index does not address them (then nothing is guessed).
    """
    if n is None:
        n = len(X)  # type: ignore[arg-type]
    fallback = np.arange(1, n + 1)
    attrs = getattr(X, "attrs", None)
    rows = attrs.get(ATTR) if isinstance(attrs, dict) else None
    if not isinstance(rows, SourceRows):  # (X carries no rows: pandas need not be imported)
        return fallback
    import pandas as pd

    if not isinstance(X, (pd.Series, pd.DataFrame)) or len(X) != n:
        return fallback
    rows = rows.array
    index = X.index
    if not pd.api.types.is_integer_dtype(index.dtype):
        return fallback
    pos = index.to_numpy(dtype=np.int64)
    if len(pos) and (pos.min() < 0 or pos.max() >= len(rows)):
        return fallback
    return np.asarray(rows)[pos]
