"""The HTML report of a campaign: progress, the measured data, the Pareto front, what the model learned.

It reuses the sections of ``matloop report`` (:mod:`matloop.report.sections`): best so far vs
experiments, the data overview of the measured materials, the Pareto front when there is a second
objective, and the interpretation of a model fitted to the measurements.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matloop.errors import InputError
from matloop.report.html import Report
from matloop.report.sections import (
    add_interpretation_section,
    add_overview_section,
    add_pareto_section,
    add_provenance_section,
)
from matloop.report.style import new_figure

__all__ = ["campaign_report", "simulation_report"]

_META = ("candidate_id", "key", "source", "n_measurements")


def campaign_report(campaign, interpret: bool = True, pareto_with: str | None = None) -> Report:
    """A self-contained report of a :class:`~matloop.design.campaign.Campaign`: status, progress of
    the best value against experiments, an overview of the measured data, the Pareto front, what the
    model learned (importance on the measured data), every suggestion with the model behind it, and
    the settings.

    ``pareto_with`` names a second objective, ``COLUMN`` or ``COLUMN:min`` / ``COLUMN:max`` (default
    max): a numeric column of the candidates (e.g. a cost) or another measured target. Without it the
    Pareto front is drawn when the ledger holds measurements of a second target.
    """
    status = campaign.status()
    cfg = campaign.config
    report = Report(f"Campaign {status.name}", f"goal: {status.goal} {status.target}")
    report.add_section("Status")
    as_table = bool(status.best_setting) and len(status.best_setting) > 1  # several inputs: a table below
    report.add_settings({k: v for k, v in status.rows() if not (as_table and k == "best at")})  # one per line
    if as_table:
        best = pd.DataFrame([{**status.best_setting, status.target: status.best}])
        report.add_table(best, caption=f"The best candidate so far ({status.goal} {status.target})", digits=4)
    hist = campaign.history()
    direction = "min" if cfg["direction"] == "min" else "max"
    several = len(getattr(campaign, "goals", ())) > 1
    if several:  # several goals: the hypervolume of the measured front, not the first goal's best
        _goals_progress(report, campaign)
    if len(hist) and not several:
        report.add_section("Progress")
        report.add_figure(_progress_plot(hist, status), name="best_so_far")
        shown = hist[["experiment", "value", "best_so_far", "recorded_at", "recorded_by", "source"]].copy()
        shown["experiment"] = np.where(hist["phase"] == "start", "start", hist["experiment"].astype(str))
        report.add_table(shown, caption="Every measurement in recording order (start: measured rows given when "
                                        "the campaign was created)")
    table = campaign.table()
    measured = table[status.target].notna().to_numpy()
    if measured.sum() >= 3:
        _measured_overview(report, campaign, table, measured, status.target)
    if len(getattr(campaign, "goals", ())) > 1 and not pareto_with:  # several goals: their own front
        _goals_front(report, campaign, table)
    else:
        _pareto(report, campaign, table, measured, status.target, direction, pareto_with)
    from matloop.design.campaign_failures import add_failure_section

    add_failure_section(report, campaign)  # where failures cluster (only when some experiment failed)
    _retractions(report, campaign)
    if interpret and measured.sum() >= 10:
        _learned(report, campaign, table, measured, status.target)
    sug = campaign.ledger.suggestions()
    if not sug.empty:
        report.add_section("Suggestions", "Every batch the campaign suggested, with the model behind it.")
        cols = [c for c in ("batch_id", "rank", "prediction", "std", "acquisition", "reason", "model",
                            "model_version", "created_at") if c in sug.columns]
        report.add_table(sug[cols], caption="Suggested experiments", max_rows=60)
    add_provenance_section(report, {"ledger": str(campaign.ledger.url), "goal": f"{status.goal} {status.target}",
                                    "candidates": status.n_candidates, "measured": status.n_measured,
                                    "suggested": status.n_suggested})
    return report


def _progress_plot(hist: pd.DataFrame, status):
    """Best so far against the experiments done in the campaign; the measured rows given at creation
    are the start (x = 0), not experiments."""
    from matplotlib.ticker import MaxNLocator

    from matloop.report.style import NEUTRAL, PALETTE, Plot

    start = (hist["phase"] == "start").to_numpy()
    best = hist["best_so_far"].to_numpy(dtype=float)
    values = hist["value"].to_numpy(dtype=float)
    n_exp = int((~start).sum())
    fig, ax = new_figure(6.0, 3.8)
    x = hist["experiment"].to_numpy(dtype=float)
    if start.any():
        ax.scatter(np.zeros(int(start.sum())), values[start], s=10, color=NEUTRAL, alpha=0.5, lw=0,
                   label=f"start: {int(start.sum())} measured rows given at creation")
    if n_exp:
        ax.scatter(x[~start], values[~start], s=14, color=PALETTE[1], alpha=0.8, lw=0, label="campaign experiments")
    xs = np.r_[0.0, x[~start]] if start.any() else x[~start]
    ys = np.r_[best[start][-1], best[~start]] if start.any() else best[~start]
    ax.step(xs, ys, where="post", color=PALETTE[0], label="best so far")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("experiments in the campaign (0 = start)")
    ax.set_ylabel(f"{status.target}")
    ax.set_title("Progress: best so far vs experiments")
    ax.legend(frameon=False, fontsize="small")
    if n_exp == 0:
        text = f"No experiments recorded yet; the best {status.target} of the starting data is {float(best[-1]):.4g}"
    else:
        first = float(best[start][-1]) if start.any() else None
        final = float(best[-1])
        hit = int(x[~start][np.flatnonzero(best[~start] == final)[0]]) if (best[~start] == final).any() else 0
        text = (f"Best {status.target} {final:.4g} after {n_exp} experiment{'s' if n_exp != 1 else ''} in the campaign"
                + (f" (start: {first:.4g})" if first is not None else ""))
        text += f"; reached at experiment {hit}" if hit else "; no experiment beat the starting data yet"
    return Plot(fig, text + ".")


def _goals_progress(report: Report, campaign) -> None:
    """Several goals: hypervolume of the measured front vs experiments, with the same experiments in a
    random order as the baseline (:func:`matloop.design.campaign_multi.goals_progress`), and the table."""
    from matplotlib.ticker import MaxNLocator

    from matloop.design.campaign_multi import goals_progress
    from matloop.report.style import NEUTRAL, PALETTE, Plot

    prog = goals_progress(campaign)
    if not len(prog):
        return
    report.add_section("Progress")
    words = "; ".join(g.words() for g in campaign.goals)
    fig, ax = new_figure(6.0, 3.8)
    x = prog["experiment"].to_numpy(dtype=float)
    ax.step(x, prog["hypervolume"], where="post", color=PALETTE[0], label="campaign (its order)")
    if len(prog) > 2:
        ax.plot(x, prog["random_order"], "--", color=NEUTRAL, label="same experiments, random order (mean)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("experiments in the campaign (0 = start)")
    ax.set_ylabel("hypervolume of the measured front")
    ax.set_title("Progress: hypervolume vs experiments")
    ax.legend(frameon=False, fontsize="small")
    n = len(prog) - 1
    final, first = float(prog["hypervolume"].iloc[-1]), float(prog["hypervolume"].iloc[0])
    if n == 0:
        text = f"No experiments recorded yet; the starting data's front has hypervolume {final:.4g}"
    else:
        half = np.flatnonzero(prog["hypervolume"].to_numpy() >= first + 0.5 * (final - first))
        rand = np.flatnonzero(prog["random_order"].to_numpy() >= first + 0.5 * (final - first))
        text = (f"Hypervolume {final:.4g} after {n} experiment{'s' if n != 1 else ''} (start {first:.4g}; goals: "
                f"{words}; each scaled by its measured range)")
        if final > first and len(half) and len(rand):
            text += (f"; half of the gain came after {int(half[0])} experiments, against {int(rand[0])} for the same "
                     "experiments in a random order")
    report.add_figure(Plot(fig, text + "."), name="hypervolume_progress")
    shown = prog.rename(columns={"random_order": "random order (mean)", "n_complete": "materials with every goal"})
    report.add_table(shown, caption="Hypervolume of the measured front after each experiment (0: the start)",
                     digits=4, max_rows=60)


def _dataset(campaign, frame: pd.DataFrame):
    """The campaign's rows as a Dataset whose inputs are the campaign's own (not a cost column next to them)."""
    from matloop.io.dataset import Dataset

    cfg = campaign.config
    params = cfg.get("parameter_columns") if cfg["kind"] == "parameters" else None
    return Dataset(frame=frame, input=cfg.get("input"), kind=cfg["kind"], targets=[cfg["target"]], parameters=params)


def _measured_overview(report: Report, campaign, table: pd.DataFrame, measured: np.ndarray, target: str) -> None:
    """The data overview of ``matloop report`` (target distribution, elements, repeats) for the measured rows."""
    from matloop.evaluate.audit import dataset_overview

    frame = table.loc[measured, [c for c in table.columns if c not in _META]].reset_index(drop=True)
    overview = dataset_overview(_dataset(campaign, frame))
    add_overview_section(report, overview, title="Measured data")


def _second_objective(campaign, table: pd.DataFrame, target: str, pareto_with: str | None):
    """(name, values per candidate, maximise?) of the second objective, or None."""
    if pareto_with:
        name, _, way = pareto_with.partition(":")
        if way not in ("", "min", "max"):
            raise InputError(f"pareto_with: direction must be 'min' or 'max', got {way!r}")
        maximise = way != "min"
    else:
        meas = campaign.ledger.measurements()
        others = [t for t in pd.unique(meas["target"]) if t != target] if len(meas) else []
        if not others:
            return None
        name, maximise = str(others[0]), True
    meas = campaign.ledger.measurements()
    if len(meas) and name in set(meas["target"]):
        agg = meas[meas["target"] == name].groupby("candidate_id")["value"].mean()
        return name, table["candidate_id"].map(agg).to_numpy(dtype=float), maximise
    if name not in table.columns or name in _META or name == target:
        raise InputError(f"pareto_with: no numeric column or measured target {name!r} (columns: "
                         f"{[c for c in table.columns if c not in _META]})")
    values = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=float)
    return name, values, maximise


def _pareto(report: Report, campaign, table: pd.DataFrame, measured: np.ndarray, target: str, direction: str,
            pareto_with: str | None) -> None:
    """Pareto front of the measured materials in (target, second objective)."""
    from matloop.design.multiobjective import pareto_mask

    found = _second_objective(campaign, table, target, pareto_with)
    if found is None:
        return
    name, second, maximise = found
    y = table[target].to_numpy(dtype=float)
    ok = measured & np.isfinite(second)
    if ok.sum() < 2:
        report.add_section("Pareto front")
        report.add_note(f"Fewer than two measured materials have a value of '{name}': no Pareto front yet.")
        return
    Y = np.column_stack([y[ok], second[ok]])
    signs = np.array([1.0 if direction != "min" else -1.0, 1.0 if maximise else -1.0])
    mask = pareto_mask(Y * signs)  # the design layer maximises both
    add_pareto_section(report, Y, mask, (target, name), (direction != "min", maximise),
                       title="Pareto front of the measured materials")
    front = table.loc[ok].loc[mask, [c for c in table.columns if c not in _META]]
    report.add_table(front.sort_values(target, ascending=direction == "min"), caption="Pareto-optimal materials")


def _goals_front(report: Report, campaign, table: pd.DataFrame) -> None:
    """The measured Pareto front of a campaign's goals: one plot for 2 goals, pairwise plots for 3+
    (the front of all goals highlighted in every pair), and the front's rows."""
    from itertools import combinations

    from matloop.design.campaign_multi import front_table
    from matloop.design.multi_suggest import front_of
    from matloop.report.style import NEUTRAL, PALETTE

    goals = campaign.goals
    cols = [g.column for g in goals]
    values = table[cols].to_numpy(dtype=float)
    complete = np.all(np.isfinite(values), axis=1)
    if complete.sum() < 2:
        report.add_section("Pareto front")
        report.add_note("Fewer than two candidates have every goal measured: no Pareto front yet.")
        return
    Y = values[complete]
    mask = front_of(Y, goals).mask
    front, hv = front_table(campaign, table)
    words = "; ".join(g.words() for g in goals)
    if len(goals) == 2:
        add_pareto_section(report, Y, mask, cols, [g.direction != "min" for g in goals],
                           title="Pareto front of the measured materials")
    else:
        report.add_section("Pareto fronts, pairwise")
        pairs = list(combinations(range(len(goals)), 2))
        ncols = min(3, len(pairs))
        nrows = -(-len(pairs) // ncols)
        fig, axes = new_figure(3.4 * ncols, 3.1 * nrows, nrows, ncols)
        axes = np.atleast_1d(axes).ravel()
        for ax, (i, j) in zip(axes, pairs, strict=False):
            ax.scatter(Y[~mask, i], Y[~mask, j], s=12, color=NEUTRAL, alpha=0.6, lw=0, label="measured")
            ax.scatter(Y[mask, i], Y[mask, j], s=22, color=PALETTE[1], lw=0, label="on the front")
            ax.set_xlabel(f"{cols[i]} ({goals[i].direction})")
            ax.set_ylabel(f"{cols[j]} ({goals[j].direction})")
        for ax in axes[len(pairs):]:
            ax.set_visible(False)
        axes[0].legend(frameon=False, fontsize="small")
        report.add_figure(fig, f"{int(mask.sum())} of {len(Y)} materials measured on every goal are on the Pareto "
                               f"front of all {len(goals)} goals ({words}); each panel shows one pair.",
                          name="pareto_pairs")
    report.add_table(front, caption=f"Pareto-optimal materials ({words}); hypervolume {hv:.4g} with each goal "
                                    "scaled by its measured range, reference 10% of the range below the worst")


def _learned(report: Report, campaign, table, measured, target: str) -> None:
    """'What the model learned': permutation importance of a forest on the measured rows."""
    from matloop.design.surrogate import featurize
    from matloop.evaluate.interpret import explain
    from matloop.evaluate.splitters import KFold
    from matloop.models.forest import RandomForestRegressor

    data_cols = [c for c in table.columns if c not in ("candidate_id", "key", "source", "n_measurements")]
    frame = table.loc[measured, data_cols].reset_index(drop=True)
    X = featurize(_dataset(campaign, frame), frame)
    y = frame[target].to_numpy(dtype=float)
    model = RandomForestRegressor(n_estimators=100, noise="oob", random_state=0)
    interp = explain(model, X, y, KFold(n_splits=min(5, len(y) // 2), random_state=0), top_k=8, n_dependence=2,
                     n_repeats=3, shap=False)
    add_interpretation_section(report, interp, name=target)


def simulation_report(result, title: str, subtitle: str, direction: str = "max") -> Report:
    """Report of a simulated campaign (:class:`~matloop.design.simulate.BenchmarkResult`)."""
    report = Report(title, subtitle)
    report.add_section("What was found",
                       f"Pool of {result.n_pool} materials; the top {result.n_top} are the targets. Curves show "
                       "the share of top candidates found against the number of experiments, averaged over runs, "
                       "with analytic random sampling as the baseline (Liang et al. 2021).")
    fig, ax = new_figure(6.0, 3.8)
    n = max(len(c) for c in (result.mean_curve(k) for k in result.curves))
    for name in result.curves:
        curve = result.mean_curve(name)
        ax.plot(np.arange(1, len(curve) + 1), 100 * curve, label=name)
    ax.plot(np.arange(1, n + 1), 100 * result.random_curve(n), "k--", label="random (analytic)")
    ax.set_xlabel("experiments")
    ax.set_ylabel("top candidates found (%)")
    ax.legend(frameon=False)
    summary = result.summary()
    best = summary.iloc[0]
    if np.isfinite(best["evals_to_50pct"]):
        takeaway = (f"{best['strategy']} finds half of the top candidates after {best['evals_to_50pct']:.0f} "
                    f"experiments (random sampling needs about {0.5 * result.n_pool:.0f})")
    else:  # no run reached half of the set within its budget: say that, not "after nan experiments"
        takeaway = (f"No strategy found half of the top candidates within its budget of experiments (random "
                    f"sampling needs about {0.5 * result.n_pool:.0f}); {best['strategy']} ranks first")
    report.add_figure(fig, takeaway)
    report.add_table(summary, caption="Figures of merit (AF: acceleration factor vs random; EF: enhancement)")
    return report


def _retractions(report, campaign) -> None:
    """Entries withdrawn as recorded in error (``campaign retract``): what, who, when and why (none: nothing)."""
    from matloop.design.ledger_events import campaign_log

    log = campaign_log(campaign)
    gone = log[log["event"] == "retracted"]
    if gone.empty:
        return
    report.add_section("Retracted entries", f"{len(gone)} entr{'ies' if len(gone) != 1 else 'y'} recorded in error "
                       "and withdrawn: kept in the ledger, left out of every figure and model above.")
    report.add_table(gone[["recorded_at", "candidate", "target", "value", "reason", "recorded_by"]],
                     caption="Retractions (the reason starts with the entry retracted)", max_rows=60)
