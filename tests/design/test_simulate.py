import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor

from matloop.design.simulate import (
    RandomStrategy,
    Strategy,
    SurrogateStrategy,
    average_duplicates,
    benchmark,
    top_mask,
)


class Oracle(Strategy):
    name = "oracle"

    def __init__(self, y_all, X_all):
        self.lookup = {tuple(np.round(x, 9)): v for x, v in zip(X_all, y_all, strict=True)}

    def propose(self, X_measured, y_measured, X_candidates, k, rng, objective):
        vals = np.array([self.lookup[tuple(np.round(x, 9))] for x in X_candidates])
        return np.argsort(-vals)[:k]


class ForestWithStd:
    def __init__(self):
        self.rf = RandomForestRegressor(n_estimators=30, min_samples_leaf=1, random_state=0)

    def fit(self, X, y):
        self.rf.fit(X, y)
        return self

    def predict(self, X, return_std=False):
        per_tree = np.stack([t.predict(X) for t in self.rf.estimators_])
        return (per_tree.mean(0), per_tree.std(0) + 1e-6) if return_std else per_tree.mean(0)


def test_average_duplicates_keeps_every_replicate_in_the_mean():
    X = pd.DataFrame({"a": [1, 1, 2, 3, 3, 3], "b": [0, 0, 1, 2, 2, 2]})
    Xu, y, n = average_duplicates(X, np.array([1.0, 3.0, 5.0, 1.0, 2.0, 3.0]))
    assert len(Xu) == 3 and y.tolist() == [2.0, 5.0, 2.0] and n.tolist() == [2, 1, 3]


def test_top_mask_uses_ceil():
    assert top_mask(np.arange(41.0), 0.05).sum() == 3  # ceil(2.05)


def test_random_matches_the_analytic_baseline_and_oracle_is_perfect():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(120, 3))
    y = -np.sum((X - 0.7) ** 2, axis=1)
    res = benchmark(X, y, {"random": RandomStrategy()}, runs=200, progress=False)
    curve = res.mean_curve("random")
    assert np.allclose(curve[:60], res.random_curve(60), atol=0.05)
    Xs = (X - X.mean(0)) / X.std(0)
    oracle = benchmark(X, y, {"oracle": Oracle(y, Xs)}, runs=5, progress=False)
    assert oracle.evaluations_to("oracle", 1.0) <= res.n_top + 2
    assert oracle.acceleration_factor("oracle", 1.0) > 10


def test_a_surrogate_beats_random_on_a_smooth_pool():
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(150, 2))
    y = -np.sum((X - 0.3) ** 2, axis=1)
    strategies = {"random": RandomStrategy(),
                  "rf-ucb": SurrogateStrategy(ForestWithStd, acquisition="ucb", name="rf-ucb")}
    res = benchmark(X, y, strategies, runs=4, progress=False)
    table = res.summary().set_index("strategy")
    assert table.loc["rf-ucb", "evals_to_100pct"] < 0.5 * table.loc["random", "evals_to_100pct"]
    assert res.to_dict()["n_top"] == 8


@pytest.mark.parametrize("batch", [1, 5])
def test_batches_measure_distinct_candidates(batch):
    from matloop.design.simulate import simulate

    rng = np.random.default_rng(2)
    X = rng.uniform(size=(60, 2))
    y = X[:, 0]
    run = simulate(X, y, SurrogateStrategy(ForestWithStd, acquisition="ei"), top_mask(y), batch=batch, budget=30)
    assert len(run.order) == 30 and len(set(run.order.tolist())) == 30


def test_summary_reports_per_run_means_with_censored_runs():
    from matloop.design.simulate import BenchmarkResult

    curves = np.array([[0.0, 0.5, 1.0, 1.0], [0.0, 0.0, 0.5, 0.5]])  # run 2 never finds all
    res = BenchmarkResult(40, 2, {"s": curves}, {"s": 1.0})
    assert res.runs_to("s", 1.0)[0] == 3 and np.isnan(res.runs_to("s", 1.0)[1])
    row = res.summary((0.5, 1.0)).iloc[0]
    assert row["runs_mean_50pct"] == 2.5 and row["reached_50pct"] == 2
    assert row["runs_mean_100pct"] == (3 + 5) / 2 and row["reached_100pct"] == 1  # censored at budget + 1
    assert row["first_top_hit"] == 2.5


def test_warp_target_keeps_the_order():
    from matloop.design.simulate import warp_target

    y = np.array([1.0, 100.0, 3.0, 2.0, 1000.0])
    for method in ("rank", "power"):
        w = warp_target(y, method)
        assert np.array_equal(np.argsort(w), np.argsort(y))
    with pytest.raises(ValueError):
        warp_target(y, "nope")


def test_default_strategy_is_cheap_warm_started_and_beats_random():
    from matloop.design.simulate import DEFAULT_STRATEGY, make_strategy

    strategy = make_strategy("default")
    assert strategy.name == "default" and strategy.reuse_model and DEFAULT_STRATEGY.startswith("etgp")
    rng = np.random.default_rng(4)
    X = rng.uniform(size=(150, 3))
    y = -np.sum((X - 0.6) ** 2, axis=1) + 0.3 * X[:, 2]
    res = benchmark(X, y, {"default": strategy, "random": RandomStrategy()}, runs=3, budget=60, progress=False)
    table = res.summary().set_index("strategy")
    assert table.loc["default", "runs_mean_100pct"] < 0.5 * table.loc["random", "runs_mean_100pct"]
    with pytest.raises(ValueError, match="unknown strategy"):
        make_strategy("nope-ei")
