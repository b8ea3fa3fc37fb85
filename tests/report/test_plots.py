"""Every plot returns a Figure and a takeaway computed from the data; the periodic table is laid out properly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from matloop.evaluate.audit import SchemeComparison
from matloop.evaluate.interpret import PartialDependence, ShapResult
from matloop.io.elements import SYMBOLS
from matloop.report import plots
from matloop.report.periodic import ACTINIDE_ROW, LANTHANIDE_ROW, periodic_layout, periodic_position
from matloop.report.style import Plot, to_png

RNG = np.random.default_rng(0)
Y = RNG.normal(10, 2, 200)
PRED = Y + RNG.normal(0, 0.5, 200)
STD = np.full(200, 0.5)


def _comparison(loco_ratio: float) -> SchemeComparison:
    table = pd.DataFrame({"scheme": ["random", "loco"], "label": ["random k-fold", "leave-one-cluster-out"],
                          "n_splits": [5, 5], "n_test": [100, 100], "error": [1.0, loco_ratio],
                          "error_std": [0.1, 0.3], "ratio": [1.0, loco_ratio], "score": [0.9, 0.5],
                          "reference_error": [np.nan, np.nan]})
    warnings = [f"leave-one-cluster-out error is {loco_ratio:.1f}x the random-CV error"] if loco_ratio > 1.5 else []
    return SchemeComparison(table, "MAE", "random", warnings)


def _dependence() -> PartialDependence:
    grid = np.linspace(0, 1, 10)
    ice = np.vstack([grid * 2 + k for k in range(5)])
    return PartialDependence("x0", grid, ice.mean(axis=0), ice, np.arange(5), RNG.uniform(0, 1, 50))


def _shap() -> ShapResult:
    X = pd.DataFrame(RNG.normal(size=(40, 3)), columns=["a", "b", "c"])
    values = np.column_stack([2 * X["a"], 0.1 * X["b"], 0.01 * X["c"]])
    table = pd.DataFrame({"feature": ["a", "b", "c"], "mean_abs_shap": np.abs(values).mean(axis=0)})
    return ShapResult(values, 0.0, X, table, "tree")


CASES = {
    "target_histogram": lambda: plots.plot_target_histogram(Y, "gap", "eV"),
    "class_balance": lambda: plots.plot_class_balance(pd.Series({0: 90, 1: 10})),
    "periodic_table": lambda: plots.plot_periodic_table({"Fe": 30, "O": 50, "La": 3, "U": 1}, total=60),
    "map_target": lambda: plots.plot_map(RNG.normal(size=(200, 2)), Y, "target", "PCA", (0.4, 0.2), "gap", "eV"),
    "map_cluster": lambda: plots.plot_map(RNG.normal(size=(200, 2)), np.repeat([0, 1, 2, 3], 50), "cluster"),
    "map_density": lambda: plots.plot_map(RNG.normal(size=(200, 2)), RNG.uniform(0.01, 3, 200), "density"),
    "map_class": lambda: plots.plot_map(RNG.normal(size=(200, 2)), np.repeat(["metal", "insulator"], [180, 20]),
                                        "class", "UMAP", name="kind"),
    "missing": lambda: plots.plot_missing(pd.DataFrame({"column": ["a", "b", "c"], "n_missing": [0, 30, 4]}), 100),
    "cluster_sizes": lambda: plots.plot_cluster_sizes(pd.DataFrame({"cluster": [0, 1], "n": [150, 50],
                                                                    "target_mean": [1.0, 3.0]})),
    "density_error": lambda: plots.plot_density_error(pd.DataFrame({"bin": [0, 1, 2, 3], "mae": [4.0, 2, 1, 1]})),
    "parity": lambda: plots.plot_parity(Y, PRED, STD, "gap", "eV"),
    "residuals_vs_sigma": lambda: plots.plot_residuals_vs_sigma(Y, PRED, STD * RNG.uniform(0.5, 2, 200)),
    "calibration": lambda: plots.plot_calibration(Y, PRED, STD),
    "reliability": lambda: plots.plot_reliability((RNG.uniform(size=200) < np.linspace(0, 1, 200)).astype(int),
                                                  np.linspace(0, 1, 200)),
    "learning_curve": lambda: plots.plot_learning_curve(pd.DataFrame({
        "train_size": np.repeat([20, 40, 80, 160], 3), "mae": np.repeat([2.0, 1.4, 1.0, 0.8], 3)
        + RNG.normal(0, 0.02, 12)}), "mae", "eV"),
    "applicability_domain": lambda: plots.plot_applicability_domain(RNG.normal(size=(200, 2)),
                                                                    RNG.uniform(0, 2, 200), 1.5, np.abs(Y - PRED)),
    "cv_comparison": lambda: plots.plot_cv_comparison(_comparison(2.3), {"1-NN lookup": 1.2, "mean predictor": 3.0}),
    "importance": lambda: plots.plot_importance(pd.DataFrame({"feature": ["a", "b", "c"], "importance": [3, 1, 0.1],
                                                              "std": [0.2, 0.3, 0.1]}), groups=[["b", "c"]]),
    "shap_summary": lambda: plots.plot_shap_summary(_shap()),
    "partial_dependence": lambda: plots.plot_partial_dependence([_dependence(), _dependence()], "gap", "eV"),
    "best_so_far": lambda: plots.plot_best_so_far([1, 3, 2, 5, 4, 4], n_initial=2),
    "pareto_front": lambda: plots.plot_pareto_front(np.array([[1, 5], [2, 4], [3, 1], [1, 1]]),
                                                    np.array([True, True, True, False])),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_plot_returns_a_figure_and_a_takeaway(name):
    result = CASES[name]()
    assert isinstance(result, Plot)
    fig, takeaway = result
    assert isinstance(fig, Figure) and fig.axes
    assert isinstance(takeaway, str) and len(takeaway) > 20 and takeaway.endswith(".")
    assert to_png(fig, dpi=30)[:8] == b"\x89PNG\r\n\x1a\n"


def test_takeaways_state_what_the_data_say():
    assert "2.3x" in plots.plot_cv_comparison(_comparison(2.3)).takeaway
    assert "only 1.1x" in plots.plot_cv_comparison(_comparison(1.1)).takeaway
    over = plots.plot_calibration(Y, PRED, STD / 4).takeaway
    assert "over-confident" in over
    assert "well calibrated" in plots.plot_calibration(Y, PRED, STD).takeaway
    sure = plots.plot_reliability(np.r_[np.zeros(50), np.ones(50)], np.r_[np.full(50, 0.3), np.full(50, 0.7)])
    assert "under-confident" in sure.takeaway and "expected calibration error 0.300" in sure.takeaway
    assert "'a' matters most" in CASES["importance"]().takeaway
    assert "correlated group" in CASES["importance"]().takeaway
    assert "High values of 'a' raise the prediction" in plots.plot_shap_summary(_shap()).takeaway
    assert "rises by 2 eV" in CASES["partial_dependence"]().takeaway
    best = plots.plot_best_so_far([1, 3, 2, 5, 4, 4]).takeaway
    assert "Best objective 5 reached after 4 of 6 experiments; no improvement in the last 2" in best
    assert "3 of 4 points are Pareto-optimal" in CASES["pareto_front"]().takeaway
    assert "Majority class '0' has 90 rows" in CASES["class_balance"]().takeaway
    assert "minority class 'insulator' (10% of materials)" in CASES["map_class"]().takeaway
    missing = CASES["missing"]().takeaway
    assert missing.startswith("2 column(s) have missing values; 'b' lacks 30 of 100 (30%)") and "imputed" in missing
    skewed = plots.plot_target_histogram(np.exp(RNG.normal(size=300) * 1.5), "k").takeaway
    assert "skewed to the right" in skewed and "log target" in skewed


def test_best_so_far_accepts_tables_and_several_strategies():
    table = pd.DataFrame({"iteration": [3, 1, 2], "value": [0.5, 0.9, 0.1]})
    assert "Best objective 0.9 reached after 1 of 3" in plots.plot_best_so_far(table).takeaway
    runs = {"model": np.array([[1, 4, 6], [2, 5, 6]]), "random": np.array([[1, 2, 3], [0, 1, 2]])}
    text = plots.plot_best_so_far(runs).takeaway
    assert "model vs random: 6 vs 2.5" in text
    assert "Best objective 1 reached after 2 of 3" in plots.plot_best_so_far([3, 1, 2], direction="min").takeaway


def test_periodic_positions_are_unique_with_f_block_rows_below():
    layout = periodic_layout()
    assert len(layout) == 118 and not layout.duplicated(["row", "column"]).any()
    assert layout["column"].between(0, 17).all()
    lanthanides = layout[layout["z"].between(57, 71)]
    actinides = layout[layout["z"].between(89, 103)]
    assert (lanthanides["row"] == LANTHANIDE_ROW).all() and (actinides["row"] == ACTINIDE_ROW).all()
    assert lanthanides["column"].tolist() == list(range(2, 17)) == actinides["column"].tolist()
    main = layout[~layout["z"].between(57, 71) & ~layout["z"].between(89, 103)]
    assert main["row"].max() == 6 and ACTINIDE_ROW == LANTHANIDE_ROW + 1 > 7
    assert periodic_position(1) == (0, 0) and periodic_position(2) == (0, 17)
    assert periodic_position(26) == (3, 7)  # Fe: period 4, group 8
    assert periodic_position(72) == (5, 3) and periodic_position(104) == (6, 3)  # Hf, Rf: group 4
    assert periodic_position(79) == (5, 10)  # Au: group 11
    with pytest.raises(ValueError):
        periodic_position(119)


def test_periodic_table_draws_every_symbol_with_f_block_below_and_a_colour_bar():
    fig, _ = plots.plot_periodic_table({"Fe": 10, "La": 2, "Lu": 1, "Ac": 1})
    ax = fig.axes[0]
    symbol_y = {t.get_text(): t.get_position()[1] for t in ax.texts if t.get_text() in SYMBOLS[1:]}
    assert set(symbol_y) == set(SYMBOLS[1:])  # all 118 cells are labelled
    main_lowest = min(y for s, y in symbol_y.items() if s in ("Fr", "Ra", "Rf", "Og"))
    assert symbol_y["La"] == pytest.approx(symbol_y["Lu"])
    assert symbol_y["La"] < main_lowest
    assert symbol_y["Ac"] < symbol_y["La"]
    assert len(fig.axes) == 2  # the heat map and its colour bar
    with pytest.raises(ValueError, match="not element symbols"):
        plots.plot_periodic_table({"Xx": 1})
