import numpy as np
import pytest
from scipy.optimize import approx_fprime

from matloop.design.surrogate import WarmStartGP, make_surrogate
from matloop.models.preprocessing import fit_cleaner


def _smooth(n, seed=0, d=3):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, d))
    return X, np.sin(1.5 * X[:, 0]) + 0.5 * X[:, 1] ** 2 + 0.05 * rng.standard_normal(n)


def test_marginal_likelihood_gradient_matches_finite_differences():
    X, y = _smooth(30)
    gp = WarmStartGP().fit(X, y)
    _, Z = fit_cleaner(X, scale=True)
    t = (y - y.mean()) / y.std()
    theta = gp.theta_ + 0.2
    analytic = gp._objective(theta, Z, t)[1]
    numeric = approx_fprime(theta, lambda th: gp._objective(th, Z, t)[0], 1e-6)
    assert np.allclose(analytic, numeric, rtol=1e-3, atol=1e-4)


def test_learns_a_smooth_function_with_honest_uncertainty():
    X, y = _smooth(80)
    Xt, yt = _smooth(300, seed=1)
    gp = WarmStartGP().fit(X, y)
    mean, std = gp.predict(Xt, return_std=True)
    rmse = np.sqrt(np.mean((mean - yt) ** 2))
    assert rmse < 0.25 * yt.std()
    assert 0.5 < np.sqrt(np.mean(((mean - yt) / std) ** 2)) < 2.5  # z-scores of the right size
    # the irrelevant third feature gets a longer length scale than the two that matter
    lengths = np.exp(gp.theta_[:3])
    assert lengths[2] > 3 * max(lengths[0], lengths[1])
    far = gp.predict(np.array([[8.0, 8.0, 0.0]]), return_std=True)[1]
    assert far[0] > 3 * np.median(std)


def test_warm_start_keeps_hyperparameters_until_the_data_grew():
    X, y = _smooth(60)
    gp = WarmStartGP(warm_start=True).fit(X[:40], y[:40])
    theta = gp.theta_.copy()
    gp.fit(X[:43], y[:43])  # +7.5%: same hyper-parameters, new data in the posterior
    assert np.array_equal(gp.theta_, theta) and gp.n_optimized_ == 40
    assert len(gp.alpha_) == 43
    gp.fit(X[:50], y[:50])  # +25%: re-optimised
    assert gp.n_optimized_ == 50 and not np.array_equal(gp.theta_, theta)
    gp.fit(X[:10], y[:10])  # a new campaign: re-optimised too
    assert gp.n_optimized_ == 10
    cold = WarmStartGP().fit(X[:43], y[:43])
    assert cold.n_optimized_ == 43


def test_make_surrogate_names_and_errors():
    assert isinstance(make_surrogate("fastgp"), WarmStartGP)
    with pytest.raises(ValueError, match="unknown surrogate"):
        make_surrogate("nope")


def test_forest_gp_blend_predicts_and_widens_where_members_disagree():
    from matloop.design.surrogate import ForestGPBlend

    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 30))
    y = X[:, 0] + np.sin(2 * X[:, 1]) + 0.05 * rng.standard_normal(80)
    blend = ForestGPBlend(max_gp_features=5, random_state=0).fit(X[:60], y[:60])
    assert set(blend.gp_features_) >= {0, 1} and len(blend.gp_features_) == 5
    mean, std = blend.predict(X[60:], return_std=True)
    assert np.corrcoef(mean, y[60:])[0, 1] > 0.8
    m_f, s_f = blend.forest_.predict(X[60:], return_std=True)
    m_g, s_g = blend.gp_.predict(X[60:][:, blend.gp_features_], return_std=True)
    assert np.allclose(mean, (m_f + m_g) / 2)
    assert np.all(std >= np.minimum(s_f, s_g) - 1e-12) and np.all(std**2 >= (m_f - m_g) ** 2 / 4 - 1e-12)


def test_forest_gp_blend_keeps_gp_features_between_reoptimisations():
    from matloop.design.surrogate import ForestGPBlend

    X, y = _smooth(70, d=25)
    blend = ForestGPBlend(max_gp_features=4, random_state=0).fit(X[:50], y[:50])
    features, gp = blend.gp_features_.copy(), blend.gp_
    blend.fit(X[:53], y[:53])
    assert blend.gp_ is gp and np.array_equal(blend.gp_features_, features) and gp.n_optimized_ == 50
    blend.fit(X[:70], y[:70])
    assert blend.gp_.n_optimized_ == 70


def test_warm_start_gp_optimises_on_a_bounded_subset_and_fits_on_every_row(monkeypatch):
    rng = np.random.default_rng(3)
    X = rng.uniform(size=(240, 3))
    y = np.sin(4 * X[:, 0]) + X[:, 1]
    seen = []
    objective = WarmStartGP._objective

    def spy(self, theta, Z, t):
        seen.append(len(Z))
        return objective(self, theta, Z, t)

    monkeypatch.setattr(WarmStartGP, "_objective", spy)
    gp = WarmStartGP(max_optimize_rows=60).fit(X, y)
    assert seen and max(seen) == 60
    assert gp.Z_.shape[0] == 240  # the final fit uses every row
    mean = gp.predict(X[:20])
    assert np.mean(np.abs(mean - y[:20])) < 0.2
    again = WarmStartGP(max_optimize_rows=60).fit(X, y)
    np.testing.assert_array_equal(gp.theta_, again.theta_)  # the subset is fixed
