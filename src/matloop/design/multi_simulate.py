"""Simulated campaigns with several goals (``matloop benchmark campaign --goal ... --goal ...``).

Each run starts from ``n_initial`` random rows of a fully measured table and lets a strategy choose
``batch`` rows at a time until ``budget``. Progress is the fraction of the pool's hypervolume that
the measured rows dominate (each goal scaled by the pool's range; reference 10 % of the range below
the pool's worst value), the multi-objective analogue of Top%. Strategies: ``default`` (= ``ehvi``),
``parego``, ``chimera`` (:func:`matloop.design.multi_suggest.rank_multi`) and ``random``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matloop.design.goals import Goal
from matloop.design.multiobjective import hypervolume
from matloop.design.surrogate import DEFAULT_SURROGATE
from matloop.errors import InputError

MULTI_STRATEGIES = ("default", "ehvi", "parego", "chimera", "random")


@dataclass
class MultiBenchmarkResult:
    """Hypervolume-fraction curves per strategy (runs x experiments)."""

    n_pool: int
    goals: list[Goal]
    curves: dict[str, np.ndarray] = field(default_factory=dict)

    def mean_curve(self, name: str) -> np.ndarray:
        return np.asarray(self.curves[name]).mean(axis=0)

    def summary(self) -> pd.DataFrame:
        """One row per strategy: final fraction, experiments to 50 % and 90 % of the pool's hypervolume."""
        rows = []
        for name in self.curves:
            m = self.mean_curve(name)
            rows.append({"strategy": name, "hv_fraction_final": float(m[-1]),
                         "experiments_to_50pct": _first(m, 0.5), "experiments_to_90pct": _first(m, 0.9)})
        return pd.DataFrame(rows).sort_values("hv_fraction_final", ascending=False, ignore_index=True)

    def to_dict(self) -> dict:
        return {"n_pool": self.n_pool, "goals": [g.text() for g in self.goals],
                "curves": {k: np.asarray(v).tolist() for k, v in self.curves.items()},
                "summary": self.summary().to_dict(orient="records")}


def _first(curve: np.ndarray, level: float) -> float:
    hit = np.flatnonzero(curve >= level)
    return float(hit[0] + 1) if len(hit) else float("nan")


def hypervolume_fraction(Y: np.ndarray, goals: list[Goal]):
    """A function of row indices giving the fraction of the pool's hypervolume they dominate."""
    S = np.column_stack([g.score(Y[:, j]) for j, g in enumerate(goals)])
    lo, hi = S.min(axis=0), S.max(axis=0)
    Z = (S - lo) / np.where(hi > lo, hi - lo, 1.0)
    ref = np.full(len(goals), -0.1)
    total = hypervolume(Z, ref)
    return lambda idx: hypervolume(Z[np.asarray(idx, dtype=int)], ref) / total


def multi_benchmark(X: np.ndarray, Y: np.ndarray, goals: list[Goal], strategies: list[str], runs: int = 5,
                    n_initial: int = 5, budget: int | None = None, batch: int = 1, seed: int = 0,
                    model: str = DEFAULT_SURROGATE, progress: bool = False,
                    categories: list | None = None, groups: np.ndarray | None = None) -> MultiBenchmarkResult:
    """Replay campaigns on the fully measured ``(X, Y)``; run ``r`` starts from the same rows for every strategy.
    With fewer than 2 results of a goal a model strategy picks the cold start's design (``categories``: its
    categorical feature columns). ``groups`` (one label per row, :func:`matloop.design.batch_groups.same_groups`):
    every batch shares its first pick's group, as ``suggest --same`` chooses it (random: a random first pick,
    the rest at random in its group)."""
    from matloop.design.batch_groups import rank_in_one_group
    from matloop.design.multi_suggest import rank_multi

    unknown = [s for s in strategies if s not in MULTI_STRATEGIES]
    if unknown:
        raise InputError(f"unknown strategies for several goals: {', '.join(unknown)}; known: "
                         f"{', '.join(MULTI_STRATEGIES)}")
    n = len(X)
    budget = min(int(budget or n), n)
    if n_initial >= budget:
        raise InputError(f"--initial {n_initial} leaves no experiment within the budget of {budget}")
    fraction = hypervolume_fraction(Y, goals)
    result = MultiBenchmarkResult(n, goals)
    for name in strategies:
        curves = []
        for r in range(runs):
            rng = np.random.default_rng(seed + r)
            order = [int(i) for i in rng.choice(n, n_initial, replace=False)]
            while len(order) < budget:
                measured = np.array(order, dtype=int)
                open_idx = np.setdiff1d(np.arange(n), measured)
                k = min(batch, budget - len(order))
                if name == "random":
                    new = rng.choice(open_idx, 1 if groups is not None else k, replace=False)
                    if groups is not None and k > 1:  # the rest of the batch at random in the first pick's group
                        mates = open_idx[(groups[open_idx] == groups[new[0]]) & (open_idx != new[0])]
                        new = np.r_[new, rng.choice(mates, min(k - 1, len(mates)), replace=False)]
                else:
                    scal = "ehvi" if name == "default" else name

                    def rank(pos, kk, measured=measured, open_idx=open_idx, scal=scal, r=r):
                        return rank_multi(X[measured], Y[measured], X[open_idx[pos]], pd.DataFrame(index=open_idx[pos]),
                                          goals, kk, scal, model, seed + r, categories=categories)
                    found = rank_in_one_group(rank, len(open_idx), None if groups is None else groups[open_idx], k)
                    new = open_idx[np.asarray(found.chosen_positions, dtype=int)]
                order.extend(int(i) for i in new)
            curves.append([fraction(order[:i]) for i in range(1, budget + 1)])
            if progress:
                from matloop.progress import say

                say(f"{name}: run {r + 1}/{runs}, {curves[-1][-1]:.1%} of the pool's hypervolume after {budget}")
        result.curves[name] = np.array(curves)
    return result


def random_baseline(Y: np.ndarray, goals: list[Goal], n_initial: int, budget: int | None = None, runs: int = 200,
                    seed: int = 0) -> np.ndarray:
    """Mean fraction of the pool's hypervolume after each experiment when every row is picked at random
    (``runs`` random orders, the first ``n_initial`` as in :func:`multi_benchmark`): the baseline of the
    hypervolume plot of ``benchmark campaign --goal``, drawn whether or not ``random`` was run."""
    n = len(Y)
    budget = min(int(budget or n), n)
    fraction = hypervolume_fraction(np.asarray(Y, dtype=float), goals)
    rng = np.random.default_rng(seed)
    total = np.zeros(budget)
    for _ in range(runs):
        order = rng.permutation(n)[:budget]
        total += [fraction(order[:i]) for i in range(1, budget + 1)]
    return total / runs
