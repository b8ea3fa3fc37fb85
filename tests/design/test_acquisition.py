import numpy as np
import pytest
from scipy.stats import norm

from matloop.design.acquisition import (
    Context,
    ExpectedImprovement,
    LogExpectedImprovement,
    Novelty,
    Objective,
    Posterior,
    ProbabilityInWindow,
    ThompsonSampling,
    UpperConfidenceBound,
    log_h,
    make_acquisition,
)


@pytest.mark.parametrize("z", [-1e6, -1e3, -40.0, -10.0, -3.0, -1.0, -0.2, 0.0, 0.7, 4.0])
def test_log_h_matches_high_precision(z):
    mpmath = pytest.importorskip("mpmath")  # arbitrary precision reference; not a matloop dependency
    mpmath.mp.dps = 60
    ref = float(mpmath.log(mpmath.npdf(z) + z * mpmath.ncdf(z)))
    assert log_h(np.array([z]))[0] == pytest.approx(ref, rel=1e-10)


def test_ei_closed_form_and_log_form_agree():
    rng = np.random.default_rng(1)
    mean, std = rng.normal(size=200), rng.uniform(0.1, 2, size=200)
    post, ctx = Posterior(mean, std), Context(best=0.5)
    ei = ExpectedImprovement()(post, ctx)
    z = (mean - 0.5) / std
    assert np.allclose(ei, std * (z * norm.cdf(z) + norm.pdf(z)))
    assert np.allclose(np.exp(LogExpectedImprovement()(post, ctx)), ei, rtol=1e-9)


def test_log_ei_ranks_candidates_where_ei_underflows():
    post = Posterior(np.array([-60.0, -50.0, -40.0]), np.ones(3))
    ctx = Context(best=0.0)
    assert np.all(ExpectedImprovement()(post, ctx) == 0.0)
    assert np.argsort(LogExpectedImprovement()(post, ctx)).tolist() == [0, 1, 2]


def test_minimisation_objective_flips_sign():
    obj = Objective("min")
    post = obj.posterior(np.array([1.0, 2.0, 3.0]), np.full(3, 0.1))
    best = obj.best(np.array([1.5, 2.5]))
    scores = ExpectedImprovement()(post, Context(best=best))
    assert np.argmax(scores) == 0 and best == -1.5


def test_window_probability_is_correct_and_peaks_inside():
    acq = ProbabilityInWindow(1.1, 1.5)
    post = Posterior(np.array([0.0, 1.3, 3.0]), np.array([0.2, 0.2, 0.2]))
    p = acq(post)
    assert p[1] == pytest.approx(norm.cdf(1.0) - norm.cdf(-1.0))
    assert np.argmax(p) == 1 and p[0] < 1e-6


def test_make_acquisition_uses_window_for_ranges_and_rejects_unknown():
    assert isinstance(make_acquisition("ei", Objective("range", 1.1, 1.5)), ProbabilityInWindow)
    assert isinstance(make_acquisition("lcb"), UpperConfidenceBound)
    with pytest.raises(ValueError, match="unknown acquisition"):
        make_acquisition("nope")


def test_thompson_draws_differ_and_follow_the_posterior():
    post = Posterior(np.zeros(20000), np.full(20000, 2.0))
    draws = ThompsonSampling()(post, Context(rng=np.random.default_rng(0)))
    assert abs(draws.std() - 2.0) < 0.05


def test_novelty_is_distance_to_nearest_measured():
    ctx = Context(X_candidates=np.array([[0.0, 0.0], [3.0, 4.0]]), X_measured=np.array([[0.0, 1.0], [10, 10]]))
    assert np.allclose(Novelty()(Posterior(np.zeros(2), np.ones(2)), ctx), [1.0, np.hypot(3, 3)])
