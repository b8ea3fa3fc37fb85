"""Report figures for diffraction-pattern input: class activation maps drawn on the patterns, and the
phase map of a composition library drawn over its composition triangle.

:func:`plot_cam` draws, for each class, the mean processed pattern with the mean class activation map
of the 1-D CNN (:meth:`matloop.models.diffraction_cnn.PatternCNNClassifier.cam`) as a shaded band under
it, so a reader sees which 2θ (or Q) regions drove the decisions. :func:`add_pattern_section` fits a
small CNN ensemble on the report's features (curve columns ``I(2θ=...)``) and adds the figure; without
PyTorch it adds a note instead. Pattern, calculator and plot stay separate (design note section 4).

:func:`plot_phase_ternary` draws the output of ``matloop phases map`` (each sample's phase fractions)
at each sample's position in its ternary composition triangle: one panel per phase (colour = that
phase's fraction, 0-1) and one of the dominant phase (colour = the phase with the largest fraction,
paler where it holds less than half). :func:`plot_basis_patterns` draws the basis patterns, and
:func:`phase_map_report` makes the HTML report ``phases map --report`` and ``phases report`` write.
"""

from __future__ import annotations

import numpy as np

from matloop.report.style import PALETTE, Plot, new_figure, styled

__all__ = ["add_pattern_section", "phase_map_report", "plot_basis_patterns", "plot_cam", "plot_phase_ternary",
           "ternary_xy"]


@styled
def plot_cam(x: np.ndarray, curves: np.ndarray, cams: np.ndarray, labels: np.ndarray, axis_label: str = "2θ (°)",
             max_classes: int = 8) -> Plot:
    """Mean processed pattern (line) and mean class activation map (shaded, 0-1) of each class."""
    classes, counts = np.unique(labels, return_counts=True)
    classes = classes[np.argsort(-counts, kind="stable")][:max_classes]
    fig, axes = new_figure(7.0, 1.5 + 1.2 * len(classes), nrows=len(classes), ncols=1, sharex=True)
    axes = np.atleast_1d(axes)
    peaks = []
    for i, (ax, c) in enumerate(zip(axes, classes, strict=True)):
        rows = labels == c
        mean_curve, mean_cam = curves[rows].mean(axis=0), cams[rows].mean(axis=0)
        ax.fill_between(x, 0, mean_cam, color=PALETTE[1 % len(PALETTE)], alpha=0.35, lw=0, label="activation map")
        ax.plot(x, mean_curve / max(mean_curve.max(), 1e-12), color=PALETTE[0], lw=1, label="mean pattern")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(f"{c}\n(n={int(rows.sum())})", rotation=0, ha="right", va="center", fontsize=8)
        ax.set_yticks([])
        top = x[np.argmax(mean_cam)]
        peaks.append(f"{c} at {top:.3g}")
        if i == 0:
            ax.legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel(axis_label)
    axes[0].set_title("Where the CNN looked: class activation maps on the mean pattern of each class")
    return Plot(fig, "The regions that drove each class's score peak at " + ", ".join(peaks) + ".")


def add_pattern_section(report, X, y, seed: int = 0) -> None:
    """Fit a small CNN ensemble on the curve columns of ``X`` (labels ``y``) and add its class activation
    maps to ``report``; a note instead when PyTorch is missing or the data cannot train it."""
    from matloop.represent.pattern_features import curve_columns, grid_from_columns

    report.add_section("Diffraction patterns: what the network looked at",
                       "A 1-D CNN ensemble (3 members, 20 epochs, with augmentation) fitted on all labelled patterns; "
                       "its class activation maps show which regions raised each class's score.")
    try:
        import torch  # noqa: F401
    except ImportError:
        report.add_note("Class activation maps need PyTorch (pip install \"matloop[torch]\"); left out.")
        return
    from matloop.models.diffraction_cnn import PatternCNNClassifier

    cols = curve_columns(X.columns)
    y = np.asarray(y)
    try:
        model = PatternCNNClassifier(n_members=3, epochs=20, n_threads=1, random_state=seed).fit(X, y)
    except ValueError as exc:
        report.add_note(f"Class activation maps left out: {exc}")
        return
    cams = np.vstack([model.cam(X.iloc[[i]], label=y[i]) for i in range(len(y))])
    grid = grid_from_columns(X.columns)
    label = "2θ (°)" if grid.unit == "2theta" else "Q (1/Å)"
    report.add_figure(plot_cam(grid.points, X.iloc[:, cols].to_numpy(dtype=float), cams, y, label), name="pattern_cam")


_SQRT3_2 = np.sqrt(3.0) / 2


def ternary_xy(compositions: np.ndarray) -> np.ndarray:
    """Plane coordinates of 3-part compositions (rows normalised to sum 1): the first component's corner at
    (0, 0), the second's at (1, 0), the third's at (0.5, √3/2)."""
    c = np.asarray(compositions, dtype=float)
    c = c / np.maximum(c.sum(axis=1, keepdims=True), 1e-12)
    return np.column_stack([c[:, 1] + 0.5 * c[:, 2], _SQRT3_2 * c[:, 2]])


def _triangle(ax, elements) -> None:
    ax.plot([0, 1, 0.5, 0], [0, 0, _SQRT3_2, 0], color="#333333", lw=0.8)
    for (x, y), name, ha in zip(((0, 0), (1, 0), (0.5, _SQRT3_2)), elements, ("right", "left", "center"), strict=True):
        ax.text(x, y - 0.04 if y == 0 else y + 0.03, str(name), ha=ha, va="top" if y == 0 else "bottom", fontsize=8)
    ax.set_xlim(-0.1, 1.1)
    ax.set_ylim(-0.1, _SQRT3_2 + 0.1)
    ax.set_aspect("equal")
    ax.axis("off")


def _composition_text(row: np.ndarray, elements) -> str:
    row = row / max(float(row.sum()), 1e-12)
    return "".join(f"{e}{v:.2f}" for e, v in zip(elements, row, strict=True))


@styled
def plot_phase_ternary(compositions: np.ndarray, elements, fractions: np.ndarray, phases) -> Plot:
    """Phase fractions at each sample's composition: one ternary panel per phase and a dominant-phase panel."""
    comp = np.asarray(compositions, dtype=float)
    frac = np.asarray(fractions, dtype=float)
    if comp.shape[1] != 3 or len(elements) != 3:
        raise ValueError("a ternary phase map needs exactly 3 composition columns")
    xy = ternary_xy(comp)
    K = frac.shape[1]
    ncols = min(K + 1, 4)
    nrows = int(np.ceil((K + 1) / ncols))
    fig, axes = new_figure(2.4 * ncols, 2.3 * nrows + 0.4, nrows=nrows, ncols=ncols)
    axes = np.atleast_1d(axes).ravel()
    size = float(np.clip(4000 / max(len(comp), 1), 6, 60))
    where = []
    for k in range(K):
        ax = axes[k]
        _triangle(ax, elements)
        pts = ax.scatter(xy[:, 0], xy[:, 1], c=frac[:, k], cmap="viridis", vmin=0, vmax=1, s=size, lw=0)
        ax.set_title(str(phases[k]), fontsize=9)
        top = int(np.argmax(frac[:, k]))
        where.append(f"{phases[k]} peaks at {_composition_text(comp[top], elements)} ({frac[top, k]:.2f})")
    fig.colorbar(pts, ax=axes[:K].tolist(), shrink=0.7, label="phase fraction")
    ax = axes[K]
    _triangle(ax, elements)
    dominant = np.argmax(frac, axis=1)
    colours = np.array([PALETTE[d % len(PALETTE)] for d in dominant])
    strong = frac[np.arange(len(frac)), dominant] >= 0.5
    ax.scatter(xy[strong, 0], xy[strong, 1], c=colours[strong], s=size, lw=0)
    ax.scatter(xy[~strong, 0], xy[~strong, 1], c=colours[~strong], s=size, lw=0, alpha=0.4)
    for k in range(K):
        ax.scatter([], [], c=PALETTE[k % len(PALETTE)], s=15, label=str(phases[k]))
    ax.legend(loc="upper left", fontsize=6, frameon=False, bbox_to_anchor=(0.85, 1.0))
    ax.set_title("dominant phase", fontsize=9)
    for ax in axes[K + 1:]:
        ax.axis("off")
    counts = np.bincount(dominant, minlength=K)
    text = "; ".join(where) + ". Dominant phase by number of samples: " + ", ".join(
        f"{phases[k]} {int(counts[k])}" for k in np.argsort(-counts, kind="stable") if counts[k]) + "."
    return Plot(fig, text)


@styled
def plot_basis_patterns(x: np.ndarray, components: np.ndarray, phases, axis_label: str = "Q (1/Å)") -> Plot:
    """The basis patterns (one per phase), scaled to 1 and stacked."""
    comp = np.asarray(components, dtype=float)
    fig, ax = new_figure(7.0, 1.2 + 0.6 * len(comp))
    peaks = []
    for k, row in enumerate(comp):
        top = max(float(row.max()), 1e-12)
        ax.plot(x, row / top + 1.1 * k, color=PALETTE[k % len(PALETTE)], lw=0.9)
        ax.text(x[-1], 1.1 * k + 0.3, f" {phases[k]}", fontsize=8, va="bottom", ha="left")
        peaks.append(f"{phases[k]} {x[int(np.argmax(row))]:.3g}")
    ax.set_yticks([])
    ax.set_xlabel(axis_label)
    ax.set_title("Basis patterns of the phases (scaled to 1, stacked)")
    return Plot(fig, "Strongest peak of each basis pattern: " + ", ".join(peaks) + ".")


def phase_map_report(table, composition: list[str], phase_columns: list[str], components=None, title: str = "",
                     names: list[str] | None = None):
    """A :class:`~matloop.report.html.Report` of a ``phases map`` result: the ternary phase map over the
    ``composition`` columns of ``table`` (fractions in ``phase_columns``), the basis patterns (a frame whose
    first column is the axis), and a per-phase summary table."""
    import pandas as pd

    from matloop.report.html import Report

    names = list(names or phase_columns)
    table = table.copy()
    for col in [*phase_columns, *composition, *(c + "_std" for c in phase_columns if c + "_std" in table.columns)]:
        table[col] = pd.to_numeric(table[col], errors="coerce")
    frac = table[phase_columns].to_numpy(dtype=float)
    comp = table[composition].to_numpy(dtype=float)
    report = Report(title or "matloop phase map", f"{len(table)} samples, {len(phase_columns)} phases; "
                    f"composition {'-'.join(composition)}")
    report.add_section("Phase map over the composition triangle",
                       "Each point is a sample at its composition; colour is the fraction of one phase (the last "
                       "panel: the phase with the largest fraction, pale where it holds less than half).")
    report.add_figure(plot_phase_ternary(comp, composition, frac, names), name="phase_map")
    std = [c + "_std" for c in phase_columns]
    summary = pd.DataFrame({"phase": names, "mean fraction": frac.mean(axis=0),
                            "samples where dominant": np.bincount(np.argmax(frac, axis=1), minlength=len(names)),
                            "samples above 0.5": (frac >= 0.5).sum(axis=0)})
    if all(c in table.columns for c in std):
        summary["mean bootstrap std"] = table[std].to_numpy(dtype=float).mean(axis=0)
    report.add_table(summary, caption="Phases across the library")
    if components is not None:
        report.add_section("Basis patterns", "The pattern of each phase found by the factorisation.")
        components = components.apply(pd.to_numeric, errors="coerce")
        axis = str(components.columns[0])
        label = "Q (1/Å)" if axis.lower() == "q" else axis
        report.add_figure(plot_basis_patterns(components.iloc[:, 0].to_numpy(dtype=float),
                                              components[phase_columns].to_numpy(dtype=float).T, names, label),
                          name="basis_patterns")
    return report
