"""The HTML report of a campaign: progress, what was measured, what the model expects next."""

from __future__ import annotations

import numpy as np

from matloop.report.html import Report
from matloop.report.insight_plots import plot_best_so_far


def campaign_report(campaign) -> Report:
    """A self-contained report of a :class:`~matloop.design.campaign.Campaign`."""
    status = campaign.status()
    cfg = campaign.config
    report = Report(f"Campaign {status.name}", f"goal: {status.goal} {status.target}")
    report.add_section("Status", str(status))
    hist = campaign.history()
    if len(hist):
        direction = "min" if cfg["direction"] == "min" else "max"
        plot = plot_best_so_far(hist["value"].to_numpy(dtype=float), direction=direction, name=status.target)
        report.add_section("Progress")
        report.add_figure(plot.figure, plot.takeaway)
        report.add_table(hist[["experiment", "value", "best_so_far", "recorded_at", "recorded_by", "source"]],
                         caption="Every measurement in recording order")
    sug = campaign.ledger.suggestions()
    if not sug.empty:
        report.add_section("Suggestions", "Every batch the campaign suggested, with the model behind it.")
        cols = [c for c in ("batch_id", "rank", "prediction", "std", "acquisition", "reason", "model",
                            "model_version", "created_at") if c in sug.columns]
        report.add_table(sug[cols], caption="Suggested experiments", max_rows=60)
    report.add_section("Settings", "Ledger: " + str(campaign.ledger.url))
    report.add_note(f"candidates: {status.n_candidates}; measured: {status.n_measured}; "
                    f"suggested: {status.n_suggested}")
    return report


def simulation_report(result, title: str, subtitle: str, direction: str = "max") -> Report:
    """Report of a simulated campaign (:class:`~matloop.design.simulate.BenchmarkResult`)."""
    report = Report(title, subtitle)
    report.add_section("What was found",
                       f"Pool of {result.n_pool} materials; the top {result.n_top} are the targets. Curves show "
                       "the share of top candidates found against the number of experiments, averaged over runs, "
                       "with analytic random sampling as the baseline (Liang et al. 2021).")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    n = max(len(c) for c in (result.mean_curve(k) for k in result.curves))
    for name in result.curves:
        curve = result.mean_curve(name)
        ax.plot(np.arange(1, len(curve) + 1), 100 * curve, label=name)
    ax.plot(np.arange(1, n + 1), 100 * result.random_curve(n), "k--", label="random (analytic)")
    ax.set_xlabel("experiments")
    ax.set_ylabel("top candidates found (%)")
    ax.legend(frameon=False)
    fig.tight_layout()
    summary = result.summary()
    best = summary.iloc[0]
    takeaway = (f"{best['strategy']} finds half of the top candidates after {best['evals_to_50pct']:.0f} experiments "
                f"(random sampling needs about {0.5 * result.n_pool:.0f})")
    report.add_figure(fig, takeaway)
    report.add_table(summary, caption="Figures of merit (AF: acceleration factor vs random; EF: enhancement)")
    return report
