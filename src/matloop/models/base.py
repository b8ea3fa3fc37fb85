"""Shared machinery of matloop estimators: input checks, Gaussian intervals, the noise term.

Every matloop estimator takes a numeric feature matrix (a DataFrame or an ndarray; featurization
happens upstream). Missing values (NaN) are allowed and imputed inside the model
(:class:`matloop.models.preprocessing.FeatureCleaner`); anything else that is not a finite number
(text in a feature column, infinities, a missing target) is refused with a
:class:`matloop.InputError` that lists every bad cell, instead of being silently coerced.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.stats import norm
from sklearn.base import RegressorMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.validation import validate_data

from matloop.errors import InputError, error_table

#: Smallest noise variance, relative to the target variance, so that a std is never exactly zero.
MIN_RELATIVE_NOISE_VARIANCE = 1e-8


def _column_names(X, n_columns: int) -> list[str]:
    if isinstance(X, pd.DataFrame):
        return [str(c) for c in X.columns]
    return [f"feature {j}" for j in range(n_columns)]


def _check_frame_numeric(X: pd.DataFrame) -> None:
    """Refuse text (or other non-numbers) in feature columns, listing every bad cell."""
    if all(pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t) for t in X.dtypes):
        return  # the common case, without a per-column loop (2,048 fingerprint columns cost 0.7 s)
    records = []
    for j, column in enumerate(X.columns):
        series = X.iloc[:, j]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            continue
        coerced = pd.to_numeric(series, errors="coerce")
        bad = np.flatnonzero(coerced.isna().to_numpy() & series.notna().to_numpy())
        records += [
            {"row": int(i) + 1, "column": str(column), "value": series.iloc[i],
             "reason": "feature is not a number (featurize text columns before modelling)"}
            for i in bad
        ]
    if records:
        raise InputError("feature matrix has non-numeric values", error_table(records))


def _check_no_infinity(X_original, X: np.ndarray) -> None:
    bad_rows, bad_cols = np.nonzero(np.isinf(X))
    if bad_rows.size:
        names = _column_names(X_original, X.shape[1])
        records = [
            {"row": int(i) + 1, "column": names[j], "value": float(X[i, j]),
             "reason": "infinite feature value (NaN is imputed, infinity is refused)"}
            for i, j in zip(bad_rows, bad_cols, strict=True)
        ]
        raise InputError("feature matrix has infinite values", error_table(records))


def check_features(estimator, X, *, reset: bool) -> np.ndarray:
    """Validate a numeric feature matrix and return it as a float64 ndarray (NaN allowed).

    ``reset=True`` (in ``fit``) records ``n_features_in_`` and ``feature_names_in_``;
    ``reset=False`` (in ``predict``) checks that ``X`` has the same columns.
    """
    if isinstance(X, pd.DataFrame):
        _check_frame_numeric(X)
    X_checked = validate_data(estimator, X, reset=reset, ensure_all_finite=False, dtype=np.float64)
    _check_no_infinity(X, X_checked)
    return X_checked


def check_target(y, n_samples: int) -> np.ndarray:
    """Validate a numeric regression target: 1-d, as long as X, finite (bad rows listed)."""
    y = column_or_1d_warn(y)
    name = str(y.name) if isinstance(y, pd.Series) and y.name is not None else "target"
    raw = np.asarray(y)
    if raw.ndim != 1:
        raise ValueError(f"target must be one column, got an array of shape {raw.shape}")
    if len(raw) != n_samples:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: [{n_samples}, {len(raw)}]")
    try:
        values = raw.astype(np.float64)
    except (TypeError, ValueError):  # text or pandas NA among the values: report them below
        values = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        records = [{"row": int(i) + 1, "column": name, "value": raw[i],
                    "reason": "target is missing, not a number or infinite"} for i in bad]
        raise InputError("target has missing or non-numeric values", error_table(records))
    return values


def column_or_1d_warn(y):
    """Refuse a missing target, flatten a one-column target with scikit-learn's usual warning."""
    if y is None:
        raise ValueError("this estimator requires y to be passed, but the target y is None")
    if isinstance(y, pd.DataFrame) and y.shape[1] == 1:
        y = y.iloc[:, 0]
    elif not isinstance(y, pd.Series):
        values = np.asarray(y)
        if values.ndim == 2 and values.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected; it is used as one column.",
                          DataConversionWarning, stacklevel=3)
            y = values[:, 0]
    return y


def check_min_samples(n_samples: int, minimum: int = 2) -> None:
    """Refuse training sets too small to estimate anything (the message names the sample count)."""
    if n_samples < minimum:
        raise InputError(f"at least {minimum} samples are needed to fit, got {n_samples} sample"
                         f"{'s' if n_samples != 1 else ''} (n_samples = {n_samples})")


def gaussian_interval(mean: np.ndarray, std: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Central interval of a normal distribution with the given mean, std and confidence."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    z = norm.ppf(0.5 + confidence / 2)
    return mean - z * std, mean + z * std


def calibrate_noise_scale(residuals: np.ndarray, model_variance: np.ndarray, noise_shape: np.ndarray | float = 1.0,
                          floor: float = 0.0) -> float:
    """Scale ``s`` of the noise variance ``s * g`` that makes held-out residuals consistent with it.

    Solves ``mean(r**2 / (v + s * g)) = 1`` for ``s``: the residuals ``r`` (out-of-bag or
    cross-validated, so not seen by the model that made them) divided by the predicted std
    ``sqrt(v + s * g)`` then have unit mean square. ``v`` is the model variance (the spread due
    to the finite training set), ``g`` the shape of the noise (1 for a constant noise, or a
    local estimate of the squared residual); the noise term covers measurement noise and the
    bias the model variance cannot see. If the model variance alone already over-covers the
    residuals, ``s`` is the smallest value that keeps ``s * g >= floor``.
    """
    r2 = np.asarray(residuals, dtype=float) ** 2
    v = np.maximum(np.asarray(model_variance, dtype=float), 0.0)
    g = np.broadcast_to(np.asarray(noise_shape, dtype=float), r2.shape)
    lowest = max(float(floor) / float(g.min()) if r2.size else float(floor), 1e-300)
    if r2.size == 0:
        return lowest

    def excess(s: float) -> float:
        return float(np.mean(r2 / (v + s * g))) - 1.0

    if excess(lowest) <= 0:
        return lowest
    upper = max(lowest, float(np.mean(r2 / g))) * 2.0  # excess(mean(r2 / g)) <= 0 already
    while excess(upper) > 0:  # guard only
        upper *= 2.0
    return float(brentq(excess, lowest, upper, xtol=lowest * 1e-3, rtol=1e-6))


class UncertaintyRegressorMixin(RegressorMixin):
    """Regressor that predicts a mean and a std: ``predict(X, return_std=True) -> (mean, std)``.

    Subclasses implement ``_predict_mean_var(X) -> (mean, variance)`` on a validated matrix.
    """

    def predict(self, X, return_std: bool = False):
        """Predicted mean; with ``return_std=True`` also the predictive std (never zero)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        X = check_features(self, X, reset=False)
        mean, var = self._predict_mean_var(X, return_var=return_std)
        if not return_std:
            return mean
        return mean, np.sqrt(np.maximum(var, 0.0))

    def predict_interval(self, X, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the central ``1 - alpha`` interval (Gaussian); ``alpha`` is the
        miscoverage, as in :class:`~matloop.models.conformal.ConformalRegressor`."""
        mean, std = self.predict(X, return_std=True)
        return gaussian_interval(mean, std, 1.0 - alpha)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
