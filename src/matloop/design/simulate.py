"""Simulated (pool-based) campaigns: the benchmark protocol of Liang et al. 2021.

Liang, Gongora, Ren et al., "Benchmarking the performance of Bayesian optimization across multiple
experimental materials science domains", npj Comput Mater 7, 188 (2021):

- duplicate inputs are averaged, so the pool has one row per distinct input (``N`` rows);
- the top candidates are the best ``ceil(top_fraction * N)`` of the pool;
- each run starts from ``n_initial`` random measurements, then the strategy picks one candidate at
  a time (or a batch) from the rest of the pool and "measures" it (looks up its value);
- ``Top%(i)`` is the fraction of top candidates found after ``i`` evaluations, averaged over runs;
- the random baseline is analytic: without replacement, ``E[Top%(i)] = i / N``;
- enhancement factor ``EF(i) = Top%(i) / (i / N)``; acceleration factor at a Top% level ``p`` is
  ``AF(p) = (p * N) / i_strategy(p)``, the evaluations random sampling needs over those the strategy
  needs (``i_strategy(p)``: first ``i`` at which the mean Top% curve reaches ``p``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matloop.design.acquisition import Context, Objective, Posterior, make_acquisition
from matloop.design.batch import BATCH_METHODS, DEFAULT_BATCH_METHOD, batch_covariance, select_batch
from matloop.design.surrogate import DEFAULT_SURROGATE, SURROGATES, make_surrogate
from matloop.errors import InputError


def average_duplicates(X: pd.DataFrame, y: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Average ``y`` over identical input rows; returns unique inputs, mean y and replicate counts."""
    frame = X.copy()
    frame["__y__"] = np.asarray(y, dtype=float)
    grouped = frame.groupby(list(X.columns), sort=False, dropna=False)["__y__"]
    means = grouped.mean()
    counts = grouped.size()
    Xu = means.index.to_frame(index=False)
    Xu.columns = list(X.columns)
    return Xu, means.to_numpy(), counts.to_numpy()


class Strategy:
    """Chooses the next experiments from the unmeasured part of the pool.

    ``y_measured`` holds raw target values; ``objective`` says what is good.
    """

    name = "strategy"

    def propose(self, X_measured: np.ndarray, y_measured: np.ndarray, X_candidates: np.ndarray, k: int,
                rng: np.random.Generator, objective: Objective) -> np.ndarray:
        """Indices (into ``X_candidates``) of ``k`` distinct picks."""
        raise NotImplementedError


class RandomStrategy(Strategy):
    """Uniform random picks: the baseline every strategy must beat."""

    name = "random"

    def propose(self, X_measured, y_measured, X_candidates, k, rng, objective):
        return rng.choice(len(X_candidates), size=min(k, len(X_candidates)), replace=False)


@dataclass
class SurrogateStrategy(Strategy):
    """Fit a surrogate with uncertainty, score candidates with an acquisition, pick a batch.

    Parameters
    ----------
    make_model : callable
        Returns a fresh regressor with ``fit`` and ``predict(X, return_std=True)``.
    acquisition : str
        Acquisition name (see :func:`matloop.design.acquisition.make_acquisition`).
    batch : str
        Batch method for ``k > 1`` (``fantasy``, the default; ``penalized``, ``thompson``, ``believer``).
    name : str
        Label in reports.
    acquisition_params : dict
        Keyword arguments of the acquisition (e.g. ``beta`` of UCB).
    reuse_model : bool
        Refit the same model object while a campaign grows (for models with ``warm_start``, which
        then reuse their previous fit); a fresh model whenever the measured set did not grow.
    target_transform : {None, "rank", "power"}
        Monotone warping of the measured values before fitting (maximise/minimise goals only; the
        acquisition then works on the warped scale, where the best is still the best):
        ``"rank"`` maps ranks to normal quantiles (a Gaussian copula: outliers and skew no longer
        dominate the fit), ``"power"`` is a Yeo-Johnson transform.
    """

    make_model: Callable[[], object]
    acquisition: str = "ei"
    batch: str = DEFAULT_BATCH_METHOD
    name: str = "surrogate"
    acquisition_params: dict = field(default_factory=dict)
    reuse_model: bool = False
    target_transform: str | None = None

    def propose(self, X_measured, y_measured, X_candidates, k, rng, objective):
        previous = getattr(self, "_model", None)
        if self.reuse_model and previous is not None and len(X_measured) > self._n_fitted:
            model = previous
        else:
            model = self.make_model()
        if self.target_transform and objective.direction != "range":
            y_measured = warp_target(y_measured, self.target_transform)
        model.fit(X_measured, y_measured)
        self._model, self._n_fitted = model, len(X_measured)
        mean, std = model.predict(X_candidates, return_std=True)
        acq = make_acquisition(self.acquisition, objective, **self.acquisition_params)
        post = Posterior(mean, std) if objective.direction == "range" else objective.posterior(mean, std)
        ctx = Context(best=objective.best(y_measured), X_candidates=X_candidates, X_measured=X_measured, rng=rng)
        if k == 1:  # every method picks the acquisition's argmax
            return select_batch(acq, post, ctx, 1, method="penalized")[0]
        cov = batch_covariance(model, X_measured, y_measured, X_candidates) if self.batch == "fantasy" else None
        refit = _refit(model, X_measured, y_measured, X_candidates, objective) if self.batch == "believer" else None
        idx, _ = select_batch(acq, post, ctx, k, method=self.batch, covariance=cov, refit=refit)
        return idx


def _refit(model, X_measured, y_measured, X_candidates, objective):
    """The ``believer`` batch's callback: refit a copy of the model with fantasy measurements."""
    from sklearn.base import clone

    def refit(chosen, fantasies):
        raw = objective.sign * np.asarray(fantasies) if objective.direction != "range" else np.asarray(fantasies)
        m = clone(model).fit(np.vstack([X_measured, X_candidates[chosen]]), np.r_[y_measured, raw])
        mean, std = m.predict(X_candidates, return_std=True)
        return Posterior(mean, std) if objective.direction == "range" else objective.posterior(mean, std)
    return refit


def warp_target(y: np.ndarray, method: str) -> np.ndarray:
    """Monotone (order-keeping) warping of measured values: ``"rank"`` (normal scores) or ``"power"``."""
    y = np.asarray(y, dtype=float)
    if len(y) < 3 or np.ptp(y) == 0:
        return y
    if method == "rank":
        from scipy.stats import norm, rankdata

        return norm.ppf((rankdata(y) - 0.5) / len(y))
    if method == "power":
        from sklearn.preprocessing import PowerTransformer

        return PowerTransformer(method="yeo-johnson").fit_transform(y.reshape(-1, 1)).ravel()
    raise ValueError(f"target_transform must be 'rank' or 'power', got {method!r}")


@dataclass
class CampaignRun:
    """One simulated campaign: the order in which the pool was measured."""

    order: np.ndarray
    found: np.ndarray  # top candidates found after i evaluations (i = 1..len(order))
    seconds: float


def simulate(X: np.ndarray, y: np.ndarray, strategy: Strategy, top: np.ndarray, n_initial: int = 2,
             budget: int | None = None, batch: int = 1, seed: int = 0, stop_when_all_found: bool = False,
             objective: Objective | None = None, categories: list | None = None,
             groups: np.ndarray | None = None) -> CampaignRun:
    """Run one pool-based campaign (raw ``y``; ``top`` a boolean mask of the top candidates).

    With fewer than 2 measured rows (``n_initial`` 0 or 1) a model strategy's picks are the cold
    start's space-filling design, as ``suggest`` gives (:func:`matloop.design.coldstart.cold_start_picks`;
    ``categories``: each categorical input's feature columns); random stays random. ``groups`` (one
    label per pool row, :func:`matloop.design.batch_groups.same_groups`): every batch shares its first
    pick's group, as ``suggest --same`` chooses it."""
    objective = objective or Objective("max")
    rng = np.random.default_rng(seed)
    n = len(y)
    budget = n if budget is None else min(budget, n)
    start = time.perf_counter()
    measured = list(rng.choice(n, size=min(n_initial, budget), replace=False))
    remaining = np.setdiff1d(np.arange(n), measured)
    n_top = int(top.sum())

    def pick(pool: np.ndarray, kk: int) -> np.ndarray:  # positions in pool (rows of X) of kk picks
        if len(measured) < 2 and not isinstance(strategy, RandomStrategy):  # a cold start (design/coldstart.py)
            from matloop.design.coldstart import cold_start_picks

            return cold_start_picks(X[pool], kk, X[measured] if measured else None, seed, categories=categories)[0]
        return strategy.propose(X[measured], y[measured], X[pool], kk, rng, objective)

    while len(measured) < budget and len(remaining):
        if stop_when_all_found and top[measured].sum() == n_top:
            break
        k = min(batch, budget - len(measured), len(remaining))
        pool = remaining
        if groups is not None and k > 1:  # --same: the first pick as usual, then the batch in its group
            first = remaining[int(np.asarray(pick(remaining, 1))[0])]
            pool = remaining[groups[remaining] == groups[first]]
        chosen = pool[np.asarray(pick(pool, min(k, len(pool))), dtype=int)]
        measured.extend(chosen.tolist())
        remaining = np.setdiff1d(remaining, chosen)
    order = np.array(measured)
    found = np.cumsum(top[order])
    if stop_when_all_found and len(order) < budget:  # all found: the curve stays at the top
        found = np.r_[found, np.full(budget - len(order), n_top)]
    return CampaignRun(order, found, time.perf_counter() - start)


def top_mask(y: np.ndarray, fraction: float = 0.05, objective: Objective | None = None) -> np.ndarray:
    """The best ``ceil(fraction * N)`` values; ties at the cut all count (so with a target window,
    every material inside the window is a top candidate)."""
    objective = objective or Objective("max")
    y = np.asarray(y, dtype=float)
    score = -objective.distance_to_window(y) if objective.direction == "range" else objective.sign * y
    n_top = math.ceil(fraction * len(score))
    cut = np.sort(score)[::-1][n_top - 1]
    return score >= cut


@dataclass
class BenchmarkResult:
    """Top% curves of several strategies on one pool, with the Liang et al. figures of merit."""

    n_pool: int
    n_top: int
    curves: dict[str, np.ndarray]  # strategy -> (runs, budget) Top% after i evaluations
    seconds: dict[str, float]

    def mean_curve(self, name: str) -> np.ndarray:
        return self.curves[name].mean(axis=0)

    def random_curve(self, length: int) -> np.ndarray:
        return np.arange(1, length + 1) / self.n_pool

    def evaluations_to(self, name: str, level: float) -> float:
        """First number of evaluations at which the mean Top% reaches ``level`` (NaN if never)."""
        curve = self.mean_curve(name)
        hit = np.flatnonzero(curve >= level - 1e-12)
        return float(hit[0] + 1) if len(hit) else float("nan")

    def acceleration_factor(self, name: str, level: float) -> float:
        needed = self.evaluations_to(name, level)
        return float(level * self.n_pool / needed) if np.isfinite(needed) else float("nan")

    def enhancement_factor(self, name: str) -> np.ndarray:
        curve = self.mean_curve(name)
        return curve / self.random_curve(len(curve))

    def runs_to(self, name: str, level: float) -> np.ndarray:
        """Evaluations each run needed to reach ``level`` (NaN for runs that did not within the budget)."""
        out = np.full(len(self.curves[name]), np.nan)
        for r, curve in enumerate(self.curves[name]):
            hit = np.flatnonzero(curve >= level - 1e-12)
            if len(hit):
                out[r] = hit[0] + 1
        return out

    def summary(self, levels=(0.5, 0.8, 1.0)) -> pd.DataFrame:
        """One row per strategy: evaluations to reach each Top% level (mean curve, as Liang et al.; and
        per run: mean, standard error, runs that reached it), AF there, max EF, run time.

        Per-run means count a run that never reached the level as ``budget + 1`` (so they are lower
        bounds when ``reached_*`` is below the number of runs).
        """
        rows = []
        for name in self.curves:
            row = {"strategy": name}
            runs = len(self.curves[name])
            budget = self.curves[name].shape[1]
            for lv in levels:
                pct = f"{lv * 100:g}"
                per_run = self.runs_to(name, lv)
                filled = np.where(np.isfinite(per_run), per_run, budget + 1)
                row[f"evals_to_{pct}pct"] = self.evaluations_to(name, lv)
                row[f"runs_mean_{pct}pct"] = float(filled.mean())
                row[f"runs_se_{pct}pct"] = float(filled.std(ddof=1) / np.sqrt(runs)) if runs > 1 else float("nan")
                row[f"reached_{pct}pct"] = int(np.isfinite(per_run).sum())
                row[f"AF_{pct}pct"] = self.acceleration_factor(name, lv)
            row["EF_max"] = float(np.max(self.enhancement_factor(name)))
            hits = self.curves[name] > 0
            row["first_top_hit"] = float(np.mean(np.where(hits.any(axis=1), np.argmax(hits, axis=1) + 1, budget + 1)))
            row["seconds_per_run"] = self.seconds[name]
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        return {"n_pool": self.n_pool, "n_top": self.n_top,
                "summary": self.summary().to_dict(orient="records"),
                "mean_curves": {k: self.mean_curve(k).tolist() for k in self.curves}}


def benchmark(X: np.ndarray, y: np.ndarray, strategies: dict[str, Strategy], runs: int = 50, n_initial: int = 2,
              budget: int | None = None, top_fraction: float = 0.05, batch: int = 1, seed: int = 0,
              progress: bool = True, objective: Objective | None = None,
              categories: list | None = None, groups: np.ndarray | None = None) -> BenchmarkResult:
    """Replay the pool-based protocol for each strategy over ``runs`` seeds (same seeds for all).

    ``y`` holds raw target values; ``objective`` (default: maximise) defines the top candidates;
    ``categories`` (``n_initial`` below 2) and ``groups`` (batches sharing a setting): :func:`simulate`.
    """
    objective = objective or Objective("max")
    from tqdm.auto import tqdm

    X = np.asarray(X, dtype=float)
    scale = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0)  # the pool is known: standardise on it
    y = np.asarray(y, dtype=float)
    top = top_mask(y, top_fraction, objective)
    n_top = int(top.sum())
    budget = len(y) if budget is None else min(budget, len(y))
    curves, seconds = {}, {}
    for name, strat in strategies.items():
        rows, secs = [], []
        bar = tqdm(range(runs), desc=f"{name:>14}", disable=not progress, leave=True)
        for r in bar:
            run = simulate(X, y, strat, top, n_initial, budget, batch, seed + r, stop_when_all_found=True,
                           objective=objective, categories=categories, groups=groups)
            rows.append(run.found[:budget] / n_top)
            secs.append(run.seconds)
        curves[name] = np.vstack(rows)
        seconds[name] = float(np.mean(secs))
    return BenchmarkResult(len(y), n_top, curves, seconds)


#: our default closed-loop strategy (chosen on the benchmark; see benchmarks/results/closed_loop.md)
DEFAULT_STRATEGY = f"{DEFAULT_SURROGATE}-logei"
#: surrogates that refit faster when the strategy keeps refitting the same object (warm start)
WARM_SURROGATES = ("fastgp", "etgp")


def make_strategy(name: str, seed: int = 0, batch_method: str = DEFAULT_BATCH_METHOD) -> Strategy:
    """A strategy by name: ``random``, ``default``, or ``MODEL-ACQUISITION`` such as ``gp-ei``,
    ``rf-lcb``, ``etgp-logei`` (models: see :func:`~matloop.design.surrogate.make_surrogate`;
    acquisitions as in :func:`~matloop.design.acquisition.make_acquisition`). ``default`` is
    :data:`DEFAULT_STRATEGY`: extra trees + warm-started GP mixture with log-EI (the window
    probability for a target range), about 0.1 s per step; chosen on the closed-loop benchmark.
    ``batch_method`` chooses the batch when a round picks more than one (see
    :mod:`matloop.design.batch`; default ``fantasy``, chosen on ``benchmarks/batch_penalty.py``)."""
    if name == "random":
        return RandomStrategy()
    label = name
    if name == "default":
        name = DEFAULT_STRATEGY
    model, _, acq = name.partition("-")
    if model not in SURROGATES or not acq:
        raise InputError(f"unknown strategy {label!r}: use 'random', 'default' or MODEL-ACQUISITION with MODEL in "
                         f"{', '.join(SURROGATES)} (e.g. gp-ei, rf-lcb)")
    try:
        make_acquisition(acq if acq != "window" else "ei")  # fail early on an unknown acquisition
    except ValueError as exc:
        raise InputError(f"strategy {label!r}: {exc}") from None
    if batch_method not in BATCH_METHODS:
        raise InputError(f"unknown batch method {batch_method!r}; known: {', '.join(BATCH_METHODS)}")
    return SurrogateStrategy(lambda: make_surrogate(model, seed), acquisition=acq, batch=batch_method, name=label,
                             reuse_model=model in WARM_SURROGATES)
