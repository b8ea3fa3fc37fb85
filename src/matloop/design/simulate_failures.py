"""Simulated campaigns on a table where some experiments fail (``benchmark campaign --failed-if``).

The protocol of :mod:`matloop.design.simulate` (Liang et al. 2021) with failures: the pool is every
row of the table, failed ones included (a strategy cannot know in advance that an experiment will
fail); picking a failed row costs an experiment and yields no value. The top candidates are the best
``ceil(top_fraction * N_ok)`` successful rows (ties at the cut all count, so with an ordinal score
every row of the best level is a top candidate). Each strategy chooses as ``matloop suggest`` does
with failures recorded (:func:`matloop.design.suggest.rank_candidates`: failed rows are never
proposed again, the surrogate sees each failure at the worst measured value and the acquisition is
multiplied by the calibrated P(success) of :mod:`matloop.design.feasibility`):

- ``default`` (the default surrogate and acquisition) or ``MODEL-ACQUISITION`` (``gp-ei``, ...);
- ``no-feasibility``: the default without the feasibility model (failures only left out of the model
  and never proposed again), to measure what the model saves;
- ``random``.

Beside the Top% curves, each run records the failed experiments among its picks (the random start
excluded); :meth:`FailureBenchmarkResult.summary` reports their mean (``failed_mean``) and
``first_top_hit`` (experiments to the first top candidate).

Duplicate inputs are kept as separate rows (one input may fail once and succeed once).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matloop.design.acquisition import Objective
from matloop.design.simulate import BenchmarkResult, top_mask
from matloop.design.surrogate import DEFAULT_SURROGATE, SURROGATES
from matloop.errors import InputError

__all__ = ["FailureBenchmarkResult", "failure_benchmark", "ordinal_scores", "NO_FEASIBILITY"]

#: the default strategy without the feasibility model
NO_FEASIBILITY = "no-feasibility"


@dataclass
class FailureBenchmarkResult(BenchmarkResult):
    """:class:`~matloop.design.simulate.BenchmarkResult` plus the failed experiments of every run."""

    failures: dict[str, np.ndarray] = field(default_factory=dict)  # strategy -> (runs, budget) cumulative
    n_failed_pool: int = 0
    n_initial: int = 0

    def summary(self, levels=(0.5, 0.8, 1.0)) -> pd.DataFrame:
        out = super().summary(levels)
        out.insert(1, "failed_mean", [float(self.failures[n][:, -1].mean()) for n in out["strategy"]])
        out.insert(2, "failed_share", [float(self.failures[n][:, -1].mean()) / max(1, self.failures[n].shape[1]
                                                                                    - self.n_initial)
                                       for n in out["strategy"]])
        return out

    def to_dict(self) -> dict:
        out = super().to_dict()
        out.update(n_failed_pool=self.n_failed_pool,
                   mean_failures={k: v.mean(axis=0).tolist() for k, v in self.failures.items()})
        return out


def ordinal_scores(values, order: list[str], column: str, rows=None) -> np.ndarray:
    """Scores 0, 1, 2, ... of text labels given from worst to best (an empty cell is NaN; a label not in
    ``order`` is a bad row)."""
    from matloop.errors import error_table

    index = {str(label).strip(): i for i, label in enumerate(order)}
    cells = list(values)
    rows = np.arange(1, len(cells) + 1) if rows is None else np.asarray(rows)
    out = np.full(len(cells), np.nan)
    problems = []
    for i, v in enumerate(cells):
        if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip()):
            continue
        key = str(v).strip()
        if key not in index:
            problems.append({"row": int(rows[i]), "column": column, "value": v,
                             "reason": f"not one of the --target-order labels ({', '.join(map(str, order))})"})
        else:
            out[i] = index[key]
    if problems:
        raise InputError(f"{len(problems)} rows of {column!r} hold a label outside --target-order",
                         error_table(problems))
    return out


def _check_strategies(names: list[str]) -> None:
    bad = []
    for name in names:
        if name in ("random", "default", NO_FEASIBILITY):
            continue
        model, _, acq = name.partition("-")
        if model not in SURROGATES or not acq:
            bad.append(name)
    if bad:
        raise InputError(f"unknown strategies with --failed-if: {', '.join(bad)}; use random, default, "
                         f"{NO_FEASIBILITY} or MODEL-ACQUISITION (e.g. gp-ei)")


def failure_benchmark(X: np.ndarray, y: np.ndarray, failed: np.ndarray, strategies: list[str], runs: int = 10,
                      n_initial: int = 2, budget: int | None = None, top_fraction: float = 0.05, batch: int = 1,
                      seed: int = 0, objective: Objective | None = None,
                      progress: bool = False, top_score: float | None = None,
                      categories: list | None = None) -> FailureBenchmarkResult:
    """Replay campaigns on a fully tried table (``y`` NaN where ``failed``); run ``r`` starts from the
    same random rows for every strategy (see the module docstring). ``top_score``: a maximised ordinal
    goal's best score, used by ``default`` and ``no-feasibility`` as ``suggest`` uses it (``rank_candidates``);
    with fewer than 2 successful results they pick the cold start's design (``categories``: its categorical
    feature columns)."""
    from matloop.design.suggest import rank_candidates

    objective = objective or Objective("max")
    _check_strategies(strategies)
    X = np.asarray(X, dtype=float)
    scale = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0)  # the pool is known: standardise on it
    y = np.asarray(y, dtype=float)
    failed = np.asarray(failed, dtype=bool)
    n = len(y)
    ok_idx = np.flatnonzero(~failed)
    if len(ok_idx) < 2:
        raise InputError("fewer than 2 rows succeeded: there is nothing to find")
    top = np.zeros(n, dtype=bool)
    top[ok_idx] = top_mask(y[ok_idx], top_fraction, objective)
    n_top = int(top.sum())
    budget = n if budget is None else min(int(budget), n)
    if n_initial >= budget:
        raise InputError(f"--initial {n_initial} leaves no experiment within the budget of {budget}")
    frame = pd.DataFrame(index=range(n))
    curves, seconds, fails = {}, {}, {}
    for name in strategies:
        found_runs, fail_runs, secs = [], [], []
        for r in range(runs):
            start = time.perf_counter()
            rng = np.random.default_rng(seed + r)
            order = [int(i) for i in rng.choice(n, n_initial, replace=False)]
            while len(order) < budget:
                remaining = np.setdiff1d(np.arange(n), order)
                k = min(batch, budget - len(order), len(remaining))
                if name == "random":
                    picks = rng.choice(len(remaining), k, replace=False)
                else:
                    tried = np.asarray(order, dtype=int)
                    ok, bad = tried[~failed[tried]], tried[failed[tried]]
                    model, acq = DEFAULT_SURROGATE, None
                    if name not in ("default", NO_FEASIBILITY):
                        model, _, acq = name.partition("-")
                    ranking = rank_candidates(X[ok], y[ok], X[remaining], frame.iloc[remaining], objective, k, acq,
                                              model=model, seed=seed + r,
                                              failed_X=None if name == NO_FEASIBILITY else X[bad],
                                              top_score=top_score if acq is None else None, categories=categories)
                    picks = ranking.chosen_positions
                order.extend(int(i) for i in remaining[np.asarray(picks, dtype=int)])
            order_a = np.asarray(order[:budget])
            found_runs.append(np.cumsum(top[order_a]) / n_top)
            fail_runs.append(np.cumsum(np.r_[np.zeros(n_initial), failed[order_a[n_initial:]]]))
            secs.append(time.perf_counter() - start)
            if progress:
                from matloop.progress import say

                say(f"{name}: run {r + 1}/{runs}, {int(fail_runs[-1][-1])} failed experiments, "
                    f"{found_runs[-1][-1]:.0%} of the top candidates after {budget}")
        curves[name] = np.vstack(found_runs)
        fails[name] = np.vstack(fail_runs)
        seconds[name] = float(np.mean(secs))
    return FailureBenchmarkResult(n, n_top, curves, seconds, failures=fails, n_failed_pool=int(failed.sum()),
                                  n_initial=n_initial)
