"""The ``fantasy`` batch (kriging believer on the GP posterior covariance), the default batch method."""

import numpy as np
import pandas as pd
import pytest

from matloop.design.acquisition import Context, LogExpectedImprovement, Objective, Posterior, make_acquisition
from matloop.design.batch import DEFAULT_BATCH_METHOD, BatchCovariance, batch_covariance, select_batch
from matloop.design.simulate import make_strategy
from matloop.design.suggest import rank_candidates
from matloop.design.surrogate import ForestGPBlend, WarmStartGP, make_surrogate


def _two_peaks(x):
    """Two separated optima of nearly equal height on [0, 1]."""
    return np.exp(-((x - 0.25) / 0.06) ** 2) + 0.97 * np.exp(-((x - 0.75) / 0.06) ** 2)


def _one_d_problem():
    pool = np.linspace(0.0, 1.0, 401).reshape(-1, 1)
    X = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]).reshape(-1, 1)
    return X, _two_peaks(X[:, 0]), pool


def _pick(X, y, pool, method, k, model="fastgp"):
    surrogate = make_surrogate(model, 0).fit(X, y)
    mean, std = surrogate.predict(pool, return_std=True)
    ctx = Context(best=float(y.max()), X_candidates=(pool - pool.mean(0)) / pool.std(0), rng=np.random.default_rng(0))
    cov = batch_covariance(surrogate, X, y, pool) if method == "fantasy" else None
    return select_batch(LogExpectedImprovement(), Posterior(mean, std), ctx, k, method=method, covariance=cov)[0]


def test_fantasy_batch_covers_both_optima_where_penalized_crowds_one():
    X, y, pool = _one_d_problem()
    fantasy = pool[_pick(X, y, pool, "fantasy", 2), 0]
    near = [np.min(np.abs(fantasy - c)) for c in (0.25, 0.75)]
    assert max(near) < 0.08, fantasy  # one pick at each optimum
    penalized = pool[_pick(X, y, pool, "penalized", 2), 0]
    # the fixed radius (twice the pool spacing) lets the old method take two neighbours of one optimum
    assert np.ptp(penalized) < 0.05, penalized


def test_fantasy_batch_is_deterministic_and_distinct():
    rng = np.random.default_rng(1)
    pool = rng.uniform(0, 1, size=(300, 2))
    X = rng.uniform(0, 1, size=(15, 2))
    y = np.sin(6 * X[:, 0]) + np.cos(5 * X[:, 1])
    first = _pick(X, y, pool, "fantasy", 8, model="etgp")
    second = _pick(X, y, pool, "fantasy", 8, model="etgp")
    assert np.array_equal(first, second)
    assert len(set(first.tolist())) == 8
    # a forest has no GP of its own: the batch fits one for its covariance, and still spreads
    forest = _pick(X, y, pool, "fantasy", 8, model="et")
    assert len(set(forest.tolist())) == 8


def _bumps(P):
    """Three local optima on the unit square (heights 1, 0.9, 0.8)."""
    centres = np.array([[0.2, 0.2], [0.8, 0.3], [0.4, 0.85]])
    heights = np.array([1.0, 0.9, 0.8])
    d2 = ((P[:, None, :] - centres[None]) ** 2).sum(-1)
    return (heights * np.exp(-d2 / (2 * 0.08**2))).sum(1), np.argmin(d2, axis=1), d2.min(axis=1)


def test_fantasy_batch_beats_penalized_on_generated_two_d_problem():
    g = np.linspace(0, 1, 41)
    pool = np.array([[a, b] for a in g for b in g])
    X = np.random.default_rng(0).uniform(0, 1, size=(30, 2))
    y, _, _ = _bumps(X)
    results = {}
    for method in ("fantasy", "penalized"):
        idx = _pick(X, y, pool, method, 6, model="etgp")
        value, basin, d2 = _bumps(pool[idx])
        results[method] = (value.mean(), len(set(basin[d2 < 0.15**2].tolist())))
    assert results["fantasy"][1] >= 2  # the batch visits more than one optimum
    assert results["fantasy"][0] > results["penalized"][0] + 0.05, results


def test_gp_batch_covariance_is_a_covariance():
    rng = np.random.default_rng(2)
    X = rng.uniform(0, 1, size=(20, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.05 * rng.normal(size=20)
    pool = rng.uniform(0, 1, size=(50, 3))
    gp = WarmStartGP().fit(X, y)
    cov = gp.batch_covariance(pool)
    C = np.column_stack([cov.column(j) for j in range(len(pool))])
    assert np.allclose(C, C.T, atol=1e-9 * C.max())
    assert np.allclose(np.diag(C), cov.latent_var, rtol=1e-6, atol=1e-12)
    assert np.linalg.eigvalsh(C).min() > -1e-6 * C.max()
    small = gp.batch_covariance(pool, chunk=7)  # candidates in chunks: the same numbers
    assert np.allclose(small.latent_var, cov.latent_var) and np.allclose(small.column(11), cov.column(11))
    _, std = gp.predict(pool, return_std=True)
    assert np.allclose(std**2, cov.latent_var + cov.noise, rtol=1e-6)
    blend = ForestGPBlend(random_state=0).fit(X, y)
    assert len(blend.batch_covariance(pool).latent_var) == len(pool)


def test_fantasy_with_a_window_goal_and_errors():
    X, y, pool = _one_d_problem()
    gp = WarmStartGP().fit(X, y)
    mean, std = gp.predict(pool, return_std=True)
    acq = make_acquisition("window", Objective("range", 0.8, 1.2))
    idx, values = select_batch(acq, Posterior(mean, std), Context(X_candidates=pool), 4, method="fantasy",
                               covariance=gp.batch_covariance(pool))
    assert len(set(idx.tolist())) == 4 and np.all(values >= 0)
    assert np.ptp(pool[idx, 0]) > 0.3  # the window is met near both optima: the batch uses both
    with pytest.raises(ValueError, match="covariance"):
        select_batch(acq, Posterior(mean, std), Context(), 2, method="fantasy")
    prior = batch_covariance(object(), X[:1], y[:1], pool)  # one measurement: the GP prior spreads the batch
    ucb = make_acquisition("ucb")
    flat = select_batch(ucb, Posterior(np.zeros(len(pool)), np.ones(len(pool))), Context(), 3, method="fantasy",
                        covariance=prior)[0]
    assert len(set(flat.tolist())) == 3 and np.ptp(pool[flat, 0]) > 0.3
    one = BatchCovariance(lambda j: np.ones(1), np.ones(1), 0.1)
    assert select_batch(acq, Posterior(np.ones(1), np.ones(1)), Context(), 3, method="fantasy", covariance=one)[0].tolist() == [0]


def test_fantasy_is_the_default_of_suggestions_and_strategies():
    assert DEFAULT_BATCH_METHOD == "fantasy"
    assert make_strategy("default").batch == "fantasy"
    X, y, pool = _one_d_problem()
    cands = pd.DataFrame({"x": pool[:, 0]})
    ranking = rank_candidates(X, y, pool, cands, Objective("max"), batch=2, model="fastgp")
    xs = ranking.chosen["x"].to_numpy()
    assert min(abs(xs - 0.25).min(), abs(xs - 0.75).min()) < 0.08 and np.ptp(xs) > 0.3


def test_simulated_campaign_with_fantasy_batches_is_reproducible():
    from matloop.design.simulate import simulate, top_mask
    from matloop.errors import InputError

    g = np.linspace(0, 1, 21)
    pool = np.array([[a, b] for a in g for b in g])
    y, _, _ = _bumps(pool)
    top = top_mask(y, 0.02)
    runs = [simulate(pool, y, make_strategy("default", 0), top, budget=22, batch=4, seed=3) for _ in range(2)]
    assert np.array_equal(runs[0].order, runs[1].order)
    assert len(set(runs[0].order.tolist())) == 22
    with pytest.raises(InputError, match="batch method"):
        make_strategy("default", batch_method="clumped")
