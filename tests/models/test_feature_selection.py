import numpy as np
import pytest
from sklearn.datasets import make_friedman1
from sklearn.utils.estimator_checks import parametrize_with_checks

from matloop.models.automodel import AutoModel
from matloop.models.feature_selection import TopFeatures, rank_features
from matloop.models.forest import ExtraTreesRegressor
from matloop.models.persistence import load_model, save_model


def _sparse_problem(n=200, d=60, seed=0):
    """Friedman #1: 5 informative columns hidden among ``d - 5`` noise columns."""
    X, y = make_friedman1(n_samples=n, n_features=d, noise=0.5, random_state=seed)
    return X, y


def _forest():
    return ExtraTreesRegressor(n_estimators=60, max_features=1.0, random_state=0, noise="oob")


def test_ranking_puts_the_informative_columns_first():
    X, y = _sparse_problem()
    # x4 (the linear term) and x0, x1, x3 carry most of the signal; x2 enters squared around 0.5
    assert {0, 1, 3, 4} <= set(rank_features(X, y)[:6])


def test_selection_beats_the_same_forest_on_all_columns():
    X, y = _sparse_problem(n=700)
    train, test = slice(0, 200), slice(200, None)
    top = TopFeatures(_forest(), n_features=8).fit(X[train], y[train])
    full = _forest().fit(X[train], y[train])
    mae_top = np.mean(np.abs(top.predict(X[test]) - y[test]))
    mae_full = np.mean(np.abs(full.predict(X[test]) - y[test]))
    assert mae_top < 0.85 * mae_full
    mean, std = top.predict(X[test], return_std=True)
    assert np.allclose(mean, top.predict(X[test])) and np.all(std > 0)
    importance = top.feature_importances_
    assert importance.shape == (X.shape[1],) and np.count_nonzero(importance) <= 8
    assert set(np.flatnonzero(importance)) <= set(top.support_)


def test_more_features_than_columns_keeps_all_and_bad_counts_are_refused():
    X, y = _sparse_problem(n=80, d=6)
    assert sorted(TopFeatures(_forest(), n_features=50).fit(X, y).support_) == list(range(6))
    with pytest.raises(ValueError, match="n_features must be at least 1"):
        TopFeatures(_forest(), n_features=0).fit(X, y)
    with pytest.raises(ValueError, match="needs an estimator"):
        TopFeatures(n_features=3).fit(X, y)
    with pytest.raises(ValueError, match="6 features"):
        TopFeatures(_forest(), n_features=3).fit(X, y).predict(X[:, :5])


def test_automodel_scores_selected_forests_with_their_median_variant(tmp_path):
    X, y = _sparse_problem(n=160, d=40)
    cands = {"et_top8": TopFeatures(_forest(), n_features=8), "et": _forest()}
    model = AutoModel(candidates=cands, cv=3, cv_repeats=1, log_target=False).fit(X[:120], y[:120])
    assert {"et_top8", "et_top8_median", "et", "et_median"} <= set(model.cv_scores_)
    # the forest inside the wrapper answers the median point: it differs from the mean
    members = model.member_predictions(X[120:])
    assert not np.allclose(members["et_top8"], members["et_top8_median"])
    path = tmp_path / "auto.matloop"
    save_model(model, path)
    assert np.allclose(load_model(path).predict(X[120:]), model.predict(X[120:]))


def test_interval_comes_from_the_inner_forest():
    X, y = _sparse_problem(n=150, d=20)
    top = TopFeatures(_forest(), n_features=5).fit(X[:100], y[:100])
    lower, upper = top.predict_interval(X[100:], alpha=0.1)
    inner_lower, inner_upper = top.estimator_.predict_interval(X[100:, top.support_], alpha=0.1)
    assert np.allclose(lower, inner_lower) and np.allclose(upper, inner_upper) and np.all(upper > lower)


@parametrize_with_checks([TopFeatures(ExtraTreesRegressor(10, random_state=0), n_features=3)])
def test_scikit_learn_compatible(estimator, check):
    check(estimator)
