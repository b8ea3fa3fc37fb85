"""Fast scores of one source's descriptors on the user's data (used by the shotgun selection).

Scoring 19 sources by 5-fold cross-validation of a random forest costs ~100 forest fits; the
default scorers here are closed-form leave-one-out (LOO) estimates instead, so scoring every
source costs about one SVD or eigendecomposition each:

* ``"kernel"`` (default): kernel ridge regression with an RBF kernel on the standardised
  descriptors (length scales 0.5, 1 and 2 x the median pairwise distance), LOO residuals
  ``r_i = [A y]_i / A_ii`` with ``A = (K + lambda I)^-1`` for a grid of ``lambda``; non-linear
  like the final forest, and smooth enough to be stable on 20 points;
* ``"ridge"``: linear ridge regression, LOO residuals ``(y_i - yhat_i) / (1 - h_ii)`` from one SVD;
* ``"forest"``: k-fold CV of a 100-tree random forest (the slowest, closest to the final model).

Each returns the best (over its hyper-parameter grid) LOO mean absolute error for regression,
or the Brier score (mean squared error of the one-hot labels) for classification.
"""

from __future__ import annotations

import numpy as np

SCORERS = ("kernel", "ridge", "forest")
_LAMBDAS = np.logspace(-3, 2, 11)
_ALPHAS = np.logspace(-3, 4, 15)


def _standardise(Z: np.ndarray) -> np.ndarray:
    std = Z.std(axis=0)
    keep = std > 1e-12
    if not keep.any():
        return np.zeros((len(Z), 1))
    return (Z[:, keep] - Z[:, keep].mean(axis=0)) / std[keep]


def _targets(y: np.ndarray, task: str) -> np.ndarray:
    if task == "classification":
        classes = np.unique(y)
        return (y[:, None] == classes[None, :]).astype(float)
    return np.asarray(y, dtype=float)[:, None]


def _loss(residuals: np.ndarray, task: str) -> float:
    """``residuals`` (n, outputs): MAE for regression, Brier score for classification."""
    if task == "classification":
        return float(np.mean(np.sum(residuals**2, axis=1)))
    return float(np.mean(np.abs(residuals[:, 0])))


def kernel_loo_loss(Z: np.ndarray, y: np.ndarray, task: str = "regression") -> float:
    """Best LOO loss of RBF kernel ridge regression over length scales and regularisation."""
    Zs = _standardise(np.asarray(Z, dtype=float))
    Y = _targets(y, task)
    Yc = Y - Y.mean(axis=0)
    sq = np.sum(Zs**2, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * Zs @ Zs.T, 0.0)
    median = float(np.median(d2[np.triu_indices(len(Zs), 1)])) if len(Zs) > 1 else 1.0
    best = np.inf
    for factor in (0.25, 1.0, 4.0):  # squared length scale = factor * median squared distance
        K = np.exp(-d2 / (2.0 * max(median, 1e-12) * factor))
        evals, Q = np.linalg.eigh(K)
        evals = np.maximum(evals, 0.0)
        QtY = Q.T @ Yc
        Q2 = Q**2
        for lam in _LAMBDAS:
            inv = 1.0 / (evals + lam)
            AY = Q @ (inv[:, None] * QtY)
            diag = Q2 @ inv
            best = min(best, _loss(AY / diag[:, None], task))
    return best


def ridge_loo_loss(Z: np.ndarray, y: np.ndarray, task: str = "regression") -> float:
    """Best LOO loss of linear ridge regression (with intercept) over a grid of penalties."""
    Zs = _standardise(np.asarray(Z, dtype=float))
    Y = _targets(y, task)
    n = len(Y)
    Yc = Y - Y.mean(axis=0)
    U, s, _ = np.linalg.svd(Zs, full_matrices=False)
    UtY = U.T @ Yc
    U2 = U**2
    best = np.inf
    for alpha in _ALPHAS:
        shrink = s**2 / (s**2 + alpha * n)
        fitted = U @ (shrink[:, None] * UtY)
        hat = U2 @ shrink + 1.0 / n
        best = min(best, _loss((Yc - fitted) / (1.0 - hat)[:, None], task))
    return best


def forest_cv_loss(Z: np.ndarray, y: np.ndarray, task: str, splits, seed: int) -> float:
    """Mean k-fold loss of a 100-tree random forest (MAE or Brier score)."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    losses = []
    for train, test in splits:
        if task == "classification":
            model = RandomForestClassifier(n_estimators=100, max_features=0.33, random_state=seed).fit(Z[train], y[train])
            proba = np.zeros((len(test), len(np.unique(y))))
            columns = np.searchsorted(np.unique(y), model.classes_)
            proba[:, columns] = model.predict_proba(Z[test])
            losses.append(_loss(proba - _targets(y, task)[test], task))
        else:
            model = RandomForestRegressor(n_estimators=100, max_features=0.33, random_state=seed).fit(Z[train], y[train])
            losses.append(_loss((model.predict(Z[test]) - y[test])[:, None], task))
    return float(np.mean(losses))
