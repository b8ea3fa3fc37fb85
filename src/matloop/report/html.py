"""A self-contained HTML report: one file, figures inline, no network needed to open it.

:class:`Report` collects sections of text, warnings, tables and figures (each figure with its
one-line takeaway) and writes one HTML file: PNG images are embedded as base64 ``data:`` URIs, the
stylesheet is inline, there is no JavaScript, no web font and no external link to load, so the page
opens offline, in an e-mail attachment or an electronic lab notebook. :meth:`Report.write_figures`
writes the figures alone as PNG files.

Other commands build their own reports from the same parts (``campaign report`` adds "best so far
vs experiments", "Pareto front" and "what the model learned" sections)::

    from matloop.report.html import Report
    from matloop.report.plots import plot_best_so_far
    report = Report("Campaign 7")
    report.add_section("Progress", "Measured values in the order of the experiments.")
    report.add_figure(*plot_best_so_far(values), name="best_so_far")
    report.write("campaign.html")
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from matloop.report.style import Plot, to_png

__all__ = ["Report", "Section", "write_figures"]

CSS = """
:root { --ink:#1f2328; --muted:#59636e; --line:#d1d9e0; --warn:#9a6700; --warnbg:#fff8c5; --bad:#b3261e;
        --accent:#4C72B0; }
* { box-sizing: border-box; }
body { margin:0; color:var(--ink); background:#f6f8fa;
       font:15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, "DejaVu Sans", sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 28px 60px; background:#fff; }
@media (max-width: 700px) { main { padding: 16px 12px 40px; } nav ol { columns: 1; } }
header h1 { margin: 0 0 4px; font-size: 26px; overflow-wrap: anywhere; }
header p { margin: 0; color: var(--muted); overflow-wrap: anywhere; }
p, li, figcaption, .warning, caption, dt { overflow-wrap: anywhere; }
nav { margin: 18px 0 8px; padding: 10px 14px; background:#f6f8fa; border:1px solid var(--line); border-radius:6px; }
nav ol { margin: 0; padding-left: 20px; columns: 2; }
nav a { color: var(--accent); text-decoration: none; }
section { margin-top: 34px; }
h2 { font-size: 20px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 22px 0 6px; }
figure { margin: 18px 0 26px; }
figure img { display:block; max-width:100%; height:auto; border:1px solid #eef0f2; }
figcaption { margin-top: 6px; }
figcaption .takeaway { font-weight: 600; }
figcaption .caption { color: var(--muted); font-size: 13px; display:block; }
.warning { background: var(--warnbg); border-left: 4px solid var(--warn); padding: 8px 12px; margin: 10px 0;
           border-radius: 4px; }
.warning strong { color: var(--warn); }
.note { color: var(--muted); font-size: 13px; margin: 6px 0; }
.table-wrap { max-width: 100%; overflow-x: auto; margin: 10px 0 18px; }
table { border-collapse: collapse; margin: 0; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: right; }
th { background: #f6f8fa; }
td:first-child, th:first-child { text-align: left; }
caption { caption-side: top; text-align: left; color: var(--muted); padding-bottom: 4px; }
dl.settings { display: grid; grid-template-columns: fit-content(35%) minmax(0, 1fr); gap: 2px 16px;
              font-size: 13px; }
dl.settings dt { color: var(--muted); }
dl.settings dd { margin: 0; font-family: ui-monospace, "DejaVu Sans Mono", monospace; word-break: break-all; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    slug, k = base, 2
    while slug in taken:
        slug, k = f"{base}-{k}", k + 1
    taken.add(slug)
    return slug


@dataclass
class _Figure:
    name: str
    png: bytes
    takeaway: str
    caption: str = ""


@dataclass
class Section:
    """A titled part of a report: an ordered list of blocks (HTML fragments and figures)."""

    title: str
    id: str
    blocks: list[object] = field(default_factory=list)


class Report:
    """An HTML report assembled section by section.

    Parameters
    ----------
    title : str
    subtitle : str
        One line under the title (dataset, target, date...).
    dpi : int
        Resolution of the embedded PNG figures.
    """

    def __init__(self, title: str, subtitle: str = "", dpi: int = 110):
        self.title = title
        self.subtitle = subtitle
        self.dpi = dpi
        self.sections: list[Section] = []
        self._ids: set[str] = set()
        self._names: set[str] = set()
        self.timings: dict[str, float] = {}  # seconds per stage, filled by build_report

    # -- building
    def add_section(self, title: str, text: str = "") -> Section:
        """Start a new section (later blocks go into it); ``text`` is an introductory paragraph."""
        section = Section(title, _slug(title, self._ids))
        self.sections.append(section)
        if text:
            self.add_text(text)
        return section

    def _current(self) -> Section:
        if not self.sections:
            self.add_section("Report")
        return self.sections[-1]

    def add_text(self, text: str, heading: str | None = None) -> None:
        """A paragraph (plain text, escaped), optionally under an ``h3`` heading."""
        if heading:
            self._current().blocks.append(f"<h3>{html.escape(heading)}</h3>")
        self._current().blocks.append(f"<p>{html.escape(text)}</p>")

    def add_warning(self, text: str) -> None:
        """A highlighted warning box."""
        self._current().blocks.append(f'<div class="warning"><strong>Warning:</strong> {html.escape(text)}</div>')

    def add_note(self, text: str) -> None:
        """A small grey note (subsampling, skipped steps, settings)."""
        self._current().blocks.append(f'<p class="note">{html.escape(text)}</p>')

    def add_figure(self, fig: object, takeaway: str | None = None, name: str | None = None,
                   caption: str = "") -> str:
        """Embed a figure (a Figure or a :class:`~matloop.report.style.Plot`) with its takeaway line.

        The figure is rendered to PNG now (and may be discarded by the caller). Returns the figure's
        file name stem used by :meth:`write_figures`.
        """
        if isinstance(fig, Plot):
            fig, takeaway = fig.figure, takeaway if takeaway is not None else fig.takeaway
        if takeaway is None or not str(takeaway).strip():
            raise ValueError("every figure needs a takeaway line")
        stem = _slug(name or f"figure-{sum(isinstance(b, _Figure) for s in self.sections for b in s.blocks) + 1}",
                     self._names)
        self._current().blocks.append(_Figure(stem, to_png(fig, self.dpi), str(takeaway), caption))
        return stem

    def add_table(self, frame: pd.DataFrame, caption: str = "", max_rows: int = 40, digits: int = 3) -> None:
        """A table (at most ``max_rows`` rows shown; numbers with ``digits`` significant digits)."""
        shown = frame.head(max_rows).copy()
        for col in shown.columns:
            if pd.api.types.is_float_dtype(shown[col]):
                shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.{digits}g}")
        body = shown.to_html(index=False, border=0, escape=True, na_rep="")
        body = re.sub(r'^<table[^>]*>', "<table>", body)
        if caption:
            body = body.replace("<table>", f"<table><caption>{html.escape(caption)}</caption>", 1)
        # a wide table scrolls inside its own box instead of pushing the page wider than the window
        body = f'<div class="table-wrap">{body}</div>'
        if len(frame) > max_rows:
            body += f'<p class="note">... {len(frame) - max_rows} more rows not shown.</p>'
        self._current().blocks.append(body)

    def add_settings(self, settings: dict) -> None:
        """A definition list of settings (provenance: versions, options, timings)."""
        items = "".join(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>" for k, v in settings.items())
        self._current().blocks.append(f'<dl class="settings">{items}</dl>')

    # -- output
    @property
    def figures(self) -> list[tuple[str, bytes, str]]:
        """(name, PNG bytes, takeaway) of every figure, in report order."""
        return [(b.name, b.png, b.takeaway) for s in self.sections for b in s.blocks if isinstance(b, _Figure)]

    def to_html(self) -> str:
        """The whole page as one string."""
        toc = "".join(f'<li><a href="#{s.id}">{html.escape(s.title)}</a></li>' for s in self.sections)
        parts = []
        for s in self.sections:
            blocks = []
            for b in s.blocks:
                if isinstance(b, _Figure):
                    data = base64.b64encode(b.png).decode("ascii")
                    cap = f'<span class="caption">{html.escape(b.caption)}</span>' if b.caption else ""
                    blocks.append(f'<figure id="fig-{b.name}"><img src="data:image/png;base64,{data}" '
                                  f'alt="{html.escape(b.takeaway, quote=True)}"><figcaption><span class="takeaway">'
                                  f"{html.escape(b.takeaway)}</span>{cap}</figcaption></figure>")
                else:
                    blocks.append(str(b))
            parts.append(f'<section id="{s.id}"><h2>{html.escape(s.title)}</h2>{"".join(blocks)}</section>')
        subtitle = f"<p>{html.escape(self.subtitle)}</p>" if self.subtitle else ""
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                '<link rel="icon" href="data:,">'
                f"<title>{html.escape(self.title)}</title><style>{CSS}</style></head><body><main>"
                f"<header><h1>{html.escape(self.title)}</h1>{subtitle}</header>"
                f"<nav><strong>Contents</strong><ol>{toc}</ol></nav>{''.join(parts)}"
                "<footer>Generated by matloop. Self-contained: figures are embedded; nothing is loaded from "
                "the network.</footer></main></body></html>\n")

    def write(self, path: str | Path) -> Path:
        """Write the HTML file (parent folders are created); returns its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_html(), encoding="utf-8")
        return path

    def write_figures(self, folder: str | Path) -> list[Path]:
        """Write every figure as ``NN_name.png`` and their takeaways to ``takeaways.txt``."""
        return write_figures(self, folder)


def write_figures(figures: Report | list, folder: str | Path, dpi: int = 110) -> list[Path]:
    """Write figures as PNG files into ``folder`` (created) plus ``takeaways.txt``; returns the PNG paths.

    ``figures`` is a :class:`Report` or a list of ``(name, Plot)`` pairs.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(figures, Report):
        items = figures.figures
    else:
        taken: set[str] = set()
        items = [(_slug(name, taken), to_png(plot.figure, dpi), plot.takeaway) for name, plot in figures]
    paths, lines = [], []
    width = max(2, len(str(len(items))))
    for k, (name, png, takeaway) in enumerate(items, start=1):
        path = folder / f"{k:0{width}d}_{name}.png"
        path.write_bytes(png)
        paths.append(path)
        lines.append(f"{path.name}: {takeaway}")
    (folder / "takeaways.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths
