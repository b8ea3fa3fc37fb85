"""build_report: model resolution, the time-budget planner, fold-model reuse and subsampling that the report admits to."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import KNeighborsRegressor

from matloop.errors import InputError
from matloop.io import Dataset
from matloop.report import build
from matloop.report.plan import LC_FOLDS, LC_FRACTIONS, Budget


def test_planner_picks_the_largest_affordable_row_count():
    budget = Budget(seconds=100.0, start=0.0)
    budget.c, budget.g = 0.01, 1.0  # 1 s per 100 rows
    cost = lambda m: 10 * budget.fit_time(m)  # noqa: E731 - ten fits
    assert budget.rows_for(50.0, cost, n=10_000) == pytest.approx(500, abs=50)
    assert budget.rows_for(50.0, cost, n=300) == 300  # everything fits
    assert budget.rows_for(0.0, cost, n=10_000, minimum=80) == 80  # never below the minimum


def test_planner_measures_how_fit_time_grows():
    class Quadratic:
        def get_params(self, deep=True):
            return {}

        def fit(self, X, y):
            import time

            time.sleep(len(X) ** 2 * 8e-7)  # 0.02 s at 150 rows, 0.29 s at 600
            return self

        def predict(self, X, return_std=False):
            return (np.zeros(len(X)), np.ones(len(X))) if return_std else np.zeros(len(X))

    X = pd.DataFrame({"a": np.arange(1000.0)})
    budget = Budget(60.0, 0.0)
    budget.probe(Quadratic(), X, np.zeros(1000), np.arange(1000), "regression")
    assert 1.6 < budget.g <= 2.2


def test_plan_reserves_time_for_umap_and_interpretation_before_the_cross_validations():
    import time

    def budget(seconds: float) -> Budget:
        b = Budget(seconds=seconds, start=time.perf_counter())
        b.c, b.g, b.predict_row = 2e-4, 1.5, 1e-5  # 1.1 s per fit at 4,000 rows
        return b

    warm = budget(120.0).plan(5000, 5, "regression", umap=True, umap_cached=True, interpret=True, learning_curve=True)
    cold = budget(120.0).plan(5000, 5, "regression", umap=True, umap_cached=False, interpret=True,
                              learning_curve=True)
    bare = budget(120.0).plan(5000, 5, "regression", umap=False, umap_cached=False, interpret=False,
                              learning_curve=True)
    assert warm.n_umap == 5000 and 50 <= warm.perm_rows <= 300
    assert bare.n_main > warm.n_main > cold.n_main > 60  # what UMAP and interpretation need is set aside
    b = budget(120.0)
    assert b.cv_cost(warm.n_main, 5, "regression", True) <= 120.0 - warm.umap_seconds
    tight = budget(40.0).plan(5000, 5, "regression", umap=True, umap_cached=False, interpret=True,
                              learning_curve=True)
    assert tight.n_umap == 1000 and 60 <= tight.n_main < cold.n_main  # a tight budget maps a subsample


def test_resolve_model_names_and_estimators():
    est, desc, feat = build.resolve_model(None, fit_budget=4.0)  # the default is 'matloop fit's: auto
    assert desc.startswith("auto (AutoModel, the default of 'matloop fit'") and "4.0 s per fit" in desc
    assert type(est).__name__ == "AutoModel" and est.time_budget == 4.0 and feat is None
    knn = KNeighborsRegressor(3)
    assert build.resolve_model(knn) == (knn, "KNeighborsRegressor", None)
    _, desc, _ = build.resolve_model("rf", task="classification")
    assert desc.startswith("rf (CalibratedForestClassifier(n_estimators=200")
    with pytest.raises(InputError, match="unknown regression model 'xgb'"):
        build.resolve_model("xgb")


def test_tight_budget_subsamples_and_the_report_says_so():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    frame = pd.DataFrame(X, columns=["temperature", "time", "ratio"]).assign(y=X[:, 0] + 0.1 * rng.normal(size=400))
    ds = Dataset(frame=frame, input=None, kind="parameters", targets=["y"], name="process")
    report = build.build_report(ds, model=KNeighborsRegressor(5), umap=False, interpret=False, learning_curve=False,
                                time_budget=0.05)
    html = report.to_html()
    match = re.search(r"use a random subsample of (\d+) of 400 rows to stay within the 0.05 s time budget", html)
    assert match and 60 <= int(match.group(1)) < 400
    parity = next(t for name, _, t in report.figures if name == "parity")
    assert parity.endswith(f"cross-validated on a random {match.group(1)} of 400 rows.")
    assert "parameter columns as features" in html and "KNeighborsRegressor" in html


def test_classification_report_has_balance_and_reliability():
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3))
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(good=(X[:, 0] + 0.3 * rng.normal(size=120) > 0.5))
    ds = Dataset(frame=frame, input=None, kind="parameters", targets=["good"], task="classification")
    report = build.build_report(ds, model=RandomForestClassifier(20, random_state=0), umap=False,
                                learning_curve=False)
    names = [name for name, _, _ in report.figures]
    assert names[0] == "class-balance" and "reliability" in names and "parity" not in names
    assert "pca-by-class" in names and "permutation-importance" in names
    assert ("shap-summary" in names) == (importlib.util.find_spec("shap") is not None)  # the explain extra
    importance = dict((n, t) for n, _, t in report.figures)["permutation-importance"]
    assert importance.startswith("'a' matters most")  # the class is decided by feature a
    assert "extrapolation" not in " ".join(names)  # no extrapolation split for classes
    html = report.to_html()
    assert "Random-CV ROC-AUC" in html and "1 - balanced accuracy" in html


def test_reports_need_enough_labelled_rows():
    frame = pd.DataFrame({"a": np.arange(10.0), "y": np.arange(10.0)})
    with pytest.raises(InputError, match="at least 20"):
        build.build_report(Dataset(frame=frame, input=None, kind="parameters", targets=["y"]))


class CountingRidge:
    """A ridge regression with a standard deviation that counts its fits (class-wide)."""

    fits: list[int] = []

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def get_params(self, deep=True):
        return {"alpha": self.alpha}

    def set_params(self, **params):
        self.alpha = params.get("alpha", self.alpha)
        return self

    def fit(self, X, y):
        from sklearn.linear_model import Ridge

        CountingRidge.fits.append(len(X))
        self.model_ = Ridge(self.alpha).fit(X, y)
        self.sigma_ = float(np.std(y - self.model_.predict(X))) + 1e-9
        return self

    def predict(self, X, return_std=False):
        mean = self.model_.predict(X)
        return (mean, np.full(len(mean), self.sigma_)) if return_std else mean


def test_every_fit_is_a_cross_validation_fit_and_the_folds_are_reused():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4))
    frame = pd.DataFrame(X, columns=list("abcd")).assign(y=2 * X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=300))
    ds = Dataset(frame=frame, input=None, kind="parameters", targets=["y"], name="fits")
    CountingRidge.fits = []
    report = build.build_report(ds, model=CountingRidge(), umap=False, time_budget=600)
    sizes = CountingRidge.fits
    k, n_lc = 5, len(LC_FRACTIONS)
    # 2 probes + random CV (k) + LOCO (k) + extrapolation (1) + small learning-curve fits; none for interpretation
    assert len(sizes) == 2 + k + k + 1 + LC_FOLDS * n_lc
    assert sizes.count(240) == k  # the random CV's folds (4/5 of 300 rows), not refitted elsewhere
    lc = sorted(sizes[-LC_FOLDS * n_lc:])
    assert lc == sorted([int(f * 240) for f in LC_FRACTIONS] * LC_FOLDS)
    assert set(report.timings) >= {"featurize", "coverage", "probe fits", "cv random", "cv loco", "cv extrapolation",
                                   "learning curve", "interpretation", "figures", "total"}
    assert all(v >= 0 for v in report.timings.values())
    html = report.to_html()
    assert "seconds per stage" in html and "no feature value was missing" in html
    assert "permutation importance uses the 5 fold models" in html
    names = [name for name, _, _ in report.figures]
    assert names.index("pca-by-target") < names.index("pca-by-cluster") < names.index("cv-schemes")
    assert "learning-curve" in names and "partial-dependence" in names


def test_leave_one_cluster_out_holds_out_the_clusters_of_the_map():
    rng = np.random.default_rng(4)
    centres = rng.normal(scale=8, size=(5, 3))
    X = np.vstack([c + rng.normal(scale=0.3, size=(30, 3)) for c in centres])
    offsets = np.repeat([0.0, 40.0, -30.0, 70.0, 15.0], 30)  # each family its own level: not learnable across
    frame = pd.DataFrame(X, columns=list("abc")).assign(y=offsets + 0.1 * X[:, 0])
    ds = Dataset(frame=frame, input=None, kind="parameters", targets=["y"])
    report = build.build_report(ds, model=KNeighborsRegressor(3), umap=False, interpret=False, learning_curve=False,
                                time_budget=600)
    sizes = next(t for name, _, t in report.figures if name == "cluster-sizes")
    assert "Cluster sizes range from 30 to 30 materials" in sizes
    pytest.importorskip("lxml")  # pandas.read_html's parser
    table = pd.read_html(__import__("io").StringIO(report.to_html()), match="Pooled error per scheme")[0]
    loco = table.set_index("label").loc["leave-one-cluster-out"]
    assert loco["n_splits"] == 5 and loco["n_test"] == 150 and float(loco["ratio"]) > 5


def test_feature_note_counts_imputed_values_and_dropped_columns():
    raw = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": [1.0, 1.0, 1.0, 1.0], "c": [0.0, 1.0, np.inf, 2.0]})
    from matloop.evaluate.audit import clean_features

    note = build._feature_note(raw, clean_features(raw))
    assert note.startswith("3 features; 2 feature values (16.7%) in 2 columns were missing")
    assert "1 constant feature(s) were dropped" in note
