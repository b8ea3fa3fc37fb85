"""Interpretation: permutation importance, SHAP, PD/ICE and correlated-feature warnings with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor as SkForest
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

from matloop.evaluate import interpret
from matloop.evaluate.splitters import KFold


@pytest.fixture(scope="module")
def only_first():
    """Target depends on feature x0 only (plus a little noise)."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(150, 5)), columns=[f"x{j}" for j in range(5)])
    y = 3.0 * X["x0"] + 0.05 * rng.normal(size=150)
    return X, y.to_numpy()


def test_permutation_importance_ranks_the_only_relevant_feature_first(only_first):
    X, y = only_first
    imp = interpret.permutation_importance_cv(Ridge(), X, y, KFold(3), n_repeats=4, seed=1)
    table = imp.table.set_index("feature")
    assert imp.top(1) == ["x0"] and table.loc["x0", "rank"] == 1
    assert table.loc["x0", "importance"] > 2.0  # shuffling x0 costs about E|3 x0 - 3 x0'| ~ 3.4
    assert table.drop("x0")["importance"].abs().max() < 0.05
    assert (table["std"] >= 0).all()
    assert len(imp.raw) == 3 * 4 * 5 and imp.metric == "mae" and len(imp.baseline) == 3


def test_permutation_importance_reuses_fitted_fold_models_without_refitting(only_first):
    X, y = only_first
    splitter = KFold(3)
    models = [Ridge().fit(X.iloc[tr], y[tr]) for tr, _ in splitter.split(X, y)]
    reused = interpret.permutation_importance_cv(Ridge(), X, y, splitter, n_repeats=4, seed=1, models=models)
    refit = interpret.permutation_importance_cv(Ridge(), X, y, splitter, n_repeats=4, seed=1)
    pd.testing.assert_frame_equal(reused.table, refit.table)

    class NoFit(Ridge):
        def fit(self, X, y):
            raise AssertionError("refitted")

    unfit = interpret.permutation_importance_cv(NoFit(), X, y, splitter, n_repeats=4, seed=1, models=models)
    assert unfit.top(1) == ["x0"]
    with pytest.raises(ValueError, match="2 fitted models for 3 splits"):
        interpret.permutation_importance_cv(Ridge(), X, y, splitter, models=models[:2])
    res = interpret.explain(NoFit(), X, y, splitter, n_repeats=2, shap=False, models=models, fitted=models[0],
                            pd_rows=40)
    assert res.importance.top(1) == ["x0"] and res.dependence[0].n_rows == 40


def test_permutation_importance_for_classification_and_feature_subset():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(160, 4)), columns=list("abcd"))
    y = (X["c"] > 0).astype(int)
    imp = interpret.permutation_importance_cv(LogisticRegression(), X, y, task="classification", n_repeats=3,
                                              features=["a", "c"])
    assert imp.metric == "brier" and imp.top(2) == ["c", "a"]
    assert set(imp.raw["feature"]) == {"a", "c"}
    with pytest.raises(ValueError, match="unknown features"):
        interpret.permutation_importance_cv(Ridge(), X, y, features=["zz"])


def test_correlated_groups_find_duplicated_and_monotone_columns():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=200), rng.normal(size=200)
    X = pd.DataFrame({"a": a, "a_twice": 2 * a + 1e-3 * rng.normal(size=200), "exp_a": np.exp(a), "b": b,
                      "minus_b": -b, "c": rng.normal(size=200)})
    groups = interpret.correlated_feature_groups(X)
    assert [sorted(g) for g in groups] == [["a", "a_twice", "exp_a"], ["b", "minus_b"]]
    assert interpret.correlated_feature_groups(X, ["a", "b", "c"]) == []


def test_explain_warns_when_correlated_features_make_the_ranking_unstable(only_first):
    X, y = only_first
    Xd = X.assign(x0_copy=X["x0"] * 1.5 + 0.001)
    res = interpret.explain(Ridge(), Xd, y, KFold(3), top_k=3, n_dependence=2, n_repeats=2, shap=False)
    assert res.correlated_groups == [["x0", "x0_copy"]] or res.correlated_groups == [["x0_copy", "x0"]]
    assert len(res.warnings) == 1 and "{x0, x0_copy}" in res.warnings[0].replace("x0_copy, x0", "x0, x0_copy")
    clean = interpret.explain(Ridge(), X, y, KFold(3), top_k=3, n_dependence=1, n_repeats=2, shap=False)
    assert clean.warnings == [] and clean.correlated_groups == []
    assert [d.feature for d in clean.dependence] == ["x0"]


def _additivity(res, predictions):
    return float(np.max(np.abs(res.values.sum(axis=1) + res.base_value - predictions)))


def test_tree_shap_of_a_sklearn_forest_is_additive_and_ranks_x0_first(only_first):
    pytest.importorskip("shap")  # the explain extra
    X, y = only_first
    model = SkForest(n_estimators=20, random_state=0).fit(X, y)
    res = interpret.shap_values(model, X, max_rows=60)
    assert res.method == "tree" and res.values.shape == (60, 5)
    assert res.table["feature"].iloc[0] == "x0"
    assert _additivity(res, model.predict(res.X)) < 1e-6
    sub = interpret.shap_values(model, X, max_rows=30, max_trees=8)
    assert "first 8 of 20 trees" in sub.note and sub.table["feature"].iloc[0] == "x0"
    first8 = np.mean([t.predict(sub.X.to_numpy(np.float32)) for t in model.estimators_[:8]], axis=0)
    assert _additivity(sub, first8) < 1e-6  # explains exactly the sub-forest it says it explains


def test_tree_shap_of_a_matloop_forest_uses_its_inner_trees(only_first):
    pytest.importorskip("shap")  # the explain extra
    from matloop.models.forest import RandomForestRegressor

    X, y = only_first
    Xc = X.assign(const=1.0)  # a column the model's cleaner drops
    model = RandomForestRegressor(n_estimators=20, random_state=0, noise="none").fit(Xc, y)
    res = interpret.shap_values(model, Xc, max_rows=50)
    assert res.method == "tree" and "20 trees of RandomForestRegressor" in res.note
    assert res.table["feature"].iloc[0] == "x0"
    assert np.all(res.values[:, list(Xc.columns).index("const")] == 0)
    assert _additivity(res, model.predict(res.X)) < 1e-6
    sub = interpret.shap_values(model, Xc, max_rows=20, max_trees=5)
    assert "first 5 of 20 trees" in sub.note


def test_shap_falls_back_to_permutation_for_models_without_trees(only_first):
    X, y = only_first
    model = Ridge().fit(X, y)
    res = interpret.shap_values(model, X, y)
    assert res.method == "permutation" and res.values is None
    assert "SHAP skipped" in res.note and res.table["feature"].iloc[0] == "x0"
    assert interpret.shap_values(model, X).method == "none"


def test_partial_dependence_of_a_linear_model_has_its_slope(only_first):
    X, y = only_first
    model = LinearRegression().fit(X, y)
    (dep,) = interpret.partial_dependence(model, X, ["x0"], grid_resolution=11, n_ice=7)
    slope = np.diff(dep.average) / np.diff(dep.grid)
    assert slope == pytest.approx(np.full(10, model.coef_[0]), rel=1e-6)
    assert dep.ice.shape == (7, 11)
    assert np.allclose(np.ptp(dep.ice - dep.ice[:, :1], axis=0), 0)  # ICE curves of a linear model are parallel
    assert dep.effect == pytest.approx(model.coef_[0] * np.ptp(dep.grid))
    lo, hi = np.quantile(X["x0"], [0.05, 0.95])
    assert dep.grid[0] == pytest.approx(lo) and dep.grid[-1] == pytest.approx(hi)
