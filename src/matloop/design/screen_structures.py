"""Virtual screening of crystal structures with a saved structure model, in process or on Dask.

The structure counterpart of :func:`matloop.design.screen.screen`: candidates (paths or inline
CIF/POSCAR/JSON text) stream through in chunks; each chunk is featurized (through the row cache of
:mod:`matloop.represent.feature_cache`), predicted with uncertainty, scored with any acquisition of
:mod:`matloop.design.acquisition` and cut to its ``top`` best, so memory is one chunk plus ``top``
rows however many structures there are. With ``scheduler`` the chunks run as tasks on a Dask cluster
through :func:`matloop.represent.dask_map.map_batches` (the screener is scattered once, at most
``2 x workers`` chunks in flight), the pattern of composition screening. The result does not depend
on where or in which order the chunks ran: ties are broken by candidate order and Thompson sampling
draws from a random stream per chunk.

Bad structures are reported together, by the user's row numbers, after every chunk has run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matloop.design.acquisition import Context, Objective, Posterior
from matloop.errors import InputError

__all__ = ["StructureScreener", "screen_structures"]

OUTPUT_COLUMNS = ["_id", "prediction", "std", "in_domain", "domain_distance", "score"]


@dataclass
class StructureScreener:
    """What one chunk needs (shipped once to each Dask worker): the model and how to score."""

    model: object
    objective: Objective = field(default_factory=Objective)
    acquisition: str = "mei"
    best: float | None = None
    top: int = 100
    in_domain_only: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        from matloop.design.screen import check_acquisition

        if int(self.top) < 1:
            raise InputError(f"top must be at least 1, got {self.top}")
        if getattr(self.model, "kind", None) != "structure":
            raise InputError("screening structures needs a model fitted on structures (kind 'structure')")
        self._acq = check_acquisition(self.acquisition, self.objective, self.best)

    def run(self, values: list, ids: np.ndarray, stream: int) -> pd.DataFrame | InputError:
        """This chunk's best rows; an :class:`InputError` (positional rows) is returned, not raised."""
        try:
            F = self.model.features(pd.Series(values, dtype=object, name="structure"))
        except InputError as exc:
            return exc
        mean, std = self.model.estimator_.predict(F, return_std=True)
        mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
        clip = getattr(self.model, "_clip", None)
        mean = clip(mean) if callable(clip) else mean
        score = self._score(mean, std, stream)
        score = np.where(np.isnan(score), -np.inf, score)
        flag, dist = self.model.in_domain(None, features=F)
        flag, dist = np.asarray(flag, dtype=bool), np.asarray(dist, dtype=float)
        eligible = np.flatnonzero(flag) if self.in_domain_only else np.arange(len(score))
        order = eligible[np.lexsort((ids[eligible], -score[eligible]))][: int(self.top)]
        return pd.DataFrame({"_id": ids[order], "prediction": mean[order], "std": std[order],
                             "in_domain": flag[order], "domain_distance": dist[order], "score": score[order]})

    def _score(self, mean: np.ndarray, std: np.ndarray, stream: int) -> np.ndarray:
        post = Posterior(mean, std) if self.objective.direction == "range" else self.objective.posterior(mean, std)
        best = None if self.best is None else self.objective.best([self.best])
        ctx = Context(best=best, rng=np.random.default_rng([int(self.seed), int(stream)]))
        return np.asarray(self._acq(post, ctx), dtype=float)


def _run_chunk(screener: StructureScreener, payload: tuple) -> pd.DataFrame | InputError:
    values, ids, stream = payload
    return screener.run(values, ids, stream)


def _merge(frames: list[pd.DataFrame], top: int) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in OUTPUT_COLUMNS})
    both = pd.concat(frames, ignore_index=True)
    return both.sort_values(["score", "_id"], ascending=[False, True], kind="stable").head(top).reset_index(drop=True)


def screen_structures(
    values: Sequence,
    model,
    *,
    top: int = 100,
    objective: Objective | None = None,
    acquisition: str = "mei",
    best: float | None = None,
    in_domain_only: bool = False,
    chunk_size: int = 500,
    scheduler=None,
    seed: int = 0,
    rows: Sequence[int] | None = None,
    column: str = "structure",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, str, float]:
    """Rank candidate structures by the model's acquisition score; returns ``(hits, where, seconds)``.

    ``hits`` has ``rank``, ``_id`` (0-based position of the candidate in ``values``),
    ``prediction``, ``std``, ``in_domain``, ``domain_distance`` and ``score``, best first (ties by
    candidate order). ``rows`` are the user's row numbers for error reports (default ``1..n``).
    """
    if int(chunk_size) < 1:
        raise InputError(f"chunk_size must be at least 1, got {chunk_size}")
    screener = StructureScreener(model, objective or Objective(), acquisition, best, int(top), in_domain_only, seed)
    values = list(values)
    user_rows = np.asarray(rows if rows is not None else np.arange(1, len(values) + 1), dtype=np.int64)
    starts = list(range(0, len(values), int(chunk_size)))
    chunks = [np.arange(s, min(s + int(chunk_size), len(values))) for s in starts]
    state = {"hits": _merge([], screener.top), "errors": [], "done": 0}
    t0 = time.perf_counter()

    def collect(chunk: np.ndarray, result) -> None:
        if isinstance(result, InputError):
            table = result.table.copy()
            table["row"] = [int(user_rows[chunk[int(r) - 1]]) if 0 < int(r) <= len(chunk) else r
                            for r in table["row"]]
            table["column"] = column
            state["errors"].append(table)
        else:
            state["hits"] = _merge([state["hits"], result], screener.top)
        state["done"] += 1
        if progress is not None:
            progress(state["done"], len(chunks))

    def payload(chunk: np.ndarray) -> tuple:
        return [values[i] for i in chunk], chunk, int(chunk[0]) // int(chunk_size)

    if scheduler is not None:
        from matloop.represent.dask_map import map_batches

        where = map_batches(scheduler, _run_chunk, screener, chunks, payload, collect)
    else:
        for chunk in chunks:
            collect(chunk, _run_chunk(screener, payload(chunk)))
        where = "in process"
    if state["errors"]:
        table = pd.concat(state["errors"], ignore_index=True).sort_values("row", kind="stable")
        raise InputError(f"could not screen {len(table)} of {len(values)} structures", table)
    hits = state["hits"]
    hits.insert(0, "rank", np.arange(1, len(hits) + 1))
    return hits, where, time.perf_counter() - t0
