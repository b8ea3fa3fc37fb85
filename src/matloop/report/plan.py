"""How a report spends its time: timed stages and a plan of row counts that fits a time budget.

:class:`Stopwatch` records the seconds of every stage of :func:`matloop.report.build.build_report`
(they end up in the report's provenance and in ``benchmarks/report_speed.py``).

:class:`Budget` times two probe fits of the model and plans, before anything expensive runs, how
many rows the cross-validations use (random, leave-one-cluster-out and extrapolation CV plus the
small learning-curve fits: ``2k + 1`` full fits and about 1.5 more), how many rows the UMAP map
places and how many held-out rows per fold the permutation importance shuffles, so that the whole
report fits in ``seconds``. Costs that do not depend on the model (maps, figures, 1-NN baseline)
are estimated from constants measured on a 2-core machine; fit time is modelled as
``c * n**g`` with ``g`` measured between the probes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone

__all__ = ["Budget", "Plan", "Stopwatch"]

LC_FRACTIONS = (0.1, 0.25, 0.5)  # learning-curve sizes below the full CV fold (which is reused)
LC_FOLDS = 2  # folds of the random CV that the small learning-curve fits use
PERM_FEATURES, PERM_REPEATS = 30, 3
# Small probes are dominated by fixed costs (threads, a forest's noise model) and make fit time look
# linear; a fully grown forest with jackknife variances grows as about n**1.4-1.5 from 1,000 rows on.
G_MIN = 1.35


class Stopwatch:
    """Seconds per named stage; ``with clock("stage"): ...`` also reports the stage to ``progress``."""

    def __init__(self, progress: Callable[[str], None] | None = None):
        self.seconds: dict[str, float] = {}
        self.say = progress or (lambda msg: None)

    @contextlib.contextmanager
    def __call__(self, stage: str, message: str | None = None) -> Iterator[None]:
        self.say(message or stage)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0


@dataclass
class Plan:
    """Row counts chosen by :meth:`Budget.plan`."""

    n_main: int  # rows of the three cross-validations (and the diagnostics, interpretation)
    n_umap: int  # rows placed on the UMAP map (0: no UMAP)
    perm_rows: int  # held-out rows per fold scored by the permutation importance
    umap_seconds: float  # the UMAP's expected cost


class Budget:
    """Plans subsample sizes from two timed probes (fit, then predict a quarter as many rows):
    ``time(n) = c * n**g`` with ``g`` measured between the probes (clipped to [:data:`G_MIN`, 2.2])."""

    def __init__(self, seconds: float, start: float):
        self.seconds, self.start = seconds, start
        self.c, self.g = 1e-4, 1.5
        self.predict_row = 2e-5  # seconds to predict one row without uncertainty

    def probe(self, estimator: object, X: pd.DataFrame, y: np.ndarray, order: np.ndarray, task: str,
              sizes: tuple[int, int] = (150, 600)) -> None:
        """Fit (and predict) ``estimator`` on the first ``sizes`` rows of ``order``; sets ``c``, ``g``
        and ``predict_row``. The larger probe is skipped when the smaller one says it would take more
        than 15 % of the time budget (a slow model, e.g. AutoModel, on a tight budget)."""
        n = len(order)
        sizes = probe_sizes = sorted({min(n, sizes[0]), min(n, sizes[1])})
        times: list[float] = []
        for m in sizes:
            if times and times[0] * (m / sizes[0]) ** self.g > 0.15 * self.seconds:
                sizes = sizes[:1]  # the larger probe would eat the budget: keep the default growth exponent
                break
            test = order[m: m + max(m // 4, 10)] if n > m + 10 else order[: max(m // 4, 2)]
            t0 = time.perf_counter()
            fitted = clone(estimator).fit(X.iloc[order[:m]], y[order[:m]])
            if task == "regression":
                try:
                    fitted.predict(X.iloc[test], return_std=True)
                except TypeError:
                    fitted.predict(X.iloc[test])
            else:
                fitted.predict_proba(X.iloc[test])
            times.append(max(time.perf_counter() - t0, 1e-3))
        # permutation importance and PD predict big batches: time one (per-call overheads then vanish)
        batch = X.iloc[np.resize(order, min(4000, 4 * n))]
        t1 = time.perf_counter()
        fitted.predict(batch) if task == "regression" else fitted.predict_proba(batch)
        self.predict_row = max((time.perf_counter() - t1) / len(batch), 1e-8)
        if len(sizes) == 2:
            self.g = float(np.clip(np.log(times[1] / times[0]) / np.log(sizes[1] / sizes[0]), G_MIN, 2.2))
        elif len(sizes) < len(set(probe_sizes)):
            # one probe of a slow model: the plan then uses fewer rows than the probe, where fixed costs
            # (AutoModel's first candidate, its inner CV) dominate; linear scaling does not underestimate them
            self.g = 1.0
        self.c = times[-1] / sizes[-1] ** self.g

    def fit_time(self, n: float) -> float:
        return self.c * max(n, 1.0) ** self.g

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.start)

    def rows_for(self, seconds: float, cost: Callable[[float], float], n: int, minimum: int = 30) -> int:
        """Largest row count in ``[minimum, n]`` whose ``cost(rows)`` (in fits' seconds) fits in ``seconds``."""
        if cost(n) <= seconds:
            return n
        lo, hi = minimum, n
        while hi - lo > max(1, n // 200):
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if cost(mid) <= seconds else (lo, mid)
        return int(lo)

    def cv_cost(self, m: float, k: int, task: str, learning_curve: bool) -> float:
        """Seconds of the random and LOCO CVs (k fits each), the extrapolation split and the small
        learning-curve fits on ``m`` rows."""
        train = (1 - 1 / k) * m
        cost = 2 * k * self.fit_time(train) + (self.fit_time(0.9 * m) if task == "regression" else 0.0)
        if learning_curve:
            cost += LC_FOLDS * sum(self.fit_time(f * train) for f in LC_FRACTIONS)
        return cost

    def plan(self, n: int, k: int, task: str, umap: bool, umap_cached: bool, interpret: bool,
             learning_curve: bool, max_umap_rows: int = 5000) -> Plan:
        """Row counts that fit what is left of the budget (see the module docstring)."""
        n_umap, umap_s = 0, 0.0
        if umap and n >= 30:
            n_umap = min(n, max_umap_rows)
            umap_s = _umap_seconds(n_umap, umap_cached)
            if umap_s > 0.25 * self.seconds and n_umap > 1000:  # a tight budget: map a subsample
                n_umap = 1000
                umap_s = _umap_seconds(n_umap, umap_cached)
        perm_rows, per_row = 0, 0.0
        if interpret:
            per_row = self.predict_row * (1 + PERM_FEATURES * PERM_REPEATS) * k
            perm_rows = int(np.clip(0.08 * self.seconds / per_row, 50, 300))
        fixed = umap_s + _other_seconds(n) + (perm_rows * per_row + 4.0 if interpret else 0.0)
        n_main = self.rows_for(self.left() - fixed, lambda m: self.cv_cost(m, k, task, learning_curve), n,
                               minimum=min(n, 60))
        return Plan(n_main, n_umap, perm_rows, umap_s)


def _umap_seconds(n: int, cached: bool) -> float:
    """Compilation when not cached (umap is already imported), neighbour graph and 200 epochs of layout."""
    return (15.0 if not cached else 0.5) + 1.0e-3 * n


def _other_seconds(n: int) -> float:
    """Figures (about 20), 1-NN baseline and applicability domain, measured on 2 shared cores."""
    return 8.0 + 1.0e-3 * n
