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
    """The measured Pareto front (rows with every goal measured, inputs and goal values) and its
    hypervolume (each goal scaled by its measured range, reference 10 % of it below the worst)."""
    from matloop.design.multi_suggest import front_of

    goals = goals_from_config(campaign.config)
    t = campaign.table() if table is None else table
    cols = [g.column for g in goals]
    values = t[cols].to_numpy(dtype=float)
    complete = np.all(np.isfinite(values), axis=1)
    if not complete.any():
        return t.iloc[:0][_shown(campaign, cols)], 0.0
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
    return {"goals": goals, "front": front, "hypervolume": hv, "front_lines": lines}


def _fmt(v) -> str:
    if isinstance(v, float | np.floating):
        return f"{float(v):.4g}"
    return str(v)


def suggest_multi_batch(campaign, table: pd.DataFrame, open_rows: np.ndarray, batch: int, scalarize: str | None,
                        model: str, seed: int, failed_X: np.ndarray | None = None):
    """``(chosen, keys, ranking, ledger_rows)`` for a campaign with several goals.

    ``open_rows``: candidates that may be suggested (not measured, pending, failed or vetoed).
    """
    from matloop.design.multi_suggest import input_features, rank_multi

    cfg = campaign.config
    goals = goals_from_config(cfg)
    cols = [g.column for g in goals]
    outcome = outcome_columns(cfg)
    data_cols = [c for c in table.columns if c not in ("candidate_id", "key", "source", "n_measurements")]
    frame = table[data_cols]
    Y = frame[cols].to_numpy(dtype=float)
    measured = np.isfinite(Y).any(axis=1)
    if measured.sum() < 2 or (np.isfinite(Y).sum(axis=0) < 2).any():
        counts = ", ".join(f"{c}: {int(n)}" for c, n in zip(cols, np.isfinite(Y).sum(axis=0), strict=True))
        raise InputError(f"record at least 2 measurements of every goal before asking for suggestions ({counts})")
    ds = campaign._dataset(frame)
    X = input_features(ds, frame, outcome)
    cons = []
    from matloop.design.multiobjective import parse_constraint

    for text in cfg.get("constraints") or []:
        col, lo, hi = parse_constraint(text)
        vals = frame[col].to_numpy(dtype=float)
        have = np.isfinite(vals)
        if have.sum() >= 2:
            cons.append((X[have], vals[have], lo, hi, col))
    open_rows = open_rows & ~measured
    scalarize = scalarize or cfg.get("scalarize")
    ranking = rank_multi(X[measured], Y[measured], X[open_rows], frame.loc[open_rows].drop(columns=outcome),
                         goals, batch, scalarize, model, seed, cons)
    chosen = ranking.chosen
    keys = table.loc[open_rows, "key"].to_numpy()[ranking.chosen_positions]
    extra = [c for c in chosen.columns if c not in frame.columns]
    first = goals[0].column
    rows = pd.DataFrame({"key": keys, "data": chosen.drop(columns=extra).to_dict(orient="records"),
                         "rank": chosen["rank"], "prediction": chosen[f"{first}_pred"],
                         "std": chosen[f"{first}_std"], "acquisition": chosen["acquisition"],
                         "reason": chosen["reason"]})
    return chosen, keys, ranking, rows, int(measured.sum())


def goals_for_create(goals: list[Goal] | None, target: str) -> list[str]:
    """The columns a new campaign records: every goal's, or the one target."""
    return [g.column for g in goals] if goals and len(goals) > 1 else [target]


def record_multi(campaign, results: pd.DataFrame, keys: list[str], source: str, rows: list[int], allow_new: bool,
                 actor: str | None):
    """Record every goal and constraint column the results hold (a blank cell is "not measured").

    Rows marked failed (``status`` column or the campaign's ``failed_if`` rule) are recorded as failures
    by :func:`matloop.design.campaign_failures.record_results`, in a second transaction."""
    from matloop.design.outcomes import STATUS_COLUMN, failure_outcomes
    from matloop.errors import error_table

    present = [c for c in outcome_columns(campaign.config) if c in results.columns]
    if not present:
        raise InputError("the results hold no goal column", error_table(
            [{"row": 0, "column": c, "value": None, "reason": f"missing (columns: {list(results.columns)})"}
             for c in outcome_columns(campaign.config)]))
    rule = campaign.config.get("failed_if")
    if STATUS_COLUMN not in results.columns and rule is None:
        return campaign.ledger.record(results, keys, present, source, rows, allow_new, actor)
    from matloop.design.campaign_failures import record_results
    from matloop.design.ledger import RecordResult

    failed, _ = failure_outcomes(results, rows, rule)
    ok = np.flatnonzero(~failed)
    done = (campaign.ledger.record(results.iloc[ok], [keys[i] for i in ok], present, source, [rows[i] for i in ok],
                                   allow_new, actor) if len(ok) else RecordResult(0, 0, 0))
    if not failed.any():
        return done
    bad = np.flatnonzero(failed)
    fails = record_results(campaign, results.iloc[bad], [keys[i] for i in bad], source, [rows[i] for i in bad],
                           allow_new, actor)
    return RecordResult(done.inserted, done.already_recorded, done.new_candidates + fails.new_candidates,
                        fails.failed, fails.failed_already)
