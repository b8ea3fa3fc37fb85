"""Weighted statistics of element properties over compositions, vectorised over whole columns.

The statistics are those of matminer's ``PropertyStats`` and XenonPy's compositional
featurizers. Each single-statistic function takes a :class:`~matloop.io.formula.Compositions`
(CSR rows of elements) and a property matrix ``values`` of shape ``(nnz, p)`` (the properties of each
stored element) and returns an ``(n, p)`` array. :func:`summarize` and :func:`summarize_table`
compute many statistics from one gather of the values, which is what featurizers should call.
Rows with no elements get NaN.

How it is vectorised: rows are ordered by decreasing number of elements, so that "the j-th element
of every row that has more than j elements" is a prefix of that order. Each statistic is then
accumulated over element positions ``j`` (at most the largest number of elements in a formula)
with whole-array numpy operations on contiguous prefixes, and the rows are put back in their
original order at the end. There is no Python loop over materials.

Definitions (``x`` the element values, ``a`` the amounts as written, ``N = sum(a)``):

- ``minimum``, ``maximum``, ``range``: NaN when a value is NaN (as matminer).
- ``mean`` (XenonPy ``ave``): ``sum(a x) / N`` (matminer's ``np.average(x, weights=a)``).
- ``avg_dev``: ``sum(a |x - mean|) / N`` (matminer).
- ``mode``: the smallest value among the most abundant elements; amounts tie when
  ``np.isclose(a, max(a))``, exactly matminer's rule (it uses the amounts as written).
- ``var`` (XenonPy): ``sum(a (x - mean)^2) / N``.
- ``sum`` (XenonPy): ``sum(a x)`` with the amounts as written.
- ``gmean`` (XenonPy): ``prod(x^a)^(1/N)``, which XenonPy evaluates literally with numpy. We
  evaluate it in log space (no overflow) and reproduce numpy's treatment of non-positive values:
  0 when a value is 0; NaN when a negative value has a non-integer amount, or when the product is
  negative and ``1/N`` is not an integer; otherwise the real root with its sign.
- ``hmean`` (XenonPy): ``N / sum(a / x)``; a zero value gives 0 (``1/0 = inf``), as in XenonPy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from matloop.io.formula import Compositions

#: matminer's tolerance for "equally abundant" amounts in ``mode`` (``np.isclose`` defaults)
MODE_RTOL = 1e-5
MODE_ATOL = 1e-8

#: rows summarised at once: small enough for the per-position temporaries to stay in cache
BLOCK_ROWS = 2048

#: canonical statistic names
NAMES = ("minimum", "maximum", "range", "mean", "avg_dev", "mode", "var", "sum", "gmean", "hmean")
#: other accepted spellings (XenonPy's abbreviations)
ALIASES = {"min": "minimum", "max": "maximum", "ave": "mean", "average": "mean"}


def canonical(stat: str) -> str:
    """The canonical name of a statistic (accepts XenonPy's ``ave``, ``min``, ``max``)."""
    name = ALIASES.get(stat, stat)
    if name not in NAMES:
        raise ValueError(f"unknown statistic {stat!r}; known: {', '.join(NAMES + tuple(ALIASES))}")
    return name


def summarize(comps: Compositions, values: np.ndarray, stats: Sequence[str], *, by: str = "property",
              out: np.ndarray | None = None) -> np.ndarray:
    """Several statistics of per-entry values ``(nnz, p)`` at once.

    Returns ``(n, len(stats) * p)``: with ``by="property"`` the columns run over statistics within
    each property (matminer's order), with ``by="statistic"`` over properties within each statistic
    (XenonPy's order). ``out``, when given, receives the result (C-contiguous, right shape).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != len(comps.z):
        raise ValueError(f"values must have shape (nnz={len(comps.z)}, p), got {values.shape}")
    return _summarize(comps, lambda entries: values[entries], values.shape[1], stats, by, out)


def summarize_table(comps: Compositions, table: np.ndarray, stats: Sequence[str], *, by: str = "property",
                    out: np.ndarray | None = None, layout: str = "rows") -> np.ndarray:
    """Like :func:`summarize`, for a table of element properties indexed by atomic number.

    ``table`` has shape ``(119, p)`` (row ``Z`` holds element ``Z``; row 0 is unused). The values
    are gathered straight from the table, once per element position, never as an ``(nnz, p)`` copy.
    ``layout="columns"`` writes the transposed result, one feature per row, into ``out`` (required,
    shape ``(len(stats) * p, n)``): what a column store such as Parquet takes, without transposing
    a row-major copy afterwards (``matloop featurize`` to Parquet). The same values, bit for bit.
    """
    table = np.ascontiguousarray(table, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] <= int(comps.z.max(initial=0)):
        raise ValueError(f"table must have shape (119, p), got {table.shape}")
    z = comps.z.astype(np.intp)
    return _summarize(comps, lambda entries: table[z[entries]], table.shape[1], stats, by, out, layout)


# --------------------------------------------------------------------------- kernel
def _summarize(comps: Compositions, gather: Callable[[np.ndarray], np.ndarray], p: int,
               stats: Sequence[str], by: str, out: np.ndarray | None, layout: str = "rows") -> np.ndarray:
    names = [canonical(s) for s in stats]
    if by not in ("property", "statistic"):
        raise ValueError(f"by must be 'property' or 'statistic', got {by!r}")
    n, n_stats = len(comps), len(names)
    if layout == "columns":
        if out is None or out.shape != (n_stats * p, n):
            raise ValueError(f"layout='columns' needs out of shape {(n_stats * p, n)}")
    elif layout != "rows":
        raise ValueError(f"layout must be 'rows' or 'columns', got {layout!r}")
    elif out is None:
        out = np.empty((n, n_stats * p))
    elif out.shape != (n, n_stats * p) or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous array of shape {(n, n_stats * p)}")
    if n == 0 or n_stats == 0:
        return out

    for start in range(0, n, BLOCK_ROWS):  # blocks small enough for the temporaries to stay in cache
        stop = min(start + BLOCK_ROWS, n)
        _summarize_block(comps.indptr[start : stop + 1], comps.amount, gather, p, names, by,
                         out[:, start:stop] if layout == "columns" else out[start:stop], layout)
    return out


def _summarize_block(indptr: np.ndarray, amount: np.ndarray, gather, p: int, names: list[str], by: str,
                     out: np.ndarray, layout: str = "rows") -> None:
    """Statistics of the rows whose entries start at ``indptr`` (global entry positions); ``out`` is
    ``(rows, features)``, or ``(features, rows)`` for ``layout="columns"``."""
    n, n_stats = len(indptr) - 1, len(names)
    counts = np.diff(indptr)
    order = np.argsort(-counts, kind="stable")  # rows by decreasing number of elements
    tally = np.bincount(counts)
    n_after = np.cumsum(tally[::-1])[::-1]  # n_after[j] = rows with at least j elements
    m = int(n_after[1]) if len(n_after) > 1 else 0  # rows with at least one element
    if m == 0:
        out[:] = np.nan
        return
    if layout == "columns":
        _columns_block(n, m, order, names, p, by, _accumulate_block(indptr, amount, gather, p, names, order,
                                                                    tally, n_after, m), out)
        return
    starts = indptr[:-1][order[:m]]
    # entries[j]: the j-th element of every row with more than j elements (a prefix of `order`)
    entries = [starts[: int(n_after[j + 1])] + j for j in range(len(tally) - 1)]
    amounts = [amount[e] for e in entries]

    # rows in sorted order, columns already in the output's order
    res = np.empty((n, n_stats, p)) if by == "statistic" else np.empty((n, p, n_stats))
    res[m:] = np.nan
    view = res[:m] if by == "statistic" else res[:m].transpose(0, 2, 1)  # (m, n_stats, p)
    results = _accumulate(names, gather, entries, amounts, m, p)
    for k, name in enumerate(names):
        view[:, k, :] = results[name]
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.arange(n)
    np.take(res.reshape(n, n_stats * p), inverse, axis=0, out=out, mode="clip")


def _accumulate_block(indptr, amount, gather, p, names, order, tally, n_after, m) -> dict[str, np.ndarray]:
    """:func:`_accumulate` over the rows of one block, given their order by decreasing size."""
    starts = indptr[:-1][order[:m]]
    entries = [starts[: int(n_after[j + 1])] + j for j in range(len(tally) - 1)]
    return _accumulate(names, gather, entries, [amount[e] for e in entries], m, p)


def _columns_block(n: int, m: int, order: np.ndarray, names: list[str], p: int, by: str,
                   results: dict[str, np.ndarray], out: np.ndarray) -> None:
    """The statistics (rows in sorted order) put into ``out`` one feature per row, in the original
    row order; rows without elements (sorted last) get NaN. The same copies of the same values as
    the row layout, in another arrangement."""
    n_stats = len(names)
    stacked = np.empty((n_stats, p, m + 1) if by == "statistic" else (p, n_stats, m + 1))  # + a NaN column
    stacked[..., m] = np.nan
    for k, name in enumerate(names):
        (stacked[k] if by == "statistic" else stacked[:, k])[:, :m] = results[name].T
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.arange(n)
    out[...] = np.take(stacked.reshape(n_stats * p, m + 1), np.minimum(inverse, m), axis=1)


def _accumulate(names, gather, entries, amounts, m, p) -> dict[str, np.ndarray]:
    """All requested statistics, rows in sorted order (``m`` non-empty rows)."""
    want = set(names)
    if "range" in want:
        want |= {"minimum", "maximum"}
    second_pass = bool(want & {"avg_dev", "var"})
    need_sum = bool(want & {"mean", "sum", "avg_dev", "var"})
    total = np.zeros(m)
    amax = np.full(m, -np.inf)
    for e, a in zip(entries, amounts, strict=True):
        total[: len(e)] += a
        np.maximum(amax[: len(e)], a, out=amax[: len(e)])

    acc: dict[str, np.ndarray] = {}
    if need_sum:
        acc["sum"] = np.zeros((m, p))
    if "mode" in want:
        acc["mode"] = np.full((m, p), np.inf)
        tol = MODE_ATOL + MODE_RTOL * np.abs(amax)
    if "gmean" in want:
        g_log, g_negexp = np.zeros((m, p)), np.zeros((m, p))
        g_zero, g_nan = np.zeros((m, p), dtype=bool), np.zeros((m, p), dtype=bool)
    if "hmean" in want:
        acc["hmean"] = np.zeros((m, p))
    kept = []
    buf = np.empty((m, p))  # scratch, reused at every position
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for j, (e, a) in enumerate(zip(entries, amounts, strict=True)):
            r = len(e)
            x = gather(e)  # (r, p): the j-th element of the first r rows
            if second_pass:
                kept.append(x)
            ac = a[:, None]
            for name, ufunc in (("minimum", np.minimum), ("maximum", np.maximum)):
                if name in want:
                    if j == 0:  # the first position covers every non-empty row
                        acc[name] = x.copy()
                    else:
                        ufunc(acc[name][:r], x, out=acc[name][:r])
            if need_sum:
                acc["sum"][:r] += np.multiply(x, ac, out=buf[:r])
            if "mode" in want:  # only the rows where this element is (one of) the most abundant
                tie = np.flatnonzero(np.abs(a - amax[:r]) <= tol[:r])
                acc["mode"][tie] = np.minimum(acc["mode"][tie], x[tie])
            if "gmean" in want:
                ax = np.abs(x)
                g_log[:r] += ac * np.log(np.where(ax > 0, ax, 1.0))
                g_zero[:r] |= x == 0
                neg = x < 0
                g_negexp[:r] += np.where(neg, ac, 0.0)
                g_nan[:r] |= (neg & (a != np.round(a))[:, None]) | np.isnan(x)
            if "hmean" in want:
                acc["hmean"][:r] += ac * (1.0 / x)  # XenonPy: w . (1 / x)

        tot = total[:, None]
        results: dict[str, np.ndarray] = {}
        if need_sum:
            mean = acc["sum"] / tot
            results["mean"], results["sum"] = mean, acc["sum"]
        if second_pass:
            dev = np.zeros((m, p)) if "avg_dev" in want else None
            sq = np.zeros((m, p)) if "var" in want else None
            for x, a in zip(kept, amounts, strict=True):  # x is ours to overwrite now
                r, ac = len(a), a[:, None]
                d = np.subtract(x, mean[:r], out=x)
                if sq is not None:
                    sq[:r] += np.multiply(np.multiply(d, d, out=buf[:r]), ac, out=buf[:r])
                if dev is not None:
                    dev[:r] += np.multiply(np.abs(d, out=d), ac, out=d)
            if dev is not None:
                results["avg_dev"] = dev / tot
            if sq is not None:
                results["var"] = sq / tot
        for name in ("minimum", "maximum", "mode"):
            if name in acc:
                results[name] = acc[name]
        if "range" in want:
            results["range"] = acc["maximum"] - acc["minimum"]
        if "gmean" in want:
            results["gmean"] = _gmean(g_log, g_negexp, g_zero, g_nan, total)
        if "hmean" in want:
            results["hmean"] = tot / acc["hmean"]
    return results


def _gmean(log_sum, neg_exponent, any_zero, any_nan, total) -> np.ndarray:
    """``prod(x^a)^(1/N)`` from log-space sums, with numpy's sign rules for the literal formula."""
    root = (1.0 / total)[:, None]
    value = np.exp(log_sum / total[:, None])
    negative = np.mod(neg_exponent, 2.0) == 1.0  # product of x^a is negative
    root_is_int = root == np.round(root)
    sign = np.where(np.mod(root, 2.0) == 1.0, -1.0, 1.0)  # (-|P|)^k for an integer k
    value = np.where(negative, np.where(root_is_int, sign * value, np.nan), value)
    value = np.where(any_zero, 0.0, value)
    return np.where(any_nan, np.nan, value)


# --------------------------------------------------------------------------- one statistic
def weighted_mean(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Amount-weighted mean (matminer ``mean``, XenonPy ``ave``)."""
    return summarize(comps, values, ["mean"])


def weighted_sum(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Amount-weighted sum, with amounts as written (XenonPy ``sum``)."""
    return summarize(comps, values, ["sum"])


def minimum(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Smallest value among the elements present."""
    return summarize(comps, values, ["minimum"])


def maximum(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Largest value among the elements present."""
    return summarize(comps, values, ["maximum"])


def value_range(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Largest minus smallest value."""
    return summarize(comps, values, ["range"])


def mean_absolute_deviation(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Amount-weighted mean absolute deviation from the weighted mean (matminer ``avg_dev``)."""
    return summarize(comps, values, ["avg_dev"])


def weighted_variance(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Amount-weighted variance about the weighted mean (XenonPy ``var``)."""
    return summarize(comps, values, ["var"])


def mode(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Value of the most abundant element; ties (``np.isclose`` amounts) give the smallest value."""
    return summarize(comps, values, ["mode"])


def geometric_mean(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Amount-weighted geometric mean (XenonPy ``gmean``; see the module notes on signs)."""
    return summarize(comps, values, ["gmean"])


def harmonic_mean(comps: Compositions, values: np.ndarray) -> np.ndarray:
    """Amount-weighted harmonic mean (XenonPy ``hmean``); a zero value gives 0."""
    return summarize(comps, values, ["hmean"])


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
