"""Deep ensemble: accuracy, calibrated Gaussian heads, reproducibility, NumPy-only prediction."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.utils.estimator_checks import parametrize_with_checks

from matloop.models import NeuralEnsembleRegressor

torch = pytest.importorskip("torch")

FAST = dict(n_members=3, hidden_layer_sizes=(32, 32), max_epochs=100, patience=15, n_threads=1)


@pytest.fixture(scope="module")
def fitted(friedman):
    X, y, _, _ = friedman
    return NeuralEnsembleRegressor(random_state=0, **FAST).fit(X, y)


def test_accuracy_and_calibrated_uncertainty_on_friedman(fitted, friedman, coverage):
    _, y, X_test, y_test = friedman
    mean, std = fitted.predict(X_test, return_std=True)
    error = np.abs(y_test - mean)
    assert error.mean() < 0.5 * np.abs(y_test - y.mean()).mean()
    assert 0.8 <= coverage(y_test, mean, std) <= 1.0
    assert spearmanr(error, std)[0] > 0.1
    assert all(epochs < FAST["max_epochs"] for epochs in fitted.n_epochs_)  # early stopping happened


def test_numpy_forward_pass_matches_torch(fitted, friedman):
    _, _, X_test, _ = friedman
    Xs = fitted.cleaner_.transform(X_test.to_numpy())
    coefs, intercepts = fitted.coefs_[0], fitted.intercepts_[0]
    layers = []
    for W, b in zip(coefs, intercepts, strict=True):
        linear = torch.nn.Linear(*W.shape).double()
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(W.T))
            linear.bias.copy_(torch.as_tensor(b))
        layers += [linear, torch.nn.SiLU()]
    net = torch.nn.Sequential(*layers[:-1])
    with torch.no_grad():
        out = net(torch.as_tensor(Xs)).numpy()
    means, variances = fitted._member_outputs(Xs)
    np.testing.assert_allclose(means[0], out[:, 0], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(variances[0], torch.nn.functional.softplus(torch.as_tensor(out[:, 1])).numpy() + 1e-6)
    mean, std = fitted.predict(X_test, return_std=True)
    mixture_var = (variances + means**2).mean(axis=0) - means.mean(axis=0) ** 2
    np.testing.assert_allclose(std**2, mixture_var * fitted.y_scale_**2, rtol=1e-10)


def test_reproducible_and_leaves_torch_state_alone(small_friedman):
    X, y, X_test, _ = small_friedman
    torch.set_num_threads(2)
    rng_state = torch.get_rng_state()
    settings = dict(FAST, max_epochs=30)
    a = NeuralEnsembleRegressor(random_state=3, **settings).fit(X, y).predict(X_test, return_std=True)
    b = NeuralEnsembleRegressor(random_state=3, **settings).fit(X, y).predict(X_test, return_std=True)
    c = NeuralEnsembleRegressor(random_state=4, **settings).fit(X, y).predict(X_test)
    assert torch.get_num_threads() == 2
    assert torch.equal(torch.get_rng_state(), rng_state)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.allclose(a[0], c)


def test_tiny_data_trains_without_validation_split():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(8, 2))
    y = X.sum(axis=1)
    model = NeuralEnsembleRegressor(n_members=2, max_epochs=20, n_threads=1, random_state=0).fit(X, y)
    assert model.n_epochs_ == [20, 20]
    mean, std = model.predict(X, return_std=True)
    assert np.isfinite(mean).all() and (std > 0).all()


@parametrize_with_checks([NeuralEnsembleRegressor(2, max_epochs=20, n_threads=1, random_state=0)])
def test_scikit_learn_compatible(estimator, check):
    check(estimator)
