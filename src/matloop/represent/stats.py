"""Weighted statistics of element properties over compositions, vectorised over whole columns.

Every function takes a :class:`~matloop.io.formula.Compositions` (CSR rows of elements) and a
property matrix ``values`` of shape ``(nnz, p)`` (the properties of each stored element), and
returns an ``(n, p)`` array: one statistic per row and property, without a Python loop over rows.
Rows with no elements get NaN.
"""

from __future__ import annotations

import numpy as np

from matloop.io.formula import Compositions


def _reduce(ufunc: np.ufunc, comps: Compositions, values: np.ndarray) -> np.ndarray:
    counts = comps.n_elements
    out = np.full((len(comps), values.shape[1]), np.nan)
    nonempty = counts > 0
    if values.shape[0]:
        out[nonempty] = ufunc.reduceat(values, comps.indptr[:-1][nonempty], axis=0)
    return out


def _per_entry(comps: Compositions, per_row: np.ndarray) -> np.ndarray:
    return np.repeat(per_row, comps.n_elements, axis=0)


def weighted_mean(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Fraction-weighted mean (matminer ``mean``, XenonPy ``ave``)."""
    return _reduce(np.add, comps, values * comps.fraction[:, None])


def weighted_sum(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Amount-weighted sum, with amounts as written (XenonPy ``sum``)."""
    return _reduce(np.add, comps, values * comps.amount[:, None])


def minimum(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Smallest value among the elements present."""
    return _reduce(np.minimum, comps, values)


def maximum(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Largest value among the elements present."""
    return _reduce(np.maximum, comps, values)


def value_range(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Largest minus smallest value."""
    return maximum(comps, values) - minimum(comps, values)


def mean_absolute_deviation(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Fraction-weighted mean absolute deviation from the weighted mean (matminer ``avg_dev``)."""
    mean = _per_entry(comps, weighted_mean(comps, values))
    return _reduce(np.add, comps, np.abs(values - mean) * comps.fraction[:, None])


def weighted_variance(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Fraction-weighted variance about the weighted mean (XenonPy ``var``)."""
    mean = _per_entry(comps, weighted_mean(comps, values))
    return _reduce(np.add, comps, (values - mean) ** 2 * comps.fraction[:, None])


def mode(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Value of the most abundant element; ties resolve to the smallest value (as matminer)."""
    frac = comps.fraction
    top = _per_entry(comps, _reduce(np.maximum, comps, frac[:, None]))[:, 0]
    masked = np.where((frac == top)[:, None], values, np.inf)
    return _reduce(np.minimum, comps, masked)


def geometric_mean(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Fraction-weighted geometric mean (XenonPy ``gmean``); NaN where a value is not positive."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(values > 0, np.log(np.where(values > 0, values, 1.0)), np.nan)
    return np.exp(_reduce(np.add, comps, logs * comps.fraction[:, None]))


def harmonic_mean(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Fraction-weighted harmonic mean (XenonPy ``hmean``); NaN where a value is zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(values != 0, 1.0 / np.where(values != 0, values, 1.0), np.nan)
        return 1.0 / _reduce(np.add, comps, inv * comps.fraction[:, None])


STATISTICS = {
    "minimum": minimum,
    "maximum": maximum,
    "range": value_range,
    "mean": weighted_mean,
    "avg_dev": mean_absolute_deviation,
    "mode": mode,
    "var": weighted_variance,
    "sum": weighted_sum,
    "gmean": geometric_mean,
    "hmean": harmonic_mean,
}
