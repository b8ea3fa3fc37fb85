"""High-throughput virtual screening of compositions with flat memory, in process or on Dask.

:func:`screen` streams candidates (an enumerated :class:`~matloop.design.enumerate.ChemicalSpace`,
or a column of formulas) chunk by chunk. For every chunk it

1. keeps the compositions that pass the chemistry rules (:class:`~matloop.design.chemistry_rules.
   ChemistryRules`, the SMACT rules) and the sustainability/safety filters (supply-risk HHI, element
   price, toxic or radioactive elements; data of :class:`~matloop.represent.composition.Sustainability`),
2. featurizes them with the model's featurizer and predicts a mean (and std, when the score needs
   it),
3. scores them with any acquisition of :mod:`matloop.design.acquisition` (``mei``: the plain
   prediction) minus optional sustainability penalties,
4. keeps its ``top`` best (ties broken by candidate order), and only for those computes the std
   (if not yet done), the applicability-domain flag, formula strings and oxidation states.

Chunk results (at most ``top`` rows each) are merged into the overall top ``top``: memory is one
chunk's features plus ``top`` rows, however many candidates. With ``scheduler`` (an address such as
``tcp://10.0.0.5:8786`` or a ``dask.distributed.Client``) the same chunks run as tasks on an existing
Dask cluster (the screener is scattered once, at most ``2 x workers`` tasks are in flight, each task
regenerates its own candidates from the space); the result is identical to the in-process one,
because chunking, per-chunk random streams (Thompson sampling) and the final order
(score descending, then candidate order) do not depend on where or in which order chunks run.

Cluster tip: Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which makes the
large temporary arrays of every chunk fault their pages in afresh (10x more page faults); workers
started without it (``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_: null`` in the Dask
config) used 1.25 to 1.4 times less CPU per candidate (``benchmarks/results/screening.md``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matloop.design.acquisition import Context, Objective, Posterior, make_acquisition
from matloop.design.chemistry_rules import ChemistryRules
from matloop.design.enumerate import DEFAULT_CHUNK, ChemicalSpace, integer_formulas
from matloop.design.screen_filters import SUSTAINABILITY_COLUMNS, Filters, Penalties, sustainability
from matloop.errors import InputError, MatloopError
from matloop.io.formula import Compositions

__all__ = ["Filters", "Penalties", "ScreenResult", "Screener", "check_acquisition", "check_feasible", "screen",
           "sustainability", "OUTPUT_COLUMNS", "SUSTAINABILITY_COLUMNS"]

OUTPUT_COLUMNS = ["rank", "formula", "prediction", "std", "in_domain", "domain_distance", "score"]
_NEEDS_BEST = ("ei", "logei", "pi", "mli")
#: raw candidates a second, ~15x the fastest measured single-process rate: used only to refuse
#: spaces that no machine could screen in a human lifetime (check_feasible)
OPTIMISTIC_RATE = 1_000_000.0
MAX_YEARS = 50.0
SECONDS_PER_YEAR = 365.25 * 24 * 3600


def check_acquisition(name: str, objective: Objective | None = None, best: float | None = None):
    """The acquisition ``name`` for ``objective``, or an InputError saying why it cannot score candidates
    (unknown name, novelty, an improvement acquisition without ``best``, a max/min acquisition with a
    window objective)."""
    objective = objective or Objective()
    if objective.direction == "range" and name not in ("mei", "window", "thompson", "mu"):
        raise InputError(f"with a target window (LO:HI) the score is the probability of landing in it; the {name} "
                         "acquisition does not apply (use the default, thompson or mu)")
    try:
        acq = make_acquisition(name, objective)
    except ValueError as exc:
        raise InputError(str(exc).replace("(--target-range LO HI)", "(--objective LO:HI)")) from None
    if acq.name == "novelty":
        raise InputError("novelty is not available for screening: the domain_distance column already "
                         "measures the distance of each hit to the training data")
    if acq.name in _NEEDS_BEST and best is None:
        raise InputError(f"the {acq.name} acquisition scores improvement over the best measured value: "
                         "give best= (--best VALUE on the command line)")
    return acq


class _ModelAdapter:
    """One interface over a :class:`~matloop.models.pipeline.MaterialModel` (what ``matloop fit``
    saves) or a bare regressor plus a featurizer (and optionally an ApplicabilityDomain)."""

    def __init__(self, model, featurizer=None, domain=None):
        self.model, self.domain = model, domain
        pipeline = hasattr(model, "featurizer_") and hasattr(model, "estimator_")
        if pipeline and featurizer is not None:
            raise InputError("this model featurizes formulas itself (it is a MaterialModel); give no featurizer")
        if pipeline:
            if getattr(model, "kind", "composition") != "composition":
                raise MatloopError(f"this needs a model of compositions (formulas); this one reads {model.kind}s")
            if getattr(model, "task", "regression") != "regression":
                raise MatloopError("ranking by a predicted property needs a regressor; this model is a classifier")
            self.featurizer, self.estimator = None, model.estimator_
        else:
            if featurizer is None:
                raise MatloopError("the model does not say how to featurize compositions: give featurizer= "
                                   "(a registry name such as 'magpie', or a featurizer) or a MaterialModel")
            if isinstance(featurizer, str):
                from matloop.represent.registry import get_featurizer

                featurizer = get_featurizer(featurizer)
            self.featurizer, self.estimator = featurizer, model

    def features(self, comps: Compositions) -> pd.DataFrame:
        if self.featurizer is None:
            return self.model.features(comps)
        return self.featurizer.transform(comps)

    def predict(self, F: pd.DataFrame, std: bool):
        if std:
            return self.estimator.predict(F, return_std=True)
        return self.estimator.predict(F), None

    def in_domain(self, F: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        if self.featurizer is None:
            domain, cleaner = getattr(self.model, "domain_", None), getattr(self.model, "cleaner_", None)
            if domain is not None and cleaner is not None and getattr(domain, "method", "") == "knn":
                dist = domain.score(cleaner.transform(F.to_numpy(dtype=float)))  # one neighbour search
                return dist <= domain.threshold_, dist / domain.threshold_
            flag, dist = self.model.in_domain(None, features=F)
            return np.asarray(flag, dtype=bool), np.asarray(dist, dtype=float)
        if self.domain is None:
            return np.ones(len(F), dtype=bool), np.full(len(F), np.nan)
        values = F.to_numpy(dtype=float)
        dist = self.domain.score(values)
        rel = dist / self.domain.threshold_ if self.domain.method == "knn" else dist
        return dist <= self.domain.threshold_, rel


@dataclass
class Screener:
    """Everything one chunk needs (shipped once to each Dask worker). See :func:`screen`."""

    model: object
    featurizer: object = None
    domain: object = None
    objective: Objective = field(default_factory=Objective)
    acquisition: str = "mei"
    best: float | None = None
    rules: ChemistryRules | None = None
    filters: Filters = field(default_factory=Filters)
    penalties: Penalties = field(default_factory=Penalties)
    top: int = 100
    in_domain_only: bool = False
    seed: int = 0
    compact: object = None
    shortlist: int = 0

    def __post_init__(self) -> None:
        if int(self.top) < 1:
            raise InputError(f"top must be at least 1, got {self.top}")
        self._adapter = _ModelAdapter(self.model, self.featurizer, self.domain)
        self._acq = check_acquisition(self.acquisition, self.objective, self.best)
        name = self._acq.name
        self._needs_std = name not in ("mei",)

    def run(self, comps: Compositions, ids: np.ndarray, stream: int) -> tuple[pd.DataFrame, dict]:
        """Screen one chunk: ``ids`` order the candidates globally, ``stream`` seeds its randomness."""
        counts = dict.fromkeys(("candidates", "passed_rules", "passed_filters", "shortlisted", "scored"), 0)
        counts["candidates"] = len(comps)
        clock = dict.fromkeys(("rules", "filters", "featurize", "compact", "predict", "select"), 0.0)
        t = time.perf_counter()
        keep = np.arange(len(comps))
        if self.rules is not None and len(keep):
            keep = keep[self.rules.valid(comps)]
        counts["passed_rules"] = len(keep)
        clock["rules"] = (t1 := time.perf_counter()) - t
        sus = None
        if (self.filters.active or self.penalties.active) and len(keep):
            sus = sustainability(comps.take(keep))
            ok = self.filters.mask(sus)
            keep, sus = keep[ok], sus.loc[ok].reset_index(drop=True)
        counts["passed_filters"] = len(keep)
        clock["filters"] = (t2 := time.perf_counter()) - t1
        if not len(keep):
            return _empty(), {**counts, **{f"seconds_{k}": v for k, v in clock.items()}}
        sub = comps.take(keep)
        F = self._adapter.features(sub)
        clock["featurize"] = (t3 := time.perf_counter()) - t2
        if self.compact is not None and len(keep) > self._shortlist_size():
            short = self._shortlist(F, sus, ids[keep], stream)
            keep, sub, F = keep[short], sub.take(short), F.iloc[short].reset_index(drop=True)
            sus = None if sus is None else sus.iloc[short].reset_index(drop=True)
        counts["shortlisted"] = len(keep)
        clock["compact"] = (t3b := time.perf_counter()) - t3
        t3 = t3b
        mean, std = self._adapter.predict(F, self._needs_std)
        mean = np.asarray(mean, dtype=float)
        clock["predict"] = (t4 := time.perf_counter()) - t3
        score = self._score(mean, std if std is not None else np.ones_like(mean), stream)
        if sus is not None and self.penalties.active:
            score = score - self.penalties(sus)
        score = np.where(np.isnan(score), -np.inf, score)
        counts["scored"] = len(keep)
        chosen, flag, dist = self._select(score, ids[keep], F)
        if std is None:
            std = np.full(len(mean), np.nan)
            std[chosen] = np.asarray(self._adapter.predict(F.iloc[chosen], True)[1], dtype=float)
        picked = sub.take(chosen)
        out = pd.DataFrame({"_id": ids[keep][chosen], "formula": integer_formulas(picked),
                            "prediction": mean[chosen], "std": np.asarray(std, dtype=float)[chosen],
                            "in_domain": flag, "domain_distance": dist, "score": score[chosen]})
        s = sus.iloc[chosen].reset_index(drop=True) if sus is not None else sustainability(picked)
        for c in SUSTAINABILITY_COLUMNS:
            out[c] = s[c].to_numpy()
        if self.rules is not None:
            out["oxidation_states"] = self.rules.explain(picked)
        clock["select"] = time.perf_counter() - t4
        return out, {**counts, **{f"seconds_{k}": v for k, v in clock.items()}}

    def _shortlist_size(self) -> int:
        return max(int(self.shortlist), int(self.top)) if self.shortlist else max(20 * int(self.top), 2_000)

    def _shortlist(self, F: pd.DataFrame, sus: pd.DataFrame | None, ids: np.ndarray, stream: int) -> np.ndarray:
        """Positions of the candidates the full model re-scores: the best by the compact model's score
        (with the same acquisition and penalties), ties by id, in candidate order."""
        if self._needs_std:
            mean, std = self.compact.predict(F, return_std=True)
        else:
            mean, std = self.compact.predict(F), None
        mean = np.asarray(mean, dtype=float)
        score = self._score(mean, np.ones_like(mean) if std is None else np.asarray(std, dtype=float), stream)
        if sus is not None and self.penalties.active:
            score = score - self.penalties(sus)
        score = np.where(np.isnan(score), -np.inf, score)
        k = self._shortlist_size()
        kth = np.partition(score, len(score) - k)[len(score) - k]
        cand = np.flatnonzero(score >= kth)
        return np.sort(cand[np.lexsort((ids[cand], -score[cand]))][:k])

    def _score(self, mean: np.ndarray, std: np.ndarray, stream: int) -> np.ndarray:
        if self.objective.direction == "range":
            post = Posterior(mean, std)
        else:
            post = self.objective.posterior(mean, std)
        best = None if self.best is None else self.objective.best([self.best])
        ctx = Context(best=best, rng=np.random.default_rng([int(self.seed), int(stream)]))
        return np.asarray(self._acq(post, ctx), dtype=float)

    def _select(self, score: np.ndarray, ids: np.ndarray, F: pd.DataFrame):
        """Positions of this chunk's top rows (score desc, then id), with domain flag and distance."""
        k = min(int(self.top), len(score))
        if not self.in_domain_only:
            if k < len(score):
                kth = np.partition(score, len(score) - k)[len(score) - k]
                cand = np.flatnonzero(score >= kth)
            else:
                cand = np.arange(len(score))
            cand = cand[np.lexsort((ids[cand], -score[cand]))][:k]
            flag, dist = self._adapter.in_domain(F.iloc[cand])
            return cand, flag, dist
        order = np.lexsort((ids, -score))
        chosen, flags, dists = [], [], []
        step = max(k, 256)
        for start in range(0, len(order), step):  # walk down the ranking until k are in domain
            block = order[start:start + step]
            flag, dist = self._adapter.in_domain(F.iloc[block])
            chosen.append(block[flag])
            flags.append(flag[flag])
            dists.append(dist[flag])
            if sum(len(c) for c in chosen) >= k:
                break
        return (np.concatenate(chosen)[:k], np.concatenate(flags)[:k], np.concatenate(dists)[:k])


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"_id": np.zeros(0, dtype=np.int64), "formula": [], "prediction": [], "std": [],
                         "in_domain": np.zeros(0, dtype=bool), "domain_distance": [], "score": []})


def _merge(frames: list[pd.DataFrame], top: int) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return _empty()
    both = pd.concat(frames, ignore_index=True)
    order = np.lexsort((both["_id"].to_numpy(), -both["score"].to_numpy()))[:top]
    return both.iloc[order].reset_index(drop=True)


@dataclass
class ScreenResult:
    """The hits (best first) and what happened on the way."""

    hits: pd.DataFrame
    counts: dict
    seconds: float
    chunks: int
    where: str
    rules: str = ""
    compact: bool = False

    def summary(self) -> str:
        c = self.counts
        rate = c.get("candidates", 0) / self.seconds if self.seconds > 0 else float("nan")
        rules = f"passed chemistry rules: {c.get('passed_rules', 0):,}; " if self.rules else ""
        return (f"screened {c.get('candidates', 0):,} candidates in {self.seconds:.1f} s ({rate:,.0f}/s, "
                f"{self.chunks} chunks, {self.where})\n{rules}passed filters: {c.get('passed_filters', 0):,}; "
                + (f"ranked by the compact model: {c.get('passed_filters', 0):,}; re-scored by the full model: "
                   if self.compact else "scored: ") + f"{c.get('scored', 0):,}; kept: {len(self.hits)}")


def _tasks(source, chunk_size: int):
    """(kind, start, stop) per chunk, generated lazily (a list of 10^12 bounds would not fit in
    memory); spaces are regenerated by the task itself."""
    if chunk_size < 1:
        raise InputError(f"chunk_size must be at least 1, got {chunk_size}")
    kind, n = ("space", source.n_raw) if isinstance(source, ChemicalSpace) else ("rows", len(source))
    for a in range(0, n, chunk_size):
        yield kind, a, min(a + chunk_size, n)


def check_feasible(source: ChemicalSpace | Compositions, rate_per_second: float = OPTIMISTIC_RATE,
                   max_years: float = MAX_YEARS) -> None:
    """Refuse (InputError) a space that could not be screened within ``max_years`` even at
    ``rate_per_second`` raw candidates a second (far above any measured rate), naming its size.

    Called before anything is allocated: a space of 10^17 raw compositions is not a job to start."""
    n = source.n_raw if isinstance(source, ChemicalSpace) else len(source)
    years = n / rate_per_second / SECONDS_PER_YEAR
    if years > max_years:
        raise InputError(
            f"the space has {n:,} ({n:.3g}) raw candidates: even at {rate_per_second:,.0f} candidates a second "
            f"screening it would take about {years:,.3g} years; use fewer elements, fewer atoms per formula "
            "(--max-atoms) or fewer elements per composition (--max-elements)")


def _run_task(screener: Screener, source, kind: str, start: int, stop: int):
    if kind == "space":
        comps, ids = source.block(start, stop, return_index=True)
    else:
        comps = source if len(source) == stop - start else _slice(source, start, stop)
        ids = np.arange(start, stop, dtype=np.int64)
    return screener.run(comps, ids, stream=start)


def _slice(comps: Compositions, start: int, stop: int) -> Compositions:
    from matloop.represent.base import slice_compositions

    return slice_compositions(comps, start, stop)


def screen(source: ChemicalSpace | Compositions | Sequence[str], model, *, top: int = 100,
           featurizer=None, domain=None, objective: Objective | None = None, acquisition: str = "mei",
           best: float | None = None, rules: ChemistryRules | None | str = "auto",
           filters: Filters | None = None, penalties: Penalties | None = None, in_domain_only: bool = False,
           chunk_size: int = DEFAULT_CHUNK, scheduler=None, n_jobs: int = 1, seed: int = 0,
           progress=None, compact=None, shortlist: int = 0) -> ScreenResult:
    """Rank candidates by predicted property (or any acquisition) and keep the ``top`` best.

    Parameters
    ----------
    source : ChemicalSpace, Compositions or sequence of formula strings
        Candidates. The ``_id`` column of the hits is the position of a formula (0-based, so the
        caller can join the rest of its table) or the raw index of an enumerated composition
        (written as an integer formula).
    model : MaterialModel or regressor
        A :class:`~matloop.models.pipeline.MaterialModel` (knows its featurizer and domain), or a
        regressor with ``predict(X, return_std=True)`` together with ``featurizer`` (registry name
        or instance) and optionally ``domain`` (a fitted ApplicabilityDomain on the same features).
    objective, acquisition, best
        Goal (default maximise), acquisition name of :func:`matloop.design.acquisition.
        make_acquisition` (default ``mei``: the prediction itself) and the best measured value
        for improvement-based acquisitions (``ei``, ``logei``, ``pi``, ``mli``).
    rules : ChemistryRules, None or "auto"
        Chemistry filter; ``"auto"``: the SMACT rules for enumerated spaces, none for given formulas.
    filters, penalties : Filters, Penalties
        Sustainability and safety as hard filters or as score penalties.
    in_domain_only : bool
        Keep only candidates inside the model's applicability domain.
    chunk_size : int
        Candidates per chunk (raw indices for spaces); results do not depend on it except for
        Thompson sampling, whose random streams are per chunk.
    scheduler : str or dask.distributed.Client, optional
        Run the chunks on this Dask cluster (an address is connected to and closed afterwards).
    n_jobs : int
        In process: chunks screened by this many threads at once.
    progress : callable, optional
        Called as ``progress(done_chunks, total_chunks, counts)`` after each chunk.
    compact : regressor, optional
        A fast model of the same features (:func:`matloop.models.compact.fit_screening_model`):
        it scores every candidate, and only the best ``shortlist`` of each chunk (default
        ``max(20 x top, 2000)``) are re-scored by ``model``, whose predictions, stds
        and domain flags are reported. A hit the compact model ranks below the shortlist is missed
        (``benchmarks/screening.py --cli`` measures how often); with ``in_domain_only`` the walk down
        the ranking for in-domain hits stays inside the shortlist.
    """
    if not isinstance(source, ChemicalSpace | Compositions):
        from matloop.io.formula import parse_formulas

        source = parse_formulas(list(source))
    if isinstance(rules, str):
        if rules != "auto":
            raise ValueError(f"rules must be a ChemistryRules, None or 'auto', got {rules!r}")
        rules = ChemistryRules() if isinstance(source, ChemicalSpace) else None
    check_feasible(source)  # before anything is allocated
    screener = Screener(model, featurizer, domain, objective or Objective(), acquisition, best, rules,
                        filters or Filters(), penalties or Penalties(), int(top), in_domain_only, seed,
                        compact, int(shortlist))
    tasks = _tasks(source, int(chunk_size))
    n_tasks = estimate_chunks(source, int(chunk_size))
    t0 = time.perf_counter()
    state = {"hits": _empty(), "counts": {}, "done": 0}

    def collect(result):
        frame, counts = result
        state["hits"] = _merge([state["hits"], frame], screener.top)
        for key, value in counts.items():
            state["counts"][key] = state["counts"].get(key, 0) + value
        state["done"] += 1
        if progress is not None:
            progress(state["done"], n_tasks, dict(state["counts"]))

    if scheduler is not None:
        where = _run_dask(scheduler, screener, source, tasks, collect)
    elif n_jobs > 1 and n_tasks > 1:
        with ThreadPoolExecutor(n_jobs) as pool:
            window = 2 * n_jobs  # bounded in-flight chunks: memory stays flat
            pending = []
            for task in tasks:
                pending.append(pool.submit(_run_task, screener, source, *task))
                if len(pending) >= window:
                    collect(pending.pop(0).result())
            for fut in pending:
                collect(fut.result())
        where = f"in process, {n_jobs} threads"
    else:
        for task in tasks:
            collect(_run_task(screener, source, *task))
        where = "in process"
    hits = state["hits"]
    hits.insert(0, "rank", np.arange(1, len(hits) + 1))
    return ScreenResult(hits, state["counts"], time.perf_counter() - t0, n_tasks, where,
                        rules.describe() if rules is not None else "", compact is not None)


class _DaskShared:
    """What every Dask task of a screening run needs: the screener, and the chemical space (None for a table)."""

    def __init__(self, screener: Screener, space: ChemicalSpace | None):
        self.screener, self.space = screener, space


def _run_shared(shared: _DaskShared, payload: tuple):
    data, kind, start, stop = payload
    return _run_task(shared.screener, shared.space if data is None else data, kind, start, stop)


def _run_dask(scheduler, screener: Screener, source, tasks, collect) -> str:
    """The chunks on a Dask cluster through :func:`matloop.represent.dask_map.map_batches` (screener and
    space scattered once, a bounded number of chunks in flight); returns a description."""
    from matloop.represent.dask_map import map_batches

    spaces = isinstance(source, ChemicalSpace)

    def payload(task):
        kind, a, b = task
        return (None if spaces else _slice(source, a, b), kind, a, b)

    return map_batches(scheduler, _run_shared, _DaskShared(screener, source if spaces else None), tasks, payload,
                       lambda _task, result: collect(result))


def estimate_chunks(source: ChemicalSpace | Compositions, chunk_size: int = DEFAULT_CHUNK) -> int:
    """Number of chunks :func:`screen` will run."""
    n = source.n_raw if isinstance(source, ChemicalSpace) else len(source)
    return math.ceil(n / chunk_size)
