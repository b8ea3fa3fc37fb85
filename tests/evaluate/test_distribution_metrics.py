"""PIT-based calibration of a predictive distribution: agrees with the Gaussian definition for a
Gaussian, handles atoms by the randomised PIT, and rejects malformed PIT limits."""

import numpy as np
import pytest
from scipy import stats

from matloop.errors import InputError
from matloop.evaluate.uncertainty_metrics import (
    calibration_curve,
    distribution_metrics,
    miscalibration_area,
    pit_calibration_curve,
)


def test_pit_curve_of_a_gaussian_equals_the_gaussian_curve():
    rng = np.random.default_rng(0)
    pred, std = rng.normal(size=500), rng.uniform(0.5, 2, 500)
    y = pred + 1.4 * std * rng.normal(size=500)  # over-confident: a visible miscalibration
    u = stats.norm.cdf((y - pred) / std)
    for prop in ("interval", "quantile"):
        ours = pit_calibration_curve(u, u, prop_type=prop)["observed"].to_numpy()
        ref = calibration_curve(y, pred, std, prop_type=prop)["observed"].to_numpy()
        assert np.max(np.abs(ours - ref)) <= 1 / 500 + 1e-12
    assert miscalibration_area(y, pred, std) > 0.05


def test_randomised_pit_at_an_atom_is_calibrated_where_a_point_pit_is_not():
    # Y = 0 with probability 0.4, else uniform(0, 1): F(0-) = 0, F(0) = 0.4
    rng = np.random.default_rng(1)
    n = 4000
    zero = rng.random(n) < 0.4
    y = np.where(zero, 0.0, rng.random(n))
    left = np.where(zero, 0.0, 0.4 + 0.6 * y)
    right = np.where(zero, 0.4, left)
    curve = pit_calibration_curve(left, right)
    e = curve["expected"].to_numpy()
    assert np.max(np.abs(curve["observed"].to_numpy() - e)) < 0.03
    point = pit_calibration_curve(right, right)  # taking F(y) at the atom: far off
    assert np.max(np.abs(point["observed"].to_numpy() - e)) > 0.2


def test_pit_limits_are_checked():
    with pytest.raises(InputError):
        pit_calibration_curve([0.5, 0.2], [0.4, 0.3])  # left > right
    with pytest.raises(InputError):
        pit_calibration_curve([0.1], [1.2])
    with pytest.raises(InputError):
        pit_calibration_curve([], [])
    with pytest.raises(ValueError):
        pit_calibration_curve([0.1], [0.2], prop_type="both")


class _Gauss:
    """A minimal Gaussian predictive distribution with the interface distribution_metrics reads."""

    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __len__(self):
        return len(self.mean)

    def cdf_limits(self, y):
        u = stats.norm.cdf((y - self.mean) / self.std)
        return u, u

    def interval(self, confidence):
        z = stats.norm.ppf(0.5 + confidence / 2)
        return self.mean - z * self.std, self.mean + z * self.std

    def logpdf(self, y):
        return stats.norm.logpdf(y, self.mean, self.std)


def test_distribution_metrics_of_a_gaussian_match_the_gaussian_metrics():
    from matloop.evaluate.uncertainty_metrics import uncertainty_metrics

    rng = np.random.default_rng(2)
    pred, std = rng.normal(size=800), rng.uniform(0.5, 2, 800)
    y = pred + std * rng.standard_t(4, size=800)
    ours = distribution_metrics(y, pred, _Gauss(pred, std), std)
    ref = uncertainty_metrics(y, pred, std)
    for key in ("miscalibration_area", "nll", "coverage_95", "coverage_68", "sharpness", "spearman_error_std"):
        assert ours[key] == pytest.approx(ref[key], abs=2e-3), key
    with pytest.raises(InputError):
        distribution_metrics(y[:-1], pred, _Gauss(pred, std))
