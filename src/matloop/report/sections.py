"""Reusable report sections: each adds one titled section with its figures, tables and warnings.

:func:`matloop.report.build.build_report` calls them in the order a reviewer reads (data overview,
coverage and bias, validation, model diagnostics, interpretation, provenance); other reports
(``campaign report``) call the ones they need, e.g. :func:`add_progress_section`,
:func:`add_pareto_section` and :func:`add_interpretation_section` ("what the model learned").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from matloop.report import plots
from matloop.report.html import Report
from matloop.report.style import Plot, fmt

__all__ = [
    "add_coverage_section",
    "add_diagnostics_section",
    "add_interpretation_section",
    "add_overview_section",
    "add_pareto_section",
    "add_progress_section",
    "add_provenance_section",
    "add_validation_section",
]


def _warn_all(report: Report, warnings: Sequence[str]) -> None:
    for w in warnings:
        report.add_warning(w)


def _sampled(plot: Plot, text: str | None) -> Plot:
    """The plot with ``text`` (how many rows it shows, when subsampled) appended to its takeaway."""
    return Plot(plot.figure, f"{plot.takeaway.rstrip('.')}; {text}.") if text else plot


def _cv_rows(n: int, n_total: int | None) -> str | None:
    return f"cross-validated on a random {n:,} of {n_total:,} rows" if n_total and n < n_total else None


def add_overview_section(report: Report, overview: object, unit: str = "", feature_note: str = "",
                         title: str = "Data overview") -> None:
    """Data overview (:class:`matloop.evaluate.audit.DatasetOverview`): target or class balance, elements on
    a periodic table, repeated and conflicting measurements, missing values; ``feature_note`` says what
    cleaning the features did (imputed values, dropped constant columns)."""
    name = overview.target or "target"
    report.add_section(title, f"{overview.n_rows} rows, {overview.n_labelled} with a measured '{name}' ({overview.task}).")
    _warn_all(report, overview.warnings)
    if overview.task == "classification" and overview.class_counts is not None:
        report.add_figure(plots.plot_class_balance(overview.class_counts, name), name="class_balance")
    elif len(overview.target_stats) > 1:
        report.add_figure(plots.plot_target_histogram(overview.target_values, name, unit), name="target_histogram")
    if overview.element_counts is not None and len(overview.element_counts):
        report.add_figure(plots.plot_periodic_table(overview.element_counts, total=overview.n_rows),
                          name="element_frequency",
                          caption="Number of materials containing each element. Lanthanides and actinides are on "
                                  "the two rows below the main table.")
    if overview.arity_counts is not None and len(overview.arity_counts):
        arity = ", ".join(f"{int(n)} with {int(k)} element{'s' if k != 1 else ''}" for k, n in
                          overview.arity_counts.items())
        report.add_note(f"Elements per material: {arity}.")
    if len(overview.conflicts):
        report.add_table(overview.conflicts, "Repeated materials whose measurements disagree", max_rows=15)
    elif len(overview.duplicates):
        report.add_note(f"{overview.duplicates['group'].nunique()} material(s) appear more than once with the same "
                        "target.")
    else:
        report.add_note("No material appears twice.")
    missing = overview.missing[overview.missing["n_missing"] > 0]
    if len(missing):
        report.add_figure(plots.plot_missing(overview.missing, overview.n_rows), name="missing_values")
    else:
        report.add_note("No missing values in the table.")
    if feature_note:
        report.add_note(f"Features: {feature_note}")


def add_coverage_section(report: Report, cov: object, name: str = "target", unit: str = "",
                         abs_error: np.ndarray | None = None, error_rows: np.ndarray | None = None) -> None:
    """Coverage and bias (:class:`matloop.report.coverage.CoverageResult`): PCA and UMAP maps by target and by
    cluster, cluster sizes, point density and the CV error per density bin (``abs_error`` of the rows
    ``error_rows`` of the map, all rows by default)."""
    from matloop.report.coverage import density_error_table

    emb = cov.embedding
    n = len(emb)
    report.add_section("Coverage and bias", "Where in feature space the data lie: 2-D maps of the standardised "
                                            "features, k-means clusters (the groups held out by leave-one-cluster-out"
                                            " CV) and the local density of materials.")
    _warn_all(report, cov.warnings)
    maps = [("PCA", emb[["pc1", "pc2"]].to_numpy(), cov.explained_variance, None)]
    if "umap1" in emb and cov.umap_rows:
        on = emb["umap1"].notna().to_numpy()
        text = f"UMAP of a random {cov.umap_rows:,} of {n:,} materials" if cov.umap_rows < n else None
        maps.append(("UMAP", emb[["umap1", "umap2"]].to_numpy(), None, (on, text)))
    for method, coords, explained, sample in maps:
        on, text = sample if sample else (np.ones(n, dtype=bool), None)
        tag = method.lower()
        if "target" in emb and np.issubdtype(emb["target"].dtype, np.number):
            report.add_figure(_sampled(plots.plot_map(coords[on], emb["target"][on], "target", method, explained, name,
                                                      unit), text), name=f"{tag}_by_target")
        elif "class" in emb:
            report.add_figure(_sampled(plots.plot_map(coords[on], emb["class"][on], "class", method, explained, name),
                                       text), name=f"{tag}_by_class")
        report.add_figure(_sampled(plots.plot_map(coords[on], emb["cluster"][on], "cluster", method, explained),
                                   text), name=f"{tag}_by_cluster")
    report.add_figure(plots.plot_cluster_sizes(cov.cluster_sizes, name), name="cluster_sizes")
    dens = emb[["umap1", "umap2"]] if cov.density_map == "UMAP" else emb[["pc1", "pc2"]]
    report.add_figure(plots.plot_map(dens.to_numpy(), emb["density"], "density", cov.density_map), name="density_map",
                      caption="Density follows De Breuck, Evans & Rignanese (2021): a Gaussian kernel density in the "
                              "2-D map, relative to the median material.")
    rows = np.arange(n) if error_rows is None else np.asarray(error_rows)
    if abs_error is not None and len(abs_error) == len(rows):
        table = density_error_table(emb["density"].to_numpy()[rows], abs_error)
        report.add_figure(_sampled(plots.plot_density_error(table, unit), _cv_rows(len(rows), n)),
                          name="error_vs_density")
    for note in cov.notes:
        report.add_note(note)


def add_validation_section(report: Report, comparison: object, memo: object | None = None, unit: str = "",
                           n_total: int | None = None) -> None:
    """Random vs LOCO vs extrapolation CV (:class:`~matloop.evaluate.audit.SchemeComparison`) and the
    1-NN memorisation baseline (:class:`~matloop.evaluate.audit.MemorisationBaseline`); ``n_total``: rows
    in the dataset, when the CVs ran on a subsample."""
    report.add_section("Validation: random vs cluster vs extrapolation",
                       "The same model scored with splits of increasing difficulty. A random split tests "
                       "interpolation among similar materials; leave-one-cluster-out tests new families; the "
                       "extrapolation split trains on the lower 90% of the target and tests on the top 10%.")
    _warn_all(report, comparison.warnings)
    baselines = None
    if memo is not None:
        key = "mae" if memo.metric == "mae" else "balanced_accuracy"
        conv = (lambda m: m[key]) if key == "mae" else (lambda m: 1 - m[key])
        baselines = {"1-NN lookup": conv(memo.nearest_neighbour), "mean predictor": conv(memo.dummy)}
    n_cv = int(comparison.results["random"].n_samples) if "random" in comparison.results else None
    report.add_figure(_sampled(plots.plot_cv_comparison(comparison, baselines, unit),
                               _cv_rows(n_cv, n_total) if n_cv else None), name="cv_schemes")
    shown = comparison.table.drop(columns=["scheme"]).rename(columns={"error": comparison.metric})
    report.add_table(shown.dropna(axis=1, how="all"), "Pooled error per scheme; ratio = error / random-CV error; "
                     "reference_error = random-CV error on the same test rows")
    if memo is not None:
        from matloop.report.skill import is_percent_share_warning, memorisation_sentence, skill_warnings

        task = "regression" if memo.metric == "mae" else "classification"
        _warn_all(report, [w for w in memo.warnings if not is_percent_share_warning(w)])
        if memo.model is not None:
            _warn_all(report, skill_warnings(task, memo.model, memo, unit))
            report.add_text(memorisation_sentence(task, memo.model, memo, unit), heading="Memorisation baseline")
        else:
            report.add_text("1-nearest-neighbour lookup error: "
                            f"{fmt(baselines['1-NN lookup'], unit)}; mean predictor: "
                            f"{fmt(baselines['mean predictor'], unit)}.", heading="Memorisation baseline")


def add_diagnostics_section(report: Report, cv_result: object, name: str = "target", unit: str = "",
                            curve: pd.DataFrame | None = None, ad: Mapping | None = None,
                            n_total: int | None = None) -> None:
    """Parity, calibration, residuals vs sigma (regression), learning curve and applicability domain.

    ``cv_result`` is a :class:`matloop.evaluate.CVResult`; ``curve`` a learning-curve table; ``ad`` a
    mapping with ``coords``, ``scores``, ``threshold`` and optionally ``abs_error`` and ``method``;
    ``n_total`` the rows of the dataset when the CV ran on a subsample (said in every takeaway).
    """
    report.add_section("Model diagnostics", f"Out-of-fold predictions of {cv_result.splitter}.")
    oof = cv_result.oof()
    sample = _cv_rows(int(cv_result.n_samples), n_total)
    if cv_result.task == "regression":
        std = oof["std"] if "std" in oof and oof["std"].notna().all() else None
        report.add_figure(_sampled(plots.plot_parity(oof["y_true"], oof["prediction"], std, name, unit), sample),
                          name="parity")
        if std is not None:
            report.add_figure(_sampled(plots.plot_calibration(oof["y_true"], oof["prediction"], std), sample),
                              name="calibration")
            report.add_figure(_sampled(plots.plot_residuals_vs_sigma(oof["y_true"], oof["prediction"], std, unit),
                                       sample), name="residuals_vs_sigma")
        else:
            report.add_note("The model gives no standard deviation: calibration and residual-vs-sigma plots are "
                            "skipped.")
    else:
        pooled = cv_result.pooled
        report.add_text(f"ROC-AUC {pooled['roc_auc']:.3f}, balanced accuracy {pooled['balanced_accuracy']:.3f}, "
                        f"F1 {pooled['f1']:.3f} (pooled out-of-fold).")
        preds = cv_result.predictions
        classes = sorted(pd.unique(preds["y_true"]), key=str)
        if len(classes) == 2:
            positive = (preds["y_true"] == classes[1]).astype(float)
            report.add_figure(_sampled(plots.plot_reliability(positive, preds["probability"]), sample),
                              name="reliability", caption=f"Positive class: {classes[1]!r}.")
    if curve is not None and len(curve):
        metric = "mae" if cv_result.task == "regression" else "balanced_accuracy"
        report.add_figure(_sampled(plots.plot_learning_curve(curve, metric, unit if metric == "mae" else ""), sample),
                          name="learning_curve",
                          caption="Small training sets are drawn from the first CV folds and tested on their held-out "
                                  "rows; the largest size is the cross-validation itself.")
    if ad is not None:
        report.add_figure(_sampled(plots.plot_applicability_domain(ad["coords"], ad["scores"], ad["threshold"],
                                                                   ad.get("abs_error"), ad.get("method", "PCA"), unit),
                                   sample),
                          name="applicability_domain",
                          caption="Distances are measured in the full standardised feature space (each material "
                                  "against the other CV folds); the 2-D map only places the points.")


def add_interpretation_section(report: Report, interp: object, name: str = "target", unit: str = "",
                               title: str = "Interpretation: what the model learned",
                               n_total: int | None = None) -> None:
    """Permutation importance, SHAP, PD/ICE (:class:`matloop.evaluate.interpret.Interpretation`); every
    takeaway says how many materials (of ``n_total``) it rests on."""
    report.add_section(title, "Which features drive the predictions. Permutation importance is measured on held-out "
                              "rows of each CV fold (error bars: spread over folds and repeats).")
    _warn_all(report, interp.warnings)
    imp = interp.importance
    metric = "MAE" if imp.metric == "mae" else "Brier score"
    raw = imp.raw
    scored = f"{raw['fold'].nunique()} CV folds x {raw['repeat'].nunique()} shuffles" if len(raw) else None
    report.add_figure(_sampled(plots.plot_importance(imp.table, groups=interp.correlated_groups, metric=metric,
                                                     unit=unit if metric == "MAE" else ""), scored),
                      name="permutation_importance")
    total = f" of {n_total:,}" if n_total else ""
    if interp.shap is not None and interp.shap.values is not None:
        rows = f"SHAP values of {len(interp.shap.X):,} random materials{total}"
        report.add_figure(_sampled(plots.plot_shap_summary(interp.shap), rows), name="shap_summary",
                          caption=interp.shap.note)
    if interp.dependence:
        dep = interp.dependence[0]
        rows = f"average over {dep.n_rows:,} random materials{total}; {len(dep.ice)} ICE curves" if dep.n_rows else None
        report.add_figure(_sampled(plots.plot_partial_dependence(interp.dependence, name, unit), rows),
                          name="partial_dependence",
                          caption="Thick line: partial dependence (average prediction); thin lines: individual "
                                  "conditional expectation (ICE) curves of sampled materials, centred to start at "
                                  "the average so that differences in shape stand out.")
    for note in interp.notes:
        report.add_note(note)


def add_progress_section(report: Report, history: object, direction: str = "max", name: str = "objective",
                         unit: str = "", n_initial: int | None = None, title: str = "Progress") -> None:
    """Best value so far vs experiments (see :func:`matloop.report.plots.plot_best_so_far`)."""
    report.add_section(title)
    report.add_figure(plots.plot_best_so_far(history, direction, name, unit, n_initial), name="best_so_far")


def add_pareto_section(report: Report, Y: np.ndarray, mask: np.ndarray, names: Sequence[str] = ("objective 1",
                       "objective 2"), maximize: Sequence[bool] = (True, True), title: str = "Pareto front") -> None:
    """Two objectives with their Pareto front (see :func:`matloop.report.plots.plot_pareto_front`)."""
    report.add_section(title)
    report.add_figure(plots.plot_pareto_front(Y, mask, names, maximize), name="pareto_front")


def add_provenance_section(report: Report, settings: Mapping[str, object], notes: Sequence[str] = ()) -> None:
    """Settings, versions, timings and everything subsampled or skipped, for reproducibility."""
    report.add_section("Provenance and settings")
    for note in notes:
        report.add_note(note)
    report.add_settings(dict(settings))
