"""First designs over a declared design space: numeric parameters spread, categories used in turn.

A campaign over a design space (``campaign new --space``) starts with nothing measured, so its first
batch is a design, not a model's choice. k-means medoids of scrambled-Sobol points of the space cover
its numeric parameters well (on a space of four continuous parameters they teach the first model more
than Sobol's first points, random points or a maximum-projection design: ``benchmarks/space_designs.py``).
With categorical parameters among the coordinates, though, the clusters split by category and every
medoid sits at the middle of the numeric ranges: 8 points of a 60-180 °C, 1-12 h, 5-solvent, 3-catalyst
space all lay between 115 and 135 °C and 6 and 7.5 h. So the medoids are taken over the numeric
coordinates alone (numbers scaled to [0, 1], composition fractions by their widest element range), and
each categorical parameter's levels are then given out in turn, the least used first (measured points
count), in a seeded order: every level appears about k / L times, whatever the number of levels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["first_design", "space_coordinates"]


def space_coordinates(space, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(numeric, categories, levels)``: numeric parameters scaled to [0, 1] (composition fractions by the
    widest element range), one integer code per categorical parameter, and each one's number of levels."""
    num, cats, levels = [], [], []
    for p in space.parameters:
        if p.type == "categorical":
            codes = {v: i for i, v in enumerate(p.values)}
            cats.append(np.array([codes.get(v, -1) for v in frame[p.name]], dtype=float))
            levels.append(len(p.values))
        elif p.type == "composition":
            width = max(max(hi - lo for lo, hi in p.elements.values()), 1e-12)
            num.extend(frame[el].to_numpy(dtype=float) / width for el in p.elements)
        else:
            num.append(p.to_unit(frame[p.name].to_numpy(dtype=float)))
    n = len(frame)
    return (np.column_stack(num) if num else np.empty((n, 0)), np.column_stack(cats) if cats else np.empty((n, 0)),
            np.asarray(levels, dtype=float))


def first_design(space, pts: pd.DataFrame, k: int, measured: pd.DataFrame | None = None, seed: int = 0) -> pd.DataFrame:
    """``k`` points for a first batch from ``pts`` (feasible, rounded points of ``space``; see module doc):
    k-means medoids of their numeric coordinates (``measured`` points count as covered), then balanced
    categories. Where a new category would break a constraint or repeat a measured point, the pool
    point's own is kept."""
    from matloop.design.coldstart import medoids

    U, _, _ = space_coordinates(space, pts)
    done = measured.reindex(columns=space.columns).dropna() if measured is not None and len(measured) else None
    cats = [p for p in space.parameters if p.type == "categorical"]
    if cats and U.shape[1] == 0:  # categories only: each point the least used levels (measured ones count)
        return _balanced_rows(space, pts, k, done, cats, seed)
    # one row per numeric point (rows that differ only in their categories are one point here)
    first = np.unique(np.round(U, 9), axis=0, return_index=True)[1] if U.shape[1] else np.empty(0, dtype=int)
    if len(first) < k or not cats:  # nothing to separate (or too few numeric points): medoids of all coordinates
        start = space.unit(done) if done is not None else None
        return pts.iloc[medoids(space.unit(pts), k, start=start, seed=seed)].reset_index(drop=True)
    start = space_coordinates(space, done)[0] if done is not None else None
    rows = first[medoids(U[first], k, start=start, seed=seed)]
    out = pts.iloc[rows].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    for p in cats:  # the least used level next (measured points count); ties in a seeded order
        used = {v: 0 for v in p.values}
        for v in (done[p.name] if done is not None else []):
            used[v] = used.get(v, 0) + 1
        order = {v: r for r, v in enumerate(rng.permutation(np.array(p.values, dtype=object)))}
        levels = []
        for _ in range(len(out)):
            v = min(p.values, key=lambda x: (used[x], order[x]))
            used[v] += 1
            levels.append(v)
        out[p.name] = np.array(levels, dtype=object)
    from matloop.design.surrogate import parameter_keys

    keys = parameter_keys(out, space.columns)
    taken = set(parameter_keys(done, space.columns)) if done is not None else set()
    clash = np.array([k in taken or k in keys[:i] for i, k in enumerate(keys)], dtype=bool)
    ok = space.feasible(out) & ~clash  # else the pool point as drawn (feasible, not measured)
    out.loc[~ok] = pts.iloc[rows].reset_index(drop=True).loc[~ok]
    return out


def _balanced_rows(space, pts: pd.DataFrame, k: int, done: pd.DataFrame | None, cats: list, seed: int) -> pd.DataFrame:
    """``k`` rows of ``pts`` (distinct combinations of categories) chosen one by one, each the combination
    whose levels are least used so far (``done`` rows count); ties in a seeded order."""
    order = np.random.default_rng(seed).permutation(len(pts))
    used = {p.name: {v: 0 for v in p.values} for p in cats}
    for p in cats:
        for v in (done[p.name] if done is not None else []):
            used[p.name][v] = used[p.name].get(v, 0) + 1
    chosen: list[int] = []
    for _ in range(min(k, len(pts))):
        cost = np.array([sum(used[p.name].get(pts[p.name].iloc[i], 0) for p in cats) for i in order], dtype=float)
        cost[[int(np.flatnonzero(order == c)[0]) for c in chosen]] = np.inf
        pick = int(order[int(np.argmin(cost))])
        chosen.append(pick)
        for p in cats:
            used[p.name][pts[p.name].iloc[pick]] += 1
    return pts.iloc[chosen].reset_index(drop=True)
