"""build_report: model resolution, the time-budget planner, and subsampling that the report admits to."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import KNeighborsRegressor

from matloop.errors import InputError
from matloop.io import Dataset
from matloop.report import build


def test_planner_picks_the_largest_affordable_row_count():
    budget = build._Budget(seconds=100.0, start=0.0)
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

            time.sleep(len(X) ** 2 * 5e-7)  # 0.02 s at 200 rows, 0.32 s at 800
            return self

        def predict(self, X, return_std=False):
            return (np.zeros(len(X)), np.ones(len(X))) if return_std else np.zeros(len(X))

    X = pd.DataFrame({"a": np.arange(1000.0)})
    budget = build._Budget(60.0, 0.0)
    budget.probe(Quadratic(), X, np.zeros(1000), np.arange(1000), "regression")
    assert 1.6 < budget.g <= 2.2


def test_resolve_model_names_and_estimators():
    est, desc, feat = build.resolve_model(None)
    assert desc.startswith("RandomForestRegressor(n_estimators=100") and feat is None
    assert hasattr(est, "fit") and hasattr(est, "predict")
    knn = KNeighborsRegressor(3)
    assert build.resolve_model(knn) == (knn, "KNeighborsRegressor", None)
    _, desc, _ = build.resolve_model("rf", task="classification")
    assert desc.startswith("CalibratedForestClassifier(n_estimators=200")
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
    assert "parameter columns as features" in html and "KNeighborsRegressor" in html


def test_classification_report_has_balance_and_reliability():
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3))
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(good=(X[:, 0] + 0.3 * rng.normal(size=120) > 0.5))
    ds = Dataset(frame=frame, input=None, kind="parameters", targets=["good"], task="classification")
    report = build.build_report(ds, model=RandomForestClassifier(20, random_state=0), umap=False, interpret=False,
                                learning_curve=False)
    names = [name for name, _, _ in report.figures]
    assert names[0] == "class-balance" and "reliability" in names and "parity" not in names
    assert "extrapolation" not in " ".join(names)  # no extrapolation split for classes
    html = report.to_html()
    assert "Random-CV ROC-AUC" in html and "1 - balanced accuracy" in html


def test_reports_need_enough_labelled_rows():
    frame = pd.DataFrame({"a": np.arange(10.0), "y": np.arange(10.0)})
    with pytest.raises(InputError, match="at least 20"):
        build.build_report(Dataset(frame=frame, input=None, kind="parameters", targets=["y"]))
