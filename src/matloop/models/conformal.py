"""Conformal prediction intervals with a stated coverage (Barber et al. 2021, Ann. Stat. 49, 486).

A Gaussian interval ``pred +- 1.96 std`` is only right if the std is. Conformal intervals use the
model's own held-out errors, so their coverage holds for any model, assuming only that new materials
are exchangeable with the training ones (i.e. drawn from the same distribution: no guarantee under
extrapolation, which is what :mod:`matloop.models.domain` flags).

Methods
-------
``"split"``
    Hold out ``calibration_size`` of the rows, fit on the rest, take the ``ceil((1-alpha)(n+1))``-th
    smallest calibration score. Coverage >= 1 - alpha exactly; wastes the held-out rows.
``"cv+"``
    K-fold: each row's score comes from the fold model that did not see it; the interval for a new
    point is built from all ``n`` fold-model predictions. Guaranteed coverage 1 - 2 alpha (minus a
    small K-dependent term), in practice close to 1 - alpha. Uses every row.
``"jackknife+"``
    CV+ with leave-one-out (n model fits: for small data sets only).

With ``normalized=True`` and a model that gives a std, scores are ``|y - mean| / std`` so that
intervals are wider where the model is less sure (locally adaptive); otherwise ``|y - mean|``.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone

from matloop.errors import InputError
from matloop.models.calibration import cv_predictions, predict_mean_std, take_rows, target_array

__all__ = ["ConformalRegressor"]

_BLOCK = 4_000_000  # elements of the (n_train, n_test) score matrices built at once


class ConformalRegressor(RegressorMixin, BaseEstimator):
    """Prediction intervals with finite-sample coverage around any regressor.

    Parameters
    ----------
    estimator : regressor (``predict(X, return_std=True)`` used when available)
    method : {"cv+", "jackknife+", "split"}
    alpha : float
        Default miscoverage: 0.05 gives 95 % intervals.
    normalized : bool
        Divide scores by the model's std (if it has one).
    cv : int or splitter
        Folds for ``"cv+"`` (shuffled K-fold with ``seed`` for an int).
    calibration_size : float
        Fraction held out by ``"split"``.
    seed : int

    Attributes
    ----------
    estimator_ : the model used by :meth:`predict` (refitted on all rows for cv+/jackknife+, the
        proper-training model for split)
    scores_ : numpy.ndarray
        Conformity scores of the calibration (or out-of-fold) rows.
    normalized_ : bool
        Whether scores are std-normalised (False if the model has no std).
    """

    def __init__(self, estimator: object, method: str = "cv+", alpha: float = 0.05, normalized: bool = True,
                 cv: object = 5, calibration_size: float = 0.25, seed: int = 0):
        self.estimator = estimator
        self.method = method
        self.alpha = alpha
        self.normalized = normalized
        self.cv = cv
        self.calibration_size = calibration_size
        self.seed = seed

    # ------------------------------------------------------------------ fitting
    def fit(self, X: object, y: object, groups: object = None) -> ConformalRegressor:
        if self.method not in ("cv+", "jackknife+", "split"):
            raise ValueError(f"method must be 'cv+', 'jackknife+' or 'split', got {self.method!r}")
        self._check_alpha(self.alpha)
        y_arr = target_array(y)
        n = len(y_arr)
        if n < 3:
            raise InputError(f"conformal prediction needs at least 3 training rows, got {n}")
        if self.method == "split":
            if not 0 < self.calibration_size < 1:
                raise ValueError("calibration_size must lie in (0, 1)")
            perm = np.random.default_rng(self.seed).permutation(n)
            n_cal = min(n - 2, max(1, round(self.calibration_size * n)))
            cal, train = perm[:n_cal], perm[n_cal:]
            self.estimator_ = clone(self.estimator).fit(take_rows(X, train), y_arr[train])
            mean, std = predict_mean_std(self.estimator_, take_rows(X, cal))
            resid = np.abs(y_arr[cal] - mean)
        else:
            cv = "loo" if self.method == "jackknife+" else self.cv
            res = cv_predictions(self.estimator, X, y_arr, cv=cv, seed=self.seed, groups=groups, keep_models=True)
            self.models_, self.fold_ = res["models"], res["fold"]
            mean, std = res["mean"], res["std"]
            resid = np.abs(y_arr - mean)
            self.estimator_ = clone(self.estimator).fit(X, y_arr)
        self.normalized_ = bool(self.normalized and std is not None)
        if self.normalized_:
            pos = std[std > 0]
            self.std_floor_ = float(pos.min()) if len(pos) else 1.0
            self.scores_ = resid / np.maximum(std, self.std_floor_)
        else:
            self.scores_ = resid
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        return self

    @staticmethod
    def _check_alpha(alpha: float) -> None:
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {alpha}")

    def _std(self, std: np.ndarray | None, m: int) -> np.ndarray:
        if not self.normalized_:
            return np.ones(m)
        return np.maximum(std, self.std_floor_)

    # ------------------------------------------------------------------ prediction
    def predict(self, X: object, return_std: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Point prediction (and the model's own std) from :attr:`estimator_`."""
        mean, std = predict_mean_std(self.estimator_, X)
        if not return_std:
            return mean
        if std is None:
            raise TypeError(f"{type(self.estimator).__name__} gives no std; use predict_interval")
        return mean, std

    def predict_interval(self, X: object, alpha: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds with target coverage ``1 - alpha`` (default: the fitted ``alpha``).

        Bounds are infinite when there are too few rows for the requested coverage
        (``ceil((1 - alpha)(n + 1)) > n``).
        """
        alpha = self.alpha if alpha is None else alpha
        self._check_alpha(alpha)
        n = len(self.scores_)
        k_hi = math.ceil((1 - alpha) * (n + 1))
        if self.method == "split":
            mean, std = predict_mean_std(self.estimator_, X)
            q = np.inf if k_hi > n else float(np.partition(self.scores_, k_hi - 1)[k_hi - 1])
            half = q * self._std(std, len(mean))
            return mean - half, mean + half
        return self._plus_interval(X, alpha)

    def _plus_interval(self, X: object, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """CV+ / jackknife+: quantiles over the n fold-model predictions shifted by the n scores."""
        n = len(self.scores_)
        k_hi = math.ceil((1 - alpha) * (n + 1))  # k-th smallest of the upper values
        k_lo = math.floor(alpha * (n + 1))  # k-th smallest of the lower values
        preds, stds = [], []
        for model in self.models_:
            m, s = predict_mean_std(model, X)
            preds.append(m)
            stds.append(self._std(s, len(m)))
        P, S = np.vstack(preds), np.vstack(stds)  # (K, m)
        m_test = P.shape[1]
        lower = np.full(m_test, -np.inf)
        upper = np.full(m_test, np.inf)
        step = max(1, _BLOCK // n)
        R = self.scores_[:, None]
        for start in range(0, m_test, step):
            sl = slice(start, start + step)
            mu, sd = P[self.fold_, sl], S[self.fold_, sl]  # (n, block): each row's own fold model
            if k_lo >= 1:
                lower[sl] = np.partition(mu - R * sd, k_lo - 1, axis=0)[k_lo - 1]
            if k_hi <= n:
                upper[sl] = np.partition(mu + R * sd, k_hi - 1, axis=0)[k_hi - 1]
        return lower, upper

    def guaranteed_coverage(self, alpha: float | None = None) -> float:
        """The coverage the theory guarantees (marginally, for exchangeable data).

        Split: ``1 - alpha``. Jackknife+: ``1 - 2 alpha``. K-fold CV+: ``1 - 2 alpha - min(2(1 - 1/K) /
        (n/K + 1), (1 - K/n) / (K + 1))`` (Barber et al. 2021, Theorem 4). Empirical coverage is
        usually close to ``1 - alpha`` for all three.
        """
        alpha = self.alpha if alpha is None else alpha
        self._check_alpha(alpha)
        if self.method == "split":
            return 1.0 - alpha
        if self.method == "jackknife+":
            return max(0.0, 1.0 - 2 * alpha)
        n, k = len(self.scores_), len(self.models_)
        slack = min(2 * (1 - 1 / k) / (n / k + 1), (1 - k / n) / (k + 1))
        return max(0.0, 1.0 - 2 * alpha - slack)
