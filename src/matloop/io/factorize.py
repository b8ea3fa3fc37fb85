"""Distinct values of a user column, exactly.

pandas hashes object strings as C strings, so a string with a NUL character collides with its
prefix: ``pd.factorize(["a", "a\\x00b"])`` gives one code, and ``"Fe2O3\\x00junk"`` would be read
as ``Fe2O3``. :func:`factorize_exact` is pandas' fast factorize where no value contains a NUL
(nearly always), and an exact dictionary-based one where some do, so that such a value reaches
the parser as written and is reported, not silently merged with another row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matloop.io.compat import is_text_dtype


def factorize_exact(values, sort: bool = False) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize(values, sort=sort, use_na_sentinel=True)``, exact for strings with NULs.

    Returns integer codes (-1 for missing values) and the distinct values, as pandas does.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if not _has_nul(series):
        return pd.factorize(series, sort=sort, use_na_sentinel=True)
    missing = series.isna().to_numpy()
    first: dict = {}
    codes = np.full(len(series), -1, dtype=np.intp)
    for i, v in enumerate(series.tolist()):
        if not missing[i]:
            codes[i] = first.setdefault(v, len(first))
    uniques = list(first)
    if sort:
        order = sorted(range(len(uniques)), key=lambda k: uniques[k])
        remap = np.empty(len(order), dtype=np.intp)
        remap[order] = np.arange(len(order))
        codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
        uniques = [uniques[k] for k in order]
    return codes, pd.Index(uniques, dtype=object)


def _has_nul(series: pd.Series) -> bool:
    if not is_text_dtype(series.dtype):
        return False
    try:
        return "\x00" in "".join(series.dropna().tolist())
    except TypeError:  # not all strings
        return any(isinstance(v, str) and "\x00" in v for v in series.tolist())
