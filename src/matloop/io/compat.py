"""What differs between pandas 2 and pandas 3, in one place, so that matloop runs on both.

pandas 3 changed two things that user tables run into:

* text columns are read as the ``str`` dtype (a :class:`pandas.StringDtype`), no longer ``object``
  (pandas 2 does the same with ``pd.options.future.infer_string = True``). "Is this a text column"
  must therefore never be written ``dtype == object``: use :func:`is_text_dtype`.
* copy-on-write: ``Series.to_numpy()`` and ``.values`` may return a *read-only* view of the
  frame's data. An array that is written to afterwards (``mask &= ...``, ``x[i] = ...``) must be
  a copy: use :func:`writable_array`.

It also parses CSV floats exactly by default, and deprecates ``float_precision``: pass
``**EXACT_FLOATS`` to :func:`pandas.read_csv` instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["EXACT_FLOATS", "PANDAS_MAJOR", "is_text_column", "is_text_dtype", "writable_array"]

PANDAS_MAJOR = int(pd.__version__.split(".", 1)[0])
#: ``pd.read_csv(..., **EXACT_FLOATS)`` reads every float exactly (the shortest repr round-trips):
#: pandas 2 needs ``float_precision="round_trip"``; pandas 3 does it by default and deprecates the keyword.
EXACT_FLOATS: dict[str, str] = {"float_precision": "round_trip"} if PANDAS_MAJOR < 3 else {}


def is_text_dtype(dtype: object) -> bool:
    """Whether a column of this dtype holds text: ``object`` (pandas 2) or a string dtype.

    Covers numpy ``object``, pandas' ``str``/``string`` (:class:`pandas.StringDtype`, python or
    pyarrow storage, NaN or NA missing value) and pyarrow-backed string columns; categoricals and
    numeric, bool and datetime dtypes are not text.
    """
    if isinstance(dtype, np.dtype):
        return dtype.kind in "OU"
    if isinstance(dtype, pd.CategoricalDtype):
        return False
    return bool(pd.api.types.is_string_dtype(dtype))


def is_text_column(values: pd.Series) -> bool:
    """Whether a column (Series) has a text dtype; see :func:`is_text_dtype`."""
    return is_text_dtype(values.dtype)


def writable_array(values, dtype=None) -> np.ndarray:
    """A NumPy array of ``values`` that is safe to modify in place (always a fresh copy).

    ``Series.to_numpy()`` under copy-on-write returns a read-only view; ``np.array(..., copy=True)``
    never shares memory with the frame, so writing to it neither fails nor changes the user's table.
    """
    if isinstance(values, (pd.Series, pd.Index, pd.DataFrame)):
        values = values.to_numpy(dtype=dtype)
        return np.array(values, copy=True)
    return np.array(values, dtype=dtype, copy=True)
