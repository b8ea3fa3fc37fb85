"""Learning curves: fixed test folds, nested subsets, error falling with size, power-law fit."""

import numpy as np
import pandas as pd
import pytest
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsRegressor

from matloop import InputError
from matloop.evaluate.learning_curve import (
    fit_power_law,
    learning_curve,
    size_for_score,
    summarize_learning_curve,
)
from matloop.evaluate.splitters import KFold


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    return X, np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + rng.normal(0, 0.05, n)


def test_error_falls_with_training_size():
    X, y = _data()
    curve = learning_curve(KNeighborsRegressor(5), X, y, sizes=[20, 60, 0.5, 1.0], splitter=KFold(3),
                           repeats=2, seed=0)
    sizes = sorted(curve["train_size"].unique())
    assert sizes == [20, 60, 100, 200]
    # full-fold size is fitted once per fold; the others once per repeat
    assert len(curve) == 3 * 2 * 3 + 3
    summary = summarize_learning_curve(curve, "mae")
    assert list(summary["count"]) == [6, 6, 6, 3]
    assert summary["mean"].is_monotonic_decreasing
    assert summary["mean"].iloc[-1] < 0.6 * summary["mean"].iloc[0]
    assert {"fold", "repeat", "n_test", "fit_seconds", "rmse", "r2"} <= set(curve.columns)
    assert (curve["n_test"] == 100).all()  # fixed test folds of the 3-fold split


def test_same_seed_same_curve_and_bad_sizes():
    X, y = _data(90)
    a = learning_curve(KNeighborsRegressor(3), X, y, sizes=[10, 30], repeats=2)
    b = learning_curve(KNeighborsRegressor(3), X, y, sizes=[10, 30], repeats=2)
    pd.testing.assert_series_equal(a["mae"], b["mae"])
    with pytest.raises(InputError):
        learning_curve(KNeighborsRegressor(3), X, y, sizes=[1000])


def test_classification_subsets_keep_both_classes():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] > 1.0).astype(int)  # about 16 % positives
    curve = learning_curve(GaussianNB(), X, y, sizes=[12, 40], task="classification", repeats=3)
    assert curve["roc_auc"].notna().all() and curve["roc_auc"].mean() > 0.9


def test_power_law_recovers_parameters():
    n = np.array([25, 50, 100, 200, 400, 800])
    curve = pd.DataFrame({"train_size": n, "mae": 3.0 * n**-0.5 + 0.1})
    p = fit_power_law(curve)
    assert p["a"] == pytest.approx(3.0, rel=1e-3) and p["b"] == pytest.approx(0.5, rel=1e-3)
    assert p["c"] == pytest.approx(0.1, abs=1e-3)
    assert size_for_score(p, 0.2) == pytest.approx(900, rel=0.01)
    assert size_for_score(p, 0.05) == np.inf  # below the error floor
