"""Uncertainty metrics: hand values, closed forms and an independent numerical integration."""

import numpy as np
import pytest
from scipy import stats

from matloop import InputError
from matloop.evaluate import uncertainty_metrics as U


def _sample(n, true_sd, claimed_sd, seed=0):
    rng = np.random.default_rng(seed)
    pred = rng.normal(size=n)
    y = pred + rng.normal(0, true_sd, n)
    return y, pred, np.full(n, claimed_sd)


def test_perfect_predictions_with_positive_std_have_area_half():
    # observed proportion is 1 for every expected p: area = integral of (1 - p) = 0.5 exactly
    y = np.arange(10.0)
    assert U.miscalibration_area(y, y, np.ones(10)) == pytest.approx(0.5)


@pytest.mark.parametrize("ratio", [0.5, 1.0, 2.0])
def test_area_matches_closed_form(ratio):
    # model claims sd 1 while errors have sd `ratio`; observed(p) = 2 Phi(q_p / ratio) - 1
    y, p, s = _sample(200_000, ratio, 1.0)
    grid = np.linspace(0, 1, 100_001)
    expected_curve = 2 * stats.norm.cdf(stats.norm.ppf(0.5 + grid / 2) / ratio) - 1
    exact = np.trapezoid(np.abs(expected_curve - grid), grid)
    assert U.miscalibration_area(y, p, s) == pytest.approx(exact, abs=0.006)
    if ratio == 1.0:
        assert U.miscalibration_area(y, p, s) < 0.01


def test_area_is_exact_integral_of_piecewise_linear_curve():
    # a curve that crosses the diagonal: compare with dense linear interpolation
    rng = np.random.default_rng(3)
    y, p = rng.normal(size=500), np.zeros(500)
    s = np.where(rng.uniform(size=500) < 0.5, 0.3, 3.0)  # mixture: crosses the diagonal
    curve = U.calibration_curve(y, p, s, n_bins=100)
    e, o = curve["expected"].to_numpy(), curve["observed"].to_numpy()
    fine = np.linspace(0, 1, 2_000_001)
    dense = np.abs(np.interp(fine, e, o) - fine)
    assert U.miscalibration_area(y, p, s) == pytest.approx(np.trapezoid(dense, fine), abs=1e-6)
    assert np.all(np.diff(o) >= 0) and o[0] == 0 and o[-1] == 1


def test_quantile_calibration_curve():
    y, p, s = _sample(50_000, 1.0, 1.0, seed=4)
    curve = U.calibration_curve(y, p, s, n_bins=11, prop_type="quantile")
    np.testing.assert_allclose(curve["observed"], curve["expected"], atol=0.01)


def test_nll_sharpness_coverage_and_ranking():
    y, p, s = _sample(20_000, 1.0, 1.0, seed=5)
    s = s * np.random.default_rng(6).uniform(0.5, 1.5, len(s))
    m = U.uncertainty_metrics(y, p, s)
    assert tuple(m) == U.UNCERTAINTY_METRICS
    assert m["nll"] == pytest.approx(-np.mean(stats.norm.logpdf(y, p, s)))
    assert m["sharpness"] == pytest.approx(np.mean(s))
    assert m["coverage_68"] == pytest.approx(np.mean(np.abs(y - p) <= s))
    assert m["coverage_95"] == pytest.approx(np.mean(np.abs(y - p) <= 1.959964 * s), abs=1e-4)
    assert U.coverage(y, p, s, level=0.5) == pytest.approx(np.mean(np.abs(y - p) <= 0.6744898 * s), abs=1e-4)
    # errors drawn with sd 1 do not follow s: no ranking; errors that follow s: strong ranking
    assert abs(m["spearman_error_std"]) < 0.05
    rng = np.random.default_rng(7)
    y2 = p + rng.normal(size=len(p)) * s
    assert U.error_std_spearman(y2, p, s) > 0.1
    assert U.coverage(y2, p, s) == pytest.approx(0.95, abs=0.01)


def test_zero_std_and_bad_input():
    assert U.gaussian_nll([1.0, 2.0], [1.0, 2.5], [0.0, 1.0]) == np.inf
    assert U.gaussian_nll([1.0, 2.0], [1.5, 2.5], [1.0, 0.0]) == np.inf
    assert U.uncertainty_metrics([1.0, 2.0], [1.0, 2.5], [0.0, 1.0])["nll"] == np.inf
    assert U.coverage([1.0, 2.0], [1.0, 2.5], [0.0, 1.0]) == 1.0  # exact point counts as covered
    with pytest.raises(InputError) as err:
        U.uncertainty_metrics([1, 2, 3], [1, 2, 3], [1.0, -1.0, 1.0])
    assert err.value.table["row"].tolist() == [2]
    assert U.interval_coverage([1, 2, 3], [0, 2.5, 2], [2, 3, 3]) == pytest.approx(2 / 3)
    assert U.interval_width([0, 1], [2, 2]) == pytest.approx(1.5)
