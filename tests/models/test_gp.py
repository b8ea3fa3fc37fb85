"""Gaussian process: accuracy, calibrated noise, growth of the std away from the data, reduction."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_friedman1
from sklearn.utils.estimator_checks import parametrize_with_checks

from matloop.models import GaussianProcessRegressor


@pytest.fixture(scope="module")
def fitted(small_friedman):
    X, y, _, _ = small_friedman
    return GaussianProcessRegressor(n_restarts=0, random_state=0).fit(X, y)


def test_accurate_and_calibrated_in_distribution(fitted, small_friedman, coverage):
    _, y, X_test, y_test = small_friedman
    mean, std = fitted.predict(X_test, return_std=True)
    baseline = np.abs(y_test - y.mean()).mean()
    assert np.abs(y_test - mean).mean() < 0.3 * baseline
    assert 0.85 <= coverage(y_test, mean, std) <= 1.0
    learned_noise = fitted.gp_.kernel_.k2.noise_level * fitted.gp_._y_train_std**2
    assert 0.1 < learned_noise < 1.0  # true noise variance 0.25, in target units


def test_std_grows_far_outside_the_training_range(fitted, small_friedman):
    _, _, X_test, _ = small_friedman
    far = X_test.copy()
    far[:, :5] += 3.0  # informative features three ranges beyond the data
    _, std_in = fitted.predict(X_test, return_std=True)
    _, std_far = fitted.predict(far, return_std=True)
    assert np.median(std_far) > 3 * np.median(std_in)


@pytest.mark.parametrize(("selection", "at_least"), [("importance", 4), ("mutual_info", 3)])
def test_feature_selection_keeps_informative_features(selection, at_least):
    X, y = make_friedman1(n_samples=150, n_features=40, noise=0.3, random_state=2)
    model = GaussianProcessRegressor(n_features=8, feature_selection=selection, n_restarts=0, random_state=0)
    model.fit(X, y)
    assert len(model.selected_features_) == 8
    assert len({0, 1, 2, 3, 4} & set(model.selected_features_.tolist())) >= at_least  # of 5 informative
    assert model.gp_.kernel_.k1.k2.length_scale.shape == (8,)


def test_pca_reduction_and_all_features():
    X, y = make_friedman1(n_samples=80, n_features=30, noise=0.3, random_state=3)
    pca = GaussianProcessRegressor(n_features=6, feature_selection="pca", n_restarts=0, random_state=0).fit(X, y)
    assert pca.selected_features_ is None and pca.pca_.n_components_ == 6
    assert np.isfinite(pca.predict(X[:5])).all()
    full = GaussianProcessRegressor(n_features=6, feature_selection=None, n_restarts=0, random_state=0).fit(X[:, :8], y)
    assert full.gp_.kernel_.k1.k2.length_scale.shape == (8,)


def test_large_training_sets_are_subsampled_with_a_warning():
    X, y = make_friedman1(n_samples=90, n_features=5, noise=0.3, random_state=4)
    with pytest.warns(UserWarning, match="max_train=50"):
        model = GaussianProcessRegressor(max_train=50, n_restarts=0, random_state=0).fit(X, y)
    assert model.n_train_used_ == 50 and model.gp_.X_train_.shape[0] == 50
    again = GaussianProcessRegressor(max_train=50, n_restarts=0, random_state=0)
    with pytest.warns(UserWarning):
        again.fit(X, y)
    np.testing.assert_array_equal(model.predict(X, return_std=True)[1], again.predict(X, return_std=True)[1])


def test_missing_values_are_imputed(small_friedman):
    X, y, X_test, _ = small_friedman
    X = X.copy()
    X[::7, 2] = np.nan
    X_test = X_test.copy()
    X_test[:10, 0] = np.nan
    mean, std = GaussianProcessRegressor(n_restarts=0, random_state=0).fit(X, y).predict(X_test, return_std=True)
    assert np.isfinite(mean).all() and (std > 0).all()


# Skipped for time only (an exact ARD GP on their 200-row, 10-feature problems takes ~5 s per fit on a
# shared CI core): fitting and scoring on regression data is covered by the accuracy tests above.
SLOW_CHECKS = {"check_regressors_train", "check_regressor_data_not_an_array"}


@parametrize_with_checks([GaussianProcessRegressor(n_restarts=0, random_state=0)])
def test_scikit_learn_compatible(estimator, check):
    if getattr(check, "func", check).__name__ in SLOW_CHECKS:
        pytest.skip("slow for an exact GP; behaviour covered by test_accurate_and_calibrated_in_distribution")
    check(estimator)
