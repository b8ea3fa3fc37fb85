"""Choosing a batch of k experiments that are not k copies of one idea.

Three strategies, all separated from the acquisition and from the model:

- ``penalized``: greedy selection on the acquisition, where each pick down-weights candidates
  close to it in feature space (a local-penalisation / diversity term, after González et al. 2016).
- ``believer``: kriging believer / constant liar (Ginsbourger et al. 2010): after each pick the
  model is refitted with a fantasy measurement there, so the next pick sees the reduced uncertainty.
- ``thompson``: one independent Thompson draw per slot (Kandasamy et al. 2018).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import rankdata

from matloop.design.acquisition import Acquisition, Context, Posterior, ThompsonSampling

BATCH_METHODS = ("penalized", "believer", "thompson")

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
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``k`` distinct candidates and the acquisition value each had when picked.

    Parameters
    ----------
    acquisition, posterior, context
        The scoring rule, the predictions for every candidate, and the campaign state.
        ``context.X_candidates`` (standardised features) is needed by ``penalized``.
    k : int
        Batch size (capped at the number of candidates).
    method : {"penalized", "believer", "thompson"}
    refit : callable, optional
        Needed by ``believer``: returns the posterior over all candidates after adding fantasy
        measurements at the given candidate indices.
    liar : {"mean", "best", "worst"}
        Fantasy value for ``believer``: the predicted mean (kriging believer) or a constant liar.
    radius : float, optional
        Length scale of the ``penalized`` diversity term; default: the median distance from a
        candidate to its nearest other candidate, times 2.
    """
    n = len(posterior.mean)
    k = min(int(k), n)
    if k < 1:
        raise ValueError(f"batch size must be >= 1, got {k}")
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
