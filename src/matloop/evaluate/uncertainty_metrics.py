"""How good are predicted uncertainties? Calibration, sharpness, likelihood, coverage, ranking.

Each predicted ``std`` is read as a Gaussian ``N(pred, std^2)``. The metrics follow Tran et al.
(2020, Mach. Learn.: Sci. Technol. 1, 025006) and the uncertainty-toolbox definitions (Chung et al.
2021):

- **calibration curve**: for expected proportions ``p`` in ``[0, 1]``, the observed fraction of true
  values inside the central Gaussian interval of probability ``p`` (``prop_type="interval"``, the
  uncertainty-toolbox default) or below the ``p`` quantile (``prop_type="quantile"``, Tran et al.'s
  cumulative form). A calibrated model lies on the diagonal.
- **miscalibration area**: area between the calibration curve and the diagonal (0 is perfect,
  0.5 the worst), integrated exactly between grid points, including where the curves cross.
- **nll**: mean Gaussian negative log-likelihood (lower is better; rewards calibration and sharpness).
- **sharpness**: mean predicted std (lower is sharper; meaningful only beside calibration). Note that
  uncertainty-toolbox reports the root-mean-square std instead.
- **coverage_68 / coverage_95**: fraction of true values within ``pred +- 1 std`` (nominal 68.3 %)
  and ``pred +- 1.96 std`` (nominal 95 %).
- **spearman_error_std**: Spearman correlation of ``|error|`` with ``std``: does a larger std
  flag a larger error (ranking ability, independent of scale)?

A predictive distribution that is not Gaussian (:class:`matloop.models.predictive.PredictiveDistribution`:
skewed, heavy-tailed, with an atom at a bound such as a band gap of zero) is scored by
:func:`distribution_metrics` through its probability integral transform (PIT) ``u = F(y)``: the
calibration curve counts the ``u`` inside the central interval ``[(1-p)/2, (1+p)/2]`` (or below
``p``), the same definition as above for a Gaussian, where ``u = Phi(z)``. At an atom ``u`` is the
randomised PIT, uniform on ``[F(y-), F(y)]`` (Czado, Gneiting & Held 2009, Biometrics 65, 1254),
counted by its expected share, so no random numbers are drawn. Coverage is that of the
distribution's own central intervals, and ``nll`` its log score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from matloop.errors import InputError, error_table
from matloop.evaluate.metrics import as_float_array, spearman

__all__ = [
    "UNCERTAINTY_METRICS",
    "calibration_curve",
    "miscalibration_area",
    "gaussian_nll",
    "sharpness",
    "coverage",
    "interval_coverage",
    "interval_width",
    "error_std_spearman",
    "uncertainty_metrics",
    "pit_calibration_curve",
    "distribution_metrics",
]

UNCERTAINTY_METRICS = ("miscalibration_area", "nll", "sharpness", "coverage_68", "coverage_95",
                       "spearman_error_std")
Z_95 = float(stats.norm.ppf(0.975))


def _triple(y_true: object, y_pred: object, std: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = as_float_array(y_true, "y_true")
    p = as_float_array(y_pred, "y_pred")
    s = as_float_array(std, "std")
    if not len(y) == len(p) == len(s):
        raise InputError(f"y_true, y_pred and std have different lengths ({len(y)}, {len(p)}, {len(s)})")
    if len(y) == 0:
        raise InputError("cannot score an empty set of predictions")
    neg = s < 0
    if neg.any():
        records = [{"row": int(i) + 1, "column": "std", "value": s[i], "reason": "negative standard deviation"}
                   for i in np.flatnonzero(neg)]
        raise InputError("standard deviations must be non-negative", error_table(records))
    return y, p, s


def _z(y: np.ndarray, p: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Standardised residuals; a zero std gives +-inf (or 0 when the prediction is exact)."""
    r = y - p
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r == 0, 0.0, r / s)


def calibration_curve(
    y_true: object, y_pred: object, std: object, n_bins: int = 100, prop_type: str = "interval"
) -> pd.DataFrame:
    """Expected vs observed proportion on ``n_bins`` evenly spaced proportions in ``[0, 1]``.

    Returns a DataFrame with columns ``expected`` and ``observed``.
    """
    if prop_type not in ("interval", "quantile"):
        raise ValueError(f"prop_type must be 'interval' or 'quantile', got {prop_type!r}")
    if n_bins < 2:
        raise ValueError("n_bins must be at least 2")
    y, p, s = _triple(y_true, y_pred, std)
    z = _z(y, p, s)
    expected = np.linspace(0.0, 1.0, n_bins)
    if prop_type == "interval":
        # |z| <= ppf(0.5 + p/2): count via the sorted |z| (no n x n_bins matrix)
        bounds = stats.norm.ppf(0.5 + expected / 2.0)
        observed = np.searchsorted(np.sort(np.abs(z)), bounds, side="right") / len(z)
    else:
        bounds = stats.norm.ppf(expected)
        observed = np.searchsorted(np.sort(z), bounds, side="right") / len(z)
    return pd.DataFrame({"expected": expected, "observed": observed})


def _area_between(x: np.ndarray, d: np.ndarray) -> float:
    """Integral of ``|d|`` for ``d`` piecewise linear on ``x`` (exact where it changes sign)."""
    dx = np.diff(x)
    d0, d1 = d[:-1], d[1:]
    a0, a1 = np.abs(d0), np.abs(d1)
    same = d0 * d1 >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = dx * (d0**2 + d1**2) / (2.0 * (a0 + a1))
    seg = np.where(same, dx * (a0 + a1) / 2.0, crossing)
    return float(np.sum(seg))


def miscalibration_area(
    y_true: object, y_pred: object, std: object, n_bins: int = 100, prop_type: str = "interval"
) -> float:
    """Area between the calibration curve and the diagonal (0 = perfectly calibrated)."""
    curve = calibration_curve(y_true, y_pred, std, n_bins=n_bins, prop_type=prop_type)
    e = curve["expected"].to_numpy()
    return _area_between(e, curve["observed"].to_numpy() - e)


def gaussian_nll(y_true: object, y_pred: object, std: object) -> float:
    """Mean negative log-likelihood of the true values under ``N(pred, std^2)``.

    Any zero std gives ``inf``: a zero-width Gaussian is no usable predictive distribution (and a
    model claiming certainty deserves the worst score, even where it happens to be exact).
    """
    y, p, s = _triple(y_true, y_pred, std)
    if np.any(s == 0):
        return float("inf")
    z = (y - p) / s
    return float(np.mean(0.5 * np.log(2.0 * np.pi) + np.log(s) + 0.5 * z**2))


def sharpness(std: object) -> float:
    """Mean predicted standard deviation."""
    s = as_float_array(std, "std")
    if len(s) == 0:
        raise InputError("cannot score an empty set of predictions")
    return float(np.mean(s))


def coverage(y_true: object, y_pred: object, std: object, level: float = 0.95) -> float:
    """Fraction of true values inside the central Gaussian interval of probability ``level``."""
    if not 0 < level < 1:
        raise ValueError("level must lie in (0, 1)")
    y, p, s = _triple(y_true, y_pred, std)
    return float(np.mean(np.abs(_z(y, p, s)) <= stats.norm.ppf(0.5 + level / 2.0)))


def interval_coverage(y_true: object, lower: object, upper: object) -> float:
    """Fraction of true values with ``lower <= y <= upper`` (explicit, e.g. conformal, intervals)."""
    y = as_float_array(y_true, "y_true")
    lo = np.asarray(lower, dtype=float).reshape(-1)
    hi = np.asarray(upper, dtype=float).reshape(-1)
    if not len(y) == len(lo) == len(hi):
        raise InputError(f"y_true, lower and upper have different lengths ({len(y)}, {len(lo)}, {len(hi)})")
    if np.any(np.isnan(lo)) or np.any(np.isnan(hi)):
        raise InputError("interval bounds contain NaN")
    return float(np.mean((y >= lo) & (y <= hi)))


def interval_width(lower: object, upper: object) -> float:
    """Mean width of explicit intervals (infinite when a bound is infinite)."""
    lo = np.asarray(lower, dtype=float).reshape(-1)
    hi = np.asarray(upper, dtype=float).reshape(-1)
    return float(np.mean(hi - lo))


def error_std_spearman(y_true: object, y_pred: object, std: object) -> float:
    """Spearman correlation between ``|error|`` and ``std`` (NaN if either is constant)."""
    y, p, s = _triple(y_true, y_pred, std)
    return spearman(np.abs(y - p), s)


def uncertainty_metrics(y_true: object, y_pred: object, std: object) -> dict[str, float]:
    """All uncertainty metrics, keyed by :data:`UNCERTAINTY_METRICS`."""
    y, p, s = _triple(y_true, y_pred, std)
    z = np.abs(_z(y, p, s))
    return {
        "miscalibration_area": miscalibration_area(y, p, s),
        "nll": gaussian_nll(y, p, s),
        "sharpness": float(np.mean(s)),
        "coverage_68": float(np.mean(z <= 1.0)),
        "coverage_95": float(np.mean(z <= Z_95)),
        "spearman_error_std": spearman(np.abs(y - p), s),
    }


def pit_calibration_curve(
    pit_left: object, pit_right: object, n_bins: int = 100, prop_type: str = "interval"
) -> pd.DataFrame:
    """Calibration curve from PIT values ``u`` known to lie uniformly in ``[pit_left, pit_right]``
    (equal ends: a continuous distribution), on ``n_bins`` proportions in ``[0, 1]``."""
    if prop_type not in ("interval", "quantile"):
        raise ValueError(f"prop_type must be 'interval' or 'quantile', got {prop_type!r}")
    if n_bins < 2:
        raise ValueError("n_bins must be at least 2")
    a = np.asarray(pit_left, dtype=float).reshape(-1)
    b = np.asarray(pit_right, dtype=float).reshape(-1)
    if len(a) != len(b) or len(a) == 0:
        raise InputError(f"PIT limits must be non-empty and of equal length ({len(a)}, {len(b)})")
    if np.any(~np.isfinite(a)) or np.any(~np.isfinite(b)) or np.any(a > b) or np.any(a < 0) or np.any(b > 1):
        raise InputError("PIT limits must satisfy 0 <= left <= right <= 1")
    expected = np.linspace(0.0, 1.0, n_bins)
    if prop_type == "interval":
        lo, hi = (1 - expected) / 2, (1 + expected) / 2
    else:
        lo, hi = np.zeros_like(expected), expected
    width = (b - a)[:, None]
    overlap = np.clip(np.minimum(b[:, None], hi) - np.maximum(a[:, None], lo), 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(width > 0, overlap / width, ((a[:, None] >= lo) & (a[:, None] <= hi)).astype(float))
    return pd.DataFrame({"expected": expected, "observed": share.mean(axis=0)})


def distribution_metrics(y_true: object, y_pred: object, dist: object, std: object | None = None) -> dict[str, float]:
    """The :data:`UNCERTAINTY_METRICS` of a predictive distribution (``cdf_limits``, ``interval``,
    ``logpdf``, as :class:`~matloop.models.predictive.PredictiveDistribution` has them).

    ``miscalibration_area`` from the PIT; ``coverage_68``/``coverage_95``: fraction of true values in
    the distribution's central 68.3 %/95 % intervals (bounds included); ``nll``: mean negative log
    score; ``sharpness`` and ``spearman_error_std`` use ``std`` when given (NaN otherwise).
    """
    y = as_float_array(y_true, "y_true")
    p = as_float_array(y_pred, "y_pred")
    if len(y) != len(p) or len(y) != len(dist):
        raise InputError(f"y_true, y_pred and the distribution have different lengths ({len(y)}, {len(p)}, "
                         f"{len(dist)})")
    left, right = dist.cdf_limits(y)
    curve = pit_calibration_curve(left, right)
    e = curve["expected"].to_numpy()
    lo68, hi68 = dist.interval(float(stats.norm.cdf(1) - stats.norm.cdf(-1)))
    lo95, hi95 = dist.interval(0.95)
    s = None if std is None else as_float_array(std, "std")
    return {
        "miscalibration_area": _area_between(e, curve["observed"].to_numpy() - e),
        "nll": float(-np.mean(dist.logpdf(y))),
        "sharpness": float(np.mean(s)) if s is not None else float("nan"),
        "coverage_68": float(np.mean((y >= lo68) & (y <= hi68))),
        "coverage_95": float(np.mean((y >= lo95) & (y <= hi95))),
        "spearman_error_std": spearman(np.abs(y - p), s) if s is not None else float("nan"),
    }
