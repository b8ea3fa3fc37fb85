"""Simulated campaigns with failed experiments (``benchmark campaign --failed-if``), on generated data
whose failures cluster in one region, and the ordinal scores of text targets."""

import numpy as np
import pytest

from matloop.design.acquisition import Objective
from matloop.design.simulate_failures import failure_benchmark, ordinal_scores
from matloop.errors import InputError


def _plate(n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, 2))
    failed = X[:, 0] > 0.55  # nothing grows on the right half
    y = np.where(failed, np.nan, np.sin(4 * X[:, 1]) + X[:, 0])
    return X, y, failed


def test_failures_are_counted_and_the_feasibility_model_avoids_them():
    X, y, failed = _plate()
    res = failure_benchmark(X, y, failed, ["default", "no-feasibility", "random"], runs=2, n_initial=4, budget=16,
                            batch=4, seed=0, objective=Objective("max"))
    s = res.summary().set_index("strategy")
    assert res.n_failed_pool == int(failed.sum()) and res.n_top == int(np.ceil(0.05 * (~failed).sum()))
    assert res.failures["random"].shape == (2, 16) and (np.diff(res.failures["random"], axis=1) >= 0).all()
    assert res.failures["random"][:, 3].max() == 0  # the random start is not counted
    assert s.loc["default", "failed_mean"] < s.loc["random", "failed_mean"]
    assert s.loc["default", "failed_mean"] <= s.loc["no-feasibility", "failed_mean"]
    assert 0 <= s.loc["default", "failed_share"] <= 1
    assert "mean_failures" in res.to_dict()


def test_unknown_strategy_and_nothing_to_find():
    X, y, failed = _plate()
    with pytest.raises(InputError, match="unknown strategies"):
        failure_benchmark(X, y, failed, ["magic"], runs=1, budget=6)
    with pytest.raises(InputError, match="fewer than 2 rows succeeded"):
        failure_benchmark(X, y, np.ones(len(y), dtype=bool), ["random"], runs=1, budget=6)


def test_ordinal_scores():
    order = ["clear_solution", "fine_powder", "large_crystallites"]
    s = ordinal_scores(["fine_powder", " large_crystallites", None, "clear_solution"], order, "score")
    assert s[0] == 1 and s[1] == 2 and np.isnan(s[2]) and s[3] == 0
    with pytest.raises(InputError) as exc:
        ordinal_scores(["fine_powder", "gel"], order, "score", rows=[5, 6])
    assert exc.value.table["row"].tolist() == [6]
