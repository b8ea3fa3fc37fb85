"""Gradient-boosting ensembles: bootstrap and quantile uncertainty on generated data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.utils.estimator_checks import parametrize_with_checks

from matloop.models import GradientBoostingEnsembleRegressor

FAST = dict(max_iter=100, learning_rate=0.1)


def test_accuracy_and_calibrated_uncertainty_on_friedman(friedman, coverage):
    X, y, X_test, y_test = friedman
    model = GradientBoostingEnsembleRegressor(n_members=5, random_state=0, **FAST).fit(X, y)
    mean, std = model.predict(X_test, return_std=True)
    error = np.abs(y_test - mean)
    assert error.mean() < 0.5 * np.abs(y_test - y.mean()).mean()
    assert 0.85 <= coverage(y_test, mean, std) <= 0.995
    assert spearmanr(error, std)[0] > 0.1
    assert np.all(std > 0)


def test_bootstrap_members_and_out_of_bag_predictions(small_friedman):
    X, y, X_test, _ = small_friedman
    model = GradientBoostingEnsembleRegressor(n_members=4, random_state=0, **FAST).fit(X, y)
    assert len(model.estimators_) == 4 and model.n_iter_ == 100
    members = np.array([m.predict(X_test) for m in model.estimators_])
    mean, std = model.predict(X_test, return_std=True)
    np.testing.assert_allclose(mean, members.mean(axis=0))
    assert np.all(std**2 >= members.var(axis=0, ddof=1) - 1e-12)  # spread plus a noise term
    oob_error = np.nanmean(np.abs(model.oob_prediction_ - y))
    in_sample_error = np.abs(model.predict(X) - y).mean()
    assert oob_error > in_sample_error  # out-of-bag rows really were unseen


def test_quantile_regression_accuracy_and_calibration(small_friedman, coverage):
    X, y, X_test, y_test = small_friedman
    settings = dict(max_iter=60, learning_rate=0.1, random_state=0)
    raw = GradientBoostingEnsembleRegressor("quantile", calibrate=False, **settings).fit(X, y)
    calibrated = GradientBoostingEnsembleRegressor("quantile", **settings).fit(X, y)
    mean, std = calibrated.predict(X_test, return_std=True)
    assert np.abs(y_test - mean).mean() < 0.5 * np.abs(y_test - y.mean()).mean()
    assert 0.85 <= coverage(y_test, mean, std) <= 1.0
    _, raw_std = raw.predict(X_test, return_std=True)
    assert coverage(y_test, mean, raw_std) < coverage(y_test, mean, std)  # in-sample quantiles are too narrow
    assert raw.noise_scale_ == 0 and calibrated.noise_scale_ > 0
    np.testing.assert_array_equal(raw.predict(X_test), mean)


def test_deterministic_and_validated(small_friedman):
    X, y, X_test, _ = small_friedman
    a = GradientBoostingEnsembleRegressor(n_members=3, random_state=5, **FAST).fit(X, y).predict(X_test, True)
    b = GradientBoostingEnsembleRegressor(n_members=3, random_state=5, **FAST).fit(X, y).predict(X_test, True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="method"):
        GradientBoostingEnsembleRegressor("dropout").fit(X, y)
    with pytest.raises(ValueError, match="quantiles"):
        GradientBoostingEnsembleRegressor("quantile", quantiles=(0.8, 0.5, 0.2)).fit(X, y)


@parametrize_with_checks([
    GradientBoostingEnsembleRegressor(n_members=3, max_iter=20, random_state=0),
    GradientBoostingEnsembleRegressor("quantile", max_iter=10, learning_rate=0.3, random_state=0),
])
def test_scikit_learn_compatible(estimator, check):
    check(estimator)
