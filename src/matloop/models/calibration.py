"""Recalibrate a model's predicted standard deviation on cross-validated residuals.

Ensemble and GP uncertainties are often too small (or too large) by a roughly constant factor.
Palmer et al. (2022, npj Comput. Mater. 8, 115) showed that a linear map ``std' = a * std + b``,
fitted by maximising the Gaussian likelihood of *cross-validated* residuals, makes them calibrated
on new data. :class:`RecalibratedRegressor` does this around any regressor that supports
``predict(X, return_std=True)``:

1. K-fold CV: each fold's model predicts the held-out rows (mean and std);
2. fit the map on those (residual, std) pairs: ``"scale"`` (``std' = a * std``, closed-form
   maximum likelihood ``a = sqrt(mean(z^2))``), ``"linear"`` (``a * std + b``, ``b >= 0``, numerical
   maximum likelihood), or ``"isotonic"`` (a monotone map from std to the expected squared
   residual, for shapes a line cannot follow);
3. refit the model on all rows; predictions use the refitted model and the fitted map.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone

from matloop.errors import InputError, error_table

__all__ = ["RecalibratedRegressor", "predict_mean_std", "cv_predictions"]


def take_rows(X: object, idx: np.ndarray) -> object:
    """Rows ``idx`` (positions) of a DataFrame, Series or array."""
    if isinstance(X, pd.DataFrame | pd.Series):
        return X.iloc[idx]
    return np.asarray(X)[idx] if not hasattr(X, "shape") else X[idx]


def target_array(y: object) -> np.ndarray:
    """A finite 1-D float target, or :class:`InputError` listing the bad rows."""
    arr = np.asarray(y.to_numpy() if isinstance(y, pd.Series | pd.DataFrame) else y).reshape(-1)
    out = pd.to_numeric(pd.Series(arr, dtype=object), errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        records = [{"row": int(i) + 1, "column": "target", "value": arr[i], "reason": "not a finite number"}
                   for i in np.flatnonzero(bad)]
        raise InputError("target has values that are not finite numbers", error_table(records))
    return out


def predict_mean_std(estimator: object, X: object) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean and std (None when the estimator cannot give one)."""
    try:
        mean, std = estimator.predict(X, return_std=True)
    except TypeError:
        return np.asarray(estimator.predict(X), dtype=float).reshape(-1), None
    return np.asarray(mean, dtype=float).reshape(-1), np.asarray(std, dtype=float).reshape(-1)


def _splits(cv: object, n: int, seed: int, X: object, y: np.ndarray, groups: object) -> list:
    from sklearn.model_selection import KFold, LeaveOneOut

    if cv == "loo":
        splitter = LeaveOneOut()
    elif isinstance(cv, int | np.integer):
        if cv < 2 or cv > n:
            raise InputError(f"cv={cv} folds impossible with {n} training rows")
        splitter = KFold(n_splits=int(cv), shuffle=True, random_state=seed)
    else:
        splitter = cv
    return [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(X, y, groups)]


def cv_predictions(
    estimator: object, X: object, y: object, cv: object = 5, seed: int = 0, groups: object = None,
    keep_models: bool = False,
) -> dict[str, object]:
    """Out-of-fold mean and std for every row, each from a model that did not see it.

    Returns ``mean``, ``std`` (None if unsupported), ``fold`` (which split tested each row) and,
    with ``keep_models``, the fitted fold ``models``. ``cv`` is a number of shuffled folds,
    ``"loo"``, or a splitter whose test sets partition the rows.
    """
    y_arr = target_array(y)
    n = len(y_arr)
    splits = _splits(cv, n, seed, X, y_arr, groups)
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    fold = np.full(n, -1, dtype=np.int64)
    models, has_std = [], True
    for k, (train, test) in enumerate(splits):
        if np.any(fold[test] >= 0):
            raise InputError("the cross-validation test sets overlap; recalibration needs a partition")
        model = clone(estimator).fit(take_rows(X, train), y_arr[train])
        m, s = predict_mean_std(model, take_rows(X, test))
        mean[test], fold[test] = m, k
        if s is None:
            has_std = False
        else:
            std[test] = s
        if keep_models:
            models.append(model)
    if np.any(fold < 0):
        raise InputError(f"{int(np.sum(fold < 0))} rows are in no cross-validation test set")
    out: dict[str, object] = {"mean": mean, "std": std if has_std else None, "fold": fold}
    if keep_models:
        out["models"] = models
    return out


def _positive_floor(std: np.ndarray) -> float:
    pos = std[std > 0]
    return float(pos.min()) if len(pos) else 1.0


class RecalibratedRegressor(RegressorMixin, BaseEstimator):
    """A regressor whose predicted std is recalibrated on cross-validated residuals.

    Parameters
    ----------
    estimator : regressor with ``predict(X, return_std=True)``
    method : {"scale", "linear", "isotonic"}
        ``std' = a * std`` ; ``std' = a * std + b`` (``b >= 0``) ; or an isotonic map.
    cv : int, "loo" or splitter
        Cross-validation giving the residuals (shuffled K-fold with ``seed`` for an int).
    seed : int

    Attributes
    ----------
    estimator_ : the estimator refitted on all rows
    scale_, offset_ : float
        ``a`` and ``b`` of the linear map (``offset_`` is 0 for ``"scale"``; both NaN for isotonic).
    cv_mean_, cv_std_ : numpy.ndarray
        Cross-validated predictions and uncalibrated std used for the fit.
    """

    def __init__(self, estimator: object, method: str = "scale", cv: object = 5, seed: int = 0):
        self.estimator = estimator
        self.method = method
        self.cv = cv
        self.seed = seed

    def fit(self, X: object, y: object, groups: object = None) -> RecalibratedRegressor:
        from scipy.optimize import minimize

        if self.method not in ("scale", "linear", "isotonic"):
            raise ValueError(f"method must be 'scale', 'linear' or 'isotonic', got {self.method!r}")
        y_arr = target_array(y)
        res = cv_predictions(self.estimator, X, y_arr, cv=self.cv, seed=self.seed, groups=groups)
        if res["std"] is None:
            raise TypeError(f"{type(self.estimator).__name__} has no predict(X, return_std=True); "
                            "nothing to recalibrate")
        r = y_arr - res["mean"]
        s = res["std"]
        self.cv_mean_, self.cv_std_ = res["mean"], s
        self.std_floor_ = _positive_floor(s)  # zero std would make every z-score infinite
        s_eff = np.maximum(s, self.std_floor_)
        self.scale_ = float(np.sqrt(np.mean((r / s_eff) ** 2)))
        self.offset_ = 0.0
        if self.method == "linear":
            spread = float(np.std(r)) or 1.0

            def nll(theta: np.ndarray) -> float:
                sig = np.exp(theta[0]) * s_eff + np.exp(theta[1]) * spread
                return float(np.sum(np.log(sig) + 0.5 * (r / sig) ** 2))

            starts = [np.array([np.log(self.scale_), np.log(1e-3)]),
                      np.array([np.log(self.scale_ / 2), np.log(0.2)])]
            best = min((minimize(nll, t0, method="Nelder-Mead",
                                 options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 2000}) for t0 in starts),
                       key=lambda o: o.fun)
            self.scale_ = float(np.exp(best.x[0]))
            self.offset_ = float(np.exp(best.x[1]) * spread)
        elif self.method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            self.isotonic_ = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(s_eff, r**2)
            fitted = self.isotonic_.predict(s_eff)
            positive = fitted[fitted > 0]
            self.variance_floor_ = float(positive.min()) if len(positive) else float(np.mean(r**2) or 1e-12)
            self.scale_ = self.offset_ = float("nan")
        self.estimator_ = clone(self.estimator).fit(X, y_arr)
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        return self

    def recalibrate(self, std: object) -> np.ndarray:
        """Apply the fitted map to raw standard deviations."""
        s = np.maximum(np.asarray(std, dtype=float), self.std_floor_)
        if self.method == "isotonic":
            return np.sqrt(np.maximum(self.isotonic_.predict(s), self.variance_floor_))
        return self.scale_ * s + self.offset_

    def predict(self, X: object, return_std: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Mean of the refitted model; with ``return_std`` also the recalibrated std."""
        mean, std = predict_mean_std(self.estimator_, X)
        if not return_std:
            return mean
        return mean, self.recalibrate(std)
