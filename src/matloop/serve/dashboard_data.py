"""What the dashboard draws and lists for one campaign, as plain JSON-ready values.

Every number comes from :class:`~matloop.design.campaign.Campaign` reads (its table, history,
suggestions, front and event log): no SQL here and nothing written. The browser draws the plots with
the vendored uPlot from :func:`plot_data`; the page's tables are rendered server-side (escaped by
Jinja2) from :func:`page_data`. :func:`version` is a cheap fingerprint of the ledger (counts of
measurements, suggestions and events) that the page polls to update itself when an instrument posts
results.

The random baseline of the progress plot is the campaign's own experiments taken in a random order:
the expected best so far after ``k`` of them (exact, drawing without replacement) for one goal, the
mean hypervolume over seeded shuffles (32, or 8 past 40 experiments) for several. It shows what the same budget would have found
without the model choosing the order; it is an estimate from what was measured, not a simulation of
unmeasured candidates. A range goal is drawn as the distance to its window (best so far and baseline).
The measured-vs-predicted plot has one panel per goal.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

_META = ("candidate_id", "key", "source", "n_measurements")
#: rows shown in the page's tables (the CSV export has everything)
MAX_ROWS = 200


def _num(v: Any) -> float | None:
    """A finite float or None (JSON has no NaN)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return "" if not math.isfinite(f) else float(f"{f:.6g}")
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v)


def records(frame: pd.DataFrame, limit: int = MAX_ROWS) -> dict:
    """``{"columns": [...], "rows": [[...], ...], "more": n}`` with cells as text or finite numbers."""
    cols = [str(c) for c in frame.columns]
    shown = frame.iloc[:limit]
    rows = [[_cell(v) for v in row] for row in shown.itertuples(index=False, name=None)]
    return {"columns": cols, "rows": rows, "more": max(0, len(frame) - limit)}


def version(campaign) -> str:
    """A fingerprint that changes whenever anything is recorded, suggested or vetoed."""
    from matloop.design.ledger_events import read_events

    led = campaign.ledger
    return f"{len(led.measurements())}-{len(led.suggestions())}-{len(read_events(led))}"


def _expected_best_random_order(start_best: float | None, scores: np.ndarray) -> np.ndarray:
    """E[best score after k of ``scores`` drawn in random order], k = 1..n (exact, without replacement)."""
    from scipy.special import gammaln

    n = len(scores)
    s = np.sort(scores)
    if start_best is not None:
        s = np.maximum(s, start_best)
    j = np.arange(n)
    out = np.empty(n)
    for k in range(1, n + 1):
        # P(the best of k draws is the (j+1)-th smallest) = C(j, k-1) / C(n, k), for j >= k-1
        i = j[k - 1:]
        logw = (gammaln(i + 1) - gammaln(k) - gammaln(i - k + 2)) - (gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1))
        out[k - 1] = float(np.sum(np.exp(logw) * s[k - 1:]))
    return out


def _progress_single(campaign) -> dict:
    hist = campaign.history()
    obj = campaign.objective
    target = campaign.config["target"]
    if not len(hist):
        return {"kind": "best", "label": target, "x": [], "best": [], "baseline": [], "values": []}
    start = (hist["phase"] == "start").to_numpy()
    y = hist["value"].to_numpy(dtype=float)
    best = hist["best_so_far"].to_numpy(dtype=float)
    label = target
    if obj.direction == "range":  # plotted as the distance to the window (0 = inside), so that the best so
        y = obj.distance_to_window(y)  # far and its random baseline are on one axis that only goes down
        best = np.minimum.accumulate(y)
        label = f"distance of {target} to its target window (0 = inside)"
        score = -y
    else:
        score = obj.sign * y
    exp_scores = score[~start]
    start_best = float(score[start].max()) if start.any() else None
    x = [0] if start.any() else []
    bests = [float(best[start][-1])] if start.any() else []
    values = [None] if start.any() else []
    base = [bests[0]] if start.any() else []
    if len(exp_scores):
        x += [int(v) for v in hist.loc[~start, "experiment"]]
        bests += [float(v) for v in best[~start]]
        values += [float(v) for v in y[~start]]
        expected = _expected_best_random_order(start_best, exp_scores)
        sign = -1.0 if obj.direction == "range" else obj.sign
        base += [float(sign * e) for e in expected]
    return {"kind": "best", "label": label, "x": x, "best": bests, "baseline": base,
            "values": values, "start_values": [float(v) for v in y[start]]}


def _progress_multi(campaign) -> dict:
    """Hypervolume of the measured front against experiments, with the random-order baseline.

    Each candidate counts with the mean of its replicates (the campaign's rule for "measured"), from
    the experiment that first measured it; goals are scaled by their ranges over everything measured,
    so the curve's points are comparable."""
    from matloop.design.campaign import INITIAL_SOURCE
    from matloop.design.multi_suggest import _scale, front_of

    goals = campaign.goals
    cols = [g.column for g in goals]
    meas = campaign.ledger.measurements()
    meas = meas[meas["target"].isin(cols)]
    empty = {"kind": "hypervolume", "label": "hypervolume", "x": [], "best": [], "baseline": [], "values": []}
    if not len(meas):
        return empty
    wide = meas.pivot_table(index="candidate_id", columns="target", values="value", aggfunc="mean")
    wide = wide.reindex(columns=cols)
    start_ids = set(meas.loc[meas["source"] == INITIAL_SOURCE, "candidate_id"])
    order = [c for c in dict.fromkeys(meas["candidate_id"]) if c not in start_ids]  # first measured, in order
    values = wide.to_numpy(dtype=float)
    S = np.column_stack([g.score(values[:, j]) for j, g in enumerate(goals)])
    low, span = _scale(S)
    row_of = {c: i for i, c in enumerate(wide.index)}
    start_rows = [row_of[c] for c in start_ids if c in row_of]
    exp_rows = np.array([row_of[c] for c in order], dtype=int)

    def hv(rows) -> float:
        return float(front_of(values[rows], goals, low, span).hypervolume) if len(rows) else 0.0

    x, curve = ([0], [hv(start_rows)]) if start_rows else ([], [])
    for k in range(1, len(exp_rows) + 1):
        x.append(k)
        curve.append(hv(start_rows + list(exp_rows[:k])))
    base = list(curve[:1]) if start_rows else []
    if len(exp_rows):
        rng = np.random.default_rng(0)
        shuffles = 32 if len(exp_rows) <= 40 else 8
        sums = np.zeros(len(exp_rows))
        for _ in range(shuffles):
            perm = rng.permutation(exp_rows)
            sums += [hv(start_rows + list(perm[:k])) for k in range(1, len(perm) + 1)]
        base += [float(v) for v in sums / shuffles]
    return {**empty, "x": x, "best": curve, "baseline": base, "values": [None] * len(x)}


def _parity(campaign, table: pd.DataFrame, goal: str | None = None, sug: pd.DataFrame | None = None) -> dict:
    """Measured (mean of replicates) against the prediction made when each candidate was last suggested,
    for ``goal`` (default: the first). A batch with several goals stores every goal's prediction and
    std in its strategy (``goal_predictions``, by rank); the row's own prediction is the first goal's."""
    import json

    first = campaign.config["target"] if len(campaign.goals) < 2 else campaign.goals[0].column
    target = goal or first
    sug = campaign.ledger.suggestions() if sug is None else sug
    if sug.empty or target not in table.columns:
        return {"label": target, "points": []}
    last = sug.drop_duplicates("candidate_id", keep="last").set_index("candidate_id")
    measured = table.set_index("candidate_id")[target]
    pts = []
    for cid, row in last.iterrows():
        m = _num(measured.get(cid))
        if target == first:
            p, sd = _num(row["prediction"]), _num(row["std"])
        else:
            try:
                pair = json.loads(row.get("strategy") or "{}").get("goal_predictions", {})[str(int(row["rank"]))]
                p, sd = _num(pair[target][0]), _num(pair[target][1])
            except (KeyError, TypeError, ValueError, IndexError):  # a batch stored before goal_predictions
                p, sd = None, None
        if m is None or p is None:
            continue
        sd = sd or 0.0
        pts.append({"predicted": p, "low": p - 1.96 * sd, "high": p + 1.96 * sd, "measured": m})
    pts.sort(key=lambda d: d["predicted"])
    return {"label": target, "points": pts}


def _front_points(campaign, table: pd.DataFrame) -> dict | None:
    """The first two goals' measured values and which rows are on the front of all goals."""
    if len(campaign.goals) < 2:
        return None
    from matloop.design.multi_suggest import front_of

    cols = [g.column for g in campaign.goals]
    values = table[cols].to_numpy(dtype=float)
    complete = np.all(np.isfinite(values), axis=1)
    if not complete.any():
        return {"x_label": cols[0], "y_label": cols[1], "points": []}
    mask = front_of(values[complete], campaign.goals).mask
    pts = sorted(({"x": float(v[0]), "y": float(v[1]), "front": bool(f)} for v, f in
                  zip(values[complete], mask, strict=True)), key=lambda d: d["x"])
    return {"x_label": f"{cols[0]} ({campaign.goals[0].direction})",
            "y_label": f"{cols[1]} ({campaign.goals[1].direction})", "points": pts}


def plot_data(campaign, table: pd.DataFrame | None = None) -> dict:
    """Everything the page's plots need, JSON-ready."""
    table = campaign.table() if table is None else table
    progress = _progress_multi(campaign) if len(campaign.goals) > 1 else _progress_single(campaign)
    sug = campaign.ledger.suggestions()
    parities = [_parity(campaign, table, g.column, sug) for g in campaign.goals] if len(campaign.goals) > 1 else [
        _parity(campaign, table, None, sug)]
    return {"progress": progress, "parity": parities[0], "parities": parities,  # one panel per goal
            "front": _front_points(campaign, table)}


def page_data(campaign) -> dict:
    """Status lines and the tables of the campaign page (front or best, suggestions, failures, history)."""
    from matloop.design.campaign_failures import exclusions
    from matloop.design.ledger_events import _named, abandoned_suggestions, campaign_log

    table = campaign.table()
    status = campaign.status()
    cfg = campaign.config
    inputs = (cfg.get("parameter_columns") or []) if cfg["kind"] == "parameters" else [cfg.get("input")]
    inputs = [c for c in inputs if c]
    goal_cols = [g.column for g in campaign.goals]
    if len(campaign.goals) > 1:
        from matloop.design.campaign_multi import front_table

        front, _ = front_table(campaign, table)
        front_caption = f"Pareto front of the measured candidates ({len(front)} rows)"
    else:
        measured = table[table[goal_cols[0]].notna()]
        asc = campaign.objective.direction == "min"
        if campaign.objective.direction == "range":
            order = np.argsort(campaign.objective.distance_to_window(measured[goal_cols[0]].to_numpy(dtype=float)))
            front = measured.iloc[order]
        else:
            front = measured.sort_values(goal_cols[0], ascending=asc, kind="stable")
        front = front[[*inputs, *goal_cols, "n_measurements"]].head(10)
        front_caption = "The best measured candidates (mean of replicates)"
    sug = campaign.ledger.suggestions()
    names = cfg.get("parameter_columns") if cfg["kind"] == "parameters" else None
    keys = table.set_index("candidate_id")["key"].map(lambda k: _named(k, names) if names else str(k))
    ex = exclusions(campaign, table)
    measured_ids = set(table.loc[table[goal_cols].notna().any(axis=1), "candidate_id"])
    failed_ids = set(table.loc[ex.failed, "candidate_id"])
    vetoed_ids = set(table.loc[ex.vetoed, "candidate_id"])
    pending: list[tuple[str, str]] = []
    if sug.empty:
        suggestions = pd.DataFrame(columns=["batch", "rank", "candidate", "prediction", "std", "reason", "state"])
    else:
        s = sug.sort_values(["batch_id", "rank"], ascending=[False, True], kind="stable")
        gone = abandoned_suggestions(campaign.ledger)  # campaign abandon: will not be run
        state = ["measured" if c in measured_ids else "failed" if c in failed_ids else "vetoed" if c in vetoed_ids
                 else "abandoned" if int(i) in gone else "awaiting results" for c, i in zip(s["candidate_id"], s["id"],
                                                                                           strict=True)]
        suggestions = pd.DataFrame({"batch": s["batch_id"].to_numpy(), "rank": s["rank"].to_numpy(),
                                    "candidate": s["candidate_id"].map(keys).to_numpy(),
                                    "prediction": s["prediction"].to_numpy(), "std": s["std"].to_numpy(),
                                    "reason": s["reason"].to_numpy(), "state": state})
        waiting = [c for c, st in zip(s["candidate_id"], state, strict=True) if st == "awaiting results"]
        position = {int(c): i for i, c in enumerate(table["candidate_id"], 1)}  # "#N": the N-th candidate
        pending = [(f"#{position[int(c)]}", str(keys.get(c, c))) for c in dict.fromkeys(waiting)]
    log = campaign_log(campaign)
    failures = log[log["event"] == "failed"][["recorded_at", "candidate", "reason", "recorded_by", "source"]]
    history = log.iloc[::-1]  # newest first
    return {"status": status.rows(), "front": records(front), "front_caption": front_caption,
            "suggestions": records(suggestions), "failures": records(failures.iloc[::-1]),
            "history": records(history), "pending": pending, "inputs": inputs, "goals": goal_cols,
            "multi": len(campaign.goals) > 1}
