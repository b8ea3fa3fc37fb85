"""Gradient-boosted trees with uncertainty: a bootstrap ensemble or quantile regression.

* ``method="bootstrap"`` (default): ``n_members`` histogram gradient-boosting models, each on
  its own bootstrap sample. The mean is their average; the model variance is their spread,
  and a noise term is calibrated on the out-of-bag residuals exactly as for the forests
  (:func:`matloop.models.base.calibrate_noise_scale`), locally shaped by a model of the squared
  residuals (``noise="local"``) or constant (``noise="oob"``).
* ``method="quantile"``: three models with the pinball loss at the 16th, 50th and 84th
  percentiles; the prediction is the median and the std half the 16-84 range (the
  central 68% of a normal distribution). This captures noise that varies with the input but
  not the model's own uncertainty, and in-sample quantiles of flexible models are too narrow,
  so we add a constant variance fitted on 3-fold held-out residuals (``calibrate=True``).
"""

from __future__ import annotations

import contextlib

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import KFold
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from matloop.models.base import (
    MIN_RELATIVE_NOISE_VARIANCE,
    UncertaintyRegressorMixin,
    calibrate_noise_scale,
    check_features,
    check_min_samples,
    check_target,
)
from matloop.models.forest import bootstrap_counts, fit_noise_model
from matloop.models.preprocessing import fit_cleaner

METHODS = ("bootstrap", "quantile")
NOISE_METHODS = ("local", "oob")


class GradientBoostingEnsembleRegressor(UncertaintyRegressorMixin, BaseEstimator):
    """Histogram gradient boosting with bootstrap-ensemble or quantile uncertainty.

    Parameters
    ----------
    method : {"bootstrap", "quantile"}, default="bootstrap"
    n_members : int, default=10
        Bootstrap members (``method="bootstrap"``).
    learning_rate, max_iter, max_leaf_nodes, min_samples_leaf, l2_regularization :
        Passed to each ``HistGradientBoostingRegressor``. The defaults (0.05, 300, 15, 5, 0)
        suit a few hundred rows: many small steps, small leaves.
    quantiles : tuple of three floats, default=(0.16, 0.5, 0.84)
        Lower, middle and upper quantile (``method="quantile"``).
    noise : {"local", "oob"}, default="local"
        Shape of the noise term of the bootstrap ensemble.
    calibrate : bool, default=True
        Add to the quantile variance the constant that makes 3-fold held-out residuals consistent.
    n_threads : int or None, default=1
        OpenMP threads of the boosting library during fit and predict (``None``: its default,
        all cores). With a few hundred rows threads cost more than they give, and
        oversubscribed OpenMP on a busy machine slows everything down by an order of magnitude.
    random_state : int, RandomState or None

    Attributes
    ----------
    estimators_ : list of HistGradientBoostingRegressor
        Bootstrap members, or the lower, middle and upper quantile models.
    oob_prediction_ : ndarray or None
        Out-of-bag prediction of each training row (bootstrap; NaN if in every sample).
    n_iter_ : int
        Boosting iterations of the members (``max_iter``: no early stopping).
    noise_scale_ : float
        Bootstrap: scale of the noise variance. Quantile: variance added to the squared
        quantile half-range, calibrated on 3-fold held-out residuals (0 if ``calibrate=False``).
    """

    def __init__(self, method: str = "bootstrap", *, n_members: int = 10, learning_rate: float = 0.05,
                 max_iter: int = 300, max_leaf_nodes: int = 15, min_samples_leaf: int = 5,
                 l2_regularization: float = 0.0, quantiles: tuple[float, float, float] = (0.16, 0.5, 0.84),
                 noise: str = "local", calibrate: bool = True, n_threads: int | None = 1, random_state=None):
        self.method = method
        self.n_members = n_members
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.quantiles = quantiles
        self.noise = noise
        self.calibrate = calibrate
        self.n_threads = n_threads
        self.random_state = random_state

    def _booster(self, seed: int, **kwargs) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            learning_rate=self.learning_rate, max_iter=self.max_iter, max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf, l2_regularization=self.l2_regularization,
            early_stopping=False, random_state=seed, **kwargs)

    def fit(self, X, y) -> GradientBoostingEnsembleRegressor:
        """Fit the bootstrap members (and noise term) or the three quantile models."""
        X = check_features(self, X, reset=True)
        y = check_target(y, X.shape[0])
        check_min_samples(X.shape[0])
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.noise not in NOISE_METHODS:
            raise ValueError(f"noise must be one of {NOISE_METHODS}, got {self.noise!r}")
        rng = check_random_state(self.random_state)
        self.cleaner_, Xc = fit_cleaner(X, scale=False)
        self.noise_model_ = None
        self.oob_prediction_ = None
        self.noise_scale_ = 0.0
        with self._thread_limit():
            if self.method == "bootstrap":
                self._fit_bootstrap(Xc, y, rng)
            else:
                self._fit_quantile(Xc, y, rng)
        self.n_iter_ = max(int(m.n_iter_) for m in self.estimators_)
        return self

    def _thread_limit(self):
        if self.n_threads is None:
            return contextlib.nullcontext()
        return threadpool_limits(limits=int(self.n_threads), user_api="openmp")

    def _fit_bootstrap(self, Xc: np.ndarray, y: np.ndarray, rng: np.random.RandomState) -> None:
        n_members = int(self.n_members)
        if n_members < 2:
            raise ValueError(f"n_members must be at least 2 to estimate a spread, got {self.n_members}")
        counts = bootstrap_counts(len(y), n_members, rng)
        self.estimators_ = []
        for b in range(n_members):
            rows = np.repeat(np.arange(len(y)), counts[b])
            model = self._booster(rng.randint(np.iinfo(np.int32).max))
            self.estimators_.append(model.fit(Xc[rows], y[rows]))
        preds = np.asarray([m.predict(Xc) for m in self.estimators_])
        oob = counts == 0
        n_oob = oob.sum(axis=0)
        has_oob = n_oob > 0
        self.oob_prediction_ = np.where(has_oob, (preds * oob).sum(axis=0) / np.maximum(n_oob, 1), np.nan)
        floor = MIN_RELATIVE_NOISE_VARIANCE * max(float(np.var(y)), 1e-12)
        rows = np.flatnonzero(has_oob)
        residuals = y[rows] - self.oob_prediction_[rows]
        self.noise_floor_ = max(floor, 0.1 * float(np.mean(residuals**2)) if rows.size else floor)
        shape = np.ones(rows.size)
        if self.noise == "local" and rows.size >= 4:
            self.noise_model_, shape = fit_noise_model(Xc[rows], residuals**2, rng)
            shape = np.maximum(shape, self.noise_floor_)
        # model variance at a training row: spread of the members that did not see it
        k = np.maximum(n_oob[rows], 1)
        oob_rows = oob[:, rows]
        oob_mean = (preds[:, rows] * oob_rows).sum(axis=0) / k
        model_var = (((preds[:, rows] - oob_mean) ** 2) * oob_rows).sum(axis=0) / np.maximum(k - 1, 1)
        self.noise_scale_ = calibrate_noise_scale(residuals, model_var, shape, floor)

    def _fit_quantile(self, Xc: np.ndarray, y: np.ndarray, rng: np.random.RandomState) -> None:
        low, mid, high = self.quantiles
        if not 0 < low < mid < high < 1:
            raise ValueError(f"quantiles must be increasing and inside (0, 1), got {self.quantiles}")
        seeds = rng.randint(np.iinfo(np.int32).max, size=3)
        self.noise_floor_ = float(np.sqrt(MIN_RELATIVE_NOISE_VARIANCE * max(float(np.var(y)), 1e-12)))
        self.estimators_ = [self._booster(int(s), loss="quantile", quantile=q).fit(Xc, y)
                            for s, q in zip(seeds, (low, mid, high), strict=True)]
        if not self.calibrate or len(y) < 10:
            return
        folds = KFold(n_splits=min(3, len(y) // 2), shuffle=True, random_state=rng.randint(np.iinfo(np.int32).max))
        residuals, widths = [], []
        for train, test in folds.split(Xc):
            models = [self._booster(int(s), loss="quantile", quantile=q).fit(Xc[train], y[train])
                      for s, q in zip(seeds, (low, mid, high), strict=True)]
            mean, std = self._quantile_mean_std(models, Xc[test])
            residuals.append(y[test] - mean)
            widths.append(std)
        # quantile widths of small-data models are noisy and sometimes near zero (crossing
        # quantiles): add the constant variance that makes held-out residuals consistent
        self.noise_scale_ = calibrate_noise_scale(np.concatenate(residuals), np.concatenate(widths) ** 2, 1.0,
                                                  self.noise_floor_**2)

    def _quantile_mean_std(self, models, Xc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        low, mid, high = (m.predict(Xc) for m in models)
        z = _normal_quantile(self.quantiles[2]) - _normal_quantile(self.quantiles[0])
        half = np.abs(high - low) / z
        return mid, np.maximum(half, self.noise_floor_)

    def _predict_mean_var(self, X: np.ndarray, return_var: bool):
        with self._thread_limit():
            return self._predict_mean_var_unlimited(self.cleaner_._transform_array(X), return_var)

    def _predict_mean_var_unlimited(self, Xc: np.ndarray, return_var: bool):
        if self.method == "quantile":
            mean, std = self._quantile_mean_std(self.estimators_, Xc)
            return mean, std**2 + self.noise_scale_
        preds = np.asarray([m.predict(Xc) for m in self.estimators_])
        mean = preds.mean(axis=0)
        if not return_var:
            return mean, None
        if self.noise_model_ is None:
            noise = np.full(len(mean), self.noise_scale_)
        else:
            noise = self.noise_scale_ * np.maximum(self.noise_model_.predict(Xc), self.noise_floor_)
        return mean, preds.var(axis=0, ddof=1) + noise


def _normal_quantile(q: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(q))
