"""Suggestions for several goals at once: noisy, batch-aware expected hypervolume improvement.

One surrogate per goal is fitted on the rows where that goal is measured (a property measured on a
few rows only is data, not an error). Candidates are scored by one of:

- ``ehvi`` (default with 2+ goals): Monte-Carlo expected hypervolume improvement over the current
  front, on samples of each goal's predictive distribution (its std includes the measurement
  noise the surrogate learned). The batch is chosen sequentially and greedily: after each pick, every
  Monte-Carlo sample adds that pick's sampled outcome (its *fantasy*) to its own front, and the
  other candidates' samples are conditioned on it through the model's posterior correlation
  (:func:`matloop.design.batch.batch_covariance`), so a second pick near the first gains little
  and the batch spreads along the front instead of piling into one corner (as qEHVI, Daulton et
  al. 2020, with sequential greedy conditioning on fantasies).
- ``parego``: a random Chebyshev weighting per batch member (Knowles 2006), expected improvement of
  the scalarised goals over the best measured.
- ``chimera``: the hierarchy of goals with tolerances of Häse et al. (2018); ``COL:max@0.1`` means
  "within 10 % of the observed range of the best is good enough; then the next goal decides".

Window goals (``COL:LO..HI``) become "minus the distance to the window". Outcome constraints (``density < 8``)
multiply the acquisition by the probability that they hold. Goals are compared after scaling each by the range
of its measured values; the reference point lies 10 % of that range below each goal's worst measured value.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matloop.design.batch_groups import goal_rows, rank_in_one_group, same_groups
from matloop.design.goals import Goal
from matloop.design.multi_options import (  # noqa: F401 (input_features re-exported)
    GoalWarp,
    goal_inputs,
    input_features,
    multi_reason,
    sample_acquisition,
    violations,
)
from matloop.design.multiobjective import (
    ChimeraGoal,
    chebyshev_scalarize,
    chimera,
    dominated_boxes,
    dominated_by,
    hvi_from_boxes,
    hypervolume,
    pareto_mask,
    probability_of_feasibility,
)
from matloop.design.output_columns import multi_output_columns as output_columns  # noqa: F401 (re-exported)
from matloop.design.output_columns import output_candidates, table_columns_kept
from matloop.design.surrogate import DEFAULT_SURROGATE, make_surrogate
from matloop.errors import InputError

SCALARIZATIONS = ("ehvi", "parego", "chimera")
#: Monte-Carlo samples of the goals' predictive distributions
DEFAULT_SAMPLES = 64
#: Chimera tolerance of a goal given without ``@TOL`` (fraction of its observed range)
DEFAULT_TOLERANCE = 0.1
#: after the first pick of a batch, EHVI is re-scored on this many of the first round's best (at least 20 per pick)
SHORTLIST = 300

__all__ = ["MultiRanking", "rank_multi", "front_of", "SCALARIZATIONS", "output_columns", "violations"]


@dataclass
class MultiRanking:
    """The chosen batch and what produced it (for the ledger)."""

    chosen: pd.DataFrame
    chosen_positions: np.ndarray
    model_name: str
    model_version: str
    acquisition: str


@dataclass
class Front:
    """The measured Pareto front: which rows, the hypervolume, and the scaling behind it."""

    mask: np.ndarray  # rows on the front (among rows with every goal measured)
    hypervolume: float  # in units of the product of the goals' measured ranges
    low: np.ndarray  # worst measured (maximisation sense) per goal
    span: np.ndarray  # measured range per goal (scale)


def front_of(values: np.ndarray, goals: list[Goal], low: np.ndarray | None = None,
             span: np.ndarray | None = None) -> Front:
    """The Pareto front of measured raw values ``(n, m)`` (rows with a blank goal are not on it) and
    its hypervolume after scaling each goal by its measured range (reference 10 % below the worst)."""
    values = np.asarray(values, dtype=float).reshape(len(values), len(goals))
    S = np.column_stack([g.score(values[:, j]) for j, g in enumerate(goals)]) if len(values) else values
    complete = np.all(np.isfinite(S), axis=1)
    if low is None or span is None:
        low, span = _scale(S)
    mask = np.zeros(len(S), dtype=bool)
    hv = 0.0
    if complete.any():
        Z = (S[complete] - low) / span
        mask[np.flatnonzero(complete)[pareto_mask(Z)]] = True
        hv = hypervolume(Z, np.full(len(goals), -0.1))
    return Front(mask, hv, low, span)


def _scale(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    low = np.array([np.nanmin(c) if np.isfinite(c).any() else 0.0 for c in S.T])
    high = np.array([np.nanmax(c) if np.isfinite(c).any() else 1.0 for c in S.T])
    span = high - low
    fallback = np.where(np.abs(low) > 0, np.abs(low), 1.0)
    return low, np.where(span > 0, span, fallback)


def rank_multi(
    X_rows: np.ndarray,
    Y_rows: np.ndarray,
    X_candidates: np.ndarray,
    candidates: pd.DataFrame,
    goals: list[Goal],
    batch: int = 5,
    scalarize: str | None = None,
    model: str = DEFAULT_SURROGATE,
    seed: int = 0,
    constraints: list[tuple[np.ndarray, np.ndarray, float | None, float | None, str]] | None = None,
    n_samples: int = DEFAULT_SAMPLES,
    failed_X: np.ndarray | None = None,
    acquisition: str | None = None,
    goal_features: list | None = None,
    infeasible: np.ndarray | None = None,
    categories: list | None = None,
    known: dict | None = None,
) -> MultiRanking:
    """Fit one surrogate per goal, score ``candidates`` and choose a batch (see the module docstring).

    ``failed_X``: features of failed experiments: the acquisition is then also multiplied by P(success)
    (:func:`matloop.design.feasibility.feasibility_weights`; output column ``p_success``).

    ``X_rows``/``Y_rows``: features and raw goal values (NaN where not measured) of the measured rows;
    ``constraints``: ``(X_measured, values, low, high, name)`` of other measured properties.
    ``acquisition`` (ParEGO, Chimera) and ``goal_features`` (a history prior per goal):
    :mod:`matloop.design.multi_options`. ``infeasible``: measured rows breaking an outcome constraint
    (:func:`violations`): data for the surrogates, never on the front (nor dominating usable candidates).
    ``categories``: each categorical input's feature columns, for a cold start (:func:`matloop.design.coldstart.balanced_pool`).
    ``known``: ``{goal index: its value at every candidate}`` for a goal known before the experiment.
    """
    scalarize = scalarize or "ehvi"
    if scalarize not in SCALARIZATIONS:
        raise InputError(f"unknown --scalarize {scalarize!r}; choose one of {', '.join(SCALARIZATIONS)}")
    if int(batch) < 1:
        raise InputError(f"the batch size must be at least 1, got {batch}")
    if len(X_candidates) == 0:
        from matloop.design.suggest import NO_CANDIDATES

        raise InputError(NO_CANDIDATES)
    Y_rows = np.asarray(Y_rows, dtype=float).reshape(len(X_rows), len(goals))
    counts = np.isfinite(Y_rows).sum(axis=0)
    short = [f"{g.column} ({c})" for g, c in zip(goals, counts, strict=True) if c < 2]
    if short:  # a cold start: no model yet, a space-filling first batch (as with one goal)
        return _cold_start(X_rows, Y_rows, X_candidates, candidates, goals, batch, seed, short,
                           constrained=bool(constraints), failures=failed_X is not None, categories=categories)
    m, n, k = len(goals), len(X_candidates), min(int(batch), len(X_candidates))
    rng = np.random.default_rng(seed)
    means, stds, covs, filled, names, warps = [], [], [], Y_rows.copy(), [], []
    for j in range(m):
        if known and j in known:  # known before the experiment (a computed cost): its values, no model
            means.append(np.asarray(known[j], dtype=float))
            stds.append(np.full(n, 1e-12))
            covs.append(None)
            names.append("known")
            warps.append(None)
            continue
        have = np.isfinite(Y_rows[:, j])
        Xr, Xc = goal_inputs(X_rows, X_candidates, goal_features, j)  # + goal j's history prior, if any
        warp = GoalWarp(Y_rows[have, j]) if GoalWarp.wanted(Y_rows[have, j]) else None  # a heavy-tailed goal
        y_fit = warp.forward(Y_rows[have, j]) if warp else Y_rows[have, j]
        sur = make_surrogate(model, seed).fit(Xr[have], y_fit)
        mu, sd = sur.predict(Xc, return_std=True)
        means.append(np.asarray(mu, dtype=float))
        stds.append(np.maximum(np.asarray(sd, dtype=float), 1e-12))
        if (~have).any():  # a row measured on other goals only: its predicted value stands in (front only)
            filled[~have, j] = warp.inverse(sur.predict(Xr[~have])) if warp else sur.predict(Xr[~have])
        covs.append(_covariance(sur, Xr[have], y_fit, Xc, seed) if k > 1 else None)
        names.append(str(getattr(sur, "chosen_", model)) + ("+warp" if warp else ""))
        warps.append(warp)
    feasible = np.ones(n)
    for Xc, vals, lo, hi, _name in constraints or []:
        cm, cs = make_surrogate(model, seed).fit(Xc, vals).predict(X_candidates, return_std=True)
        feasible *= probability_of_feasibility(cm, cs, lo, hi)
    p_success = None
    if failed_X is not None:  # failed experiments: P(success) multiplies the acquisition (design/feasibility.py)
        from matloop.design.feasibility import feasibility_weights

        failed_X = np.asarray(failed_X, dtype=float).reshape(-1, np.shape(X_rows)[1])
        p_success, feasibility_model = feasibility_weights(
            np.vstack([X_rows, failed_X]), np.r_[np.zeros(len(X_rows), dtype=bool), np.ones(len(failed_X), dtype=bool)],
            X_candidates, seed)
        feasible = feasible * p_success
    S_obs = np.column_stack([g.score(filled[:, j]) for j, g in enumerate(goals)])
    low, span = _scale(S_obs)
    if infeasible is not None and np.any(infeasible):  # rows breaking a constraint are off the front
        filled[np.asarray(infeasible, dtype=bool)] = np.nan  # (filled is rank_multi's own copy)
        S_obs = np.column_stack([g.score(filled[:, j]) for j, g in enumerate(goals)])
    front = front_of(filled, goals, low, span)
    F = (S_obs[front.mask] - low) / span
    ref = np.full(m, -0.1)
    sampler = _Sampler(means, stds, covs, goals, low, span, n_samples, rng, warps)
    means, stds = GoalWarp.shown(means, stds, warps)  # in the goals' own units
    Z0 = sampler.normalised()
    picks, values = _choose(scalarize, sampler, F, ref, filled, goals, feasible, k, rng, acquisition)
    Zc = Z0[:, picks, :]
    lows, highs = dominated_boxes(F, ref)
    gain = hvi_from_boxes(Zc, ref, lows, highs).mean(axis=0) / max(front.hypervolume, 1e-300)
    p_nd = 1.0 - dominated_by(Zc, F).mean(axis=0)
    out = candidates.iloc[picks].reset_index(drop=True).copy()
    for j, g in enumerate(goals):
        out[f"{g.column}_pred"] = means[j][picks]
        out[f"{g.column}_std"] = 0.0 if known and j in known else stds[j][picks]
    out["p_nondominated"] = p_nd
    out["ehvi"] = gain
    if constraints:
        out["p_feasible"] = feasible[picks]
    out["acquisition"] = values
    if p_success is not None:
        out["p_success"] = p_success[picks]
    out["rank"] = np.arange(1, len(picks) + 1)
    out["reason"] = [multi_reason(scalarize, goals, [means[j][i] for j in range(m)], [stds[j][i] for j in range(m)],
                                  p_nd[r], gain[r], feasible[i] if constraints else None, r,
                                  None if p_success is None else p_success[i])
                     for r, i in enumerate(picks)]
    if p_success is not None:
        out.attrs["feasibility_model"] = feasibility_model
    version = hashlib.sha256(np.ascontiguousarray(X_rows).tobytes() + np.nan_to_num(Y_rows).tobytes()
                             + f"{names}|{seed}|{scalarize}".encode()).hexdigest()[:16]
    label = {"ehvi": "qehvi", "parego": "parego", "chimera": "chimera"}[scalarize] + (f"-{acquisition}" if acquisition
                                                                                    else "")
    return MultiRanking(out, picks, "+".join(dict.fromkeys(names)), version, label)


def _cold_start(X_rows, Y_rows, X_candidates, candidates, goals, batch, seed, short, constrained, failures,
                categories=None) -> MultiRanking:
    """The space-filling first batch (:mod:`matloop.design.coldstart`) when a goal has fewer than 2 results;
    the goals' prediction columns are empty and the reason names the goals that are short."""
    from matloop.design.coldstart import cold_start_picks, cold_start_reason

    measured = np.isfinite(Y_rows).any(axis=1)
    X_measured = np.asarray(X_rows)[measured] if measured.any() else None
    k = min(int(batch), len(X_candidates))
    idx, method = cold_start_picks(X_candidates, k, X_measured, seed, categories=categories)
    out = candidates.iloc[idx].reset_index(drop=True).copy()
    for g in goals:
        out[f"{g.column}_pred"] = np.nan
        out[f"{g.column}_std"] = np.nan
    out["p_nondominated"] = np.nan
    out["ehvi"] = np.nan
    if constrained:
        out["p_feasible"] = np.nan
    out["acquisition"] = np.nan
    if failures:
        out["p_success"] = np.nan
    out["rank"] = np.arange(1, len(idx) + 1)
    n_measured = int(measured.sum())
    reason = cold_start_reason(n_measured, method)
    if n_measured > 1:  # rows are measured, but not every goal on 2 of them
        reason = "space-filling batch (no model of a goal with fewer than 2 results); " + reason.split("; ", 1)[1]
    out["reason"] = f"{reason} (too few results: {', '.join(short)})"
    out.attrs["cold_start"] = True
    return MultiRanking(out, idx, "none (space-filling design)", f"{method}-{seed}", method)


def _covariance(sur, X_train, y_train, X_candidates, seed):
    """The posterior covariance the batch conditions on (None if the batch module has none)."""
    try:
        from matloop.design.batch import batch_covariance
    except ImportError:
        return None
    try:
        return batch_covariance(sur, X_train, y_train, X_candidates, random_state=seed)
    except (ValueError, np.linalg.LinAlgError):
        return None


class _Sampler:
    """Monte-Carlo samples of every goal at every candidate, conditioned on the batch's fantasies.

    Per goal: sample means ``M`` (samples x candidates), a std per candidate, and common random numbers
    ``eps``. Conditioning on a pick ``a`` with sampled outcomes ``y_s(a)`` moves each candidate's
    sample mean by ``std_i * corr(i, a) * e_s`` and shrinks its std by ``sqrt(1 - corr^2)``, with the
    correlation of the model's posterior (rank-1 updates, as a kriging believer with sampled values).
    """

    def __init__(self, means, stds, covs, goals, low, span, n_samples, rng, warps=None):
        self.goals, self.low, self.span = goals, low, span
        self.warps = warps or [None] * len(goals)  # a warped goal is sampled in its warped space
        self.M = [np.broadcast_to(mu, (n_samples, len(mu))).copy() for mu in means]
        self.sd = [s.copy() for s in stds]
        self.covs = covs
        self.eps = rng.standard_normal((n_samples, len(means[0]), len(goals)))
        self.cols: list[list[tuple[np.ndarray, float]]] = [[] for _ in goals]  # (column, denominator) per pick
        self.diag = [None if c is None else np.asarray(c.latent_var, dtype=float).copy() for c in covs]

    def raw(self, j: int, idx=slice(None)) -> np.ndarray:
        z = self.M[j][:, idx] + self.sd[j][idx] * self.eps[:, idx, j]
        return z if self.warps[j] is None else self.warps[j].inverse(z)

    def normalised(self, idx=slice(None)) -> np.ndarray:
        return np.stack([(g.score(self.raw(j, idx)) - self.low[j]) / self.span[j]
                         for j, g in enumerate(self.goals)], axis=-1)

    def condition(self, a: int) -> None:
        """Condition every goal on the sampled outcome of candidate ``a`` (its residual ``eps[:, a]``)."""
        for j, cov in enumerate(self.covs):
            if cov is None:
                continue
            col = np.asarray(cov.column(a), dtype=float).copy()
            for prev, denom in self.cols[j]:  # the covariance given the earlier picks
                col -= prev * (prev[a] / denom)
            denom = max(float(col[a]) + float(cov.noise), 1e-300)
            total = np.maximum(self.diag[j] + cov.noise, 1e-300)
            corr = np.clip(col / np.sqrt(total * denom), -1.0, 1.0)
            corr[a] = 1.0
            self.M[j] += (self.sd[j] * corr)[None, :] * self.eps[:, a, j][:, None]
            self.sd[j] = self.sd[j] * np.sqrt(np.maximum(1.0 - corr**2, 1e-6))
            self.diag[j] = np.maximum(self.diag[j] - col**2 / denom, 0.0)
            self.cols[j].append((col, denom))


def _choose(scalarize, sampler: _Sampler, F, ref, observed_raw, goals, feasible, k, rng, acquisition=None):
    """Sequential greedy batch: score, pick the best, add its fantasies, condition, repeat."""
    S, n = sampler.eps.shape[0], sampler.eps.shape[1]
    fronts = [F] * S  # per-sample fronts grow with the batch's fantasies
    chosen: list[int] = []
    values: list[float] = []
    base_boxes = dominated_boxes(F, ref)
    observed = [observed_raw] * S  # chimera: measured rows plus fantasies, raw units
    shortlist = None  # after the first pick, EHVI is re-scored on the best candidates of the first round only
    for t in range(k):
        Z = sampler.normalised()
        if scalarize == "ehvi":
            acq = _ehvi(Z, fronts, ref, base_boxes if t == 0 else None, shortlist)
            if t == 0:
                shortlist = np.zeros(n, dtype=bool)
                shortlist[np.argsort(-acq * feasible, kind="stable")[: max(SHORTLIST, 20 * k)]] = True
        elif scalarize == "parego":
            w = rng.dirichlet(np.ones(len(goals)))
            acq = _parego(Z, fronts, w, acquisition, rng)
        else:
            acq = _chimera(sampler, observed, goals, acquisition, rng)
        acq = acq * feasible
        acq[chosen] = -np.inf
        a = int(np.argmax(acq))
        chosen.append(a)
        values.append(float(acq[a]))
        if t + 1 < k:
            za = Z[:, a, :]
            fronts = [np.vstack([fronts[s], za[s]]) for s in range(S)]
            if scalarize == "chimera":
                ra = np.column_stack([sampler.raw(j, [a])[:, 0] for j in range(len(goals))])
                observed = [np.vstack([observed[s], ra[s]]) for s in range(S)]
            sampler.condition(a)
    return np.array(chosen, dtype=int), np.array(values)


def _ehvi(Z, fronts, ref, shared_boxes, shortlist=None) -> np.ndarray:
    """Mean hypervolume improvement over samples; candidates dominated in every sample are skipped
    (and, with ``shortlist``, candidates outside it score 0)."""
    S, n, _ = Z.shape
    out = np.zeros(n)
    upper = Z.max(axis=0)
    active = ~dominated_by(upper, fronts[0]) if len(fronts[0]) else np.ones(n, dtype=bool)
    if shortlist is not None:
        active &= shortlist
    if not active.any():
        return out
    Za = Z[:, active, :]
    if shared_boxes is not None:
        out[active] = hvi_from_boxes(Za, ref, *shared_boxes).mean(axis=0)
        return out
    total = np.zeros(int(active.sum()))
    for s in range(S):
        total += hvi_from_boxes(Za[s], ref, *dominated_boxes(fronts[s], ref))
    out[active] = total / S
    return out


def _parego(Z, fronts, weights, acquisition=None, rng=None) -> np.ndarray:
    """Expected improvement of the augmented Chebyshev scalarisation over each sample's best."""
    m = Z.shape[-1]
    ideal, nadir = np.ones(m), np.zeros(m)
    vals = chebyshev_scalarize(Z.reshape(-1, m), weights, ideal, nadir).reshape(Z.shape[:2])
    best = np.array([chebyshev_scalarize(f, weights, ideal, nadir).max() for f in fronts])
    if acquisition is not None:  # --acquisition on the scalarised goals (design/multi_options.py)
        return sample_acquisition(acquisition, vals, best, rng)
    return np.maximum(vals - best[:, None], 0.0).mean(axis=0)


def _chimera(sampler: _Sampler, observed, goals, acquisition=None, rng=None) -> np.ndarray:
    """Expected improvement of the Chimera merit (joint over the measured rows and each sample)."""
    hierarchy = [ChimeraGoal(g.objective, DEFAULT_TOLERANCE if g.tolerance is None else g.tolerance)
                 for g in goals]
    raw = np.stack([sampler.raw(j) for j in range(len(goals))], axis=-1)  # samples x candidates x goals
    out = np.zeros(raw.shape[1])
    merits, bests = [], []  # per sample, for --acquisition (design/multi_options.py)
    for s in range(raw.shape[0]):
        obs = observed[s][np.all(np.isfinite(observed[s]), axis=1)]
        merit = chimera(np.vstack([obs, raw[s]]), hierarchy)
        best = merit[: len(obs)].max() if len(obs) else -np.inf
        out += np.maximum(merit[len(obs):] - best, 0.0)
        merits.append(merit[len(obs):])
        bests.append(best)
    if acquisition is not None:
        return sample_acquisition(acquisition, np.array(merits), np.array(bests), rng)
    return out / raw.shape[0]


def suggest_multi(dataset, goals: list[Goal], batch: int = 5, scalarize: str | None = None,
                  model: str = DEFAULT_SURROGATE, seed: int = 0, constraints: list[str] | None = None,
                  n_samples: int = DEFAULT_SAMPLES, failed_if: str | None = None,
                  retry_failed: bool = False, candidates=None, history: list | None = None,
                  acquisition: str | None = None, allow_replicates: bool = False,
                  transfer: str = "none", same: list[str] | None = None) -> pd.DataFrame:
    """Rank the rows of ``dataset`` whose goal cells are all empty and return the chosen batch.

    Failed rows (``status`` failed or matching ``failed_if``; :mod:`matloop.design.outcomes`) are
    neither data nor candidates (unless ``retry_failed``) and P(success) weights the acquisition.

    Rows with some goals measured are data for those goals. Output: every column of the chosen rows
    as given, then :func:`output_columns`.

    As in the single-goal :func:`matloop.design.suggest.suggest` (:mod:`matloop.design.multi_options`):
    ``candidates`` (a second table, its rows with every goal blank), ``history`` (``(frame, source)``
    pairs: a prior per goal from the tables that measure it), ``acquisition`` (applied to ParEGO's or
    Chimera's scalarised goals), ``allow_replicates`` (blank rows whose input is measured) and
    ``transfer`` (the pre-trained library's values as features of a composition table); ``same``:
    columns every row of the batch shares (:mod:`matloop.design.batch_groups`).
    """
    from matloop.design import multi_options as opts
    from matloop.design.goals import check_goals
    from matloop.design.multiobjective import parse_constraint

    scalarize, acq_note = opts.resolve_acquisition(opts.default_scalarize(goals, scalarize), acquisition)
    dataset, n_known = opts.with_candidates(dataset, candidates, goals)  # a second table, every goal blank
    frame = dataset.frame
    check_goals(goals, frame.columns)
    cons_cols = []
    parsed = []
    for text in constraints or []:
        col, lo, hi = parse_constraint(text)
        if col not in frame.columns:
            from matloop.errors import error_table

            raise InputError(f"constraint {text!r} names no column of the table",
                             error_table([{"row": 0, "column": col, "value": text,
                                           "reason": f"columns are {list(frame.columns)}"}]))
        cons_cols.append(col)
        parsed.append((col, lo, hi))
    goal_cols = [g.column for g in goals]
    Y = np.column_stack([pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float) for c in goal_cols])
    known = opts.known_goals(Y, goal_cols)  # goals with a value on every row (a computed cost): not measured
    measured = np.isfinite(np.delete(Y, known, axis=1)).any(axis=1)
    from matloop.design.outcomes import STATUS_COLUMN, failure_outcomes, outcome_columns

    outcomes = failed_if is not None or STATUS_COLUMN in frame.columns
    failed = failure_outcomes(frame, dataset.rows, failed_if)[0] if outcomes else np.zeros(len(frame), dtype=bool)
    measured &= ~failed
    X, categories = input_features(dataset, frame, goal_cols + cons_cols + outcome_columns(list(frame.columns), failed_if,
                                                                                           frame=frame))
    X = opts.add_transfer(X, dataset, frame, transfer)  # --transfer: the pre-trained library's values
    cons = []
    for col, lo, hi in parsed:
        vals = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        have = np.isfinite(vals)
        cons.append((X[have], vals[have], lo, hi, col))
    open_rows = ~measured & (~failed | retry_failed)
    open_rows, n_reps = opts.without_replicates(dataset, open_rows, measured, allow_replicates)
    goal_features, note = None, None
    if history:  # a prior per goal (design/multi_options.py)
        goal_features, note = opts.goal_history(dataset, frame, goals, history, X, Y, measured, open_rows, model,
                                                seed, goal_cols + cons_cols + outcome_columns(list(frame.columns),
                                                                                              failed_if, frame=frame))
    shown, X_open, Y_open = output_candidates(dataset, frame.loc[open_rows], goal_cols), X[open_rows], Y[open_rows]
    failed_X, infeasible = X[failed] if outcomes else None, violations(frame, constraints)[measured]

    def rank(pos: np.ndarray, k: int) -> MultiRanking:  # pos: candidates (all, or --same's group)
        return rank_multi(X[measured], Y[measured], X_open[pos], shown.iloc[pos], goals, k, scalarize, model, seed, cons,
                          n_samples, failed_X, acquisition, goal_rows(goal_features, pos), infeasible, categories,
                          {j: Y_open[pos, j] for j in known})
    ranking = rank_in_one_group(rank, len(X_open), same_groups(frame.loc[open_rows], same), batch, same or ())
    ranking.chosen = table_columns_kept(ranking.chosen)
    ranking.chosen.attrs.update(n_candidates=int(open_rows.sum()), n_measured=int(measured.sum()),
                                n_failed=int(failed.sum()), n_known_left_out=n_known,
                                n_replicates_left_out=n_reps)
    return opts.annotate(ranking.chosen, goals, acq_note, note, goal_features)
