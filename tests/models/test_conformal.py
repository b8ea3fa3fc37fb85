"""ConformalRegressor: empirical coverage on generated data, adaptivity, edge cases."""

import numpy as np
import pytest
from sklearn.linear_model import BayesianRidge
from sklearn.neighbors import KNeighborsRegressor

from matloop.models.conformal import ConformalRegressor
from standins import BootstrapTrees as _BootstrapTrees


def BootstrapTrees():  # noqa: N802 - the smaller ensemble these tests were written for
    return _BootstrapTrees(n_trees=15, max_depth=5)


def _data(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    noise = 0.1 + 0.4 * (X[:, 1] > 0)  # heteroscedastic
    return X, np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + rng.normal(size=n) * noise


@pytest.fixture(scope="module")
def test_set():
    return _data(2000, 99)


@pytest.mark.parametrize(
    "estimator, method",
    [(BootstrapTrees(), "cv+"), (BootstrapTrees(), "split"), (KNeighborsRegressor(10), "cv+"),
     (BayesianRidge(), "jackknife+")],
)
def test_coverage_at_least_nominal(estimator, method, test_set):
    n = 150 if method == "jackknife+" else 400
    X, y = _data(n, 0)
    Xt, yt = test_set
    model = ConformalRegressor(estimator, method=method, alpha=0.05).fit(X, y)
    lo, hi = model.predict_interval(Xt)
    covered = np.mean((yt >= lo) & (yt <= hi))
    assert covered >= 0.92
    assert np.all(np.isfinite(lo)) and np.all(hi > lo)
    marginal = np.quantile(yt, 0.975) - np.quantile(yt, 0.025)  # a 95 % interval that ignores X
    assert np.mean(hi - lo) < 0.8 * marginal
    # a looser alpha gives narrower intervals with lower (but still valid) coverage
    lo8, hi8 = model.predict_interval(Xt, alpha=0.2)
    cov8 = np.mean((yt >= lo8) & (yt <= hi8))
    assert 0.74 <= cov8 < covered and np.mean(hi8 - lo8) < np.mean(hi - lo)
    assert model.guaranteed_coverage() <= 0.95
    assert model.normalized_ == (not isinstance(estimator, KNeighborsRegressor))


def test_normalized_intervals_adapt_to_the_model_std(test_set):
    X, y = _data(400, 1)
    Xt, yt = test_set
    model = ConformalRegressor(BootstrapTrees(), method="cv+").fit(X, y)
    flat = ConformalRegressor(BootstrapTrees(), method="cv+", normalized=False).fit(X, y)
    w, wf = np.subtract(*model.predict_interval(Xt)[::-1]), np.subtract(*flat.predict_interval(Xt)[::-1])
    noisy = Xt[:, 1] > 0
    assert np.std(w) > 3 * np.std(wf)  # width varies point to point only when normalised
    assert w[noisy].mean() > w[~noisy].mean()
    mean, std = model.predict(Xt, return_std=True)
    assert mean.shape == std.shape == (2000,)
    assert np.mean(np.abs(mean - yt)) < 0.5


def test_too_few_rows_give_infinite_bounds_and_bad_params():
    X, y = _data(10, 2)
    model = ConformalRegressor(BayesianRidge(), method="cv+", cv=5).fit(X, y)
    lo, hi = model.predict_interval(X[:3])
    assert np.all(np.isinf(hi)) and np.all(np.isinf(lo))  # ceil(0.95 * 11) = 11 > 10 rows
    assert np.all(np.isfinite(model.predict_interval(X[:3], alpha=0.3)[1]))
    with pytest.raises(ValueError):
        model.predict_interval(X, alpha=1.5)
    with pytest.raises(ValueError):
        ConformalRegressor(BayesianRidge(), method="magic").fit(X, y)
    with pytest.raises(TypeError):
        ConformalRegressor(KNeighborsRegressor(3), method="split").fit(X, y).predict(X, return_std=True)
