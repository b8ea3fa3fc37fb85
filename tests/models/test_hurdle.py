"""HurdleRegressor / HurdleDistribution: P(zero) calibrated, the mixture's median as the point, a
consistent distribution (quantiles, CDF with the atom, intervals, log score) that stays on or above
zero; AutoModel offers the hurdle only for targets with many exact zeros, and it saves and loads."""

import numpy as np
import pytest

from matloop.evaluate.uncertainty_metrics import distribution_metrics
from matloop.models.automodel import AutoModel
from matloop.models.forest import ExtraTreesRegressor
from matloop.models.hurdle import HurdleDistribution, HurdleRegressor, suits_hurdle


def _gaps(n: int, seed: int, zero_cut: float = 0.0):
    """Band-gap-like data: a row is a "metal" (y exactly 0) when a noisy linear score is below
    ``zero_cut`` (about half the rows for 0), else a skewed positive gap that depends on other features."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    metal = X[:, 0] + 0.4 * rng.normal(size=n) < zero_cut
    gap = np.exp(0.6 * X[:, 1] + 0.3 * X[:, 2]) * (0.5 + 0.5 * rng.random(n))
    return X, np.where(metal, 0.0, gap)


def _small_hurdle(**kw) -> HurdleRegressor:
    return HurdleRegressor(regressor=ExtraTreesRegressor(n_estimators=60, max_features=0.5, noise="oob",
                                                         point="median", random_state=0), **kw)


@pytest.fixture(scope="module")
def fitted():
    X, y = _gaps(1600, 0)
    model = _small_hurdle().fit(X[:800], y[:800])
    return model, X[800:], y[800:]


def test_probability_of_zero_is_calibrated_and_decides_the_point(fitted):
    model, Xt, yt = fitted
    p = model.predict_proba_zero(Xt)
    zero = yt == 0
    assert 0.35 < zero.mean() < 0.65
    assert abs(p.mean() - zero.mean()) < 0.05  # calibrated on held-out folds: right on average ...
    for lo, hi in ((0.0, 0.2), (0.8, 1.0)):  # ... and where it is confident
        sel = (p >= lo) & (p <= hi)
        assert sel.sum() > 50 and abs(zero[sel].mean() - p[sel].mean()) < 0.1
    point = model.predict(Xt)
    assert np.all(point >= 0)
    assert np.array_equal(point == 0, p >= 0.5)  # the mixture's median is 0 exactly where P(0) >= 1/2


def test_gate_point_is_zero_or_the_regressors_own_prediction(fitted):
    model, Xt, _ = fitted
    model.set_params(point="gate")
    try:
        gate, std = model.predict(Xt, return_std=True)
    finally:
        model.set_params(point="mixture")
    p = model.predict_proba_zero(Xt)
    own = model.regressor_.predict(Xt)
    assert np.array_equal(gate == 0, p >= 0.5)
    assert np.allclose(gate[p < 0.5], own[p < 0.5])
    assert np.allclose(std, model.predict(Xt, return_std=True)[1])  # the same mixture, another point
    # the mixture's median sits at or below the non-zero part's own median: it moves uncertain rows
    # towards the atom, the more the larger P(0)
    dist = model.predict_distribution(Xt)
    alone = HurdleDistribution(np.zeros(len(p)), dist.positive).median()
    assert np.all(dist.median() <= alone + 1e-12) and np.any(dist.median()[p < 0.5] < alone[p < 0.5] - 1e-3)
    with pytest.raises(ValueError, match="point"):
        _small_hurdle(point="mean").fit(Xt[:50], np.abs(Xt[:50, 0]))


def test_point_beats_a_single_forest_on_the_same_rows(fitted):
    model, Xt, yt = fitted
    X, y = _gaps(1600, 0)
    forest = ExtraTreesRegressor(n_estimators=60, max_features=0.5, noise="oob", point="median",
                                 random_state=0).fit(X[:800], y[:800])
    hurdle_mae = np.mean(np.abs(model.predict(Xt) - yt))
    forest_mae = np.mean(np.abs(forest.predict(Xt) - yt))
    assert hurdle_mae < 0.95 * forest_mae
    # the gain is on the non-zero rows: its regressor learns the gaps without the metals mixed in
    gap = yt > 0
    assert np.mean(np.abs(model.predict(Xt[gap]) - yt[gap])) < np.mean(np.abs(forest.predict(Xt[gap]) - yt[gap]))


def test_distribution_is_calibrated_with_an_atom_and_intervals_on_or_above_zero(fitted):
    model, Xt, yt = fitted
    dist = model.predict_distribution(Xt)
    assert isinstance(dist, HurdleDistribution) and len(dist) == len(yt)
    mean, std = model.predict(Xt, return_std=True)
    assert np.all(std >= 0) and np.allclose(mean, dist.median())
    m = distribution_metrics(yt, mean, dist, std)
    assert m["miscalibration_area"] < 0.05
    assert 0.93 <= m["coverage_95"] <= 0.99
    assert np.isfinite(m["nll"])
    lower, upper = dist.interval(0.95)
    assert lower.min() >= 0 and np.all(upper >= lower)
    p = dist.prob_at_lower()
    assert np.all(lower[p > 0.025] == 0)  # the atom is inside the interval wherever it is large enough
    # the CDF jumps by P(0) at 0, is 0 below it and reaches 1
    left, right = dist.cdf_limits(np.zeros(len(yt)))
    assert np.allclose(left, 0) and np.allclose(right, p)
    assert np.allclose(dist.cdf_limits(np.full(len(yt), -1.0))[1], 0)
    assert np.all(dist.cdf_limits(np.full(len(yt), 1e6))[0] > 0.999)
    # quantiles invert the CDF: F(Q(u)) >= u >= F(just below Q(u)), and are non-decreasing in u
    levels = np.array([0.05, 0.3, 0.5, 0.7, 0.95])
    q = dist.ppf(levels)
    assert np.all(np.diff(q, axis=1) >= -1e-12)
    for j, u in enumerate(levels):
        assert np.all(dist.cdf_limits(q[:, j] + 1e-7 * (1 + q[:, j]))[1] >= u - 1e-9)  # (rounding of z)
        assert np.all(dist.cdf_limits(q[:, j] - 1e-7 * (1 + q[:, j]))[1] <= u + 1e-9)
    # the log score at 0 is log P(0); the moments match a Monte-Carlo reading of the quantiles
    assert np.allclose(dist.logpdf(np.zeros(len(yt))), np.log(p))
    assert np.all(dist.logpdf(np.full(len(yt), -0.5)) == -np.inf)
    grid = dist.ppf(np.linspace(0.0025, 0.9975, 200))
    assert np.allclose(dist.mean(), grid.mean(axis=1), rtol=0.05, atol=0.02)


def test_bad_targets_are_refused_and_a_target_without_zeros_still_fits():
    X, y = _gaps(200, 1)
    with pytest.raises(ValueError, match=">= zero"):
        _small_hurdle().fit(X, np.where(np.arange(200) == 5, -0.1, y))
    with pytest.raises(ValueError, match="at least 2 targets above"):
        _small_hurdle().fit(X, np.where(np.arange(200) == 5, 1.0, 0.0))
    positive = _small_hurdle().fit(X, np.abs(y) + 0.5)  # no zeros: the regressor alone, P(0) = 0
    assert positive.classifier_ is None
    assert np.all(positive.predict_proba_zero(X) == 0) and np.all(positive.predict(X) > 0)
    shifted = _small_hurdle(zero=1.0).fit(X, y + 1.0)  # the atom may sit on another lower bound
    assert shifted.predict(X).min() >= 1.0 and np.any(shifted.predict(X) == 1.0)


def test_suits_hurdle_needs_a_bound_and_enough_rows_on_it():
    y = np.r_[np.zeros(30), np.linspace(0.1, 5, 170)]
    assert suits_hurdle(y, 0.0)
    assert not suits_hurdle(y, None)  # no lower bound (a negative target, or bounds=None)
    assert not suits_hurdle(np.r_[np.zeros(15), np.linspace(0.1, 5, 185)], 0.0)  # 7.5 % < 10 %
    assert not suits_hurdle(np.r_[np.zeros(5), np.linspace(0.1, 5, 20)], 0.0)  # 20 % but only 5 rows
    assert not suits_hurdle(np.r_[np.zeros(100), [1.0] * 5], 0.0)  # too few rows above the bound


def test_automodel_offers_the_hurdle_only_for_many_exact_zeros_and_saves_it(tmp_path):
    from matloop.models.persistence import load_model, save_model

    X, y = _gaps(260, 2)
    model = AutoModel(random_state=0, time_budget=float("inf"), log_target=False).fit(X[:200], y[:200])
    assert "hurdle" in model.estimators_ and {"hurdle", "hurdle_gate"} <= set(model.cv_scores_)
    assert list(model.cv_scores_).index("hurdle") == list(model.cv_scores_).index("et_median") + 1
    mean = model.predict(X[200:])
    assert mean.min() >= 0
    path = save_model(model, tmp_path / "m.matloop")
    assert np.array_equal(load_model(path).predict(X[200:]), mean)
    model.weights_ = {"hurdle_gate": 1.0}  # an ensemble of the gate alone saves, loads and predicts the same
    gate = model.predict(X[200:])
    assert np.array_equal(load_model(save_model(model, tmp_path / "g.matloop")).predict(X[200:]), gate)
    # 5 % zeros, a target with negative values, or candidates given by the user: no hurdle
    few = np.where(np.arange(200) % 20 == 0, 0.0, np.abs(y[:200]) + 0.1)
    small = {"et": ExtraTreesRegressor(n_estimators=30, random_state=0, noise="oob")}
    offered = AutoModel(random_state=0, log_target=False).candidate_models  # what fit cross-validates
    assert "hurdle" in offered(y[:200]) and set(offered(y[:200])) <= set(model.cv_scores_)
    assert "hurdle" not in offered(few) and "hurdle" not in offered(y[:200] - 0.5)
    assert "hurdle" not in AutoModel(bounds=None, log_target=False).candidate_models(y[:200])  # no lower bound
    assert "hurdle" not in AutoModel(candidates=small, random_state=0).fit(X[:200], y[:200]).cv_scores_
