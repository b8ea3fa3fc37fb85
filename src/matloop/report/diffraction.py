"""Report figures for diffraction-pattern input: class activation maps drawn on the patterns.

:func:`plot_cam` draws, for each class, the mean processed pattern with the mean class activation map
of the 1-D CNN (:meth:`matloop.models.diffraction_cnn.PatternCNNClassifier.cam`) as a shaded band under
it, so a reader sees which 2θ (or Q) regions drove the decisions. :func:`add_pattern_section` fits a
small CNN ensemble on the report's features (curve columns ``I(2θ=...)``) and adds the figure; without
PyTorch it adds a note instead. Pattern, calculator and plot stay separate (design note section 4).
"""

from __future__ import annotations

import numpy as np

from matloop.report.style import PALETTE, Plot, new_figure, styled

__all__ = ["add_pattern_section", "plot_cam"]


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
