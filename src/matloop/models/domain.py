"""Applicability domain: is a new material like the ones the model learned from?

A model trained on oxides has no business predicting intermetallics, and its uncertainty may not
say so. :class:`ApplicabilityDomain` gives every new point a distance score and an in-domain flag:

- ``method="knn"``: mean Euclidean distance to the ``k`` nearest training points in standardised
  feature space, optionally weighted by feature importance (so irrelevant features do not dominate);
- ``method="kde"``: negative log density of a Gaussian kernel density estimate in the same space
  (best with few features; in high dimensions prefer ``knn``).

Calibration: the threshold is the ``threshold_quantile`` of the *cross-validated* scores of the
training points (each scored against the other folds only), i.e. of scores that genuinely new
points from the training distribution get. With the default 0.95 about 95 % of such points are in
domain; points beyond it are farther from the data than almost any typical new point. The scores
of new points use all training rows, so the flag is slightly lenient (by a factor that vanishes as
the number of folds grows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from matloop.errors import InputError, error_table

__all__ = ["ApplicabilityDomain"]


def _matrix(X: object, n_features: int | None = None) -> np.ndarray:
    names = list(X.columns) if isinstance(X, pd.DataFrame) else None
    arr = np.asarray(X.to_numpy() if isinstance(X, pd.DataFrame) else X, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if n_features is not None and arr.shape[1] != n_features:
        raise InputError(f"expected {n_features} features, got {arr.shape[1]}")
    bad = ~np.isfinite(arr)
    if bad.any():
        r, c = np.nonzero(bad)
        records = [{"row": int(i) + 1, "column": names[j] if names else int(j), "value": arr[i, j],
                    "reason": "not a finite number"} for i, j in zip(r[:200].tolist(), c[:200].tolist(), strict=True)]
        raise InputError("features contain missing or infinite values", error_table(records))
    return arr


class ApplicabilityDomain(BaseEstimator):
    """Distance-to-training-data score with a calibrated in-domain threshold.

    Parameters
    ----------
    method : {"knn", "kde"}
    k : int
        Neighbours averaged by ``knn``.
    threshold_quantile : float
        Quantile of cross-validated training scores used as the threshold.
    scale : bool
        Standardise features (mean 0, std 1) before measuring distance.
    feature_weights : array-like or fitted estimator with ``feature_importances_``, optional
        Non-negative importance per feature; the squared distance along feature ``j`` is multiplied
        by its weight (weights are rescaled to mean 1).
    cv : int
        Folds for the threshold calibration.
    bandwidth : float, optional
        KDE bandwidth in standardised units (default Scott's rule ``n^(-1/(d+4))``).
    seed : int

    Attributes
    ----------
    threshold_ : float
    cv_scores_ : numpy.ndarray
        Cross-validated scores of the training rows.
    """

    def __init__(self, method: str = "knn", k: int = 5, threshold_quantile: float = 0.95, scale: bool = True,
                 feature_weights: object = None, cv: int = 5, bandwidth: float | None = None, seed: int = 0):
        self.method = method
        self.k = k
        self.threshold_quantile = threshold_quantile
        self.scale = scale
        self.feature_weights = feature_weights
        self.cv = cv
        self.bandwidth = bandwidth
        self.seed = seed

    def _weights(self, d: int) -> np.ndarray:
        w = self.feature_weights
        if w is None:
            return np.ones(d)
        w = getattr(w, "feature_importances_", w)
        w = np.asarray(w, dtype=float).reshape(-1)
        if len(w) != d or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise InputError(f"feature_weights must be {d} non-negative finite numbers, not all zero")
        return w / w.mean()

    def _transform(self, arr: np.ndarray) -> np.ndarray:
        return (arr - self.center_) / self.scale_ * self.sqrt_weights_

    def _fit_scorer(self, Z: np.ndarray) -> object:
        if self.method == "knn":
            from sklearn.neighbors import NearestNeighbors

            return NearestNeighbors(n_neighbors=self.k).fit(Z)
        from sklearn.neighbors import KernelDensity

        return KernelDensity(bandwidth=self.bandwidth_).fit(Z)

    def _score_with(self, scorer: object, Z: np.ndarray) -> np.ndarray:
        if self.method == "knn":
            dist, _ = scorer.kneighbors(Z, n_neighbors=self.k)
            return dist.mean(axis=1)
        return -scorer.score_samples(Z)

    def fit(self, X: object, y: object = None) -> ApplicabilityDomain:
        """Learn the training distribution and calibrate the threshold by cross-validation."""
        from sklearn.model_selection import KFold

        if self.method not in ("knn", "kde"):
            raise ValueError(f"method must be 'knn' or 'kde', got {self.method!r}")
        if not 0 < self.threshold_quantile < 1:
            raise ValueError("threshold_quantile must lie in (0, 1)")
        arr = _matrix(X)
        n, d = arr.shape
        if self.cv < 2 or n < self.cv:
            raise InputError(f"cv={self.cv} folds impossible with {n} training rows")
        if self.method == "knn" and self.k > n - int(np.ceil(n / self.cv)):
            raise InputError(f"k={self.k} neighbours need more than {n} training rows with cv={self.cv}")
        self.n_features_in_ = d
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.center_ = arr.mean(axis=0) if self.scale else np.zeros(d)
        spread = arr.std(axis=0) if self.scale else np.ones(d)
        self.scale_ = np.where(spread > 0, spread, 1.0)
        self.sqrt_weights_ = np.sqrt(self._weights(d))
        Z = self._transform(arr)
        self.bandwidth_ = self.bandwidth or float(n ** (-1.0 / (d + 4)))
        cv_scores = np.empty(n)
        for train, test in KFold(self.cv, shuffle=True, random_state=self.seed).split(Z):
            cv_scores[test] = self._score_with(self._fit_scorer(Z[train]), Z[test])
        self.cv_scores_ = cv_scores
        self.threshold_ = float(np.quantile(cv_scores, self.threshold_quantile))
        self.scorer_ = self._fit_scorer(Z)
        return self

    def score(self, X: object) -> np.ndarray:
        """Distance score of each row (``knn``: mean k-NN distance; ``kde``: -log density); larger = farther."""
        if not hasattr(self, "scorer_"):
            raise ValueError("ApplicabilityDomain is not fitted")
        return self._score_with(self.scorer_, self._transform(_matrix(X, self.n_features_in_)))

    def in_domain(self, X: object) -> np.ndarray:
        """True where the score is at most the calibrated threshold."""
        return self.score(X) <= self.threshold_

    def relative_score(self, X: object) -> np.ndarray:
        """Score divided by the threshold (for ``knn``; > 1 means out of domain)."""
        if self.method != "knn":
            raise ValueError("relative_score is defined for method='knn' (kde scores can be negative)")
        return self.score(X) / self.threshold_
