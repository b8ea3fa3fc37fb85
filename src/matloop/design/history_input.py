"""The history as an input of the campaign's surrogate (``--history`` where the two-task GP cannot be used).

Where :mod:`matloop.design.history_gp` cannot be built (another ``--model``, a campaign of formulas or
SMILES, several goals, a design space, a history whose GP finds no structure), the history model's
prediction ``h(x)`` is an extra input of the campaign's surrogate (or, on request, its prior mean:
:class:`PriorMeanSurrogate`), and :func:`history_helps` is the cross-validated safeguard that sets
a history aside once the campaign's own results show it predicts them worse. Used by
:func:`matloop.design.history.apply_history`.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

#: campaign results needed before the cross-validated safeguard decides whether history helps
CHECK_MIN_ROWS = 8
#: the history is set aside when its cross-validated RMSE exceeds the plain surrogate's by more than this share
SAFEGUARD_MARGIN = 0.1


class PriorMeanSurrogate(RegressorMixin, BaseEstimator):
    """A surrogate whose prior mean is a history model's prediction, with a learnt scale.

    The last column of ``X`` is the history's prediction ``h``; the other columns are the campaign's
    features. ``y ~ a * h + b + r(x)``: ``a, b`` by least squares on the campaign's results when there
    are at least 3 (``a`` kept in [0, 2 * sd(y) / sd(h)], a ridge pull towards the history's own
    scale), else ``a = 1, b = 0`` (or the mean offset with 1 result); ``r`` by the ``base``
    surrogate on the residuals (at least 2 results; before that the std is the history's spread).
    """

    fits_without_data = True  # the history alone ranks the first batch (no space-filling cold start)

    def __init__(self, base: str = "etgp", prior_std: float = 1.0, random_state=None):
        self.base = base
        self.prior_std = prior_std
        self.random_state = random_state

    def fit(self, X, y) -> PriorMeanSurrogate:
        from matloop.design.surrogate import make_surrogate

        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        h = X[:, -1]
        self.a_, self.b_ = 1.0, 0.0
        if len(y) >= 3 and np.std(h) > 0:
            lam = 1.0  # ridge weight pulling a towards 1 (the history's scale), in units of one result
            hc, yc = h - h.mean(), y - y.mean()
            a = (hc @ yc + lam * np.var(h) * 1.0) / (hc @ hc + lam * np.var(h))
            self.a_ = float(np.clip(a, 0.0, 2.0 * (np.std(y) + 1e-12) / (np.std(h) + 1e-12) + 1.0))
            self.b_ = float(y.mean() - self.a_ * h.mean())
        elif len(y):
            self.b_ = float(np.mean(y - h))
        self.base_ = make_surrogate(self.base, self.random_state).fit(X[:, :-1], y - self.a_ * h - self.b_) \
            if len(y) >= 2 else None
        self.chosen_ = f"{self.base} + history prior mean"
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X, return_std: bool = False):
        X = np.asarray(X, dtype=float)
        mean = self.a_ * X[:, -1] + self.b_
        if self.base_ is not None:
            r, s = self.base_.predict(X[:, :-1], return_std=True)
            mean = mean + r
        else:
            s = np.full(len(X), float(self.prior_std))
        return (mean, s) if return_std else mean


def history_helps(X: np.ndarray, y: np.ndarray, base: str = "etgp", seed: int = 0, folds: int = 5,
                  use: str = "mean", sign: float | None = None, margin: float | None = None) -> tuple[bool, str]:
    """The safeguard: does the history-informed surrogate (last column of ``X`` = the history's
    prediction) predict the campaign's own results better than the plain one (without it)?

    With fewer than :data:`CHECK_MIN_ROWS` results the history is trusted (nothing to check it on).
    Otherwise ``folds``-fold cross-validated RMSE of both; the history is kept unless its RMSE is
    above ``(1 + margin)`` times the plain one (``margin``: :data:`SAFEGUARD_MARGIN` by default).
    With ``sign`` (+1 maximise, -1 minimise) the RMSE counts only the better half of the results, the
    region an optimisation is steered by: history that describes the plate well on average but
    misplaces its best region is set aside."""
    from sklearn.model_selection import KFold

    from matloop.design.surrogate import make_surrogate

    y = np.asarray(y, dtype=float)
    if len(y) < CHECK_MIN_ROWS:
        return True, f"history used as the prior (fewer than {CHECK_MIN_ROWS} results to check it on)"
    err_h, err_p = [], []
    better = np.ones(len(y), dtype=bool) if sign is None else sign * y >= np.median(sign * y)
    for train, test in KFold(min(folds, len(y)), shuffle=True, random_state=seed).split(X):
        informed = PriorMeanSurrogate(base, random_state=seed) if use == "mean" else make_surrogate(base, seed)
        with_h = informed.fit(X[train], y[train]).predict(X[test])
        plain = make_surrogate(base, seed).fit(X[train][:, :-1], y[train]).predict(X[test][:, :-1])
        keep = better[test]
        err_h.append(((with_h - y[test]) ** 2)[keep])
        err_p.append(((plain - y[test]) ** 2)[keep])
    rh, rp = float(np.sqrt(np.mean(np.concatenate(err_h)))), float(np.sqrt(np.mean(np.concatenate(err_p))))
    where = "" if sign is None else " on the better half of the results"
    if rh <= (1.0 + (SAFEGUARD_MARGIN if margin is None else margin)) * rp:
        return True, f"history used as the prior (cross-validated RMSE{where} {rh:.3g} with it, {rp:.3g} without)"
    return False, f"history set aside: it predicts this campaign worse (cross-validated RMSE{where} {rh:.3g} " \
                  f"with it, {rp:.3g} without)"
