"""Random forest / extra trees with jackknife uncertainty: accuracy, calibration, exact formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.utils.estimator_checks import parametrize_with_checks

from matloop import InputError
from matloop.models import ExtraTreesRegressor, RandomForestRegressor
from matloop.models.forest import ij_variance, jackknife_variance


def brute_force_ij(counts: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """Wager et al. (2014) eq. 7, written with loops: sum_i Cov_b(N_bi - 1, t_b)^2 - n/B^2 sum_b (t_b - t)^2."""
    n_trees, n = counts.shape
    out = []
    for j in range(preds.shape[1]):
        t = preds[:, j]
        t_mean = sum(t) / n_trees
        total = 0.0
        for i in range(n):
            cov = sum((counts[b, i] - 1) * (t[b] - t_mean) for b in range(n_trees)) / n_trees
            total += cov**2
        spread = sum((t[b] - t_mean) ** 2 for b in range(n_trees))
        out.append(total - n / n_trees**2 * spread)
    return np.array(out)


def brute_force_jackknife(counts: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """Wager et al. (2014) eq. 6 with loops: (n-1)/n sum_i (mean of trees without i - mean)^2 - (e-1) n/B v."""
    n_trees, n = counts.shape
    out = []
    for j in range(preds.shape[1]):
        t = preds[:, j]
        t_mean = t.mean()
        total = 0.0
        for i in range(n):
            without_i = [t[b] for b in range(n_trees) if counts[b, i] == 0]
            if without_i:
                total += (np.mean(without_i) - t_mean) ** 2
        spread = np.mean([(t[b] - t_mean) ** 2 for b in range(n_trees)])
        out.append((n - 1) / n * total - (np.e - 1) * n / n_trees * spread)
    return np.array(out)


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(4)
    X = rng.uniform(size=(14, 3))
    y = X[:, 0] * 3 + np.sin(6 * X[:, 1]) + rng.normal(scale=0.1, size=14)
    X_new = rng.uniform(size=(6, 3))
    return X, y, X_new


@pytest.mark.parametrize("method", ["ij", "jackknife"])
def test_variance_matches_brute_force_on_tiny_forest(tiny, method):
    X, y, X_new = tiny
    model = RandomForestRegressor(25, uncertainty=method, noise="none", random_state=0).fit(X, y)
    preds = np.array([tree.predict(X_new.astype(np.float32)) for tree in model.estimators_])
    counts = model.inbag_counts_.astype(float)
    reference = brute_force_ij(counts, preds) if method == "ij" else brute_force_jackknife(counts, preds)
    vectorised = ij_variance(counts, preds) if method == "ij" else jackknife_variance(counts, preds)
    np.testing.assert_allclose(vectorised, reference, rtol=1e-10, atol=1e-12)
    _, std = model.predict(X_new, return_std=True)
    np.testing.assert_allclose(std**2 - model.noise_std_**2, np.maximum(reference, 0), rtol=1e-8, atol=1e-12)
    assert np.all(std > 0)


def test_variance_excluding_own_row_drops_exactly_that_term(tiny):
    X, y, _ = tiny
    model = RandomForestRegressor(25, noise="none", random_state=1).fit(X, y)
    preds = np.array([tree.predict(X.astype(np.float32)) for tree in model.estimators_])
    counts = model.inbag_counts_.astype(float)
    rows = np.arange(len(y))
    centred = counts - counts.mean(axis=0)
    own_cov = np.array([np.mean(centred[:, i] * (preds[:, i] - preds[:, i].mean())) for i in rows])
    np.testing.assert_allclose(ij_variance(counts, preds, exclude=rows), ij_variance(counts, preds) - own_cov**2)


def test_trees_are_grown_on_the_recorded_bootstrap(tiny):
    X, y, _ = tiny
    model = RandomForestRegressor(10, random_state=0).fit(X, y)
    counts = model.inbag_counts_
    assert counts.shape == (10, len(y)) and np.all(counts.sum(axis=1) == len(y))
    for tree, row in zip(model.estimators_, counts, strict=True):
        assert tree.tree_.weighted_n_node_samples[0] == len(y)  # total weight = n bootstrap draws
        assert tree.tree_.n_node_samples[0] == np.count_nonzero(row)  # distinct in-bag rows
    preds = np.array([tree.predict(X.astype(np.float32)) for tree in model.estimators_])
    oob = counts == 0
    i = int(np.argmax(oob.sum(axis=0)))
    assert model.oob_prediction_[i] == pytest.approx(preds[oob[:, i], i].mean())


@pytest.mark.parametrize("cls", [RandomForestRegressor, ExtraTreesRegressor])
def test_accuracy_and_calibrated_uncertainty_on_friedman(friedman, coverage, cls):
    X, y, X_test, y_test = friedman
    model = cls(200, random_state=0).fit(X, y)
    mean, std = model.predict(X_test, return_std=True)
    error = np.abs(y_test - mean)
    baseline = np.abs(y_test - y.mean()).mean()
    assert error.mean() < 0.6 * baseline
    assert 0.85 <= coverage(y_test, mean, std) <= 0.995
    assert spearmanr(error, std)[0] > 0.1
    assert np.all(std > 0)
    lower, upper = model.predict_interval(X_test, alpha=0.05)
    np.testing.assert_allclose(upper - lower, 2 * 1.959964 * std, rtol=1e-6)


@pytest.mark.parametrize("method", ["ij", "jackknife", "jab", "combined", "trees"])
def test_every_uncertainty_method_gives_positive_std(small_friedman, method):
    X, y, X_test, _ = small_friedman
    _, std = RandomForestRegressor(30, uncertainty=method, noise="oob", random_state=0).fit(X, y).predict(
        X_test, return_std=True)
    assert std.shape == (len(X_test),) and np.all(np.isfinite(std)) and np.all(std > 0)


def test_trees_spread_is_wider_than_jackknife(small_friedman):
    X, y, X_test, _ = small_friedman
    common = dict(n_estimators=60, noise="none", random_state=0)
    _, trees = RandomForestRegressor(uncertainty="trees", **common).fit(X, y).predict(X_test, return_std=True)
    _, ij = RandomForestRegressor(uncertainty="ij", **common).fit(X, y).predict(X_test, return_std=True)
    assert np.median(trees) > 1.5 * np.median(ij)


def test_deterministic_with_random_state_and_threads(small_friedman):
    X, y, X_test, _ = small_friedman
    a = RandomForestRegressor(20, random_state=7).fit(X, y).predict(X_test, return_std=True)
    b = RandomForestRegressor(20, random_state=7, n_jobs=2).fit(X, y).predict(X_test, return_std=True)
    c = RandomForestRegressor(20, random_state=8).fit(X, y).predict(X_test, return_std=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.allclose(a[0], c[0])


def test_missing_features_imputed_with_training_medians(small_friedman):
    X, y, X_test, _ = small_friedman
    rng = np.random.default_rng(0)
    X = X.copy()
    X[rng.uniform(size=X.shape) < 0.1] = np.nan
    X = np.column_stack([X, np.full(len(X), np.nan), np.full(len(X), 2.0)])  # all-missing, constant
    X_test = np.column_stack([X_test, np.zeros(len(X_test)), np.zeros(len(X_test))])
    model = RandomForestRegressor(30, random_state=0).fit(X, y)
    assert list(model.cleaner_.keep_) == list(range(8))
    assert model.feature_importances_[8:].tolist() == [0.0, 0.0]
    holes = X_test.copy()
    holes[:, 0] = np.nan
    filled = X_test.copy()
    filled[:, 0] = np.nanmedian(X[:, 0])
    np.testing.assert_array_equal(model.predict(holes, return_std=True)[1], model.predict(filled, return_std=True)[1])


def test_bad_input_lists_every_bad_cell():
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": ["1", "x", "3", "y"]})
    with pytest.raises(InputError) as info:
        RandomForestRegressor(5).fit(X, [1.0, 2.0, 3.0, 4.0])
    assert info.value.table["row"].tolist() == [2, 4] and set(info.value.table["column"]) == {"b"}
    X_inf = np.ones((4, 2))
    X_inf[2, 1] = np.inf
    with pytest.raises(InputError, match="infinite"):
        RandomForestRegressor(5).fit(X_inf, [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(InputError) as info:
        RandomForestRegressor(5).fit(np.ones((4, 2)), pd.Series([1.0, np.nan, 3.0, np.nan], name="gap"))
    assert info.value.table["row"].tolist() == [2, 4] and set(info.value.table["column"]) == {"gap"}
    with pytest.raises(ValueError, match="uncertainty"):
        RandomForestRegressor(5, uncertainty="bogus").fit(np.ones((10, 2)), np.arange(10.0))


# ExtraTreesRegressor shares every line with RandomForestRegressor but the tree class, so the checks
# run once (they take ~15 s per estimator on a shared core).
@parametrize_with_checks([RandomForestRegressor(10, random_state=0)])
def test_scikit_learn_compatible(estimator, check):
    check(estimator)


def test_median_point_is_the_median_of_the_trees_and_helps_near_a_mass_of_zeros():
    rng = np.random.default_rng(5)
    X = rng.uniform(size=(400, 3))
    y = np.where(X[:, 0] < 0.5, 0.0, 4 * X[:, 1] + rng.normal(0, 0.3, 400))  # half the targets exactly 0
    mean_model = ExtraTreesRegressor(80, random_state=0, noise="oob").fit(X[:300], y[:300])
    median_model = ExtraTreesRegressor(80, random_state=0, noise="oob", point="median").fit(X[:300], y[:300])
    Xc = mean_model.cleaner_._transform_array(X[300:])
    np.testing.assert_allclose(median_model.predict(X[300:]), np.median(median_model._tree_predictions(Xc), axis=0))
    np.testing.assert_allclose(mean_model.predict(X[300:], return_std=True)[1],
                               median_model.predict(X[300:], return_std=True)[1])
    err = {name: np.mean(np.abs(m.predict(X[300:]) - y[300:]))
           for name, m in {"mean": mean_model, "median": median_model}.items()}
    assert err["median"] < err["mean"]
    with pytest.raises(ValueError, match="point"):
        RandomForestRegressor(5, point="mode").fit(X, y)
