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

import numpy as np
import pandas as pd

__all__ = ["ATTR", "attach_source_rows", "source_rows"]

ATTR = "matloop_source_rows"


def attach_source_rows(obj: pd.Series | pd.DataFrame, rows: np.ndarray) -> pd.Series | pd.DataFrame:
    """A shallow copy of ``obj`` (whose index is ``0..n-1``) carrying its 1-based source rows."""
    out = obj.copy(deep=False)
    out.attrs = {**obj.attrs, ATTR: np.asarray(rows, dtype=np.int64)}
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
    if rows is None or not isinstance(X, (pd.Series, pd.DataFrame)) or len(X) != n:
        return fallback
    index = X.index
    if not pd.api.types.is_integer_dtype(index.dtype):
        return fallback
    pos = index.to_numpy(dtype=np.int64)
    if len(pos) and (pos.min() < 0 or pos.max() >= len(rows)):
        return fallback
    return np.asarray(rows)[pos]
