"""AutoModel's time budget and its handling of wide tables (behaviour, not timings)."""

import numpy as np
import pytest

from matloop.models import automodel
from matloop.models.automodel import AutoModel
from matloop.models.forest import RandomForestRegressor


def _linear(n=120, d=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, 3 * X[:, 0] + X[:, 1] + 0.1 * rng.normal(size=n)


def test_a_tiny_budget_runs_only_the_first_candidate_and_refits_only_members():
    X, y = _linear()
    cands = {"rf": RandomForestRegressor(n_estimators=20, random_state=0),
             "rf2": RandomForestRegressor(n_estimators=20, random_state=1)}
    model = AutoModel(candidates=cands, time_budget=1e-6, cv=3, cv_repeats=1, log_target=False).fit(X, y)
    assert list(model.cv_seconds_) == ["rf"]  # the second was skipped: its projection exceeds the budget
    assert set(model.estimators_) == {"rf"}
    assert set(model.member_predictions(X[:5]).columns) == {"rf", "rf_median"}
    assert model.fit_seconds_ > 0
    assert np.isfinite(model.predict(X[:5])).all()


def test_a_generous_budget_keeps_every_candidate():
    X, y = _linear()
    cands = {"rf": RandomForestRegressor(n_estimators=20, random_state=0),
             "rf2": RandomForestRegressor(n_estimators=20, random_state=1)}
    model = AutoModel(candidates=cands, time_budget=1e6, cv=3, cv_repeats=1, log_target=False).fit(X, y)
    assert set(model.estimators_) == {"rf", "rf2"}


def test_threads_do_not_change_predictions():
    X, y = _linear()
    kw = dict(candidates={"rf": RandomForestRegressor(n_estimators=30, random_state=0)}, cv=3, cv_repeats=1,
              log_target=False)
    one = AutoModel(n_jobs=1, **kw).fit(X, y).predict(X[:10], return_std=True)
    two = AutoModel(n_jobs=2, **kw).fit(X, y).predict(X[:10], return_std=True)
    np.testing.assert_allclose(one[0], two[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(one[1], two[1], rtol=0, atol=1e-12)


def test_max_features_keeps_the_most_important_columns():
    X, y = _linear(d=30)
    model = AutoModel(candidates={"rf": RandomForestRegressor(n_estimators=20, random_state=0)}, cv=3,
                      cv_repeats=1, log_target=False, max_features=4).fit(X, y)
    assert model.selected_features_.size == 4
    assert {0, 1} <= set(model.selected_features_.tolist())


@pytest.mark.parametrize("plan_cost, expect_cap", [(1e9, True), (0.0, False)])
def test_a_wide_table_is_capped_only_when_its_plan_would_not_fit(monkeypatch, plan_cost, expect_cap):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, automodel.WIDE_FEATURES + 60))
    y = 2 * X[:, 0] - X[:, 3] + 0.1 * rng.normal(size=80)
    monkeypatch.setattr(automodel, "PLAN_COST", plan_cost)
    model = AutoModel(candidates={"rf": RandomForestRegressor(n_estimators=10, random_state=0)}, cv=2,
                      cv_repeats=1, log_target=False, time_budget=60).fit(X, y)
    n = model.selected_features_.size
    if expect_cap:
        assert n == automodel.MIN_WIDE_FEATURES
        assert {0, 3} <= set(model.selected_features_.tolist())
    else:
        assert n > automodel.WIDE_FEATURES


def test_a_short_budget_drops_the_repeated_shuffle_of_the_first_candidate():
    X, y = _linear()
    model = AutoModel(candidates={"rf": RandomForestRegressor(n_estimators=20, random_state=0)}, cv=3,
                      cv_repeats=2, log_target=False, time_budget=1e-6).fit(X, y)
    assert model.cv_repeats_ == 1
    assert model.oof_prediction_.shape == (len(y),)
    roomy = AutoModel(candidates={"rf": RandomForestRegressor(n_estimators=20, random_state=0)}, cv=3,
                      cv_repeats=2, log_target=False, time_budget=1e6).fit(X, y)
    assert roomy.cv_repeats_ == 2
