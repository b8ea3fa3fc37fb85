"""ResidualDistribution / PredictiveDistribution: calibrated on heavy tails and at a bound, intervals
inside the bounds, and the bounds helpers' errors."""

import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone

from matloop.errors import InputError
from matloop.evaluate.uncertainty_metrics import distribution_metrics, miscalibration_area
from matloop.models.predictive import (
    ResidualDistribution,
    check_bounds,
    clip_to_bounds,
    detect_bounds,
    parse_bounds,
)


def _heavy(n: int, seed: int):
    """Predictions 0..10 with std 1..3 and Student-t(2.5) errors scaled by the std."""
    rng = np.random.default_rng(seed)
    pred = rng.uniform(0, 10, n)
    std = rng.uniform(1, 3, n)
    return pred, std, pred + std * rng.standard_t(2.5, n)


def test_contract_fit_returns_self_clones_and_keeps_sorted_scores():
    pred, std, y = _heavy(600, 0)
    rd = ResidualDistribution(n_bins=1)
    assert rd.fit(pred, std, y) is rd
    assert clone(rd).get_params() == {"n_bins": 1, "min_bin": 400, "tail_weight": 0.05}
    assert len(rd.scores_) == 600 and np.all(np.diff(rd.scores_) >= 0)
    assert rd.offsets_.tolist() == [0, 600] and rd.cumweights_[-1] == 1
    with pytest.raises(ValueError, match="same length"):
        ResidualDistribution().fit(pred, std[:-1], y)
    with pytest.raises(ValueError, match="finite"):
        ResidualDistribution().fit(pred, std, np.where(np.arange(600) == 3, np.nan, y))


def test_heavy_tails_calibrated_where_the_rescaled_gaussian_is_not():
    pred, std, y = _heavy(3000, 1)
    rd = ResidualDistribution().fit(pred, std, y)
    tp, ts, ty = _heavy(3000, 2)
    m = distribution_metrics(ty, tp, rd.distribution(tp, ts), ts)
    assert m["miscalibration_area"] < 0.03
    assert 0.93 <= m["coverage_95"] <= 0.97
    assert 0.64 <= m["coverage_68"] <= 0.73
    # the Palmer-style rescaled Gaussian on the same residuals: too wide in the middle
    scale = np.sqrt(np.mean(((y - pred) / std) ** 2))
    assert miscalibration_area(ty, tp, ts * scale) > 3 * m["miscalibration_area"]
    assert np.isfinite(m["nll"])


def test_censored_at_zero_has_an_atom_with_the_right_mass_and_nonnegative_intervals():
    rng = np.random.default_rng(3)

    def draw(n):
        pred = rng.uniform(-1, 3, n)  # the latent mean: the truth is max(0, pred + N(0, 1))
        return np.maximum(pred, 0), np.ones(n), np.maximum(0, pred + rng.normal(size=n)), pred

    p, s, y, _ = draw(4000)
    rd = ResidualDistribution(n_bins=4, min_bin=200).fit(p, s, y, lower=0.0)
    tp, ts, ty, latent = draw(4000)
    dist = rd.distribution(tp, ts, bounds=(0.0, None))
    lower, upper = dist.interval(0.95)
    assert lower.min() >= 0 and np.all(upper >= lower)
    assert np.all(dist.ppf(0.01) >= 0)
    # P(y = 0) from the distribution against the fraction of exact zeros, in bands of the prediction
    p0 = dist.prob_at_lower()
    for band in (tp == 0, (tp > 0) & (tp < 1), tp >= 1):
        assert abs(p0[band].mean() - np.mean(ty[band] == 0)) < 0.05
    m = distribution_metrics(ty, tp, dist)
    assert m["miscalibration_area"] < 0.03
    assert 0.93 <= m["coverage_95"] <= 0.97  # the atom is held whole, the interval is still 95 %
    left, right = dist.cdf_limits(np.zeros(len(tp)))
    assert np.all(left == 0) and np.allclose(right, p0)


def test_bands_follow_errors_that_change_with_the_prediction():
    rng = np.random.default_rng(4)

    def draw(n):
        pred = rng.uniform(0, 10, n)
        return pred, np.ones(n), pred + np.where(pred < 5, 0.2, 2.0) * rng.normal(size=n)

    tp, ts, ty = draw(3000)
    one = ResidualDistribution(n_bins=1).fit(*draw(3000)).distribution(tp, ts)
    two = ResidualDistribution(n_bins=2, min_bin=100).fit(*draw(3000)).distribution(tp, ts)
    hi = tp >= 5
    cover = {}
    for name, d in (("one", one), ("two", two)):
        lo, up = d.interval(0.95)
        cover[name] = np.mean((ty[hi] >= lo[hi]) & (ty[hi] <= up[hi]))
    assert cover["one"] < 0.92 and 0.93 <= cover["two"] <= 0.97


def test_quantiles_monotone_inside_bounds_and_mean_median_consistent():
    pred, std, y = _heavy(800, 5)
    rd = ResidualDistribution().fit(pred, std, y)
    dist = rd.distribution(pred[:50], std[:50], bounds=(1.0, 8.0))
    q = dist.ppf([0.05, 0.25, 0.5, 0.75, 0.95])
    assert q.shape == (50, 5) and np.all(np.diff(q, axis=1) >= 0)
    assert q.min() >= 1.0 and q.max() <= 8.0
    assert np.all((dist.mean() >= 1) & (dist.mean() <= 8))
    assert np.array_equal(dist.median(), q[:, 2])
    with pytest.raises(ValueError):
        dist.ppf(1.5)
    with pytest.raises(ValueError):
        dist.interval(1.0)
    lp = dist.logpdf(np.clip(y[:50], 1, 8))
    assert np.all(np.isfinite(lp))


def test_bounds_helpers():
    assert parse_bounds("0:") == (0.0, None)
    assert parse_bounds(":100") == (None, 100.0)
    assert parse_bounds(" 0 : 1 ") == (0.0, 1.0)
    assert parse_bounds("auto") == "auto" and parse_bounds("none") is None
    for bad in ("0", "a:b", ":", "1:0", "0:1:2"):
        with pytest.raises(ValueError):
            parse_bounds(bad)
    assert check_bounds((0, np.inf)) == (0.0, None)
    with pytest.raises(ValueError, match="NaN"):
        check_bounds((np.nan, 1))
    assert detect_bounds(np.array([0.0, 1.2, 3.0])) == (0.0, None)
    assert detect_bounds(np.array([-0.1, 1.2])) == (None, None)
    assert detect_bounds(np.array([0.0, 1.2]), None) == (None, None)
    with pytest.raises(InputError) as err:
        detect_bounds(np.array([0.5, 1.5, -2.0]), (0, 1))
    assert err.value.table["row"].tolist() == [2, 3]
    assert np.array_equal(clip_to_bounds(np.array([-1.0, 0.5, 2.0]), (0.0, 1.0)), [0.0, 0.5, 1.0])
    assert np.array_equal(clip_to_bounds(np.array([-1.0]), None), [-1.0])


def test_gaussian_scores_reproduce_a_gaussian_calibration():
    rng = np.random.default_rng(6)
    pred, std = rng.uniform(0, 1, 4000), rng.uniform(0.5, 1.5, 4000)
    y = pred + std * rng.normal(size=4000)
    dist = ResidualDistribution().fit(pred, std, y).distribution(pred, std)
    lo, hi = dist.interval(0.95)
    z = (hi - pred) / std
    assert abs(np.median(z) - stats.norm.ppf(0.975)) < 0.15


def test_tail_weight_keeps_the_log_score_of_a_far_error_moderate():
    rng = np.random.default_rng(7)
    pred, std = np.zeros(1000), np.ones(1000)
    y = rng.normal(size=1000)
    far = np.array([12.0])
    plain = ResidualDistribution(tail_weight=0.0).fit(pred, std, y).distribution(np.zeros(1), np.ones(1))
    mixed = ResidualDistribution().fit(pred, std, y).distribution(np.zeros(1), np.ones(1))
    assert mixed.logpdf(far)[0] > plain.logpdf(far)[0] + 100
    # near the centre the mixture changes the density little
    assert abs(mixed.logpdf(np.zeros(1))[0] - plain.logpdf(np.zeros(1))[0]) < 0.1
