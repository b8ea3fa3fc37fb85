"""Each vectorised statistic against a plain per-row numpy reference (matminer's / XenonPy's code)."""

from __future__ import annotations

import numpy as np
import pytest

from matloop.io.formula import Compositions, parse_formulas
from matloop.represent import stats


def _random_compositions(n: int, seed: int, max_elements: int = 7, empty_every: int = 0) -> Compositions:
    """Random CSR compositions: 0..max_elements distinct elements, integer, tied and decimal amounts."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, max_elements + 1, size=n)
    if empty_every:
        counts[::empty_every] = 0
    z, amount = [], []
    for k in counts:
        z.append(np.sort(rng.choice(np.arange(1, 95), size=k, replace=False)))
        kind = rng.integers(0, 4)
        if kind == 0:  # small integers: many exact ties
            a = rng.integers(1, 4, size=k).astype(float)
        elif kind == 1:  # decimals
            a = np.round(rng.uniform(0.001, 3.0, size=k), 3)
        elif kind == 2:  # near-ties inside and outside np.isclose's tolerance
            a = np.full(k, 2.0) + rng.choice([0.0, 1e-7, 1e-3], size=k)
        else:  # one dominant element and traces, like steels
            a = np.r_[0.7, rng.uniform(1e-5, 1e-2, size=max(k - 1, 0))][:k]
        amount.append(a)
    indptr = np.r_[0, np.cumsum(counts)]
    return Compositions(indptr, np.concatenate(z).astype(np.int16), np.concatenate(amount))


def _values(comps: Compositions, p: int, seed: int) -> np.ndarray:
    """Per-entry values: positive, negative and zero, with repeats (ties in value)."""
    rng = np.random.default_rng(seed)
    v = rng.choice([-2.0, -0.5, 0.0, 0.75, 1.0, 1.5, 3.0], size=(len(comps.z), p))
    v[:, 0] = np.round(rng.uniform(0.5, 3.0, size=len(comps.z)), 2)  # a strictly positive property
    return v


def _reference(name: str, x: np.ndarray, a: np.ndarray) -> float:
    """The statistic of one row, written as matminer's PropertyStats / XenonPy's featurizers do."""
    with np.errstate(all="ignore"):
        if name == "minimum":
            return min(x) if not np.any(np.isnan(x)) else np.nan
        if name == "maximum":
            return max(x) if not np.any(np.isnan(x)) else np.nan
        if name == "range":
            return max(x) - min(x) if not np.any(np.isnan(x)) else np.nan
        if name == "mean":
            return np.average(x, weights=a)
        if name == "avg_dev":
            return np.average(np.abs(np.subtract(x, np.average(x, weights=a))), weights=a)
        if name == "mode":
            return x[np.isclose(a, a.max())].min()
        if name == "var":
            w = a / np.sum(a)
            return w.dot((x - w.dot(x)) ** 2)
        if name == "sum":
            return a.dot(x)
        if name == "gmean":
            return np.power(np.prod(x ** a), 1 / np.sum(a))
        if name == "hmean":
            return np.sum(a) / sum(ai * (1 / xi) for ai, xi in zip(a, x, strict=True))
    raise AssertionError(name)


def _reference_matrix(name: str, comps: Compositions, values: np.ndarray) -> np.ndarray:
    out = np.full((len(comps), values.shape[1]), np.nan)
    for i in range(len(comps)):
        lo, hi = comps.indptr[i], comps.indptr[i + 1]
        if hi > lo:
            for j in range(values.shape[1]):
                out[i, j] = _reference(name, values[lo:hi, j], comps.amount[lo:hi])
    return out


@pytest.fixture(scope="module")
def data():
    comps = _random_compositions(600, seed=1, empty_every=97)
    return comps, _values(comps, 5, seed=2)


@pytest.mark.parametrize("name", stats.NAMES)
def test_each_statistic_matches_per_row_reference(data, name):
    comps, values = data
    ours = stats.STATISTICS[name](comps, values)
    ref = _reference_matrix(name, comps, values)
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=f"NaN pattern of {name}")
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(ours[ok], ref[ok], rtol=1e-9, atol=1e-12)


def test_summarize_orders_and_matches_single_statistics(data):
    comps, values = data
    names = ["minimum", "ave", "mode", "var", "max"]
    by_property = stats.summarize(comps, values, names, by="property")
    by_stat = stats.summarize(comps, values, names, by="statistic")
    p = values.shape[1]
    for k, name in enumerate(names):
        single = stats.STATISTICS[stats.canonical(name)](comps, values)
        np.testing.assert_array_equal(by_property[:, k::len(names)], single)
        np.testing.assert_array_equal(by_stat[:, k * p:(k + 1) * p], single)


def test_summarize_table_equals_per_entry_values(data):
    comps, _ = data
    table = np.random.default_rng(3).normal(size=(119, 4))
    out = np.empty((len(comps), 3 * 4))
    got = stats.summarize_table(comps, table, ["mean", "range", "avg_dev"], out=out)
    assert got is out
    np.testing.assert_array_equal(out, stats.summarize(comps, table[comps.z], ["mean", "range", "avg_dev"]))


def test_mode_ties_follow_matminer():
    comps = parse_formulas(["Fe2O2", "Fe2O3", "O2Fe1.9999999", "NaCl", "Fe1.5O1.5001"])
    values = comps.z.astype(float)[:, None]  # the property is the atomic number
    got = stats.mode(comps, values)[:, 0]
    # exact tie -> smaller value; clear winner; isclose tie (1e-7 relative); NaCl tie; 1e-4 is no tie
    np.testing.assert_array_equal(got, [8, 8, 8, 11, 8])


def test_empty_rows_and_nan_values():
    comps = Compositions(np.array([0, 2, 2, 3]), np.array([8, 26, 11], dtype=np.int16), np.array([3.0, 2.0, 1.0]))
    values = np.array([[1.0], [np.nan], [4.0]])
    res = stats.summarize(comps, values, ["minimum", "mean", "sum", "mode"], by="statistic")
    assert np.isnan(res[1]).all()  # empty row
    # a NaN value propagates to minimum, mean and sum; mode only looks at the most abundant (O)
    np.testing.assert_array_equal(np.isnan(res[0]), [True, True, True, False])
    assert res[0, 3] == 1.0
    np.testing.assert_array_equal(res[2], [4.0, 4.0, 4.0, 4.0])


def test_gmean_hmean_non_positive_values_as_xenonpy():
    comps = parse_formulas(["Fe2O3", "NaCl", "Fe", "Fe2", "Fe0.5O", "FeO"])
    # per-entry values: Fe2O3 (-2, -8), NaCl (-2, -8), Fe (-3), Fe2 (-3), Fe0.5O (-2, 4), FeO (0, 5)
    values = np.array([[-2.0], [-8.0], [-2.0], [-8.0], [-3.0], [-3.0], [-2.0], [4.0], [0.0], [5.0]])
    g = stats.geometric_mean(comps, values)[:, 0]
    with np.errstate(invalid="ignore"):
        expected = [np.power(4 * -512.0, 1 / 5), 4.0, -3.0, 3.0, np.nan, 0.0]
    np.testing.assert_allclose(g, expected, rtol=1e-12)
    h = stats.harmonic_mean(comps, values)[:, 0]
    assert h[5] == 0.0  # a zero value gives 0, as 1/0 = inf in XenonPy's code
    np.testing.assert_allclose(h[1], 2 / (1 / -2 + 1 / -8))


def test_many_elements_and_large_columns():
    comps = _random_compositions(3000, seed=4, max_elements=16)
    values = _values(comps, 2, seed=5)
    got = stats.summarize(comps, values, ["maximum", "mean"], by="statistic")
    np.testing.assert_allclose(got[:, :2], _reference_matrix("maximum", comps, values))
    np.testing.assert_allclose(got[:, 2:], _reference_matrix("mean", comps, values), rtol=1e-12)


def test_bad_arguments():
    comps = parse_formulas(["NaCl"])
    with pytest.raises(ValueError, match="unknown statistic 'median'"):
        stats.summarize(comps, np.ones((2, 1)), ["median"])
    with pytest.raises(ValueError, match="values must have shape"):
        stats.summarize(comps, np.ones((3, 1)), ["mean"])
    with pytest.raises(ValueError, match="by must be"):
        stats.summarize(comps, np.ones((2, 1)), ["mean"], by="row")
