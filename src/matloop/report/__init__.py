"""Reports a scientist can read: figures with one-line takeaways, assembled into one HTML file.

- :mod:`matloop.report.plots`: every figure (parity, calibration, periodic table, maps, importance,
  PD/ICE, best so far, Pareto front...); each returns a :class:`~matloop.report.style.Plot`
  (a matplotlib Figure and a takeaway computed from the data).
- :mod:`matloop.report.html`: :class:`Report`, a self-contained HTML page (figures inline, no network).
- :mod:`matloop.report.sections`: reusable sections (overview, coverage, validation, diagnostics,
  interpretation, progress, Pareto front, provenance).
- :mod:`matloop.report.coverage`: PCA and UMAP maps, k-means clusters, point density.
- :func:`build_report`: the whole audit, validation and interpretation of a dataset in a time budget
  (:mod:`matloop.report.plan` times the stages and plans the row counts);
  :func:`matloop.report.campaign.campaign_report` does the same for a design campaign.

Importing this package does not import pyplot and never changes the matplotlib backend.
"""

from matloop.report.html import Report, write_figures
from matloop.report.style import Plot

__all__ = ["Plot", "Report", "build_report", "write_figures"]


def build_report(*args, **kwargs):
    """See :func:`matloop.report.build.build_report` (imported lazily: it pulls in the models)."""
    from matloop.report.build import build_report as _build

    return _build(*args, **kwargs)
