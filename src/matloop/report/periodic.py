"""A periodic-table heat map laid out properly.

18 group columns and 7 period rows; the lanthanides (La-Lu) and actinides (Ac-Lr) sit on their
own two rows below the main table, after a gap, starting under group 3 (the main-table cells of
group 3 in periods 6 and 7 are marked with the row they continue on). Every cell shows the element
symbol and its value; absent elements are light grey; a colour bar gives the scale (logarithmic
when the values span more than two decades).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matloop.io.elements import ATOMIC_NUMBER, N_ELEMENTS, SYMBOLS
from matloop.report.style import Plot, fmt, new_figure, styled

__all__ = ["periodic_position", "periodic_layout", "plot_periodic_table"]

LANTHANIDE_ROW, ACTINIDE_ROW = 8, 9  # row 7 is the gap


def periodic_position(z: int) -> tuple[int, int]:
    """(row, column) of element ``z`` (0-based); lanthanides on row 8 and actinides on row 9."""
    if not 1 <= z <= N_ELEMENTS:
        raise ValueError(f"no element with atomic number {z}")
    if z == 1:
        return 0, 0
    if z == 2:
        return 0, 17
    starts = [(3, 1), (11, 2), (19, 3), (37, 4), (55, 5), (87, 6)]
    if 57 <= z <= 71:
        return LANTHANIDE_ROW, 2 + (z - 57)
    if 89 <= z <= 103:
        return ACTINIDE_ROW, 2 + (z - 89)
    start, row = next((s, r) for s, r in reversed(starts) if z >= s)
    k = z - start
    if row in (1, 2):  # s-block then p-block
        return row, k if k < 2 else k + 10
    if row in (3, 4):
        return row, k
    return row, k if k < 2 else k - 14  # Hf (k=17) -> column 3 (group 4)


def periodic_layout() -> pd.DataFrame:
    """One row per element: ``z``, ``symbol``, ``row``, ``column``."""
    pos = [periodic_position(z) for z in range(1, N_ELEMENTS + 1)]
    return pd.DataFrame({"z": np.arange(1, N_ELEMENTS + 1), "symbol": SYMBOLS[1:],
                         "row": [p[0] for p in pos], "column": [p[1] for p in pos]})


def _y(row: int) -> float:
    """Top edge of a row in plot units (the f-block rows sit half a row below the main table)."""
    return -row + (0.5 if row >= LANTHANIDE_ROW else 0.0)


def _text_colour(rgba: tuple[float, ...]) -> str:
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"


@styled
def plot_periodic_table(values: pd.Series | dict, title: str = "Materials containing each element",
                        label: str = "materials", cmap: str = "viridis", log: bool | None = None,
                        total: int | None = None) -> Plot:
    """Heat map of a value per element (e.g. :func:`matloop.evaluate.audit.element_frequency`).

    ``values`` maps element symbols to numbers; ``total`` (number of materials) is used in the
    takeaway. ``log`` defaults to a log colour scale when the values span more than 100x.
    """
    from matplotlib.collections import PatchCollection
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.patches import Rectangle

    series = pd.Series(values, dtype=float)
    unknown = [s for s in series.index if s not in ATOMIC_NUMBER]
    if unknown:
        raise ValueError(f"not element symbols: {', '.join(map(str, unknown))}")
    series = series[series > 0] if (series >= 0).all() else series
    layout = periodic_layout()
    vmax = float(series.max()) if len(series) else 1.0
    vmin = float(series.min()) if len(series) else 0.0
    if log is None:
        log = len(series) > 0 and vmin > 0 and vmax / vmin > 100
    norm = LogNorm(vmin=max(vmin, 1e-12), vmax=vmax) if log else Normalize(vmin=min(vmin, 0.0), vmax=vmax)
    fig, ax = new_figure(10.5, 5.8)
    ax.grid(False)
    ax.set_axis_off()
    present = layout[layout["symbol"].isin(series.index)]
    absent = layout[~layout["symbol"].isin(series.index)]
    gap = 0.06
    boxes = [Rectangle((c + gap / 2, _y(r) - 1 + gap / 2), 1 - gap, 1 - gap) for r, c in
             zip(absent["row"], absent["column"], strict=True)]
    ax.add_collection(PatchCollection(boxes, facecolor="#F2F2F2", edgecolor="#DDDDDD", linewidth=0.5))
    boxes = [Rectangle((c + gap / 2, _y(r) - 1 + gap / 2), 1 - gap, 1 - gap) for r, c in
             zip(present["row"], present["column"], strict=True)]
    coll = PatchCollection(boxes, cmap=cmap, norm=norm, edgecolor="white", linewidth=0.5)
    coll.set_array(series.reindex(present["symbol"]).to_numpy())
    ax.add_collection(coll)
    colours = coll.cmap(norm(series.reindex(present["symbol"]).to_numpy()))
    for (sym, r, c), rgba in zip(present[["symbol", "row", "column"]].itertuples(index=False), colours, strict=True):
        tc = _text_colour(tuple(rgba))
        ax.text(c + 0.5, _y(r) - 0.42, sym, ha="center", va="center", fontsize=9, fontweight="bold", color=tc)
        v = series[sym]
        ax.text(c + 0.5, _y(r) - 0.8, f"{v:.3g}" if v < 1000 else f"{v / 1000:.3g}k", ha="center", va="center",
                fontsize=6.0, color=tc)
    for sym, r, c in absent[["symbol", "row", "column"]].itertuples(index=False):
        ax.text(c + 0.5, _y(r) - 0.5, sym, ha="center", va="center", fontsize=8, color="#A6A6A6")
    for r, mark in ((5, "*"), (6, "**")):  # group-3 placeholders of periods 6 and 7
        ax.text(2.5, -r - 0.5, mark, ha="center", va="center", fontsize=9, color="#808080")
    ax.text(1.9, _y(LANTHANIDE_ROW) - 0.5, "*", ha="right", va="center", fontsize=9, color="#808080")
    ax.text(1.9, _y(ACTINIDE_ROW) - 0.5, "**", ha="right", va="center", fontsize=9, color="#808080")
    ax.set_xlim(-0.1, 18.1)
    ax.set_ylim(_y(ACTINIDE_ROW) - 1.1, 0.1)
    ax.set_aspect("equal")
    ax.set_title(title)
    cbar = fig.colorbar(coll, ax=ax, orientation="horizontal", fraction=0.04, pad=0.02, shrink=0.5, aspect=40)
    cbar.set_label(label + (" (log scale)" if log else ""))
    cbar.outline.set_visible(False)
    return Plot(fig, _takeaway(series, label, total))


def _takeaway(series: pd.Series, label: str, total: int | None) -> str:
    if not len(series):
        return "No elements to show."
    top = series.sort_values(ascending=False)
    head = ", ".join(f"{s} ({fmt(v)})" for s, v in top.head(3).items())
    share = f" of {total}" if total else ""
    rare = int((series < 5).sum()) if label == "materials" else 0
    text = f"{len(series)} elements present; most common: {head}{share} {label}"
    if rare:
        text += f"; {rare} occur in fewer than 5 materials, so predictions involving them are extrapolation"
    return text + "."
