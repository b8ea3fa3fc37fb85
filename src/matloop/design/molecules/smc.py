"""Sequential Monte Carlo over molecules: iQSPR's Bayesian molecular design.

Target: the posterior ``p(S | Y in U) ∝ p(Y in U | S) p(S)`` over molecules ``S``, where the
likelihood is the probability that the forward models put every property in its window and the
prior ``p(S)`` is the chemical language model (:class:`~matloop.design.molecules.ngram.NGramModel`)
fitted on known molecules. As in iQSPR (Ikebata et al. 2017; XenonPy's ``IQSPR``) the prior enters
through the proposal: every step each particle is modified by the n-gram (tail cut and regrown), so
particles stay in the region of chemical space the language model finds plausible, and the
population is resampled with weights ``likelihood ** beta_t``. The inverse temperature ``beta_t``
rises from near 0 (almost free exploration under the prior) to 1 (the full likelihood) over the
run; annealing keeps early, accidental winners from taking over the population.

Two moves are offered:

* ``"iqspr"``: always accept the modified particle, then resample (XenonPy's scheme);
* ``"metropolis"`` (default): accept a modification with probability ``min(1, (L_new / L_old) **
  beta_t)`` before resampling, so a good molecule is not lost by an unlucky modification (a
  resample-move SMC step; the proposal is not symmetric, so this is a heuristic, not an exact MCMC
  kernel). With the n-gram's reversible cut-and-regrow proposal the prior terms of the
  Metropolis-Hastings ratio cancel, so the kernel leaves ``prior x likelihood**beta`` nearly
  invariant. On ESOL logS windows [-6, -5] and [-2, -1] (100 particles, 30 steps, 100 molecules
  returned; measured during development with a 10-descriptor forest) both moves put every returned
  molecule in the window with the same mean likelihood and diversity, but ``"metropolis"`` kept
  far more of them near the training molecules (in domain: 51% vs 13% and 48% vs 27%).

Duplicated particles are evaluated once: the population is reduced to distinct molecules with their
multiplicities, and weights are ``beta * log L + log(multiplicity)``. Every distinct molecule ever
evaluated is kept with its log-likelihood and the step that first produced it, since the best
molecules of a run need not survive to its last population.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from matloop.design.molecules.ngram import NGramModel

__all__ = ["SMCResult", "iqspr_schedule", "systematic_resample", "smc_sample"]

MOVES = ("iqspr", "metropolis")


@dataclass
class SMCResult:
    """What a run produced.

    Attributes
    ----------
    molecules : DataFrame
        Every distinct molecule evaluated: ``smiles``, ``log_likelihood``, ``step`` (first seen;
        0 = the initial population).
    trace : DataFrame
        Per step: ``beta``, ``ess`` (effective sample size before resampling), ``n_unique``,
        ``mean_log_likelihood``, ``max_log_likelihood``, ``proposal_validity`` (RDKit-valid share
        of grown strings), ``changed`` (share of particles modified), ``accepted``.
    population : list of str
        The final particles (with repeats).
    """

    molecules: pd.DataFrame
    trace: pd.DataFrame
    population: list[str]


def iqspr_schedule(steps: int) -> np.ndarray:
    """Inverse temperatures of XenonPy's iQSPR tutorial, stretched to ``steps``: 40% of the steps rise
    from 0.01 to 0.2, 20% to 0.4, 20% to 1, and the last 20% stay at 1."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    knots_x = np.array([0.0, 0.4, 0.6, 0.8, 1.0])
    knots_y = np.array([0.01, 0.2, 0.4, 1.0, 1.0])
    x = (np.arange(steps) + 1) / steps
    return np.interp(x, knots_x, knots_y)


def systematic_resample(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` draws with systematic resampling (lower variance than multinomial)."""
    p = np.asarray(weights, dtype=float)
    p = p / p.sum()
    positions = (rng.random() + np.arange(n)) / n
    return np.minimum(np.searchsorted(np.cumsum(p), positions, side="right"), len(p) - 1)


def smc_sample(log_likelihood: Callable[[Sequence[str]], np.ndarray], ngram: NGramModel, initial: Sequence[str],
               n_particles: int = 100, steps: int = 30, betas: Sequence[float] | None = None,
               move: str = "metropolis", random_state: int | np.random.Generator | None = 0,
               callback: Callable[[int, pd.DataFrame], None] | None = None) -> SMCResult:
    """Run the sampler (see the module docstring).

    Parameters
    ----------
    log_likelihood : callable
        Distinct canonical SMILES -> log-likelihood array (e.g. a window log-probability).
    ngram : NGramModel
        Fitted language model: the prior and the proposal.
    initial : sequence of str
        Molecules the first population is drawn from (with replacement if fewer than ``n_particles``).
    n_particles, steps : int
        Population size and number of SMC steps (each evaluates at most ``n_particles`` new molecules).
    betas : sequence of float, optional
        Inverse temperatures, one per step (default :func:`iqspr_schedule`).
    move : {"metropolis", "iqspr"}
    random_state : int, Generator or None
    callback : callable, optional
        Called after each step with (step, trace so far), e.g. for progress output.
    """
    if move not in MOVES:
        raise ValueError(f"move must be one of {MOVES}, got {move!r}")
    rng = np.random.default_rng(random_state)
    betas = iqspr_schedule(steps) if betas is None else np.asarray(betas, dtype=float)
    initial = list(dict.fromkeys(initial))
    if not initial:
        raise ValueError("need at least one initial molecule")
    cache: dict[str, float] = {}
    first: dict[str, int] = {}

    def evaluate(smiles: Sequence[str], step: int) -> np.ndarray:
        new = [s for s in dict.fromkeys(smiles) if s not in cache]
        if new:
            values = np.asarray(log_likelihood(new), dtype=float).reshape(-1)
            for s, v in zip(new, values, strict=True):
                cache[s] = float(v) if np.isfinite(v) else -1e6
                first[s] = step
        return np.array([cache[s] for s in smiles])

    draw = rng.choice(len(initial), size=n_particles, replace=len(initial) < n_particles)
    particles = [initial[i] for i in draw]
    evaluate(particles, 0)
    rows = []
    for t, beta in enumerate(betas, start=1):
        proposals, stats = ngram.propose(particles, rng)
        accepted = 1.0
        if move == "metropolis":
            ll_new, ll_old = evaluate(proposals, t), evaluate(particles, t)
            keep = np.log(rng.random(len(particles))) < beta * (ll_new - ll_old)
            particles = [p if k else o for p, o, k in zip(proposals, particles, keep, strict=True)]
            accepted = float(keep.mean())
        else:
            particles = proposals
        unique, counts = np.unique(np.asarray(particles, dtype=object), return_counts=True)
        ll = evaluate(list(unique), t)
        logw = beta * ll + np.log(counts)
        p = np.exp(logw - logsumexp(logw))
        rows.append({
            "step": t, "beta": float(beta), "ess": float(1.0 / np.sum((p * 1.0) ** 2)) if len(p) else 0.0,
            "n_unique": len(unique), "mean_log_likelihood": float(np.sum(counts * ll) / counts.sum()),
            "max_log_likelihood": float(ll.max()),
            "proposal_validity": stats["valid"] / max(stats["attempts"], 1),
            "changed": stats["changed"] / len(particles), "accepted": accepted,
        })
        particles = list(unique[systematic_resample(p, n_particles, rng)])
        if callback is not None:
            callback(t, pd.DataFrame(rows))
    molecules = pd.DataFrame({"smiles": list(cache), "log_likelihood": list(cache.values()),
                              "step": [first[s] for s in cache]})
    return SMCResult(molecules=molecules, trace=pd.DataFrame(rows), population=particles)
