"""The options a single-goal suggestion has, for several goals: a second table of candidates,
``--history`` (a prior per goal), ``--acquisition`` and replicates.

:func:`matloop.design.multi_suggest.suggest_multi` and the campaign's several-goal path
(:mod:`matloop.design.campaign_multi`) call these helpers; the acquisition internals stay in
:mod:`matloop.design.multi_suggest`.

- **Candidates** (:func:`add_candidates`): the rows of a second table join the table's rows with
  every goal blank; rows whose input is already measured are left out and counted, as in the
  single-goal path (:func:`matloop.design.suggest.suggest`).
- **Replicates** (:func:`replicate_blank_rows`): a blank row whose input is measured, or repeats an
  earlier blank row, is not a candidate unless replicates are allowed.
- **History** (:func:`goal_history`): each goal gets its own prior, a model of that goal fitted on
  the history tables that hold its column (:class:`matloop.design.history.HistoryPrior`); its
  prediction is an extra input of that goal's surrogate, unless the cross-validated safeguard
  (:func:`matloop.design.history.history_helps`) says it predicts the campaign's own results of the
  goal worse. A goal no history table measures gets no prior (and the note says so); a history table
  that holds none of the goals is an error, never silently ignored.
- **Transfer** (:func:`add_transfer`): ``--transfer`` adds the pre-trained library's values to a
  composition table's features, for every goal's surrogate.
- **Acquisition** (:func:`resolve_acquisition`, :func:`sample_acquisition`): expected hypervolume
  improvement is its own acquisition, so an explicit ``--acquisition`` applies to the scalarised
  goals of ParEGO (the random Chebyshev weighting of each pick) or Chimera (the merit of the goal
  hierarchy), computed on the Monte-Carlo samples those scorers already draw. Without ``--scalarize``
  it selects ParEGO; with ``--scalarize ehvi`` it is an error.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from matloop.errors import InputError, error_table

#: acquisitions that have a meaning on Monte-Carlo samples of one scalar merit (maximisation sense)
SAMPLE_ACQUISITIONS = ("ei", "logei", "pi", "mli", "ucb", "lcb", "mei", "mu", "thompson")
#: the batch of several goals is always chosen by conditioning on fantasies (design/multi_suggest.py)
MULTI_BATCH_METHOD = "fantasy"
#: ``ucb``/``lcb`` on the samples: mean + BETA * std (as the single-goal UCB's default)
BETA = 2.0

__all__ = ["SAMPLE_ACQUISITIONS", "resolve_acquisition", "check_batch_method", "sample_acquisition",
           "add_candidates", "replicate_blank_rows", "read_goal_history", "check_history_goals", "goal_history",
           "history_reason", "with_candidates", "without_replicates", "annotate", "add_transfer",
           "goal_inputs"]


# ------------------------------------------------------------------------------------- acquisition
def resolve_acquisition(scalarize: str | None, acquisition: str | None) -> tuple[str | None, str | None]:
    """``(scalarize, note)`` for several goals given ``--scalarize`` and ``--acquisition``.

    No acquisition: ``scalarize`` unchanged. An acquisition of :data:`SAMPLE_ACQUISITIONS` applies to
    ParEGO's or Chimera's scalarised goals (ParEGO when no ``--scalarize`` is given); with ``ehvi``, or
    one that needs a single target (``novelty``, ``window``), it raises :class:`InputError`."""
    if acquisition is None:
        return scalarize, None
    name = str(acquisition).lower()
    if name not in SAMPLE_ACQUISITIONS:
        raise InputError(f"--acquisition {name} has no meaning for several goals; with --scalarize parego or "
                         f"chimera choose one of {', '.join(SAMPLE_ACQUISITIONS)} (applied to the scalarised goals)")
    if scalarize == "ehvi":
        raise InputError(f"--acquisition {name} cannot be combined with --scalarize ehvi: expected hypervolume "
                         "improvement is itself the acquisition of several goals. Leave --acquisition out, or "
                         f"use --scalarize parego (or chimera) to apply {name} to the scalarised goals")
    chosen = scalarize or "parego"
    what = "ParEGO's random Chebyshev weighting of the goals" if chosen == "parego" else \
        "the Chimera merit of the goal hierarchy"
    return chosen, f"acquisition {name} applied to {what}" + ("" if scalarize else " (--acquisition selects ParEGO)")


def check_batch_method(batch_method: str | None) -> None:
    """Several goals choose a batch by conditioning on fantasies only: another ``--batch-method`` is an error."""
    if batch_method not in (None, MULTI_BATCH_METHOD):
        raise InputError(f"--batch-method {batch_method} applies to one goal; with several goals the batch is always "
                         "chosen by conditioning each pick on the sampled outcomes (fantasies) of the picks before "
                         "it, so that it covers the front: leave --batch-method out")


def sample_acquisition(name: str, values: np.ndarray, best: np.ndarray, rng=None) -> np.ndarray:
    """An acquisition of one scalar merit from its Monte-Carlo samples ``values`` (samples x candidates,
    larger is better) and each sample's best measured merit ``best`` (samples,).

    ``ei`` (and ``logei``, which ranks alike) the mean improvement over the best; ``pi``/``mli`` the
    share of samples that improve; ``ucb``/``lcb`` (the same in the maximisation sense) mean + 2 std;
    ``mei`` the mean; ``mu`` the std; ``thompson`` one sample. Values are shifted to be >= 0 (the
    caller multiplies them by feasibility probabilities)."""
    V = np.asarray(values, dtype=float)
    b = np.asarray(best, dtype=float).reshape(-1, 1)
    if name in ("ei", "logei"):
        return np.maximum(V - b, 0.0).mean(axis=0)
    if name in ("pi", "mli"):
        return (V > b).mean(axis=0)
    if name == "mu":
        return V.std(axis=0)
    if name in ("ucb", "lcb"):
        out = V.mean(axis=0) + BETA * V.std(axis=0)
    elif name == "mei":
        out = V.mean(axis=0)
    elif name == "thompson":
        rng = rng if rng is not None else np.random.default_rng(0)
        out = V[int(rng.integers(len(V)))]
    else:
        raise InputError(f"--acquisition {name} has no meaning for several goals (choose one of "
                         f"{', '.join(SAMPLE_ACQUISITIONS)})")
    return out - out.min() if len(out) else out


# -------------------------------------------------------------------------------------- candidates
def add_candidates(dataset, candidates, goal_columns: list[str], labelled: np.ndarray):
    """``(dataset with the candidate rows appended, n already measured, n added)``.

    ``candidates``: a :class:`~matloop.io.Dataset` of the same kind (its material column may have
    another name). A candidate row with a goal value is an error (measured rows belong in the table);
    those whose input is measured in ``dataset`` (``labelled``) are left out. The appended rows have
    every goal blank; their ``rows`` are their own file rows."""
    from matloop.design.suggest import align_candidates
    from matloop.design.surrogate import material_keys

    frame, rows = align_candidates(dataset, candidates, input_option="--candidates-input")
    problems = []
    for col in goal_columns:
        if col in frame.columns:
            filled = pd.to_numeric(frame[col], errors="coerce").notna().to_numpy()
            problems += [{"row": int(r), "column": col, "value": v, "reason": "candidates are unmeasured"}
                         for r, v in zip(rows[filled], frame.loc[filled, col], strict=True)]
    if problems:
        raise InputError("rows of the candidates table have a measured goal: measured rows belong in the table the "
                         "models are trained on", error_table(problems))
    measured = set(material_keys(dataset, dataset.frame.loc[labelled])) if np.any(labelled) else set()
    known = np.array([k in measured for k in material_keys(dataset, frame, rows=rows)], dtype=bool)
    frame, rows = frame.loc[~known], rows[~known]
    if not len(frame):
        raise InputError(f"every row of the candidates table is already measured in the table ({int(known.sum())} "
                         "rows); nothing is left to suggest")
    for col in goal_columns:
        frame[col] = np.nan
    combined = pd.concat([dataset.frame, frame], ignore_index=True)
    out = dataclasses.replace(dataset, frame=combined, rows=np.r_[np.asarray(dataset.rows), rows], encoding=None)
    return out, int(known.sum()), len(frame)


def with_candidates(dataset, candidates, goals) -> tuple:
    """``(dataset, n already measured)``: :func:`add_candidates` when a candidates table is given."""
    if candidates is None:
        return dataset, 0
    cols = [g.column for g in goals]
    done = pd.DataFrame({c: pd.to_numeric(dataset.frame[c], errors="coerce") for c in cols
                         if c in dataset.frame.columns}).notna().any(axis=1).to_numpy()
    out, n_known, _ = add_candidates(dataset, candidates, cols, done)
    return out, n_known


def without_replicates(dataset, open_rows: np.ndarray, measured: np.ndarray, allow: bool = False) -> tuple:
    """``(open rows, n left out)``: blank rows repeating a measured or earlier input are not candidates
    unless ``allow``; an error when nothing else is left."""
    if allow:
        return open_rows, 0
    reps = replicate_blank_rows(dataset, measured)
    out = open_rows & ~reps
    if not out.any() and (open_rows & reps).any():
        raise InputError(f"every blank row repeats an input that is measured or already listed ({int(reps.sum())} "
                         "rows); nothing is left to suggest (allow replicates with --allow-replicates; Python: "
                         "allow_replicates=True)")
    return out, int((reps & ~measured).sum())


def annotate(chosen: pd.DataFrame, goals, acquisition_note: str | None, history_note: str | None,
             goal_features) -> pd.DataFrame:
    """The acquisition and history clauses added to each reason, and both notes in ``chosen.attrs``."""
    for text in (acquisition_note and acquisition_note.split(" (")[0],
                 history_note and history_reason(goals, goal_features)):
        if text:
            chosen["reason"] = chosen["reason"] + "; " + text
    chosen.attrs.update(acquisition_note=acquisition_note, history=history_note)
    return chosen


def replicate_blank_rows(dataset, measured: np.ndarray) -> np.ndarray:
    """Mask of the blank rows whose input is measured (``measured``) or repeats an earlier blank row:
    not candidates unless replicates are allowed (as :func:`matloop.design.replicates.replicate_groups`)."""
    from matloop.design.surrogate import material_keys

    keys = material_keys(dataset)
    seen = {keys[i] for i in np.flatnonzero(measured)}
    out = np.zeros(len(keys), dtype=bool)
    for i in np.flatnonzero(~np.asarray(measured, dtype=bool)):
        out[i] = keys[i] in seen
        seen.add(keys[i])
    return out


def add_transfer(X: np.ndarray, dataset, frame: pd.DataFrame, transfer: str | None, space=None) -> np.ndarray:
    """``--transfer auto|SOURCE,...``: the pre-trained library's values join a composition table's
    features (as in the single-goal path, :func:`matloop.design.history.transfer_features`), or those of
    a design ``space``'s composition parameter."""
    if str(transfer or "none").lower() == "none":
        return X
    if space is not None:
        from matloop.design.history import space_transfer_features

        return np.column_stack([X, space_transfer_features(space, transfer, frame)])
    if dataset.kind != "composition":
        raise InputError("--transfer uses the pre-trained composition library: it needs a formula column")
    from matloop.design.history import transfer_features

    return np.column_stack([X, transfer_features(transfer, frame[dataset.input])])


# ----------------------------------------------------------------------------------------- history
def check_history_goals(frame: pd.DataFrame, columns: list[str], source: str) -> list[str]:
    """The goal columns a history table measures (at least one number); none is an error."""
    from matloop.design.history import check_history

    if len(columns) == 1:
        check_history(frame, columns[0], source)
        return list(columns)
    held = [c for c in columns if c in frame.columns and pd.to_numeric(frame[c], errors="coerce").notna().any()]
    if not held:
        raise InputError(f"the history table {source} measures none of the goals ({', '.join(columns)}), so it "
                         "cannot inform them", error_table([{"row": 0, "column": c, "value": source,
                                                             "reason": "no measured value in the history table"}
                                                            for c in columns]))
    return held


def read_goal_history(paths, columns: list[str]) -> list[tuple[pd.DataFrame, str]]:
    """``(frame, file name)`` of each ``--history`` table, each measuring at least one of ``columns``."""
    from matloop.design.history import history_table

    out = []
    for path in paths or []:
        frame, name = history_table(path)  # a campaign export too
        check_history_goals(frame, list(columns), name)
        out.append((frame, name))
    return out


def goal_history(dataset, frame: pd.DataFrame, goals, tables, X: np.ndarray, Y: np.ndarray, measured: np.ndarray,
                 open_rows: np.ndarray, model, seed: int = 0, exclude: list[str] | None = None):
    """``(goal_features, note)``: per goal, ``(history prediction at the measured rows, at the open
    rows)`` (or None: no history of that goal, or the safeguard set it aside) for
    :func:`matloop.design.multi_suggest.rank_multi`, and one line saying what happened to each goal.

    ``X``/``Y``: features and goal values of every row of ``frame``; ``exclude``: outcome columns
    (goals, constraints, failure columns) that are not inputs."""
    from matloop.design.history import HistoryPrior, history_helps

    skip = set(exclude or []) | {g.column for g in goals}
    params = ([c for c in dataset.parameter_columns if c not in skip] if dataset.kind == "parameters"
              else [dataset.input])
    features, notes = [], []
    for j, g in enumerate(goals):
        mine = [(f, s) for f, s in tables
                if g.column in f.columns and pd.to_numeric(f[g.column], errors="coerce").notna().any()]
        if not mine:
            features.append(None)
            notes.append(f"{g.column}: no history (no history table measures it)")
            continue
        prior = HistoryPrior(params, g.column, seed, dataset if dataset.kind != "parameters" else None)
        prior.fit([(f.drop(columns=[c for c in skip if c in f.columns and c != g.column]), s) for f, s in mine])
        h = np.asarray(prior.predict(frame), dtype=float)
        have = measured & np.isfinite(Y[:, j])
        sign = None if g.direction == "range" else (1.0 if g.direction == "max" else -1.0)
        keep, verdict = history_helps(np.column_stack([X[have], h[have]]), Y[have, j], base=model, seed=seed,
                                      use="feature", sign=sign)
        features.append((h[measured], h[open_rows]) if keep else None)
        notes.append(f"{g.column}: {verdict}: {prior.describe()}")
    return features, "; ".join(notes)


def goal_inputs(X_rows: np.ndarray, X_candidates: np.ndarray, goal_features, j: int):
    """Goal ``j``'s inputs: the shared features, plus that goal's history prediction when it has one."""
    extra = None if goal_features is None else goal_features[j]
    if extra is None:
        return X_rows, X_candidates
    return np.column_stack([X_rows, extra[0]]), np.column_stack([X_candidates, extra[1]])


def history_reason(goals, goal_features) -> str:
    """A short clause for each suggestion's reason: which goals the history informed."""
    used = [g.column for g, f in zip(goals, goal_features or [], strict=False) if f is not None]
    if not used:
        return "history not used (set aside by cross-validation, or no history of the goals)"
    rest = [g.column for g in goals if g.column not in used]
    return f"history prior for {', '.join(used)}" + (f" (none for {', '.join(rest)})" if rest else "")


def violations(frame: pd.DataFrame, constraints: list[str] | None) -> np.ndarray:
    """Rows whose measured value breaks an outcome constraint (``density < 8``: a density above 8; a
    bound itself is allowed, an unmeasured value breaks nothing)."""
    from matloop.design.multiobjective import parse_constraint

    bad = np.zeros(len(frame), dtype=bool)
    for text in constraints or []:
        col, lo, hi = parse_constraint(text)
        if col not in frame.columns:
            continue
        v = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            bad |= (np.isfinite(v) & (v < lo)) if lo is not None else False
            bad |= (np.isfinite(v) & (v > hi)) if hi is not None else False
    return bad


def default_scalarize(goals: list, scalarize: str | None) -> str | None:
    """``--goal COL:max@TOL`` without ``--scalarize``: the tolerances ask for Chimera's hierarchy, so it is
    chosen (they mean nothing to EHVI or ParEGO; :func:`goals_words` says so when another is asked for)."""
    if scalarize is None and any(getattr(g, "tolerance", None) is not None for g in goals):
        return "chimera"
    return scalarize


def goals_words(goals: list, scalarize: str | None = None, constraints: list[str] | None = None) -> str:
    """The goals in words for output and status: Chimera's hierarchy with each tolerance, the outcome
    constraints, and a note when tolerances are given but another scalarisation ignores them."""
    from matloop.design.multi_suggest import DEFAULT_TOLERANCE

    if scalarize == "chimera":
        text = "in this order (Chimera hierarchy): " + "; ".join(
            f"{g.words()} (within {DEFAULT_TOLERANCE if g.tolerance is None else g.tolerance:g} of its observed "
            "range of the best)" for g in goals)
    else:
        text = "; ".join(g.words() for g in goals)
        if any(getattr(g, "tolerance", None) is not None for g in goals):
            text += f" (the @TOL tolerances apply to --scalarize chimera only, not {scalarize or 'ehvi'})"
    if constraints:
        text += "; subject to " + ", ".join(constraints)
    return text


#: a goal whose measured values are this skewed (absolute sample skewness) is modelled after a
#: Yeo-Johnson warp (None: never); see :class:`GoalWarp`
WARP_SKEW: float | None = None


class GoalWarp:
    """A Yeo-Johnson output warp of one goal (standardise, warp with lambda in [0, 2], standardise).

    A heavy-tailed goal (a fluorescence rate whose best dyes sit far out in the tail) violates the
    Gaussian surrogate's assumption; the surrogate then learns the warped values, and the Monte-Carlo
    samples of EHVI / ParEGO / Chimera are drawn in the warped space and mapped back, so that the
    predictive distribution in the goal's own units is skewed like the data (as a warped GP,
    Snelson et al. 2004). With lambda in [0, 2] the warp is a bijection of the real line; mapped-back
    values are kept within one measured range beyond the measured values (no runaway extrapolation).
    Predictions shown are the back-mapped mean (a median) and half the back-mapped +-1 std interval."""

    def __init__(self, y: np.ndarray):
        from scipy.stats import yeojohnson_normmax

        y = np.asarray(y, dtype=float)
        self.mu, self.sd = float(y.mean()), float(y.std()) or 1.0
        u = (y - self.mu) / self.sd
        self.lam = float(np.clip(yeojohnson_normmax(u), 0.0, 2.0))
        w = self._yj(u)
        self.wmu, self.wsd = float(w.mean()), float(w.std()) or 1.0
        self.lo, self.hi = float(u.min() - np.ptp(u)), float(u.max() + np.ptp(u))

    @staticmethod
    def wanted(y: np.ndarray) -> bool:
        from scipy.stats import skew

        y = np.asarray(y, dtype=float)
        return WARP_SKEW is not None and len(y) >= 5 and np.ptp(y) > 0 and abs(float(skew(y))) > WARP_SKEW

    def _yj(self, u: np.ndarray) -> np.ndarray:
        lam, out = self.lam, np.empty_like(u)
        pos = u >= 0
        out[pos] = np.log1p(u[pos]) if lam == 0 else ((u[pos] + 1) ** lam - 1) / lam
        out[~pos] = -np.log1p(-u[~pos]) if lam == 2 else -((1 - u[~pos]) ** (2 - lam) - 1) / (2 - lam)
        return out

    @staticmethod
    def shown(means: list, stds: list, warps: list) -> tuple[list, list]:
        """Predictions in the goals' own units: a warped goal's back-mapped mean and half its +-1 std interval."""
        out_m = [mu if w is None else w.inverse(mu) for mu, w in zip(means, warps, strict=True)]
        out_s = [sd if w is None else np.abs(w.inverse(mu + sd) - w.inverse(mu - sd)) / 2
                 for mu, sd, w in zip(means, stds, warps, strict=True)]
        return out_m, out_s

    def forward(self, y: np.ndarray) -> np.ndarray:
        return (self._yj((np.asarray(y, dtype=float) - self.mu) / self.sd) - self.wmu) / self.wsd

    def inverse(self, z: np.ndarray) -> np.ndarray:
        w = np.asarray(z, dtype=float) * self.wsd + self.wmu
        lam, u = self.lam, np.empty_like(w)
        pos = w >= 0
        with np.errstate(over="ignore"):
            u[pos] = np.expm1(np.minimum(w[pos], 50)) if lam == 0 else np.power(1 + lam * w[pos], 1 / lam) - 1
            u[~pos] = (-np.expm1(np.minimum(-w[~pos], 50)) if lam == 2
                       else 1 - np.power(1 - (2 - lam) * w[~pos], 1 / (2 - lam)))
        return np.clip(u, self.lo, self.hi) * self.sd + self.mu


def multi_reason(scalarize, goals, mean, std, p_nd, gain, feasible, position, p_success=None) -> str:
    """The ``reason`` of one pick with several goals (or one goal with outcome constraints): what ranked
    it, its predictions, P(not dominated), the expected gain, P(constraints met) and P(success)."""
    preds = ", ".join(f"{g.column} {mu:.4g} " + (f"± {sd:.2g}" if sd > 1e-9 else "(known)")
                      for g, mu, sd in zip(goals, mean, std, strict=True))
    one = len(goals) == 1  # one goal with an outcome constraint: the hypervolume is the best value's gain
    lead = {"ehvi": "largest expected improvement over the best measured" if one else
            "largest expected gain in hypervolume",
            "parego": "best on a random weighting of the goals (ParEGO)",
            "chimera": "best on the goal hierarchy (Chimera)"}[scalarize]
    if position and scalarize == "ehvi":
        lead += f" given the {position} pick{'s' if position > 1 else ''} above"
    parts = [f"{lead}: predicted {preds}", f"P(better than the best measured) = {p_nd:.0%}"] if one else [
        f"{lead}: predicted {preds}", f"P(not dominated by the measured front) = {p_nd:.0%}",
        f"expected hypervolume gain {gain:.1%} of the current front's"]
    if feasible is not None:
        parts.append(f"P(constraints met) = {feasible:.0%}")
    if p_success is not None:  # failures recorded: as one goal's reasons say it
        parts.append(f"P(success) = {p_success:.0%}")
    return "; ".join(parts)


def input_features(dataset, frame: pd.DataFrame, exclude: list[str]) -> tuple[np.ndarray, list | None]:
    """Numeric features of ``frame``'s inputs as :func:`matloop.design.surrogate.featurize` makes them
    (parameter tables: :mod:`matloop.design.encode`, labels one-hot, SMILES a chemical encoding),
    leaving out goal and constraint columns (``exclude``), which are outcomes, not inputs; and the
    feature columns of each categorical input (:func:`matloop.design.encode.category_features`)."""
    import dataclasses

    from matloop.design.encode import category_features
    from matloop.design.surrogate import featurize

    if dataset.kind == "parameters":
        cols = [c for c in dataset.parameter_columns if c not in set(exclude)]
        if not cols:
            raise InputError("the table has no input columns besides the goals and constraints")
        if cols != dataset.parameter_columns:
            dataset = dataclasses.replace(dataset, parameters=cols, encoding=None)
    return featurize(dataset, frame).to_numpy(dtype=float), category_features(dataset)


def known_goals(Y: np.ndarray, goal_cols: list[str]) -> list[int]:
    """The goals with a value on every row (a cost computed from the recipe, known before the experiment):
    used as given at every candidate, never modelled nor measured (a note says which). An error when
    every goal is known: nothing is left to measure."""
    known = [j for j in range(Y.shape[1]) if np.isfinite(Y[:, j]).all()]
    if not known:
        return known
    if len(known) == len(goal_cols):
        raise InputError("every goal has a value on every row, so no row is left to measure: a candidate is a row "
                         "whose measured goals are blank")
    from matloop.progress import say

    say(f"note: {', '.join(repr(goal_cols[j]) for j in known)} has a value on every row: known before the "
        "experiment, used as given at each candidate (not modelled); candidates are the rows whose other goals "
        "are blank")
    return known
