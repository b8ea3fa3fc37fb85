"""Figures for validation schemes, interpretation and campaigns (each returns a :class:`Plot`).

:func:`plot_cv_comparison` (random vs LOCO vs extrapolation, with the 1-NN and mean baselines),
:func:`plot_importance` (permutation importance with its spread), :func:`plot_shap_summary`,
:func:`plot_partial_dependence` (PD and ICE), :func:`plot_best_so_far` and :func:`plot_pareto_front`
(used by ``campaign report``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from matloop.report.style import BAD, LIGHT, NEUTRAL, PALETTE, Plot, fmt, new_figure, styled

__all__ = ["plot_best_so_far", "plot_cv_comparison", "plot_importance", "plot_pareto_front",
           "plot_partial_dependence", "plot_shap_summary"]


@styled
def plot_cv_comparison(comparison: object, baselines: Mapping[str, float] | None = None, unit: str = "") -> Plot:
    """Bars of the error of each CV scheme (:class:`matloop.evaluate.audit.SchemeComparison`).

    ``baselines`` (name -> error, e.g. ``{"1-NN lookup": ..., "mean predictor": ...}``) are drawn as
    horizontal lines in the reference scheme's units.
    """
    table = comparison.table
    fig, ax = new_figure(6.2, 3.8)
    ratios = table["ratio"].to_numpy(float)
    colours = [BAD if r > 1.5 else PALETTE[0] for r in ratios]
    x = np.arange(len(table))
    ax.bar(x, table["error"], yerr=np.nan_to_num(table["error_std"].to_numpy(float)), color=colours,
           capsize=4, error_kw={"elinewidth": 1, "ecolor": "#555555"})
    tops = table["error"].to_numpy(float) + np.nan_to_num(table["error_std"].to_numpy(float))
    for xi, (e, r, t) in enumerate(zip(table["error"], ratios, tops, strict=True)):
        ax.text(xi, t, f"{fmt(e)} ({r:.1f}x)", ha="center", va="bottom", fontsize=8)
    for (name, value), colour in zip((baselines or {}).items(), (NEUTRAL, PALETTE[4], PALETTE[5]), strict=False):
        if value is not None and np.isfinite(value):
            ax.axhline(value, ls="--", lw=1, color=colour, label=f"{name} (random CV): {fmt(value)}")
    ax.set_xticks(x, table["label"])
    ax.set_ylabel(f"{comparison.metric}" + (f" ({unit})" if unit and comparison.metric == "MAE" else ""))
    ax.set_title("Cross-validation schemes: how far does the score carry?")
    lines = [v for v in (baselines or {}).values() if v is not None and np.isfinite(v)]
    ax.set_ylim(0, max([float(np.nanmax(tops)), *lines]) * 1.3)
    if baselines:
        ax.legend(loc="upper left")
    others = table[table["scheme"] != comparison.reference]
    if comparison.warnings:
        text = comparison.warnings[0]
    elif len(others):
        worst = others.loc[others["ratio"].idxmax()]
        text = f"{worst['label']} error is only {worst['ratio']:.1f}x the random-CV error: the score carries over " \
               "reasonably to harder splits"
    else:
        text = f"random-CV {comparison.metric} {fmt(table['error'].iloc[0], unit)}"
    return Plot(fig, text.rstrip(".") + ".")


@styled
def plot_importance(table: pd.DataFrame, top_k: int = 15, groups: Sequence[Sequence[str]] = (),
                    metric: str = "MAE", unit: str = "") -> Plot:
    """Horizontal bars of permutation importance (``importance``, ``std``) for the ``top_k`` features.

    Features in a correlated group (see :func:`matloop.evaluate.interpret.correlated_feature_groups`)
    are coloured by group: their order within the group is not meaningful.
    """
    top = table.head(top_k).iloc[::-1]
    value_col = "importance" if "importance" in top else "mean_abs_shap"
    member = {f: g for g, grp in enumerate(groups) for f in grp}
    colours = [PALETTE[(member[f] + 1) % len(PALETTE)] if f in member else PALETTE[0] for f in top["feature"]]
    fig, ax = new_figure(6.6, 0.9 + 0.32 * len(top))
    err = np.nan_to_num(top["std"].to_numpy(float)) if "std" in top else None
    ax.barh([str(f)[:48] for f in top["feature"]], top[value_col], xerr=err, color=colours, capsize=3,
            error_kw={"elinewidth": 1, "ecolor": "#555555"})
    ax.axvline(0, color="#999999", lw=0.8)
    xlabel = f"increase of CV {metric} when shuffled" if value_col == "importance" else "mean |SHAP value|"
    ax.set_xlabel(xlabel + (f" ({unit})" if unit else ""))
    ax.set_title("Permutation importance")
    ax.grid(axis="y", visible=False)
    if member:
        from matplotlib.patches import Patch

        used = sorted({member[f] for f in top["feature"] if f in member})
        ax.legend(handles=[Patch(color=PALETTE[(g + 1) % len(PALETTE)], label=f"correlated group {g + 1}")
                           for g in used], loc="lower right")
    full = table[value_col].clip(lower=0)
    share = full.head(3).sum() / full.sum() if full.sum() > 0 else float("nan")
    first = table.iloc[0]
    text = f"'{first['feature']}' matters most"
    if value_col == "importance":
        text += f" (shuffling it raises the {metric} by {fmt(first['importance'], unit)})"
        if "std" in table and np.isfinite(first.get("std", np.nan)) and len(table) > 1:
            second = table.iloc[1]
            if first["importance"] - first["std"] < second["importance"] + second.get("std", 0):
                text += f"; its lead over '{second['feature']}' is within the spread"
    text += f"; the top 3 features carry {share:.0%} of the total importance"
    if member:
        text += f"; {len(groups)} correlated group(s) among them make the order within each group unstable"
    return Plot(fig, text + ".")


@styled
def plot_shap_summary(shap_result: object, top_k: int = 12) -> Plot:
    """SHAP summary: one row per feature, each point a material, coloured by the feature's value."""
    from scipy.stats import spearmanr

    vals, X = shap_result.values, shap_result.X
    table = shap_result.table.head(top_k)
    fig, ax = new_figure(6.6, 1.0 + 0.34 * len(table))
    rng = np.random.default_rng(0)
    cols = [X.columns.get_loc(f) for f in table["feature"]]
    directions = []
    for pos, c in enumerate(cols[::-1]):
        v = vals[:, c]
        xv = X.iloc[:, c].to_numpy(dtype=float)
        lo, hi = np.nanquantile(xv, [0.05, 0.95])
        colour = np.clip((xv - lo) / (hi - lo), 0, 1) if hi > lo else np.full(len(xv), 0.5)
        pts = ax.scatter(v, pos + rng.uniform(-0.3, 0.3, len(v)), c=colour, cmap="coolwarm", s=8, lw=0, vmin=0, vmax=1)
        rho = spearmanr(xv, v).statistic if np.ptp(xv) > 0 and np.ptp(v) > 0 else np.nan
        directions.append(rho)
    ax.set_yticks(range(len(cols)), [str(f)[:48] for f in table["feature"].iloc[::-1]])
    ax.axvline(0, color="#999999", lw=0.8)
    ax.set_xlabel("SHAP value (effect on the prediction)")
    ax.set_title("SHAP summary (TreeSHAP)")
    ax.grid(axis="y", visible=False)
    cbar = fig.colorbar(pts, ax=ax, ticks=[0, 1], pad=0.01, fraction=0.03, aspect=30)
    cbar.ax.set_yticklabels(["low", "high"])
    cbar.set_label("feature value")
    rho = directions[-1]
    top = table["feature"].iloc[0]
    if np.isfinite(rho) and abs(rho) > 0.5:
        how = "raise" if rho > 0 else "lower"
        text = f"High values of '{top}' {how} the prediction (Spearman {rho:.2f} between value and SHAP)"
    else:
        text = f"'{top}' has the largest effect, but not monotonically (its effect depends on the other features)"
    return Plot(fig, text + ".")


@styled
def plot_partial_dependence(dependences: Sequence[object], name: str = "prediction", unit: str = "") -> Plot:
    """Partial dependence (thick) and ICE curves (thin) for each feature, with a rug of observed values."""
    n = len(dependences)
    fig, axes = new_figure(3.4 * n, 3.3, 1, n, sharey=True)
    axes = np.atleast_1d(axes)
    for ax, dep in zip(axes, dependences, strict=True):
        centred = dep.ice - dep.ice[:, :1] + dep.average[0] if dep.ice.size else dep.ice
        for curve in centred:  # centred ICE: every curve starts at the PD's first value
            ax.plot(dep.grid, curve, color=LIGHT, lw=0.6, alpha=0.6)
        ax.plot(dep.grid, dep.average, color=BAD, lw=2.2, label="average (PD)")
        lo, hi = dep.grid.min(), dep.grid.max()
        rug = dep.values[(dep.values >= lo) & (dep.values <= hi)]
        if len(rug) > 300:
            rug = np.random.default_rng(0).choice(rug, 300, replace=False)
        ax.plot(rug, np.full(len(rug), np.nanmin(centred) if centred.size else dep.average.min()), "|",
                color="#555555", ms=6, alpha=0.5)
        ax.set_xlabel(str(dep.feature)[:40])
        ax.set_title(f"effect {fmt(dep.effect, unit)}", fontsize=9)
    axes[0].set_ylabel(f"predicted {name}" + (f" ({unit})" if unit else ""))
    axes[0].legend(loc="best")
    top = max(dependences, key=lambda d: d.effect)
    slope = np.sign(np.diff(top.average))
    shape = "rises" if np.all(slope >= 0) else "falls" if np.all(slope <= 0) else "changes non-monotonically"
    spread = float(np.mean(np.ptp(top.ice, axis=1))) if top.ice.size else 0.0
    text = f"The prediction {shape} by {fmt(top.effect, unit)} across the range of '{top.feature}'"
    if top.effect > 0 and spread > 1.5 * top.effect:
        text += "; ICE curves differ a lot between materials (interactions with other features)"
    return Plot(fig, text + ".")


def _runs(history: object) -> dict[str, np.ndarray]:
    """Name -> (runs, experiments) array of observed values in experiment order."""
    if isinstance(history, Mapping):
        return {str(k): np.atleast_2d(np.asarray(v, dtype=float)) for k, v in history.items()}
    if isinstance(history, pd.DataFrame):
        col = next((c for c in ("value", "y", "objective") if c in history), None)
        if col is None:
            numeric = history.select_dtypes("number").columns
            col = numeric[-1] if len(numeric) else None
        if col is None:
            raise ValueError("the history table has no numeric value column")
        key = next((c for c in ("experiment", "iteration", "batch") if c in history), None)
        ordered = history.sort_values(key, kind="stable") if key else history
        return {"campaign": np.atleast_2d(ordered[col].to_numpy(dtype=float))}
    return {"campaign": np.atleast_2d(np.asarray(history, dtype=float))}


@styled
def plot_best_so_far(history: object, direction: str = "max", name: str = "objective", unit: str = "",
                     n_initial: int | None = None) -> Plot:
    """Best value found so far against the number of experiments.

    ``history``: the observed values in experiment order (array, or a DataFrame with a ``value``/``y``
    column ordered by ``experiment``/``iteration``/``batch``), or a mapping of strategy name -> values
    or (runs, experiments) arrays (the median and inter-quartile band over runs are drawn).
    ``n_initial`` marks the end of the initial design.
    """
    if direction not in ("max", "min"):
        raise ValueError("direction must be 'max' or 'min'")
    acc = np.fmax.accumulate if direction == "max" else np.fmin.accumulate
    fig, ax = new_figure(6.0, 3.8)
    summary = []
    for (label, runs), colour in zip(_runs(history).items(), PALETTE, strict=False):
        best = acc(np.where(np.isnan(runs), -np.inf if direction == "max" else np.inf, runs), axis=1)
        x = np.arange(1, best.shape[1] + 1)
        med = np.median(best, axis=0)
        ax.step(x, med, where="post", color=colour, label=label)
        if best.shape[0] > 1:
            ax.fill_between(x, *np.quantile(best, [0.25, 0.75], axis=0), step="post", color=colour, alpha=0.15)
        else:
            ax.scatter(x, runs[0], s=10, color=colour, alpha=0.4, lw=0)
        summary.append((label, med))
    if n_initial:
        ax.axvline(n_initial + 0.5, color=NEUTRAL, ls=":", lw=1, label="end of initial design")
    ax.set_xlabel("experiments")
    ax.set_ylabel(f"best {name} so far" + (f" ({unit})" if unit else ""))
    ax.set_title("Progress: best so far vs experiments")
    ax.legend(loc="lower right" if direction == "max" else "upper right")
    label, med = summary[0]
    final = med[-1]
    first_hit = int(np.argmax(med == final)) + 1
    text = f"Best {name} {fmt(final, unit)} reached after {first_hit} of {len(med)} experiments"
    stale = len(med) - first_hit
    text += f"; no improvement in the last {stale}" if stale > 0 else "; still improving at the last experiment"
    if len(summary) > 1:
        other, med2 = summary[1]
        text += f" ({label} vs {other}: {fmt(final)} vs {fmt(med2[-1])} at the end)"
    return Plot(fig, text + ".")


@styled
def plot_pareto_front(Y: object, mask: object, names: Sequence[str] = ("objective 1", "objective 2"),
                      maximize: Sequence[bool] = (True, True)) -> Plot:
    """Two objectives with the Pareto-optimal points (``mask``) highlighted and joined by the front.

    ``Y`` is ``(n, 2)`` in the objectives' own units; ``maximize`` says which are maximised (the
    design layer's convention is both maximised).
    """
    Y = np.asarray(Y, dtype=float)
    m = np.asarray(mask, dtype=bool)
    if Y.ndim != 2 or Y.shape[1] != 2 or len(m) != len(Y):
        raise ValueError("Y must be (n, 2) and mask must have n entries")
    fig, ax = new_figure(5.6, 4.4)
    ax.scatter(Y[~m, 0], Y[~m, 1], s=14, color=LIGHT, lw=0, label="dominated")
    front = Y[m][np.argsort(Y[m, 0])]
    ax.scatter(front[:, 0], front[:, 1], s=30, color=BAD, zorder=3, label=f"Pareto-optimal ({m.sum()})")
    if len(front) > 1:
        ax.step(front[:, 0], front[:, 1], where="post" if maximize[0] != maximize[1] else "pre", color=BAD,
                lw=1.2, alpha=0.7)
    arrow = {True: "(maximise)", False: "(minimise)"}
    ax.set_xlabel(f"{names[0]} {arrow[bool(maximize[0])]}")
    ax.set_ylabel(f"{names[1]} {arrow[bool(maximize[1])]}")
    ax.set_title("Pareto front")
    ax.legend(loc="best")
    text = f"{m.sum()} of {len(Y)} points are Pareto-optimal; along the front {names[0]} ranges " \
           f"{fmt(front[:, 0].min())}-{fmt(front[:, 0].max())} while {names[1]} ranges " \
           f"{fmt(front[:, 1].min())}-{fmt(front[:, 1].max())}"
    return Plot(fig, text + ".")

