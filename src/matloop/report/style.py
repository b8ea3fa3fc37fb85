"""One clean plotting style for every matloop figure, without pyplot and without seaborn.

Figures are created as :class:`matplotlib.figure.Figure` objects (no pyplot, no global backend
switch, nothing kept alive in a figure manager), so the report works in scripts, servers and
notebooks alike and never opens a window. PNG rendering goes through the Agg canvas.

The look follows seaborn's "whitegrid" theme: white background, light grid behind the data, no top
or right spine, the "deep" colour palette, colour-blind-safe sequential maps (viridis, cividis).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import NamedTuple, TypeVar

import matplotlib
from cycler import cycler
from matplotlib.figure import Figure

__all__ = ["PALETTE", "STYLE", "Plot", "new_figure", "styled", "to_png", "fmt"]

#: seaborn's "deep" palette
PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C",
           "#CCB974", "#64B5CD")
GOOD, BAD, NEUTRAL, LIGHT = PALETTE[2], PALETTE[3], PALETTE[7], "#BFBFBF"

STYLE = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "axes.edgecolor": "#CCCCCC",
    "axes.linewidth": 1.0,
    "axes.grid": True,
    "axes.axisbelow": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.labelcolor": "#262626",
    "axes.titlesize": 11,
    "axes.titlelocation": "left",
    "axes.labelsize": 10,
    "axes.prop_cycle": cycler(color=PALETTE),
    "grid.color": "#EAEAEA",
    "grid.linewidth": 0.8,
    "xtick.color": "#262626",
    "ytick.color": "#262626",
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "font.size": 10,
    "lines.linewidth": 1.6,
    "patch.edgecolor": "white",
    "image.cmap": "viridis",
    "savefig.facecolor": "white",
}


class Plot(NamedTuple):
    """A figure and its one-line takeaway computed from the data (unpacks as ``fig, text``)."""

    figure: Figure
    takeaway: str


F = TypeVar("F", bound=Callable)


def styled(func: F) -> F:
    """Run a plot function with :data:`STYLE` active (artists read rcParams when they are created)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def new_figure(width: float = 6.0, height: float = 4.2, nrows: int = 1, ncols: int = 1, **subplot_kw):
    """A constrained-layout Figure and its axes (a single Axes, or an array when nrows*ncols > 1)."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=True, **subplot_kw)
    return fig, axes


def to_png(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (Agg renderer)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # attaches an Agg canvas to the figure
    buf = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def fmt(value: float, unit: str = "") -> str:
    """A number with 3 significant digits and an optional unit (``95.2 MPa``)."""
    if value is None or value != value:  # NaN
        return "n/a"
    if abs(value) >= 1000 and abs(value) < 1e6:
        text = f"{value:.0f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()
