"""Log-scale models of positive, skewed targets."""

import numpy as np
import pytest

from matloop import InputError
from matloop.models import ExtraTreesRegressor
from matloop.models.target_transform import LogTargetRegressor, suits_log_target


def _lognormal(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, 3))
    return X, np.exp(2.5 * X[:, 0] + rng.normal(0, 0.8, n))


def test_log_target_wins_on_exfoliation_energies_and_intervals_are_positive_and_cover():
    """Matbench jdft2d (right-skewed, positive): the log-scale model has the smaller MAE."""
    from matloop.datasets import load
    from matloop.represent.registry import get_featurizer

    ds = load("matbench_jdft2d")
    X = get_featurizer("magpie").transform(ds.X).to_numpy(dtype=float)
    y = ds.y.to_numpy(dtype=float)
    train, test = ds.folds != 0, ds.folds == 0
    raw = ExtraTreesRegressor(50, random_state=0, noise="oob").fit(X[train], y[train])
    logged = LogTargetRegressor(ExtraTreesRegressor(50, random_state=0, noise="oob")).fit(X[train], y[train])
    assert np.mean(np.abs(logged.predict(X[test]) - y[test])) < 0.95 * np.mean(np.abs(raw.predict(X[test]) - y[test]))
    lower, upper = logged.predict_interval(X[test], alpha=0.1)
    assert np.all(lower > 0) and np.all(upper > lower)
    assert 0.8 <= np.mean((y[test] >= lower) & (y[test] <= upper)) <= 1.0
    mean, std = logged.predict(X[test], return_std=True)
    assert np.all(std > 0) and np.corrcoef(np.log(mean), np.log(std))[0, 1] > 0.5  # errors grow with the value


def test_non_positive_target_is_refused_with_the_row():
    X, y = _lognormal(20)
    y[4] = 0.0
    with pytest.raises(InputError) as err:
        LogTargetRegressor(ExtraTreesRegressor(10)).fit(X, y)
    assert err.value.table.iloc[0]["row"] == 5


def test_suits_log_target():
    _, y = _lognormal()
    assert suits_log_target(y)
    assert not suits_log_target(np.abs(np.random.default_rng(0).normal(size=100)) - 0.1)  # not positive
    assert not suits_log_target(np.linspace(1, 2, 50))  # positive but symmetric
