"""The HTML report of a campaign: progress, what was measured, what the model expects next."""

from __future__ import annotations

import numpy as np

from matloop.report.html import Report
from matloop.report.sections import add_interpretation_section, add_progress_section, add_provenance_section
from matloop.report.style import new_figure


def campaign_report(campaign, interpret: bool = True) -> Report:
    """A self-contained report of a :class:`~matloop.design.campaign.Campaign`: status, progress of
    the best value against experiments, what the model learned (importance on the measured data),
    every suggestion with the model behind it, and the settings."""
    status = campaign.status()
    cfg = campaign.config
    report = Report(f"Campaign {status.name}", f"goal: {status.goal} {status.target}")
    report.add_section("Status", str(status))
    hist = campaign.history()
    direction = "min" if cfg["direction"] == "min" else "max"
    if len(hist):
        add_progress_section(report, hist["value"].to_numpy(dtype=float), direction=direction, name=status.target)
        report.add_table(hist[["experiment", "value", "best_so_far", "recorded_at", "recorded_by", "source"]],
                         caption="Every measurement in recording order")
    table = campaign.table()
    measured = table[status.target].notna().to_numpy()
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


def _learned(report: Report, campaign, table, measured, target: str) -> None:
    """'What the model learned': permutation importance of a forest on the measured rows."""
    from matloop.design.surrogate import featurize
    from matloop.evaluate.interpret import explain
    from matloop.evaluate.splitters import KFold
    from matloop.models.forest import RandomForestRegressor

    data_cols = [c for c in table.columns if c not in ("candidate_id", "key", "source", "n_measurements")]
    frame = table.loc[measured, data_cols].reset_index(drop=True)
    X = featurize(campaign._dataset(frame), frame)
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
    takeaway = (f"{best['strategy']} finds half of the top candidates after {best['evals_to_50pct']:.0f} experiments "
                f"(random sampling needs about {0.5 * result.n_pool:.0f})")
    report.add_figure(fig, takeaway)
    report.add_table(summary, caption="Figures of merit (AF: acceleration factor vs random; EF: enhancement)")
    return report
