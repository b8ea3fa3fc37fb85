"""Cold start: a space-filling first batch when fewer than two results are measured.

With nothing (or one result) measured no model can be fitted, and a campaign still needs a first
batch. Designs, all seeded and deterministic, in standardised feature space (reduced to its 20
leading principal directions when wider, so no direction of a wide descriptor vector dominates):

- :func:`coverage_pool` (the default, ``method="coverage"``): the candidates nearest the centres
  of ``k`` k-means clusters of the pool, so the batch covers where the candidates are (a p-median
  design). On the bundled campaign sets its best-of-8 is about as good as 8 random picks, while
  pure maximin is clearly worse (it picks corners and edges: pure compositions, extreme
  settings), see ``benchmarks/results/campaign_prior.md``. With categorical inputs beside numeric
  ones (:func:`balanced_pool`, ``benchmarks/results/pool_designs.md``) the medoids are those of the
  numeric settings and each category's levels are given out in turn: over one-hot features the
  clusters split by category and every medoid sat at the middle of the numeric ranges (6 picks of a
  reaction pool, all at 80 °C and 1.5 equivalents);
- :func:`maximin_pool` (``method="maximin"``): greedy maximin distance, each pick the row farthest
  from everything already picked or measured;
- :func:`space_filling_design` draws a scrambled Sobol sequence (:class:`scipy.stats.qmc.Sobol`)
  over a declared :class:`~matloop.design.space.DesignSpace`, rounds it to each parameter's
  resolution, keeps the points that satisfy the bounds and constraints, and picks among them by
  the same rule in the space's unit coordinates, so the batch is spread even when constraints cut
  the space.

:func:`cold_start_ranking` packages a pool pick in the output columns of a suggestion (prediction
and std are empty: no model was fitted; ``reason`` says it is a space-filling design).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matloop.errors import InputError

#: wider feature matrices are projected on this many principal directions before distances
MAX_DIMENSIONS = 20


METHODS = ("coverage", "maximin")
DEFAULT_METHOD = "coverage"
_HOW = {"coverage": "the candidate nearest the centre of one of k clusters of the pool (k-means)",
        "balanced": "the candidate nearest the centre of one of k clusters of the pool's numeric settings (k-means), "
                    "its categories the least used so far",
        "maximin": "the candidate farthest from the other picks (maximin distance)"}


def cold_start_reason(n_measured: int, method: str = DEFAULT_METHOD) -> str:
    """The ``reason`` of a cold-start pick (the same words on stderr)."""
    what = "nothing is measured yet" if n_measured == 0 else "only 1 result is measured"
    return f"space-filling first batch ({what}: a model needs at least 2 results); {_HOW[method]}"


def in_space_words(reasons: pd.Series) -> pd.Series:
    """Cold-start reasons of a design-space campaign, whose pool is scrambled-Sobol points of the space."""
    return reasons.str.replace(_HOW["coverage"], "a point of the design space's first design (k-means medoids of "
                               "scrambled Sobol points over its numeric parameters, categories in turn)", regex=False)


def _standardise(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    mu = np.nanmean(X, axis=0) if len(X) else np.zeros(X.shape[1])
    sd = np.nanstd(X, axis=0) if len(X) else np.ones(X.shape[1])
    keep = np.isfinite(sd) & (sd > 1e-12)
    Z = np.nan_to_num((X[:, keep] - mu[keep]) / sd[keep])
    if Z.shape[1] > MAX_DIMENSIONS:
        Zc = Z - Z.mean(axis=0)
        _, _, vt = np.linalg.svd(Zc, full_matrices=False)
        Z = Zc @ vt[:MAX_DIMENSIONS].T
    return Z


def greedy_maximin(Z: np.ndarray, k: int, start: np.ndarray | None = None, first: int | None = None) -> np.ndarray:
    """Positions of ``k`` rows of ``Z``, each the farthest (Euclidean) from the rows already chosen
    and the ``start`` points. Without start points the first pick is ``first`` (default row 0).
    Rows identical to a chosen or start point are picked only when nothing else is left."""
    n = len(Z)
    k = min(int(k), n)
    if k <= 0:
        return np.empty(0, dtype=int)
    dist = np.full(n, np.inf)
    if start is not None and len(start):
        for s in np.asarray(start, dtype=float):
            dist = np.minimum(dist, np.sqrt(((Z - s) ** 2).sum(axis=1)))
    chosen: list[int] = []
    for _ in range(k):
        if not chosen and not np.isfinite(dist).any():
            i = 0 if first is None else int(first)
        else:
            masked = dist.copy()
            masked[chosen] = -np.inf
            i = int(np.argmax(masked))  # ties: the lowest position (deterministic)
        chosen.append(i)
        dist = np.minimum(dist, np.sqrt(((Z - Z[i]) ** 2).sum(axis=1)))
    return np.asarray(chosen, dtype=int)


def maximin_pool(X_candidates: np.ndarray, k: int, X_measured: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Positions of ``k`` candidates spread over the pool (greedy maximin in standardised features).

    Measured rows (at most one in a cold start) count as already chosen. Without them the first
    pick is a seeded random candidate, so different seeds give different, equally spread designs.
    """
    Xc = np.asarray(X_candidates, dtype=float)
    if len(Xc) == 0:
        raise InputError("no candidates to choose from")
    Xm = np.empty((0, Xc.shape[1])) if X_measured is None else np.asarray(X_measured, dtype=float).reshape(-1, Xc.shape[1])
    Z = _standardise(np.vstack([Xm, Xc]))
    first = int(np.random.default_rng(seed).integers(len(Xc)))
    return greedy_maximin(Z[len(Xm):], k, start=Z[: len(Xm)], first=first)


def medoids(Z: np.ndarray, k: int, start: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Positions of ``k`` distinct rows of ``Z``: the row nearest each centre of a k-means clustering
    (clusters nearest a ``start`` point are left out: that region is already covered)."""
    from sklearn.cluster import KMeans

    n = len(Z)
    k = min(int(k), n)
    if k <= 0:
        return np.empty(0, dtype=int)
    n_start = 0 if start is None else len(start)
    distinct = len(np.unique(np.round(Z, 12), axis=0))
    clusters = min(k + n_start, distinct)
    if clusters < k + n_start or distinct < 2:  # (one pick and nothing measured: the pool's medoid)
        return greedy_maximin(Z, k, start=start, first=0)
    km = KMeans(clusters, n_init=3, random_state=seed).fit(Z)
    centres = km.cluster_centers_
    if n_start:
        covered = {int(np.argmin(((centres - s) ** 2).sum(axis=1))) for s in np.asarray(start, dtype=float)}
        centres = centres[[j for j in range(len(centres)) if j not in covered]]
    d = ((Z[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    chosen: list[int] = []
    for j in np.argsort(d.min(axis=0)):  # the tightest clusters first: their medoid is least ambiguous
        for i in np.argsort(d[:, j], kind="stable"):
            if int(i) not in chosen:
                chosen.append(int(i))
                break
        if len(chosen) == k:
            break
    if len(chosen) < k:  # fewer clusters left than picks: fill by maximin
        rest = greedy_maximin(np.delete(Z, chosen, axis=0), k - len(chosen), start=Z[chosen])
        chosen += np.delete(np.arange(n), chosen)[rest].tolist()
    return np.asarray(chosen, dtype=int)


def coverage_pool(X_candidates: np.ndarray, k: int, X_measured: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Positions of ``k`` candidates covering the pool: k-means medoids in standardised features."""
    Xc = np.asarray(X_candidates, dtype=float)
    if len(Xc) == 0:
        raise InputError("no candidates to choose from")
    Xm = np.empty((0, Xc.shape[1])) if X_measured is None else np.asarray(X_measured, dtype=float).reshape(-1, Xc.shape[1])
    Z = _standardise(np.vstack([Xm, Xc]))
    return medoids(Z[len(Xm):], k, start=Z[: len(Xm)] if len(Xm) else None, seed=seed)


def balanced_pool(Xc: np.ndarray, k: int, Xm: np.ndarray, categories: list, seed: int = 0) -> np.ndarray | None:
    """``k`` pool rows when categorical inputs stand beside numeric ones, as over a design space
    (:mod:`matloop.design.space_design`); ``categories``: each categorical input's feature columns (one-hot
    or chemical, :func:`matloop.design.encode.category_features`).

    The k-means medoids of the numeric features (measured rows count as covered) are each filled by the
    row nearest it among those whose categories are least used so far (measured rows count; ties in a
    seeded order). Text labels are always given out in turn (one-hot features know no similarity);
    molecules with more levels than ``k`` are not: their chemical features count as numeric, so the
    picks spread over chemistry. None (the caller takes :func:`medoids` over all features) without
    numeric features, without a categorical input to give out, or with fewer distinct numeric points
    than ``k``."""
    X = np.vstack([Xm, Xc])
    codes, cat_cols = [], []
    for cols in categories:
        cols = np.asarray(cols, dtype=int)
        code = np.unique(np.round(X[:, cols], 9), axis=0, return_inverse=True)[1].ravel()
        levels = code.max() + 1
        if 1 < levels and (levels <= k or levels == len(cols)):  # few levels, or labels (one column per level)
            codes.append(code)
            cat_cols.extend(cols.tolist())
    num_cols = np.setdiff1d(np.arange(X.shape[1]), cat_cols)
    if not codes or not len(num_cols):
        return None
    Z = _standardise(X[:, num_cols])
    Zm, Zc = Z[: len(Xm)], Z[len(Xm):]
    first = np.unique(np.round(Zc, 9), axis=0, return_index=True)[1]
    if Zc.shape[1] == 0 or len(first) < k:
        return None
    targets = Zc[first][medoids(Zc[first], k, start=Zm if len(Zm) else None, seed=seed)]
    used = [np.bincount(c[: len(Xm)], minlength=c.max() + 1).astype(float) for c in codes]
    tie = np.random.default_rng(seed).permutation(len(Zc)) * 1e-9  # a seeded order among equals
    chosen: list[int] = []
    for t in targets:
        cost = sum(u[c[len(Xm):]] for u, c in zip(used, codes, strict=True))
        cost[chosen] = np.inf
        near = np.sqrt(((Zc - t) ** 2).sum(axis=1)) + tie
        i = int(np.argmin(np.where(cost == cost.min(), near, np.inf)))
        chosen.append(i)
        for u, c in zip(used, codes, strict=True):
            u[c[len(Xm) + i]] += 1
    return np.asarray(chosen, dtype=int)


def cold_start_picks(X_candidates: np.ndarray, k: int, X_measured=None, seed: int = 0, method: str = DEFAULT_METHOD,
                     categories: list | None = None) -> tuple[np.ndarray, str]:
    """(positions of ``k`` candidates, the design used: ``coverage``, ``balanced`` or ``maximin``)."""
    Xc = np.asarray(X_candidates, dtype=float)
    if method == "coverage" and categories and len(Xc):
        Xm = np.empty((0, Xc.shape[1])) if X_measured is None else np.asarray(X_measured, dtype=float).reshape(-1, Xc.shape[1])
        idx = balanced_pool(Xc, k, Xm, categories, seed)
        if idx is not None:
            return idx, "balanced"
    return (coverage_pool if method == "coverage" else maximin_pool)(Xc, k, X_measured, seed), method


def cold_start_ranking(X_candidates: np.ndarray, candidates: pd.DataFrame, k: int, X_measured=None,
                       seed: int = 0, method: str = DEFAULT_METHOD, categories: list | None = None):
    """A :class:`~matloop.design.suggest.Ranking` of a space-filling first batch (no model);
    ``categories``: :func:`balanced_pool`."""
    from matloop.design.suggest import Ranking

    n_measured = 0 if X_measured is None else len(X_measured)
    idx, method = cold_start_picks(X_candidates, k, X_measured, seed, method, categories)
    out = candidates.iloc[idx].reset_index(drop=True).copy()
    out["prediction"] = np.nan
    out["std"] = np.nan
    out["acquisition"] = np.nan
    out["rank"] = np.arange(1, len(idx) + 1)
    out["reason"] = cold_start_reason(n_measured, method)
    out.attrs["cold_start"] = True
    return Ranking(out, idx, "none (space-filling design)", f"{method}-{seed}", method)


def _sobol_frame(space, n: int, seed: int) -> pd.DataFrame:
    """``n`` scrambled-Sobol points mapped onto the space's parameters (before constraints)."""
    from scipy.stats import qmc

    dims = sum(len(p.elements) if p.type == "composition" else 1 for p in space.parameters)
    m = int(np.ceil(np.log2(max(n, 2))))
    U = qmc.Sobol(dims, scramble=True, seed=seed).random_base2(m)
    U = np.clip(U, 1e-12, 1 - 1e-12)
    cols: dict[str, np.ndarray] = {}
    j = 0
    for p in space.parameters:
        if p.type == "continuous":
            cols[p.name] = p.from_unit(U[:, j])  # log10-uniform with log: true
            j += 1
        elif p.type == "integer" and p.log:  # log-spaced whole numbers (cycles from 1 to 1000)
            cols[p.name] = p.whole(U[:, j])
            j += 1
        elif p.type == "integer":
            lo, hi = int(np.ceil(p.low)), int(np.floor(p.high))
            cols[p.name] = np.minimum(lo + np.floor(U[:, j] * (hi - lo + 1)), hi).astype(float)
            j += 1
        elif p.type == "categorical":
            cols[p.name] = np.array(p.values, dtype=object)[np.minimum((U[:, j] * len(p.values)).astype(int),
                                                                       len(p.values) - 1)]
            j += 1
        else:
            from matloop.design.space import _project_to_bounded_simplex

            e = len(p.elements)
            w = -np.log(U[:, j:j + e])  # exponential spacings: uniform on the simplex
            j += e
            lo = np.array([b[0] for b in p.elements.values()])
            hi = np.array([b[1] for b in p.elements.values()])
            fr = _project_to_bounded_simplex(lo + (1 - lo.sum()) * w / w.sum(axis=1, keepdims=True), lo, hi)
            for c, el in enumerate(p.elements):
                cols[el] = fr[:, c]
    return pd.DataFrame(cols)


def space_points(space, n: int, measured: pd.DataFrame | None = None, seed: int = 0, top_up: int = 0) -> pd.DataFrame:
    """About ``n`` feasible, distinct points of ``space`` (scrambled Sobol, rounded to each parameter's
    resolution), none equal to a ``measured`` point; rejection samples top them up when the
    constraints leave fewer than ``top_up``. Raises :class:`InputError` when the constraints leave none."""
    from matloop.design.surrogate import parameter_keys

    cols = space.columns
    pts = space.round(_sobol_frame(space, n, seed))
    pts = pts[space.feasible(pts)]
    if len(pts) < top_up:  # tight constraints: top up with rejection samples
        try:
            extra = space.round(space.sample(2 * top_up, np.random.default_rng(seed)))
            pts = pd.concat([pts, extra[space.feasible(extra)]], ignore_index=True)
        except Exception:  # noqa: BLE001 - the Sobol points may still be enough
            pass
    pts = pts.drop_duplicates(subset=cols).reset_index(drop=True)
    if measured is not None and len(measured):
        done = set(parameter_keys(measured, cols))
        pts = pts[[key not in done for key in parameter_keys(pts, cols)]].reset_index(drop=True)
    if len(pts) == 0:
        raise InputError("the design space's constraints leave no point to suggest")
    return pts


def space_filling_design(space, k: int, measured: pd.DataFrame | None = None, seed: int = 0,
                         n_points: int = 1024, method: str = DEFAULT_METHOD) -> pd.DataFrame:
    """``k`` feasible, distinct points of ``space`` spread over it (k-means medoids of scrambled Sobol
    points over the numeric parameters with the categories given out in turn,
    :func:`~matloop.design.space_design.first_design`; or maximin), rounded to each parameter's
    resolution; ``measured`` points (their parameter columns) count as already chosen and are never
    repeated. Raises :class:`InputError` when the constraints leave no point."""
    pts = space_points(space, n_points, measured, seed, top_up=4 * k)
    if method == "coverage":  # medoids of the numeric parameters, categories in turn (design/space_design.py)
        from matloop.design.space_design import first_design

        return first_design(space, pts, k, measured, seed)
    start = space.unit(measured) if measured is not None and len(measured) else None
    return pts.iloc[greedy_maximin(space.unit(pts), k, start=start, first=0)].reset_index(drop=True)
