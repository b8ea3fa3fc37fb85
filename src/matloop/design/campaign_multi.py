"""Campaigns with several goals (``campaign new --goal A:max --goal B:min``): the parts of
:class:`~matloop.design.campaign.Campaign` that differ from the one-target case.

The configuration holds ``goals`` (and the first goal as ``target``/``direction``, so that older
code reading a campaign still finds one target) and optional outcome ``constraints``. Every goal
and constraint column is recorded as a target in the ledger; a result may leave any of them blank.
Candidates are the rows with no goal measured; each goal's surrogate learns from the rows where that
goal is measured (:func:`matloop.design.multi_suggest.rank_multi`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matloop.design.goals import Goal, goals_from_config
from matloop.errors import InputError

__all__ = ["outcome_columns", "multi_status", "suggest_multi_batch", "front_table"]


def outcome_columns(config: dict) -> list[str]:
    """The measured columns of a campaign: its goals, then its constraint columns."""
    from matloop.design.multiobjective import parse_constraint

    cols = [g.column for g in goals_from_config(config)]
    cols += [parse_constraint(c)[0] for c in config.get("constraints") or []]
    return list(dict.fromkeys(cols))


def front_table(campaign, table: pd.DataFrame | None = None) -> tuple[pd.DataFrame, float]:
    """The measured Pareto front (rows with every goal measured and no outcome constraint broken, inputs
    and goal values) and its hypervolume (each goal scaled by its measured range, reference 10 % of
    it below the worst)."""
    from matloop.design.multi_suggest import front_of

    goals = goals_from_config(campaign.config)
    t = campaign.table() if table is None else table
    cols = [g.column for g in goals]
    values = t[cols].to_numpy(dtype=float)
    from matloop.design.multi_suggest import violations

    # a row breaking an outcome constraint is not on the front (as in the suggestions)
    complete = np.all(np.isfinite(values), axis=1) & ~violations(t, campaign.config.get("constraints"))
    if not complete.any():
        return t.iloc[:0].reindex(columns=_shown(campaign, cols)), 0.0
    front = front_of(values[complete], goals)
    rows = t.loc[complete].iloc[np.flatnonzero(front.mask)]
    return rows[_shown(campaign, cols)].reset_index(drop=True), float(front.hypervolume)


def _shown(campaign, goal_cols: list[str]) -> list[str]:
    cfg = campaign.config
    inputs = (cfg.get("parameter_columns") or []) if cfg["kind"] == "parameters" else [cfg.get("input")]
    return [c for c in [*inputs, *goal_cols] if c]


def multi_status(campaign, table: pd.DataFrame) -> dict:
    """Extra status for several goals: the front (as text lines) and its hypervolume."""
    front, hv = front_table(campaign, table)
    goals = goals_from_config(campaign.config)
    lines = []
    for _, row in front.iterrows():
        lines.append(", ".join(f"{c} = {_fmt(row[c])}" for c in front.columns))
    from matloop.design.multi_options import default_scalarize, goals_words

    cfg = campaign.config
    words = goals_words(goals, default_scalarize(goals, cfg.get("scalarize")), cfg.get("constraints"))
    return {"goals": goals, "front": front, "hypervolume": hv, "front_lines": lines, "goal_text": words,
            "hypervolume_start": start_hypervolume(campaign, table)}


def _fmt(v) -> str:
    if isinstance(v, float | np.floating):
        return f"{float(v):.4g}"
    return str(v)


def suggest_multi_batch(campaign, table: pd.DataFrame, open_rows: np.ndarray, batch: int, scalarize: str | None,
                        model: str, seed: int, failed_X: np.ndarray | None = None, acquisition: str | None = None,
                        allow_replicates: bool = False, failed: np.ndarray | None = None, transfer: str = "none",
                        same: list[str] | None = None):
    """``(chosen, keys, ranking, ledger_rows)`` for a campaign with several goals.

    ``open_rows``: candidates that may be suggested (not measured, pending, failed or vetoed); measured
    ones too with ``allow_replicates``. ``acquisition``: applied to ParEGO's or Chimera's scalarised
    goals (:func:`matloop.design.multi_options.resolve_acquisition`). History tables stored at creation
    give each goal they measure a prior (:func:`matloop.design.multi_options.goal_history`). ``failed``:
    mask of failed candidates (given when failures count), whose features make P(success) weight the
    acquisition. ``transfer``: the pre-trained library's values join a composition campaign's features.
    ``same``: columns every row of the batch shares (:mod:`matloop.design.batch_groups`).
    """
    from matloop.design.batch_groups import goal_rows, rank_in_one_group, same_groups
    from matloop.design.multi_options import (
        add_transfer,
        annotate,
        default_scalarize,
        goal_history,
        resolve_acquisition,
    )
    from matloop.design.multi_suggest import input_features, rank_multi, violations

    cfg = campaign.config
    goals = goals_from_config(cfg)
    scalarize, acq_note = resolve_acquisition(default_scalarize(goals, scalarize or cfg.get("scalarize")), acquisition)
    cols = [g.column for g in goals]
    outcome = outcome_columns(cfg)
    data_cols = [c for c in table.columns if c not in ("candidate_id", "key", "source", "n_measurements")]
    frame = table[data_cols]
    Y = frame[cols].to_numpy(dtype=float)
    measured = np.isfinite(Y).any(axis=1)
    # fewer than 2 results of a goal: rank_multi returns a space-filling first batch (a cold start)
    ds = campaign._dataset(frame)
    X, categories = input_features(ds, frame, outcome)
    X = add_transfer(X, ds, frame, transfer, campaign.space)  # library values
    cons = []
    from matloop.design.multiobjective import parse_constraint

    for text in cfg.get("constraints") or []:
        col, lo, hi = parse_constraint(text)
        vals = frame[col].to_numpy(dtype=float)
        have = np.isfinite(vals)
        if have.sum() >= 2:
            cons.append((X[have], vals[have], lo, hi, col))
    if campaign.space is None and not (open_rows & (~measured | allow_replicates)).any():  # say why none is left
        from matloop.design.campaign_failures import exclusions, open_candidates

        open_candidates(table, measured, campaign._pending_ids(), exclusions(campaign, table), allow_replicates)
    open_rows = open_rows & (~measured | allow_replicates)
    goal_features, note = None, None
    if cfg.get("history"):  # a prior per goal from the history tables stored at creation
        from matloop.design.history import history_tables

        goal_features, note = goal_history(ds, frame, goals, history_tables(cfg["history"]), X, Y, measured,
                                           open_rows, model, seed, outcome)
    failed_X = X[failed] if failed is not None else failed_X  # failures count: P(success) weights the acquisition
    shown, X_open = frame.loc[open_rows].drop(columns=outcome), X[open_rows]
    infeasible = violations(frame, cfg.get("constraints"))[measured]

    def rank(pos: np.ndarray, k: int):  # pos: the open candidates (all, or --same's group)
        return rank_multi(X[measured], Y[measured], X_open[pos], shown.iloc[pos], goals, k, scalarize, model, seed,
                          cons, failed_X=failed_X, acquisition=acquisition, goal_features=goal_rows(goal_features, pos),
                          infeasible=infeasible, categories=None if campaign.space is not None else categories)
    ranking = rank_in_one_group(rank, len(X_open), same_groups(shown, same), batch, same or ())
    chosen = annotate(ranking.chosen, goals, acq_note, note, goal_features)
    if campaign.space is not None and ranking.chosen.attrs.get("cold_start"):
        from matloop.design.coldstart import in_space_words

        chosen["reason"] = in_space_words(chosen["reason"])
    keys = table.loc[open_rows, "key"].to_numpy()[ranking.chosen_positions]
    extra = [c for c in chosen.columns if c not in frame.columns]
    first = goals[0].column
    rows = pd.DataFrame({"key": keys, "data": chosen.drop(columns=extra).to_dict(orient="records"),
                         "rank": chosen["rank"], "prediction": chosen[f"{first}_pred"],
                         "std": chosen[f"{first}_std"], "acquisition": chosen["acquisition"],
                         "reason": chosen["reason"]})
    return chosen, keys, ranking, rows, int(measured.sum())


#: points drawn from a design space (scrambled Sobol) as the candidates of a suggestion with several goals
SPACE_CANDIDATES = 2048


def space_pool(campaign, table: pd.DataFrame, open_rows: np.ndarray, failed: np.ndarray, measured: np.ndarray,
               seed: int, batch: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A design-space campaign's table plus candidates drawn from its space; ``open_rows`` and ``failed``
    extended to the new rows (open, not failed).

    Several goals are ranked over a discrete set (EHVI, ParEGO and Chimera all score candidates):
    :data:`SPACE_CANDIDATES` scrambled-Sobol points of the space at the parameters' resolution, thinned so
    that no two, and none and a taken row (measured, awaiting results, failed or vetoed), are closer
    than the space's ``min_separation``: any batch from them is distinct points worth making. With fewer
    than 2 results the candidates are the one-goal campaign's first design of ``batch`` points
    (:func:`~matloop.design.coldstart.space_filling_design`), so the cold start is the same."""
    from matloop.design.coldstart import space_filling_design, space_points
    from matloop.design.surrogate import parameter_keys

    space = campaign.space
    cols = space.columns
    # the space's parameters and the outcomes (not a results file's other columns, such as status or reason)
    table = table.reindex(columns=["candidate_id", "key", "source", "n_measurements", *cols,
                                   *outcome_columns(campaign.config)])
    taken = measured | ~open_rows
    done = table.loc[taken, cols] if len(table) else None
    if measured.sum() < 2:
        pts = space_filling_design(space, batch, measured=done, seed=seed)
    else:
        pts = space_points(space, SPACE_CANDIDATES, done, seed)
        pts = pts.iloc[space.distinct(pts, measured=done)].reset_index(drop=True)
    known = set(table["key"]) if len(table) else set()
    pts = pts[[k not in known for k in parameter_keys(pts, cols)]].reset_index(drop=True)
    new = pts.assign(key=parameter_keys(pts, cols), candidate_id=-1, source="space", n_measurements=0)
    out = pd.concat([table, new], ignore_index=True) if len(table) else new.reindex(columns=table.columns)
    n = len(new)
    return out, np.r_[open_rows, np.ones(n, dtype=bool)], np.r_[failed, np.zeros(n, dtype=bool)]


def goals_for_create(goals: list[Goal] | None, target: str) -> list[str]:
    """The columns a new campaign records: every goal's, or the one target."""
    return [g.column for g in goals] if goals and len(goals) > 1 else [target]


def record_multi(campaign, results: pd.DataFrame, keys: list[str], source: str, rows: list[int], allow_new: bool,
                 actor: str | None):
    """Record every goal and constraint column the results hold (a blank cell is "not measured").

    Rows marked failed (``status`` column or the campaign's ``failed_if`` rule) are recorded as failures
    by :func:`matloop.design.campaign_failures.record_results`, in the same transaction as the ok rows'
    measurements: a results table is recorded all or nothing."""
    from matloop.design.outcomes import STATUS_COLUMN
    from matloop.errors import error_table
    from matloop.io.detect import missing_column_message

    present = [c for c in outcome_columns(campaign.config) if c in results.columns]
    rule = campaign.config.get("failed_if")
    if STATUS_COLUMN not in results.columns and rule is None:
        if not present:
            raise InputError("the results hold no goal column", error_table(
                [{"row": 0, "column": c, "value": None, "reason": missing_column_message("results", c, results.columns)}
                 for c in outcome_columns(campaign.config)]))
        return campaign.ledger.record(results, keys, present, source, rows, allow_new, actor)
    from matloop.design.campaign_failures import record_results

    # failed rows need no goal column: only rows marked ok must bring one (record_results checks)
    return record_results(campaign, results, keys, source, rows, allow_new, actor,
                          targets=present or outcome_columns(campaign.config))


#: random orderings of a campaign's experiments behind the baseline of the hypervolume progress plot
PROGRESS_SHUFFLES = 100


def _hypervolume_steps(campaign, table: pd.DataFrame | None = None):
    """(start candidate ids, campaign experiments in order, candidates on which every goal is measured
    and no outcome constraint is broken, ``hv(ids)``) or None when nothing is measured. ``hv`` scales
    every goal by the range of all its measured values (reference 10 % of it below the worst), the same
    for any set of candidates, so values are comparable between steps of a campaign."""
    from matloop.design.campaign import INITIAL_SOURCE
    from matloop.design.multi_suggest import front_of, violations

    goals = goals_from_config(campaign.config)
    cols = [g.column for g in goals]
    t = campaign.table() if table is None else table
    meas = campaign.ledger.measurements()
    meas = meas[meas["target"].isin(cols)]
    if not len(meas):
        return None
    start_ids = list(dict.fromkeys(meas.loc[meas["source"] == INITIAL_SOURCE, "candidate_id"]))
    order = [c for c in dict.fromkeys(meas["candidate_id"]) if c not in set(start_ids)]
    ok = np.all(np.isfinite(t[cols].to_numpy(dtype=float)), axis=1) & ~violations(t, campaign.config.get("constraints"))
    values = t.loc[ok].set_index("candidate_id")[cols]
    complete = set(values.index)
    if not complete:
        return None
    ref = front_of(values.to_numpy(dtype=float), goals)  # the final scaling, shared by every step

    def hv(ids) -> float:
        rows = [c for c in ids if c in complete]
        if not rows:
            return 0.0
        return float(front_of(values.loc[rows].to_numpy(dtype=float), goals, ref.low, ref.span).hypervolume)

    return start_ids, order, complete, hv


def start_hypervolume(campaign, table: pd.DataFrame | None = None) -> float | None:
    """The hypervolume of the rows measured at the start (the pool table's measured rows) on the scale
    of :func:`front_table` now (None when nothing is measured): what the campaign's experiments added."""
    parts = _hypervolume_steps(campaign, table)
    return None if parts is None else parts[3](parts[0])


def goals_progress(campaign, table: pd.DataFrame | None = None, seed: int = 0) -> pd.DataFrame:
    """Hypervolume of the measured front after each experiment of a campaign with several goals.

    An experiment is a candidate measured during the campaign (in the order of its first measurement;
    the measured rows of the pool table given at creation are the start, experiment 0). A candidate
    counts on the front once every goal of it is measured (its mean values). Every step uses the same
    scaling (each goal by the range of all its measured values, reference 10 % of it below the worst),
    so the curve never moves because the scale changed. ``random_order``: the mean hypervolume after
    the same number of these experiments taken in a random order (up to :data:`PROGRESS_SHUFFLES` orderings),
    the baseline of a campaign whose untested candidates have no known values.

    Columns: ``experiment`` (0 = start), ``hypervolume``, ``random_order``, ``n_complete`` (candidates
    with every goal measured so far)."""
    empty = pd.DataFrame(columns=["experiment", "hypervolume", "random_order", "n_complete"])
    parts = _hypervolume_steps(campaign, table)
    if parts is None:
        return empty
    start_ids, order, complete, hv = parts
    n = len(order)
    curve = [hv(start_ids + order[:i]) for i in range(n + 1)]
    rng = np.random.default_rng(seed)
    shuffles = 1 if n < 2 else max(10, min(PROGRESS_SHUFFLES, 3000 // n))  # bounded work on long campaigns
    shuffled = np.zeros(n + 1)
    for _ in range(shuffles):
        perm = [order[i] for i in rng.permutation(n)]
        shuffled += [hv(start_ids + perm[:i]) for i in range(n + 1)]
    shuffled /= shuffles
    done = [sum(c in complete for c in start_ids + order[:i]) for i in range(n + 1)]
    return pd.DataFrame({"experiment": np.arange(n + 1), "hypervolume": curve, "random_order": shuffled,
                         "n_complete": done})


def goal_predictions(chosen: pd.DataFrame, goal_cols: list[str]) -> dict:
    """``{rank: {goal: [prediction, std]}}`` of a batch with several goals (non-finite values as None)."""
    def num(v):
        v = float(v)
        return v if np.isfinite(v) else None
    out = {}
    for _, row in chosen.iterrows():
        out[str(int(row["rank"]))] = {c: [num(row[f"{c}_pred"]), num(row[f"{c}_std"])] for c in goal_cols
                                      if f"{c}_pred" in chosen.columns and f"{c}_std" in chosen.columns}
    return out


def one_goal_constraints(campaign, table: pd.DataFrame, measured) -> tuple:
    """One goal with outcome constraints: the measured rows that meet them (the best measured is the best of
    these, as a front holds only such rows) and the constraints in words; ``(measured, "")`` otherwise."""
    constraints = campaign.config.get("constraints")
    if not constraints or len(campaign.goals) > 1:
        return measured, ""
    from matloop.design.multi_options import violations

    return measured & ~violations(table, constraints), "; subject to " + ", ".join(constraints)
