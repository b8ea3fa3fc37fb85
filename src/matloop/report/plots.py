"""The figures of a matloop report; each returns a :class:`Plot`: a Figure and a one-line takeaway.

Data: :func:`plot_target_histogram`, :func:`plot_class_balance`, :func:`plot_missing`,
:func:`plot_periodic_table`, :func:`plot_map` (PCA/UMAP coloured by target, class, cluster or density),
:func:`plot_cluster_sizes`, :func:`plot_density_error`. Model diagnostics: :func:`plot_parity`, :func:`plot_residuals_vs_sigma`,
:func:`plot_calibration`, :func:`plot_reliability` (classifiers), :func:`plot_learning_curve`,
:func:`plot_applicability_domain`.
Interpretation and campaigns (re-exported from :mod:`matloop.report.insight_plots`):
:func:`plot_cv_comparison`, :func:`plot_importance`, :func:`plot_shap_summary`,
:func:`plot_partial_dependence`, :func:`plot_best_so_far`, :func:`plot_pareto_front`.

Takeaways are computed from the numbers shown (never canned text), so a reader who looks at nothing
else still learns what the figure says.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from matloop.report.insight_plots import (
    plot_best_so_far,
    plot_cv_comparison,
    plot_importance,
    plot_pareto_front,
    plot_partial_dependence,
    plot_shap_summary,
)
from matloop.report.periodic import plot_periodic_table
from matloop.report.style import BAD, LIGHT, NEUTRAL, PALETTE, Plot, fmt, new_figure, styled

__all__ = [
    "Plot",
    "plot_applicability_domain",
    "plot_best_so_far",
    "plot_calibration",
    "plot_class_balance",
    "plot_cluster_sizes",
    "plot_cv_comparison",
    "plot_density_error",
    "plot_importance",
    "plot_learning_curve",
    "plot_map",
    "plot_missing",
    "plot_parity",
    "plot_pareto_front",
    "plot_partial_dependence",
    "plot_periodic_table",
    "plot_reliability",
    "plot_residuals_vs_sigma",
    "plot_shap_summary",
    "plot_target_histogram",
]


def _arr(values: object) -> np.ndarray:
    return np.asarray(values.to_numpy() if isinstance(values, pd.Series | pd.DataFrame) else values,
                      dtype=float).reshape(-1)


def _label(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit else name


# --------------------------------------------------------------------------- data
@styled
def plot_target_histogram(y: object, name: str = "target", unit: str = "") -> Plot:
    """Histogram of the target with its median and quartiles."""
    v = _arr(y)
    v = v[np.isfinite(v)]
    fig, ax = new_figure(6.0, 3.6)
    bins = int(np.clip(np.sqrt(len(v)) * 1.5, 10, 60))
    ax.hist(v, bins=bins, color=PALETTE[0], alpha=0.85)
    q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
    ax.axvline(med, color=BAD, lw=1.5, label=f"median {fmt(med)}")
    ax.axvspan(q1, q3, color=PALETTE[0], alpha=0.08, label="inter-quartile range")
    ax.set_xlabel(_label(name, unit))
    ax.set_ylabel("materials")
    ax.set_title(f"Distribution of {name} (n = {len(v)})")
    ax.legend()
    sd = v.std()
    skew = float(np.mean(((v - v.mean()) / sd) ** 3)) if sd > 0 else 0.0
    text = f"{name} spans {fmt(v.min())} to {fmt(v.max(), unit)} (median {fmt(med)})"
    if abs(skew) > 1:
        side = "right" if skew > 0 else "left"
        text += f"; skewed to the {side} (skew {skew:.1f}): the tail has few examples to learn from"
        if skew > 2 and v.min() > 0:
            text += ", consider a log target"
    else:
        text += "; roughly symmetric"
    return Plot(fig, text + ".")


@styled
def plot_class_balance(counts: pd.Series, name: str = "target") -> Plot:
    """Bar chart of the number of rows per class."""
    counts = pd.Series(counts).sort_values(ascending=False)
    fig, ax = new_figure(5.0, 3.2)
    ax.bar([str(i) for i in counts.index], counts.to_numpy(), color=PALETTE[: len(counts)])
    ax.set_ylabel("rows")
    ax.set_xlabel(name)
    ax.set_title("Class balance")
    ratio = counts.iloc[0] / max(counts.iloc[-1], 1)
    text = f"Majority class '{counts.index[0]}' has {counts.iloc[0]} rows, minority '{counts.index[-1]}' " \
           f"{counts.iloc[-1]} ({ratio:.1f}:1)"
    text += ": imbalanced, judge by balanced accuracy and PR-AUC." if ratio > 3 else ": reasonably balanced."
    return Plot(fig, text)


@styled
def plot_missing(missing: pd.DataFrame, n_rows: int, top_k: int = 20) -> Plot:
    """Fraction of missing values per column (``column``, ``n_missing``) for the ``top_k`` worst columns."""
    table = missing[missing["n_missing"] > 0].sort_values("n_missing", ascending=False, kind="stable")
    shown = table.head(top_k).iloc[::-1]
    fig, ax = new_figure(6.0, 0.9 + 0.3 * max(len(shown), 1))
    frac = shown["n_missing"].to_numpy(float) / max(n_rows, 1)
    ax.barh([str(c)[:40] for c in shown["column"]], frac, color=[BAD if f > 0.2 else PALETTE[0] for f in frac])
    ax.set_xlim(0, max(1e-3, float(frac.max()) * 1.15))
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlabel("rows with a missing value")
    ax.set_title("Missing values per column")
    ax.grid(axis="y", visible=False)
    worst = table.iloc[0]
    text = f"{len(table)} column(s) have missing values; '{worst['column']}' lacks {int(worst['n_missing'])} of " \
           f"{n_rows} ({worst['n_missing'] / max(n_rows, 1):.0%})"
    if worst["n_missing"] / max(n_rows, 1) > 0.2:
        text += ": rows without it are left out of training or must be imputed"
    return Plot(fig, text + ".")


@styled
def plot_map(coords: np.ndarray, values: object = None, kind: str = "target", method: str = "PCA",
             explained: tuple[float, float] | None = None, name: str = "target", unit: str = "") -> Plot:
    """2-D map of the feature space coloured by ``kind``: ``target``, ``class``, ``cluster`` or ``density``."""
    c = np.asarray(coords, dtype=float)
    fig, ax = new_figure(6.0, 4.6)
    ax.set_xlabel(f"{method} 1" + (f" ({explained[0]:.0%} of variance)" if explained else ""))
    ax.set_ylabel(f"{method} 2" + (f" ({explained[1]:.0%} of variance)" if explained else ""))
    v = None if values is None else np.asarray(values)
    size = float(np.clip(3000 / max(len(c), 1), 4, 30))
    if kind == "cluster":
        labels = v.astype(int)
        for k in np.unique(labels):
            sel = labels == k
            ax.scatter(c[sel, 0], c[sel, 1], s=size, color=PALETTE[k % len(PALETTE)], alpha=0.8, lw=0,
                       label=f"cluster {k} ({sel.sum()})")
        ax.legend(markerscale=1.5, loc="best")
        ax.set_title(f"{method} map by k-means cluster")
        frac = np.bincount(labels) / len(labels)
        text = f"{len(frac)} clusters; the largest holds {frac.max():.0%} of the materials and the smallest " \
               f"{frac[frac > 0].min():.0%}: leave-one-cluster-out CV holds out each in turn."
    elif kind == "class":
        labels = pd.Series(v).astype(str).to_numpy()
        classes, counts = np.unique(labels, return_counts=True)
        for j, k in enumerate(classes):
            sel = labels == k
            ax.scatter(c[sel, 0], c[sel, 1], s=size, color=PALETTE[j % len(PALETTE)], alpha=0.7, lw=0,
                       label=f"{k} ({sel.sum()})")
        ax.legend(markerscale=1.5, loc="best", title=name)
        ax.set_title(f"{method} map by {name}")
        rare = classes[np.argmin(counts)]
        sel = labels == rare
        spread = np.linalg.norm(c[sel].std(axis=0)) / max(np.linalg.norm(c.std(axis=0)), 1e-12)
        where = "concentrated in one region" if spread < 0.6 else "spread over the map"
        text = f"The minority class '{rare}' ({sel.mean():.0%} of materials) is {where} (spread {spread:.2f} of " \
               "the whole map's)."
    elif kind == "density":
        d = v.astype(float)
        order = np.argsort(d)
        from matplotlib.colors import LogNorm

        sc = ax.scatter(c[order, 0], c[order, 1], c=d[order], s=size, cmap="cividis", lw=0,
                        norm=LogNorm(vmin=max(d.min(), 1e-3), vmax=max(d.max(), 1e-3 * 1.01)))
        from matplotlib.ticker import FuncFormatter, NullFormatter

        cbar = fig.colorbar(sc, ax=ax, label="relative density (1 = typical)")
        cbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        cbar.ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"Point density in the {method} map")
        sparse = float(np.mean(d < 0.1))
        if sparse > 0:
            text = f"{sparse:.1%} of materials lie where the data are over 10x sparser than typical; " \
                   "errors are expected to be largest there."
        else:
            text = f"No material lies where the data are over 10x sparser than typical (lowest relative density " \
                   f"{d.min():.2f}): the map is evenly covered."
    else:
        t = v.astype(float)
        sc = ax.scatter(c[:, 0], c[:, 1], c=t, s=size, cmap="viridis", lw=0)
        fig.colorbar(sc, ax=ax, label=_label(name, unit))
        ax.set_title(f"{method} map coloured by {name}")
        hi = t >= np.quantile(t, 0.9)
        spread_hi = np.linalg.norm(c[hi].std(axis=0)) / max(np.linalg.norm(c.std(axis=0)), 1e-12)
        where = "concentrated in one region" if spread_hi < 0.6 else "spread over the map"
        text = f"The top 10% of {name} are {where} (spread {spread_hi:.2f} of the whole map's)"
        if explained:
            text += f"; the two axes explain {sum(explained):.0%} of the feature variance"
        text += "."
    return Plot(fig, text)


@styled
def plot_cluster_sizes(sizes: pd.DataFrame, name: str = "target") -> Plot:
    """Bar chart of cluster sizes, with the target mean per cluster when known."""
    fig, ax = new_figure(5.5, 3.4)
    labels = [str(k) for k in sizes["cluster"]]
    ax.bar(labels, sizes["n"], color=[PALETTE[int(k) % len(PALETTE)] for k in sizes["cluster"]])
    ax.set_xlabel("cluster")
    ax.set_ylabel("materials")
    ax.set_title("Cluster sizes")
    text = f"Cluster sizes range from {int(sizes['n'].min())} to {int(sizes['n'].max())} materials"
    if "target_mean" in sizes:
        for x, (n, m) in enumerate(zip(sizes["n"], sizes["target_mean"], strict=True)):
            ax.text(x, n, f"mean {fmt(m)}", ha="center", va="bottom", fontsize=8)
        lo, hi = sizes["target_mean"].idxmin(), sizes["target_mean"].idxmax()
        text += f"; mean {name} differs from {fmt(sizes.loc[lo, 'target_mean'])} (cluster " \
                f"{sizes.loc[lo, 'cluster']}) to {fmt(sizes.loc[hi, 'target_mean'])} (cluster {sizes.loc[hi, 'cluster']})"
    return Plot(fig, text + ".")


@styled
def plot_density_error(table: pd.DataFrame, unit: str = "") -> Plot:
    """Cross-validated MAE per density quartile (from :func:`matloop.evaluate.audit.density_error_table`)."""
    fig, ax = new_figure(5.5, 3.4)
    labels = ["sparsest"] + [f"bin {b}" for b in table["bin"].iloc[1:-1]] + ["densest"]
    ax.bar(labels[: len(table)], table["mae"], color=[PALETTE[0]] * len(table))
    ax.set_ylabel(_label("CV MAE", unit))
    ax.set_xlabel("local density of training data (quantile bins)")
    ax.set_title("Error vs data density")
    ratio = table["mae"].iloc[0] / table["mae"].iloc[-1] if table["mae"].iloc[-1] > 0 else float("nan")
    text = f"Materials in the sparsest quarter of the map err {ratio:.1f}x as much as those in the densest"
    text += ": more data in sparse regions would help most." if ratio > 1.3 else ": density matters little here."
    return Plot(fig, text)


# --------------------------------------------------------------------------- model diagnostics
@styled
def plot_parity(y_true: object, y_pred: object, std: object = None, name: str = "target", unit: str = "",
                title: str = "Parity (cross-validated)", max_error_bars: int = 1500) -> Plot:
    """Predicted vs measured with 1-sigma error bars (for at most ``max_error_bars`` random points)."""
    y, p = _arr(y_true), _arr(y_pred)
    s = None if std is None else _arr(std)
    fig, ax = new_figure(5.2, 5.0)
    if s is not None and np.isfinite(s).all():
        pick = np.arange(len(y))
        if len(y) > max_error_bars:
            pick = np.random.default_rng(0).choice(len(y), max_error_bars, replace=False)
        ax.errorbar(y[pick], p[pick], yerr=s[pick], fmt="none", ecolor=LIGHT, elinewidth=0.7, alpha=0.7, zorder=1)
    ax.scatter(y, p, s=float(np.clip(3000 / len(y), 4, 25)), color=PALETTE[0], alpha=0.75, lw=0, zorder=2)
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    pad = 0.04 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=NEUTRAL, lw=1, ls="--", zorder=0)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    ax.set_xlabel(_label(f"measured {name}", unit))
    ax.set_ylabel(_label(f"predicted {name}", unit))
    mae = float(np.mean(np.abs(y - p)))
    ss = float(np.sum((y - y.mean()) ** 2))
    r2 = 1 - float(np.sum((y - p) ** 2)) / ss if ss > 0 else float("nan")
    ax.text(0.04, 0.96, f"MAE {fmt(mae, unit)}\nR² {r2:.3f}\nn = {len(y)}", transform=ax.transAxes, va="top",
            fontsize=9, bbox={"facecolor": "white", "edgecolor": "#DDDDDD", "boxstyle": "round"})
    ax.set_title(title)
    slope = float(np.polyfit(y, p, 1)[0]) if np.ptp(y) > 0 else float("nan")
    text = f"Cross-validated MAE {fmt(mae, unit)}, R² {r2:.2f}"
    if np.isfinite(slope) and slope < 0.8:
        text += f"; predictions are pulled towards the mean (slope {slope:.2f}): extremes are under-predicted"
    elif np.isfinite(slope):
        text += f"; no strong shrinkage towards the mean (slope {slope:.2f})"
    return Plot(fig, text + ".")


@styled
def plot_residuals_vs_sigma(y_true: object, y_pred: object, std: object, unit: str = "", n_bins: int = 10) -> Plot:
    """|residual| against predicted sigma, with the binned RMSE; ideal points follow y = x."""
    from scipy.stats import spearmanr

    y, p, s = _arr(y_true), _arr(y_pred), _arr(std)
    err = np.abs(y - p)
    fig, ax = new_figure(5.4, 4.2)
    ax.scatter(s, err, s=float(np.clip(2000 / len(y), 3, 18)), color=PALETTE[0], alpha=0.35, lw=0,
               label="materials")
    order = np.argsort(s, kind="stable")
    bins = np.array_split(order, min(n_bins, len(order)))
    mean_s = np.array([s[b].mean() for b in bins])
    rmse = np.array([np.sqrt(np.mean((y[b] - p[b]) ** 2)) for b in bins])
    ax.plot(mean_s, rmse, "o-", color=BAD, label="RMSE per sigma bin")
    top = max(mean_s.max(), rmse.max()) * 1.1
    ax.plot([0, top], [0, top], ls="--", color=NEUTRAL, lw=1, label="ideal (RMSE = sigma)")
    ax.set_xlabel(_label("predicted sigma", unit))
    ax.set_ylabel(_label("|residual|", unit))
    ax.set_title("Do larger sigmas flag larger errors?")
    ax.legend(loc="upper left")
    rho = float(spearmanr(s, err).statistic) if np.ptp(s) > 0 else float("nan")
    ratio = rmse[-1] / rmse[0] if rmse[0] > 0 else float("nan")
    verdict = "sigma ranks the errors" if rho > 0.2 else "sigma barely ranks the errors"
    text = f"Spearman(|error|, sigma) = {rho:.2f}: {verdict}; the most uncertain tenth errs {ratio:.1f}x as " \
           "much as the least uncertain tenth"
    return Plot(fig, text + ".")


@styled
def plot_calibration(y_true: object, y_pred: object, std: object) -> Plot:
    """Observed vs expected fraction of measurements inside central Gaussian intervals."""
    from matloop.evaluate.uncertainty_metrics import calibration_curve, miscalibration_area

    curve = calibration_curve(y_true, y_pred, std, n_bins=50)
    area = miscalibration_area(y_true, y_pred, std)
    fig, ax = new_figure(4.8, 4.6)
    e, o = curve["expected"].to_numpy(), curve["observed"].to_numpy()
    ax.fill_between(e, e, o, color=BAD, alpha=0.15, label=f"miscalibration area {area:.3f}")
    ax.plot(e, o, color=PALETTE[0], label="model")
    ax.plot([0, 1], [0, 1], ls="--", color=NEUTRAL, lw=1, label="ideal")
    ax.set_xlabel("expected fraction inside the interval")
    ax.set_ylabel("observed fraction")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_title("Uncertainty calibration")
    ax.legend(loc="upper left")
    obs95 = float(np.interp(0.95, e, o))
    obs68 = float(np.interp(0.68, e, o))
    if area < 0.05 and abs(obs95 - 0.95) < 0.05:
        verdict = "well calibrated"
    elif float(np.mean(o - e)) < 0:
        verdict = "sigma is too small (over-confident)"
    else:
        verdict = "sigma is too large (under-confident) for most intervals"
    text = f"95% intervals contain {obs95:.0%} and 68% intervals {obs68:.0%} of the measurements: {verdict} " \
           f"(miscalibration area {area:.3f})."
    return Plot(fig, text)


@styled
def plot_reliability(y_true: object, proba: object, n_bins: int = 10) -> Plot:
    """Reliability diagram of a binary classifier: observed frequency of the positive class per
    probability bin (equal-count bins), with the Brier score and the expected calibration error."""
    y = _arr(y_true)
    p = _arr(proba)
    order = np.argsort(p, kind="stable")
    bins = [b for b in np.array_split(order, min(n_bins, len(p))) if len(b)]
    mean_p = np.array([p[b].mean() for b in bins])
    freq = np.array([y[b].mean() for b in bins])
    weights = np.array([len(b) for b in bins]) / len(p)
    ece = float(np.sum(weights * np.abs(freq - mean_p)))
    brier = float(np.mean((p - y) ** 2))
    fig, ax = new_figure(4.8, 4.6)
    ax.plot([0, 1], [0, 1], ls="--", color=NEUTRAL, lw=1, label="ideal")
    ax.plot(mean_p, freq, "o-", color=PALETTE[0], label=f"model (ECE {ece:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("predicted probability of the positive class")
    ax.set_ylabel("observed frequency")
    ax.set_title("Probability calibration (cross-validated)")
    ax.legend(loc="upper left")
    verdict = "well calibrated" if ece < 0.05 else "over-confident" if np.mean(np.abs(freq - 0.5)) < np.mean(
        np.abs(mean_p - 0.5)) else "under-confident"
    return Plot(fig, f"Predicted probabilities are {verdict}: expected calibration error {ece:.3f}, Brier score "
                     f"{brier:.3f}.")


@styled
def plot_learning_curve(curve: pd.DataFrame, metric: str = "mae", unit: str = "") -> Plot:
    """Score vs training-set size (mean and standard deviation over folds), with a power-law fit."""
    from matloop.evaluate.learning_curve import fit_power_law, summarize_learning_curve

    summary = summarize_learning_curve(curve, metric)
    n, m, sd = (summary[c].to_numpy(float) for c in ("train_size", "mean", "std"))
    fig, ax = new_figure(5.6, 4.0)
    ax.fill_between(n, m - np.nan_to_num(sd), m + np.nan_to_num(sd), color=PALETTE[0], alpha=0.15)
    ax.plot(n, m, "o-", color=PALETTE[0], label=f"CV {metric.upper()}")
    ax.set_xlabel("training materials")
    ax.set_ylabel(_label(metric.upper(), unit))
    ax.set_title("Learning curve")
    text = f"{metric.upper()} goes from {fmt(m[0], unit)} with {int(n[0])} materials to {fmt(m[-1], unit)} with {int(n[-1])}"
    if len(n) >= 3 and metric in ("mae", "rmse"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # scipy: covariance not estimable with three points
                law = fit_power_law(curve, metric)
            xs = np.linspace(n[0], 2 * n[-1], 100)
            ys = law["a"] * xs ** (-law["b"]) + law["c"]
            ax.plot(xs, ys, ls="--", color=NEUTRAL, lw=1, label="power-law fit")
            at2 = law["a"] * (2 * n[-1]) ** (-law["b"]) + law["c"]
            drop = 1 - at2 / m[-1]
            change = f"{drop:.0%} lower" if drop >= 0.005 else "no lower: more data of this kind would not help"
            text += f"; the power-law fit expects {fmt(at2, unit)} with twice the data ({change}"
            text += f"; error floor {fmt(law['c'], unit)})" if law["c"] > 0.05 * m[-1] else ")"
        except Exception:  # noqa: BLE001 - a failed fit only removes the extrapolation
            pass
    ax.legend()
    return Plot(fig, text + ".")


@styled
def plot_applicability_domain(coords: np.ndarray, scores: object, threshold: float, abs_error: object = None,
                              method: str = "PCA", unit: str = "") -> Plot:
    """Feature-space map coloured by distance to the training data; out-of-domain points marked."""
    c = np.asarray(coords, dtype=float)
    sc_ = _arr(scores) / threshold
    out = sc_ > 1
    fig, ax = new_figure(6.0, 4.6)
    size = float(np.clip(3000 / len(c), 4, 30))
    order = np.argsort(sc_)
    pts = ax.scatter(c[order, 0], c[order, 1], c=np.minimum(sc_[order], 3), s=size, cmap="viridis", lw=0,
                     vmin=0, vmax=3)
    ax.scatter(c[out, 0], c[out, 1], s=size * 2.2, facecolors="none", edgecolors=BAD, lw=0.9,
               label=f"out of domain ({out.sum()})")
    fig.colorbar(pts, ax=ax, label="distance / threshold (clipped at 3)")
    ax.set_xlabel(f"{method} 1")
    ax.set_ylabel(f"{method} 2")
    ax.set_title("Applicability domain (cross-validated k-NN distance)")
    if out.any():
        ax.legend(loc="best")
    text = f"{out.mean():.0%} of materials are out of domain (farther from the rest than the calibrated threshold)"
    if abs_error is not None and out.any() and (~out).any():
        e = np.abs(_arr(abs_error))
        ratio = e[out].mean() / e[~out].mean() if e[~out].mean() > 0 else float("nan")
        text += f"; their CV error is {ratio:.1f}x that of in-domain materials " \
                f"({fmt(e[out].mean(), unit)} vs {fmt(e[~out].mean(), unit)})"
    return Plot(fig, text + ".")

