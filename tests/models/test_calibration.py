"""RecalibratedRegressor: CV-residual recalibration makes over-confident std calibrated."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import BayesianRidge, Ridge

from matloop.evaluate.uncertainty_metrics import coverage, gaussian_nll, miscalibration_area
from matloop.models.calibration import RecalibratedRegressor, cv_predictions
from standins import BootstrapTrees


class Overconfident(RegressorMixin, BaseEstimator):
    """BayesianRidge whose std is divided by `factor`."""

    def __init__(self, factor=5.0):
        self.factor = factor

    def fit(self, X, y):
        self.model_ = BayesianRidge().fit(X, y)
        return self

    def predict(self, X, return_std=False):
        m, s = self.model_.predict(X, return_std=True)
        return (m, s / self.factor) if return_std else m


def _data(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1] + rng.normal(0, 0.2 + 0.2 * np.abs(X[:, 2]), n)
    return X, y


def test_scale_method_undoes_a_known_factor():
    rng = np.random.default_rng(0)
    X, Xt = rng.normal(size=(300, 3)), rng.normal(size=(2000, 3))
    y = X @ [1.0, 2.0, -1.0] + rng.normal(0, 0.5, 300)  # linear: BayesianRidge's std is right / 5
    yt = Xt @ [1.0, 2.0, -1.0] + rng.normal(0, 0.5, 2000)
    model = RecalibratedRegressor(Overconfident(5.0), method="scale").fit(X, y)
    assert model.scale_ == pytest.approx(5.0, rel=0.15)
    m, s = model.predict(Xt, return_std=True)
    assert coverage(yt, m, s) == pytest.approx(0.95, abs=0.02)
    assert np.array_equal(model.predict(Xt), m)


@pytest.mark.parametrize("method", ["scale", "linear", "isotonic"])
def test_recalibration_improves_tree_ensemble(method):
    X, y = _data(400, 3)
    Xt, yt = _data(2000, 4)
    raw = BootstrapTrees().fit(X, y)
    m0, s0 = raw.predict(Xt, return_std=True)
    model = RecalibratedRegressor(BootstrapTrees(), method=method, cv=5).fit(X, y)
    m, s = model.predict(Xt, return_std=True)
    np.testing.assert_allclose(m, m0)  # the mean is the refitted model's, unchanged
    assert miscalibration_area(yt, m, s) < 0.5 * miscalibration_area(yt, m0, s0)
    assert gaussian_nll(yt, m, s) < gaussian_nll(yt, m0, s0)
    assert 0.88 < coverage(yt, m, s) < 0.99
    assert np.all(s > 0)
    if method == "linear":
        assert model.scale_ > 0 and model.offset_ >= 0


def test_cv_predictions_are_out_of_fold_and_no_std_is_an_error():
    X, y = _data(60, 5)
    res = cv_predictions(BayesianRidge(), X, y, cv=4)
    assert set(np.unique(res["fold"])) == {0, 1, 2, 3} and np.all(res["std"] > 0)
    with pytest.raises(TypeError, match="return_std"):
        RecalibratedRegressor(Ridge()).fit(X, y)
    with pytest.raises(ValueError):
        RecalibratedRegressor(BayesianRidge(), method="magic").fit(X, y)
