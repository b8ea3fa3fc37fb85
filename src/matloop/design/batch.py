"""Choosing a batch of k experiments that are not k copies of one idea.

Four strategies, all separated from the acquisition (and, but for ``fantasy``, from the model):

- ``fantasy`` (the default of suggestions, campaigns and batch benchmarks): a kriging believer
  without refits. Each pick is taken as measured at its predicted mean, and the uncertainty of every
  other candidate shrinks by the model's own posterior covariance with it: exact rank-1 updates of a
  Gaussian process posterior (the GP of the default forest + GP mixture, or a GP fitted for the
  purpose when the surrogate has none). The mean does not move under this fantasy, the best value
  so far becomes ``max(best, mean of the pick)``, and the acquisition is re-scored on the updated
  posterior, so the next pick is what a sequential campaign would choose if the pick had come out
  as predicted. Candidates the model sees as unrelated to the picks keep their full score, which
  the fixed-radius penalty below cannot know (see ``benchmarks/results/batch_penalty.md``).
- ``penalized``: greedy selection on the acquisition, where each pick down-weights candidates
  close to it in feature space (a local-penalisation / diversity term, after González et al. 2016).
- ``believer``: kriging believer / constant liar (Ginsbourger et al. 2010): after each pick the
  model is refitted with a fantasy measurement there, so the next pick sees the reduced uncertainty.
- ``thompson``: one independent Thompson draw per slot (Kandasamy et al. 2018).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import rankdata

from matloop.design.acquisition import Acquisition, Context, Posterior, ThompsonSampling

BATCH_METHODS = ("fantasy", "penalized", "believer", "thompson")
#: the batch method of ``suggest``, ``campaign suggest`` and ``benchmark campaign --batch``
DEFAULT_BATCH_METHOD = "fantasy"
#: acquisitions that fall when the predicted std falls (at a fixed mean and incumbent): for them
#: the variance update alone spreads a batch; the others are also multiplied by ``1 - rho^2``
_VARIANCE_MONOTONE = ("ei", "logei", "ucb", "mu")

#: refit callback for the believer strategy: (chosen candidate indices, fantasy values) -> posterior
Refit = Callable[[np.ndarray, np.ndarray], Posterior]


def select_batch(
    acquisition: Acquisition,
    posterior: Posterior,
    context: Context,
    k: int,
    method: str = "penalized",
    refit: Refit | None = None,
    liar: str = "mean",
    radius: float | None = None,
    covariance: BatchCovariance | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``k`` distinct candidates and the acquisition value each had when picked.

    Parameters
    ----------
    acquisition, posterior, context
        The scoring rule, the predictions for every candidate, and the campaign state.
        ``context.X_candidates`` (standardised features) is needed by ``penalized``.
    k : int
        Batch size (capped at the number of candidates).
    method : {"fantasy", "penalized", "believer", "thompson"}
    refit : callable, optional
        Needed by ``believer``: returns the posterior over all candidates after adding fantasy
        measurements at the given candidate indices.
    liar : {"mean", "best", "worst"}
        Fantasy value for ``believer``: the predicted mean (kriging believer) or a constant liar.
    radius : float, optional
        Length scale of the ``penalized`` diversity term; default: the median distance from a
        candidate to its nearest other candidate, times 2.
    covariance : BatchCovariance, optional
        Needed by ``fantasy`` (see :func:`batch_covariance`).
    """
    n = len(posterior.mean)
    k = min(int(k), n)
    if k < 1:
        raise ValueError(f"batch size must be >= 1, got {k}")
    if method == "fantasy":
        if k == 1:  # one pick needs no fantasy (suggest computes no covariance for a batch of 1)
            values = acquisition(posterior, context)
            order = np.argsort(-values, kind="stable")[:1]
            return order, values[order]
        if covariance is None:
            raise ValueError("the fantasy batch needs the model's posterior covariance (batch_covariance)")
        return _fantasy(acquisition, posterior, context, k, covariance)
    if method == "penalized":
        return _penalized(acquisition, posterior, context, k, radius)
    if method == "believer":
        if refit is None:
            raise ValueError("the believer batch needs a refit callback")
        return _believer(acquisition, posterior, context, k, refit, liar)
    if method == "thompson":
        return _thompson(posterior, context, k)
    raise ValueError(f"unknown batch method {method!r}; known: {', '.join(BATCH_METHODS)}")


def _penalized(acq, posterior, context, k, radius):
    values = acq(posterior, context)
    if context.X_candidates is None or k == 1:
        order = np.argsort(-values, kind="stable")[:k]
        return order, values[order]
    X = np.asarray(context.X_candidates, dtype=float)
    # rank-normalised acquisition in (0, 1]: the penalty is a multiplicative factor
    utility = rankdata(values, method="average") / len(values)
    if radius is None:
        radius = 2.0 * _median_nn_distance(X, context.rng)
    radius = max(radius, 1e-12)
    factor = np.ones(len(values))
    chosen: list[int] = []
    for _ in range(k):
        masked = utility * factor
        masked[chosen] = -np.inf
        j = int(np.argmax(masked))
        chosen.append(j)
        d2 = np.sum((X - X[j]) ** 2, axis=1)
        factor *= 1.0 - np.exp(-d2 / (2.0 * radius**2))
    idx = np.array(chosen)
    return idx, values[idx]


def _median_nn_distance(X: np.ndarray, rng: np.random.Generator, sample: int = 2000) -> float:
    """Median nearest-neighbour distance among (a sample of) the candidates."""
    if len(X) < 2:
        return 1.0
    S = X[rng.choice(len(X), size=min(sample, len(X)), replace=False)]
    sq = np.einsum("ij,ij->i", S, S)
    d2 = sq[:, None] + sq[None, :] - 2.0 * S @ S.T
    np.fill_diagonal(d2, np.inf)
    d = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    positive = d[d > 0]
    return float(np.median(positive)) if len(positive) else 1.0


def _believer(acq, posterior, context, k, refit, liar):
    chosen: list[int] = []
    picked_values: list[float] = []
    fantasies: list[float] = []
    current = posterior
    for _ in range(k):
        values = acq(current, context)
        values[chosen] = -np.inf
        j = int(np.argmax(values))
        chosen.append(j)
        picked_values.append(float(values[j]))
        if liar == "mean":
            fantasies.append(float(current.mean[j]))
        elif liar == "best":
            fantasies.append(float(context.best if context.best is not None else current.mean.max()))
        elif liar == "worst":
            fantasies.append(float(current.mean.min()))
        else:
            raise ValueError(f"liar must be 'mean', 'best' or 'worst', got {liar!r}")
        if len(chosen) < k:
            current = refit(np.array(chosen), np.array(fantasies))
    return np.array(chosen), np.array(picked_values)


def _thompson(posterior, context, k):
    ts = ThompsonSampling()
    chosen: list[int] = []
    values: list[float] = []
    for _ in range(k):
        draw = ts(posterior, context)
        draw[chosen] = -np.inf
        j = int(np.argmax(draw))
        chosen.append(j)
        values.append(float(draw[j]))
    return np.array(chosen), np.array(values)


@dataclass
class BatchCovariance:
    """A Gaussian process posterior over the candidates, for ``fantasy`` batches.

    Attributes
    ----------
    column : callable
        ``column(j)``: posterior covariance of the latent function at every candidate with candidate
        ``j`` (before any pick of the batch).
    latent_var : ndarray
        Posterior variance of the latent function at every candidate (``column(j)[j]``).
    noise : float
        Variance of one measurement's noise, in the same units.
    """

    column: Callable[[int], np.ndarray]
    latent_var: np.ndarray
    noise: float


def batch_covariance(model, X_train: np.ndarray, y_train: np.ndarray, X_candidates: np.ndarray,
                     random_state: int | None = 0) -> BatchCovariance:
    """The posterior covariance a ``fantasy`` batch uses, from a fitted surrogate.

    A surrogate with a ``batch_covariance(X)`` method (:class:`~matloop.design.surrogate.WarmStartGP`,
    :class:`~matloop.design.surrogate.ForestGPBlend`, or a wrapper whose ``model_`` has one) gives
    its own; for any other (forests, boosting) an ARD GP is fitted to the same data for the
    purpose, so the batch still knows which candidates the data make alike. Only ratios of
    variances are used, so the units of ``y_train`` do not matter.
    """
    for m in (model, getattr(model, "model_", None)):
        if m is not None and hasattr(m, "batch_covariance"):
            return m.batch_covariance(X_candidates)
    from matloop.design.surrogate import WarmStartGP

    y_train = np.asarray(y_train, dtype=float)
    if len(y_train) < 2:  # nothing to fit a GP on: its prior (Matern-5/2, length sqrt(d) standardised units)
        return _prior_covariance(np.asarray(X_candidates, dtype=float))
    gp = WarmStartGP(random_state=random_state).fit(np.asarray(X_train, dtype=float), y_train)
    return gp.batch_covariance(X_candidates)


def _prior_covariance(X: np.ndarray) -> BatchCovariance:
    """A GP prior over the candidates (no data): unit variance, 1 % noise."""
    mu, sd = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
    Z = np.nan_to_num((X - mu) / np.where(sd > 0, sd, 1.0)) / np.sqrt(max(X.shape[1], 1))

    def column(j: int) -> np.ndarray:
        r = np.sqrt(5.0) * np.sqrt(np.maximum(((Z - Z[j]) ** 2).sum(axis=1), 0.0))
        return (1.0 + r + r**2 / 3.0) * np.exp(-r)
    return BatchCovariance(column, np.ones(len(X)), 1e-2)


class RankOneConditioner:
    """The GP's latent variance over the candidates as picks are conditioned on, one at a time.

    ``latent`` starts at the candidates' latent variance; :meth:`condition` removes what a pick at
    candidate ``j`` explains, by the rank-1 update ``u = C_{t-1}(:, j) / sqrt(C_{t-1}(j, j) + noise)``,
    ``latent -= u**2`` (the Cholesky columns of the picks' covariance, kept in :attr:`factors`).
    Shared by the fantasy batch and the benchmark probes that vary it.
    """

    def __init__(self, cov: BatchCovariance):
        self.cov = cov
        self.latent0 = np.maximum(np.asarray(cov.latent_var, dtype=float), 0.0)
        self.noise = max(float(cov.noise), 1e-12 * (float(np.max(self.latent0)) + 1e-300))
        self.latent = self.latent0.copy()
        self.factors: list[np.ndarray] = []

    def ratio(self) -> np.ndarray:
        """Predictive-variance ratio ``(latent_t + noise) / (latent_0 + noise)`` per candidate."""
        return (self.latent + self.noise) / (self.latent0 + self.noise)

    def keep(self) -> np.ndarray:
        """``1 - rho^2``: the share of each candidate's latent variance the picks leave."""
        return np.clip(self.latent / np.maximum(self.latent0, 1e-300), 0.0, 1.0)

    def condition(self, j: int) -> None:
        """Condition on a (fantasised) observation at candidate ``j``."""
        col = np.asarray(self.cov.column(j), dtype=float).copy()
        for u in self.factors:
            col -= u * u[j]
        u = col / np.sqrt(max(col[j], 0.0) + self.noise)
        self.factors.append(u)
        self.latent = np.maximum(self.latent - u**2, 0.0)


def _fantasy(acq, posterior, context, k, cov: BatchCovariance):
    """Kriging believer by rank-1 updates of the GP posterior (see the module docstring).

    The std the acquisition sees is scaled by the GP's predictive-variance ratio
    ``(latent_t + noise) / (latent_0 + noise)``: exact for a GP surrogate, proportional for a
    mixture whose GP member is the one updated.
    """
    mean = posterior.mean
    var0 = posterior.std**2
    gp = RankOneConditioner(cov)
    penalize = getattr(acq, "name", "") not in _VARIANCE_MONOTONE
    log_scale = getattr(acq, "name", "") in ("logei", "mli")
    improves = getattr(acq, "name", "") in ("ei", "logei", "pi", "mli")  # scored against the incumbent
    best = context.best
    chosen: list[int] = []
    picked: list[float] = []
    ctx = context
    for t in range(k):
        values = np.asarray(acq(Posterior(mean, np.sqrt(var0 * gp.ratio())), ctx), dtype=float).copy()
        if penalize and t:  # 1 - rho^2: the share of a candidate's uncertainty the picks leave
            keep = gp.keep()
            values = values + np.log(np.maximum(keep, 1e-300)) if log_scale else np.where(
                values >= 0, values * keep, values / np.maximum(keep, 1e-12))
        values[chosen] = -np.inf
        j = int(np.argmax(values))
        chosen.append(j)
        picked.append(float(values[j]))
        if t == k - 1:
            break
        gp.condition(j)
        if improves and best is not None and np.isfinite(mean[j]):
            best = max(best, float(mean[j]))
            ctx = replace(context, best=best)
    return np.array(chosen), np.array(picked)
