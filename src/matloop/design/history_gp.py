"""History as a two-task Gaussian process: the related campaign's posterior is the new campaign's prior.

With ``f1`` the history's function (another plate, last year's batch) and ``f2`` the campaign's,
model ``f2 = mu2 + a (f1 - mu1) + tau g``, ``g`` an independent GP with the same kernel (a two-task
GP of the intrinsic-coregionalisation kind, Bonilla et al. 2008, solved in two steps). Conditioned
on the history's rows the campaign's prior has mean ``mu2 + a m1(x)`` and covariance
``a^2 C1(x, x') + tau^2 k(x, x')`` (``m1``, ``C1``: the history GP's posterior mean and covariance).

- :class:`HistoryPosterior` fits the kernel (Matern-5/2 with one length per input, noise learnt) on
  the history by maximum likelihood (up to :data:`KERNEL_FIT_ROWS` rows, three starting lengths:
  the likelihood also has a "white noise" optimum at tiny lengths) and conditions on up to
  :data:`CONDITION_ROWS` rows. Its inputs are the history model's kernel features
  (:meth:`matloop.design.history.HistoryPrior.kernel_features`: element loadings over both element
  sets, shared columns); an input the history never varies (an element only the campaign holds)
  gets the median length of the others.
- :class:`TwoTaskGP` learns ``mu2``, ``a``, ``tau`` and the noise from the campaign's own results
  (maximum a posteriori: ``a ~ N(1, 0.5^2)``, log-normal ``tau`` around 0.5 and noise around 0.1
  history standard deviations). ``a`` near 0 is the cold start with the history's length scales;
  a history that knows nothing has a flat ``m1`` and cannot mislead the mean.
- :class:`ForestTwoTaskBlend`, the surrogate ``--history`` uses by default: the equal mixture of
  extra trees (the campaign's features and the history's prediction) and the two-task GP, as
  :class:`matloop.design.surrogate.ForestGPBlend` mixes trees and a GP; batches use the two-task
  GP's covariance. Where the campaign's results deny the history (learnt ``a`` below
  :data:`MIN_WEIGHT`) the blend is the cold start's surrogate on the campaign's own features.
- Campaign inputs the history lacks (a column only the campaign has) trail the kernel inputs: the
  history's posterior does not vary along them, the discrepancy ``g`` does (at the median length).
  Without them the GP was blind to those inputs: on two colour-mixing robots, a campaign over five
  dyes with a three-dye history needed 124 % more experiments than the cold start
  (``benchmarks/results/history_pairs.md``).

Measured (``benchmarks/results/campaign_prior.md``, held-out seeds): on the OER plates, experiments to
half of a plate's best 1 % 16 % and 24 % fewer than the cold start (the history as a surrogate input
alone: 12 % and 11 %); the probe that chose it: ``benchmarks/results/history_two_task_probe.md``. On
five public pairs it was not tuned on (``benchmarks/results/history_pairs.md``): 14-65 % fewer on four,
level on a loosely related one.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, RegressorMixin

#: history rows the kernel's hyper-parameters are fitted on (a random subset when there are more)
KERNEL_FIT_ROWS = 400
#: history rows the posterior is conditioned on (a random subset when there are more)
CONDITION_ROWS = 3000
#: the history GP must predict its own held-out rows this well (cross-validated R^2) to be a prior
MIN_SKILL = 0.2
#: a learnt history weight below this sets the history aside for that suggestion (see ForestTwoTaskBlend)
MIN_WEIGHT = 0.25
#: how ForestTwoTaskBlend's model name says so (read by matloop.design.history.batch_note)
SET_ASIDE = "history set aside: "


def _cross_validated_r2(gp, Z: np.ndarray, y: np.ndarray, seed: int) -> float:
    """5-fold R^2 of the fitted kernel (hyper-parameters kept) on the rows it was fitted on: a history
    without structure (values shuffled among its rows) fits a "white noise" kernel that scores about 0."""
    from sklearn.base import clone
    from sklearn.model_selection import KFold

    if len(y) < 10 or np.ptp(y) == 0:  # a constant history has nothing a kernel could learn
        return 0.0
    pred = np.empty(len(y))
    for train, test in KFold(5, shuffle=True, random_state=seed).split(Z):
        fixed = clone(gp).set_params(kernel=gp.kernel_, optimizer=None)
        pred[test] = fixed.fit(Z[train], y[train]).predict(Z[test])
    return float(1.0 - np.sum((pred - y) ** 2) / max(np.sum((y - y.mean()) ** 2), 1e-300))


def matern52(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Unit-variance Matern-5/2 kernel between rows already divided by their length scales."""
    d2 = np.maximum((A**2).sum(1)[:, None] + (B**2).sum(1)[None, :] - 2.0 * A @ B.T, 0.0)
    r = np.sqrt(5.0 * d2)
    return (1.0 + r + r**2 / 3.0) * np.exp(-r)


class HistoryPosterior:
    """The history GP, fitted once; :meth:`project` gives its posterior at campaign rows (cached per row).

    Attributes: ``mean_``, ``scale_`` (the history target's mean and std: the two-task GP works in
    these units), ``lengths_``, ``variance_``, ``noise_`` (standardised units), ``n_rows_``, ``skill_``
    (the kernel's cross-validated R^2 on the history itself).
    """

    def __init__(self, Z: np.ndarray, y: np.ndarray, seed: int = 0):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        Z, y = np.asarray(Z, dtype=float), np.asarray(y, dtype=float)
        self.mean_, self.scale_ = float(y.mean()), float(y.std()) or 1.0
        yz = (y - self.mean_) / self.scale_
        rng = np.random.default_rng(seed)
        sub = rng.choice(len(y), min(KERNEL_FIT_ROWS, len(y)), replace=False)
        spread = Z.std(axis=0)
        scale = float(np.median(spread[spread > 0])) if np.any(spread > 0) else 1.0
        d, best = Z.shape[1], None
        self.n_inputs_ = d
        for start in (0.3, 1.0, 3.0):
            kernel = ConstantKernel(1.0, (1e-2, 1e2)) * Matern(np.full(d, start * scale),
                                                               (1e-2 * scale, 1e3 * scale), nu=2.5) \
                + WhiteKernel(1e-1, (1e-4, 1.0))
            with warnings.catch_warnings():  # a length at its bound is an answer here (an input that does not matter)
                warnings.simplefilter("ignore", ConvergenceWarning)
                gp = GaussianProcessRegressor(kernel, random_state=seed).fit(Z[sub], yz[sub])
            if best is None or gp.log_marginal_likelihood_value_ > best.log_marginal_likelihood_value_:
                best = gp
        self.skill_ = _cross_validated_r2(best, Z[sub], yz[sub], seed)
        k = best.kernel_
        lengths = np.atleast_1d(np.asarray(k.k1.k2.length_scale, dtype=float)) * np.ones(d)
        varied = spread > 1e-12
        self.lengths_ = np.where(varied, lengths, np.median(lengths[varied]) if np.any(varied) else scale)
        self.variance_, self.noise_ = float(k.k1.k1.constant_value), float(k.k2.noise_level)
        keep = rng.choice(len(y), min(CONDITION_ROWS, len(y)), replace=False) if len(y) > CONDITION_ROWS \
            else np.arange(len(y))
        self._A = Z[keep] / self.lengths_
        K = self.variance_ * matern52(self._A, self._A)
        for jitter in (0.0, 1e-8, 1e-6, 1e-4):  # replicated history rows: a little more noise if need be
            try:
                self._L = np.linalg.cholesky(K + (self.noise_ + jitter * self.variance_) * np.eye(len(keep)))
                break
            except np.linalg.LinAlgError:
                continue
        else:
            raise np.linalg.LinAlgError("the history GP's covariance is not positive definite")
        self._alpha = cho_solve((self._L, True), yz[keep])
        self.n_rows_ = len(keep)
        self._cache: dict[bytes, tuple[float, np.ndarray]] = {}

    def __deepcopy__(self, memo):  # fitted once and never changed: estimators that hold it share it
        return self

    def scaled(self, Z: np.ndarray, own: bool = False) -> np.ndarray:
        """Rows divided by the length scales: the history's inputs only, or with ``own`` also the trailing
        campaign-only columns (inputs the history lacks), at the median length."""
        Z = np.asarray(Z, dtype=float)
        if not own:
            return Z[:, :self.n_inputs_] / self.lengths_
        return np.hstack([Z[:, :self.n_inputs_] / self.lengths_, Z[:, self.n_inputs_:] / np.median(self.lengths_)])

    def project(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(m1, V)`` at the rows of ``Z``: the posterior mean (standardised) and ``V = L^-1 k_h(Z)``,
        so that the posterior covariance is ``variance * k(a, b) - V[:, a] . V[:, b]``."""
        Z = np.ascontiguousarray(np.asarray(Z, dtype=float)[:, :self.n_inputs_])
        keys = [row.tobytes() for row in Z]
        new = [i for i, key in enumerate(keys) if key not in self._cache]
        if new:
            Kh = self.variance_ * matern52(self._A, self.scaled(Z[new]))
            V = solve_triangular(self._L, Kh, lower=True)
            m = Kh.T @ self._alpha
            for c, i in enumerate(new):
                self._cache[keys[i]] = (float(m[c]), V[:, c].copy())
        got = [self._cache[key] for key in keys]
        return np.array([g[0] for g in got]), (np.stack([g[1] for g in got], axis=1) if got
                                               else np.zeros((self.n_rows_, 0)))

    def describe(self) -> str:
        return (f"two-task GP on {self.n_rows_} history rows (Matern-5/2, cross-validated R^2 on the history "
                f"{self.skill_:.2f}, lengths {', '.join(f'{v:.2g}' for v in self.lengths_)})")


class TwoTaskGP(RegressorMixin, BaseEstimator):
    """The campaign's GP with the history's posterior as its prior (see the module docstring).

    Parameters
    ----------
    posterior : HistoryPosterior
        The history GP; ``X`` holds the same kernel features.
    transfer_prior : float, default=1.0
        Prior mean of ``a`` (1: the campaign behaves as the history; its prior std is 0.5).
    """

    def __init__(self, posterior: HistoryPosterior | None = None, transfer_prior: float = 1.0):
        self.posterior = posterior
        self.transfer_prior = transfer_prior

    def _cov(self, A, VA, B, VB, theta):
        P = self.posterior
        _, a, log_tau, _ = theta
        k = matern52(P.scaled(A), P.scaled(B))
        full = k if A.shape[1] == P.n_inputs_ else matern52(P.scaled(A, own=True), P.scaled(B, own=True))
        return a**2 * (P.variance_ * k - VA.T @ VB) + np.exp(2 * log_tau) * full

    def _neg_log_posterior(self, theta, Z, m1, V, y):
        mu2, a, log_tau, log_noise = theta
        penalty = 0.5 * (((a - self.transfer_prior) / 0.5) ** 2 + (log_tau - np.log(0.5)) ** 2
                         + (log_noise - np.log(0.1)) ** 2 + mu2**2)
        K = self._cov(Z, V, Z, V, theta) + (np.exp(2 * log_noise) + 1e-8) * np.eye(len(y))
        try:
            c = cho_factor(K, lower=True)
        except np.linalg.LinAlgError:
            return 1e10
        r = y - mu2 - a * m1
        return penalty + 0.5 * r @ cho_solve(c, r) + np.log(np.diag(c[0])).sum()

    def fit(self, X, y) -> TwoTaskGP:
        P = self.posterior
        Z = np.asarray(X, dtype=float)
        yz = (np.asarray(y, dtype=float) - P.mean_) / P.scale_
        m1, V = P.project(Z)
        bounds = [(-3, 3), (-0.5, 2.0), (np.log(0.02), np.log(3.0)), (np.log(1e-3), np.log(1.0))]
        best = None
        for a0 in (self.transfer_prior, 0.3):
            res = minimize(self._neg_log_posterior, np.array([0.0, a0, np.log(0.5), np.log(0.1)]),
                           args=(Z, m1, V, yz), method="L-BFGS-B", bounds=bounds)
            if best is None or res.fun < best.fun:
                best = res
        self.theta_ = best.x
        self.Z_, self.V_ = Z, V
        K = self._cov(Z, V, Z, V, self.theta_) + (np.exp(2 * self.theta_[3]) + 1e-8) * np.eye(len(yz))
        self.L_ = np.linalg.cholesky(K)
        self.alpha_ = cho_solve((self.L_, True), yz - self.theta_[0] - self.theta_[1] * m1)
        self.transfer_ = float(self.theta_[1])
        self.chosen_ = f"two-task GP (history weight a = {self.transfer_:.2f})"
        self.n_features_in_ = Z.shape[1]
        return self

    def _posterior(self, X):
        P = self.posterior
        Z = np.asarray(X, dtype=float)
        m1, V = P.project(Z)
        mu2, a, log_tau, _ = self.theta_
        K_cross = self._cov(Z, V, self.Z_, self.V_, self.theta_)
        W = solve_triangular(self.L_, K_cross.T, lower=True)
        mean = mu2 + a * m1 + K_cross @ self.alpha_
        latent = a**2 * (P.variance_ - (V**2).sum(0)) + np.exp(2 * log_tau) - (W**2).sum(0)
        return Z, V, W, mean, np.maximum(latent, 1e-12)

    def predict(self, X, return_std: bool = False):
        P = self.posterior
        _, _, _, mean, latent = self._posterior(X)
        mean = P.mean_ + P.scale_ * mean
        std = P.scale_ * np.sqrt(latent + np.exp(2 * self.theta_[3]))
        return (mean, std) if return_std else mean

    def batch_covariance(self, X):
        """Latent posterior covariance over the rows of ``X`` (columns on demand), for fantasy batches."""
        from matloop.design.batch import BatchCovariance

        Z, V, W, _, latent = self._posterior(X)

        def column(j: int) -> np.ndarray:
            return self._cov(Z, V, Z[j:j + 1], V[:, j:j + 1], self.theta_)[:, 0] - W.T @ W[:, j]

        return BatchCovariance(column, latent, float(np.exp(2 * self.theta_[3])))


class ForestTwoTaskBlend(RegressorMixin, BaseEstimator):
    """Equal mixture of extra trees and a :class:`TwoTaskGP`: the surrogate of a campaign with history.

    ``X``: the campaign's features, the history's prediction, then ``n_kernel`` kernel features (the
    trees see all but the kernel features, the GP only those). Mean: the average of the two; variance
    ``(s_trees^2 + s_gp^2) / 2 + ((m_trees - m_gp) / 2)^2`` (as :class:`~matloop.design.surrogate.ForestGPBlend`).

    Parameters
    ----------
    posterior : HistoryPosterior
    n_kernel : int
        How many trailing columns of ``X`` are the kernel features.
    n_estimators : int, default=50
    random_state : int or None
    min_weight : float, default=MIN_WEIGHT
        Below this learnt history weight ``a`` the campaign's results deny the history, which is set
        aside: the default cold surrogate on the campaign's own features is used instead.
    """

    def __init__(self, posterior: HistoryPosterior | None = None, n_kernel: int = 1, n_estimators: int = 50,
                 random_state=None, min_weight: float = MIN_WEIGHT):
        self.posterior = posterior
        self.n_kernel = n_kernel
        self.min_weight = min_weight
        self.n_estimators = n_estimators
        self.random_state = random_state

    def fit(self, X, y) -> ForestTwoTaskBlend:
        from matloop.models.forest import ExtraTreesRegressor

        X = np.asarray(X, dtype=float)
        self.gp_ = TwoTaskGP(self.posterior).fit(X[:, -self.n_kernel:], y)
        self.plain_ = None
        if self.gp_.transfer_ < self.min_weight:  # the campaign's results deny the history: its cold surrogate
            from matloop.design.surrogate import DEFAULT_SURROGATE, make_surrogate

            self.plain_ = make_surrogate(DEFAULT_SURROGATE, self.random_state).fit(X[:, :-self.n_kernel - 1], y)
            self.chosen_ = (f"{getattr(self.plain_, 'chosen_', DEFAULT_SURROGATE)} ({SET_ASIDE}"
                            f"its learnt weight a = {self.gp_.transfer_:.2f} < {self.min_weight:g})")
        else:
            self.forest_ = ExtraTreesRegressor(n_estimators=self.n_estimators, noise="oob",
                                               random_state=self.random_state).fit(X[:, :-self.n_kernel], y)
            self.chosen_ = f"extra trees + {self.gp_.chosen_}"
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X, return_std: bool = False):
        from matloop.design.surrogate import equal_mixture

        X = np.asarray(X, dtype=float)
        if self.plain_ is not None:
            return self.plain_.predict(X[:, :-self.n_kernel - 1], return_std=return_std)
        mf, sf = self.forest_.predict(X[:, :-self.n_kernel], return_std=True)
        mg, sg = self.gp_.predict(X[:, -self.n_kernel:], return_std=True)
        mean, var = equal_mixture(mf, sf, mg, sg)  # as ForestGPBlend mixes its trees and GP
        return (mean, np.sqrt(var)) if return_std else mean

    def batch_covariance(self, X):
        X = np.asarray(X, dtype=float)
        if self.plain_ is not None:
            return self.plain_.batch_covariance(X[:, :-self.n_kernel - 1])
        return self.gp_.batch_covariance(X[:, -self.n_kernel:])
