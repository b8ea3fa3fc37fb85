"""Several goals at once: Pareto fronts, hypervolume, EHVI, ParEGO, Chimera and constraints.

Conventions: objective matrices are ``(n, m)`` in the **maximisation** sense (flip minimised
columns before calling), and a reference point is dominated by every point of interest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from matloop.design.acquisition import Objective


def pareto_mask(Y: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``Y`` (maximisation; duplicates all kept)."""
    Y = np.asarray(Y, dtype=float)
    n = len(Y)
    mask = np.ones(n, dtype=bool)
    order = np.argsort(-Y[:, 0], kind="stable")
    for i in order:  # O(n * front) with vectorised comparisons
        if not mask[i]:
            continue
        dominated = np.all(Y <= Y[i], axis=1) & np.any(Y < Y[i], axis=1)
        mask &= ~dominated
    return mask


def hypervolume(Y: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume dominated by ``Y`` above the reference point ``ref`` (maximisation).

    Recursive slicing over the last objective (fine for the 2-4 objectives and the front sizes
    of experimental campaigns).
    """
    Y = np.asarray(Y, dtype=float)
    ref = np.asarray(ref, dtype=float)
    Y = Y[np.all(Y > ref, axis=1)]
    if not len(Y):
        return 0.0
    Y = Y[pareto_mask(Y)]
    return _hv(Y, ref)


def _hv(Y: np.ndarray, ref: np.ndarray) -> float:
    m = Y.shape[1]
    if m == 1:
        return float(Y[:, 0].max() - ref[0])
    if m == 2:
        pts = Y[np.argsort(-Y[:, 0])]
        best_y = ref[1]
        area = 0.0
        for x, y in pts:
            if y > best_y:
                area += (x - ref[0]) * (y - best_y)
                best_y = y
        return float(area)
    # slice along the last objective
    levels = np.sort(np.unique(Y[:, -1]))[::-1]
    volume = 0.0
    for i, level in enumerate(levels):
        lower = levels[i + 1] if i + 1 < len(levels) else ref[-1]
        slab = Y[Y[:, -1] >= level][:, :-1]
        volume += _hv(slab[pareto_mask(slab)], ref[:-1]) * (level - lower)
    return float(volume)


def hypervolume_improvement(Y_new: np.ndarray, front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Hypervolume gained by adding each row of ``Y_new`` to ``front``."""
    base = hypervolume(front, ref) if len(front) else 0.0
    return np.array([hypervolume(np.vstack([front, y[None, :]]) if len(front) else y[None, :], ref) - base
                     for y in np.asarray(Y_new, dtype=float)])


def expected_hypervolume_improvement(
    mean: np.ndarray,
    std: np.ndarray,
    front: np.ndarray,
    ref: np.ndarray,
    n_samples: int = 128,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Monte-Carlo EHVI (Emmerich et al. 2006) with independent Gaussian predictions per objective.

    Uses common random numbers across candidates, so rankings are stable for a given seed.
    """
    rng = rng or np.random.default_rng(0)
    mean = np.asarray(mean, dtype=float)
    std = np.asarray(std, dtype=float)
    eps = rng.standard_normal((n_samples, mean.shape[1]))
    out = np.zeros(len(mean))
    base = hypervolume(front, ref) if len(front) else 0.0
    for i in range(len(mean)):
        samples = mean[i] + std[i] * eps
        # only samples that beat the reference and are not dominated by the front can add volume
        useful = np.all(samples > ref, axis=1)
        if len(front):
            dominated = np.array([np.any(np.all(front >= s, axis=1)) for s in samples[useful]], dtype=bool)
            idx = np.flatnonzero(useful)[~dominated] if useful.any() else np.zeros(0, dtype=int)
        else:
            idx = np.flatnonzero(useful)
        gains = [hypervolume(np.vstack([front, samples[j][None, :]]) if len(front) else samples[j][None, :], ref)
                 - base for j in idx]
        out[i] = float(np.sum(gains)) / n_samples
    return out


def parego_weights(m: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random weight vectors on the simplex (Knowles 2006, ParEGO)."""
    return rng.dirichlet(np.ones(m), size=n)


def chebyshev_scalarize(Y: np.ndarray, weights: np.ndarray, ideal: np.ndarray, nadir: np.ndarray,
                        rho: float = 0.05) -> np.ndarray:
    """Augmented Chebyshev scalarisation of normalised objectives (higher is better)."""
    span = np.where(nadir - ideal != 0, ideal - nadir, 1.0)
    Z = (np.asarray(Y, dtype=float) - nadir) / span  # 1 at the ideal point, 0 at the nadir
    gap = weights * (1.0 - Z)
    return -(gap.max(axis=1) + rho * gap.sum(axis=1))


@dataclass(frozen=True)
class ChimeraGoal:
    """One level of a Chimera hierarchy: an objective and the tolerance that satisfies it.

    ``tolerance`` is absolute in the objective's units (``relative=False``) or a fraction of the
    observed range (``relative=True``).
    """

    objective: Objective
    tolerance: float
    relative: bool = True


def chimera(Y: np.ndarray, goals: list[ChimeraGoal]) -> np.ndarray:
    """Chimera merit (Häse et al. 2018, Chem Sci 9, 7642): hierarchical goals with tolerances.

    Higher is better. A candidate is judged on goal 1 until it is within the tolerance of the best;
    then goal 2 decides among those, and so on.
    """
    Y = np.asarray(Y, dtype=float)
    n, m = Y.shape
    if m != len(goals):
        raise ValueError(f"{m} objective columns but {len(goals)} goals")
    # transform each objective into a "loss" to minimise, scaled to [0, 1]
    losses = np.empty_like(Y)
    for j, g in enumerate(goals):
        col = Y[:, j]
        if g.objective.direction == "range":
            loss = g.objective.distance_to_window(col)
        else:
            loss = -g.objective.sign * col
        lo, hi = np.nanmin(loss), np.nanmax(loss)
        losses[:, j] = (loss - lo) / (hi - lo) if hi > lo else 0.0
    merit = np.zeros(n)
    region = np.ones(n, dtype=bool)
    offset = 0.0
    for j, g in enumerate(goals):
        loss = losses[:, j]
        best = np.min(loss[region]) if region.any() else 0.0
        tol = best + (g.tolerance if g.relative else g.tolerance / max(np.ptp(Y[:, j]), 1e-12))
        if j == len(goals) - 1:
            merit = np.where(region, offset + loss, merit)
            break
        merit = np.where(region & (loss > tol), offset + 1.0 + loss, merit)
        region &= loss <= tol
        offset -= 2.0  # later levels sit below (are better than) earlier violations
    return -merit


def probability_of_feasibility(mean: np.ndarray, std: np.ndarray, low: float | None = None,
                               high: float | None = None) -> np.ndarray:
    """P(low <= property <= high) under a Gaussian prediction; multiply an acquisition by it.

    ``density < 8`` is ``high=8``; open bounds are ``None``.
    """
    mean = np.asarray(mean, dtype=float)
    std = np.maximum(np.asarray(std, dtype=float), 1e-12)
    upper = ndtr((high - mean) / std) if high is not None else 1.0
    lower = ndtr((low - mean) / std) if low is not None else 0.0
    return np.clip(upper - lower, 0.0, 1.0)


def parse_constraint(text: str) -> tuple[str, float | None, float | None]:
    """Parse ``"density < 8"``, ``"gap >= 1.1"`` or ``"1 <= gap <= 2"`` into (column, low, high)."""
    import re

    num = r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"  # spaces inside a column name are kept
    m = re.fullmatch(num + r"<=?\s*([^<>=]*[^<>=\s])\s*<=?" + num, str(text))
    if m:
        return m.group(2), float(m.group(1)), float(m.group(3))
    m = re.fullmatch(r"\s*([^<>=]*[^<>=\s])\s*(<=?|>=?)" + num, str(text))
    if not m:
        raise ValueError(f"cannot read constraint {text!r}; write e.g. 'density < 8' or '1 <= gap <= 2'")
    col, op, val = m.group(1), m.group(2), float(m.group(3))
    return (col, None, val) if op.startswith("<") else (col, val, None)


def dominated_boxes(front: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint boxes ``[lower, upper]`` whose union is the region ``front`` dominates above ``ref``.

    Slices along the last objective (as :func:`hypervolume`): at most ``len(front) ** (m - 1)`` boxes,
    a few hundred for the fronts of experimental campaigns. With them the hypervolume gained by any
    number of new points is a vectorised sum (:func:`hvi_from_boxes`), with no loop per point.
    """
    front = np.asarray(front, dtype=float)
    ref = np.asarray(ref, dtype=float)
    m = len(ref)
    if front.size:
        front = front[np.all(front > ref, axis=1)]
    if not len(front):
        return np.empty((0, m)), np.empty((0, m))
    front = front[pareto_mask(front)]
    return _boxes(front, ref)


def _boxes(front: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = front.shape[1]
    if m == 1:
        return ref[None, :].copy(), np.array([[front[:, 0].max()]])
    if m == 2:  # the staircase: one box per point of the front, sorted by the first objective
        pts = front[np.lexsort((-front[:, 1], -front[:, 0]))]
        keep = pts[:, 1] > np.maximum.accumulate(np.r_[ref[1], pts[:-1, 1]])
        pts = pts[keep]
        below = np.r_[ref[1], pts[:-1, 1]]
        lows = np.column_stack([np.full(len(pts), ref[0]), below])
        return lows, pts.copy()
    levels = np.sort(np.unique(front[:, -1]))[::-1]
    lows, highs = [], []
    for i, level in enumerate(levels):
        lower = levels[i + 1] if i + 1 < len(levels) else ref[-1]
        sl, sh = _boxes(front[front[:, -1] >= level][:, :-1], ref[:-1])
        lows.append(np.column_stack([sl, np.full(len(sl), lower)]))
        highs.append(np.column_stack([sh, np.full(len(sh), level)]))
    return np.vstack(lows), np.vstack(highs)


def hvi_from_boxes(Y: np.ndarray, ref: np.ndarray, lows: np.ndarray, highs: np.ndarray,
                   chunk: int = 2_000_000) -> np.ndarray:
    """Hypervolume each point of ``Y`` (``(..., m)``, maximisation) adds to the front behind the boxes.

    ``vol([ref, y]) - sum_k vol(box_k ∩ [ref, y])``: exact, 0 for dominated points or points below
    ``ref`` in any objective.
    """
    Y = np.asarray(Y, dtype=float)
    shape = Y.shape[:-1]
    m = Y.shape[-1]
    flat = Y.reshape(-1, m)
    out = np.prod(np.maximum(flat - ref, 0.0), axis=1)
    if len(lows):
        step = max(1, chunk // max(len(lows) * m, 1))
        for s in range(0, len(flat), step):
            y = flat[s:s + step, None, :]
            overlap = np.clip(np.minimum(y, highs[None]) - lows[None], 0.0, None)
            out[s:s + step] -= np.prod(overlap, axis=2).sum(axis=1)
    return np.maximum(out, 0.0).reshape(shape)


def dominated_by(Y: np.ndarray, front: np.ndarray) -> np.ndarray:
    """Whether each point of ``Y`` (``(..., m)``) is weakly dominated by some row of ``front``."""
    Y = np.asarray(Y, dtype=float)
    front = np.asarray(front, dtype=float)
    if not len(front):
        return np.zeros(Y.shape[:-1], dtype=bool)
    flat = Y.reshape(-1, Y.shape[-1])
    out = np.zeros(len(flat), dtype=bool)
    for f in front:
        out |= np.all(flat <= f, axis=1)
    return out.reshape(Y.shape[:-1])
