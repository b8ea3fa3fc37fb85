"""Cold start: a space-filling first batch with 0 or 1 measured rows (pool and design space)."""

import numpy as np
import pandas as pd
import pytest

from matloop.design.acquisition import Objective
from matloop.design.campaign import Campaign
from matloop.design.coldstart import greedy_maximin, maximin_pool, space_filling_design
from matloop.design.space import DesignSpace
from matloop.design.suggest import suggest
from matloop.io.dataset import Dataset

SPEC = {
    "parameters": [
        {"name": "temperature", "type": "continuous", "low": 300, "high": 900},
        {"name": "time", "type": "continuous", "low": 1, "high": 10},
        {"name": "layers", "type": "integer", "low": 1, "high": 6},
        {"name": "solvent", "type": "categorical", "values": ["water", "ethanol", "toluene"]},
        {"name": "film", "type": "composition", "step": 0.05,
         "elements": {"Ni": [0.2, 0.8], "Fe": [0.1, 0.6], "Co": [0, 0.4]}},
    ],
    "constraints": ["temperature * time <= 6000", "Fe + Co <= 0.7"],
}


def _pool(measured: int, n: int = 60, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({"a": rng.uniform(0, 1, n), "b": rng.uniform(0, 10, n)})
    f["y"] = np.nan
    f.loc[: measured - 1, "y"] = f["a"][:measured] + 0.1 * f["b"][:measured]
    return Dataset(frame=f, input=None, kind="parameters", targets=["y"])


def test_maximin_spreads_better_than_random_and_is_deterministic():
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, (400, 3)) * [1, 100, 5]  # different scales: standardised before distances
    idx = maximin_pool(X, 8, seed=3)
    assert len(set(idx)) == 8 and np.array_equal(idx, maximin_pool(X, 8, seed=3))
    Z = (X - X.mean(0)) / X.std(0)

    def min_gap(rows):
        d = np.sqrt(((Z[rows, None] - Z[None, rows]) ** 2).sum(-1))
        return d[np.triu_indices(len(rows), 1)].min()
    randoms = [min_gap(np.random.default_rng(s).choice(400, 8, replace=False)) for s in range(50)]
    assert min_gap(idx) > np.quantile(randoms, 0.95)


def test_greedy_maximin_keeps_away_from_start_points_and_duplicates():
    Z = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.1, 0.0], [1.0, 0.0]])
    picks = greedy_maximin(Z, 3, start=np.array([[1.0, 1.0]]))
    assert picks[0] in (0, 1) and 2 not in picks  # farthest from the start; the start's twin last
    assert not ({0, 1} <= set(picks))  # never both copies of one point while others remain


@pytest.mark.parametrize("measured", [0, 1])
def test_suggest_gives_a_space_filling_first_batch(measured):
    out = suggest(_pool(measured), Objective("max"), batch=5, seed=2)
    assert len(out) == 5 and out.attrs["cold_start"]
    assert out["reason"].str.contains("space-filling first batch").all()
    assert out["prediction"].isna().all() and out[["a", "b"]].duplicated().sum() == 0
    assert out["y"].isna().all()  # only candidates
    again = suggest(_pool(measured), Objective("max"), batch=5, seed=2)
    pd.testing.assert_frame_equal(out, again)


def test_space_design_is_feasible_rounded_distinct_and_avoids_measured():
    space = DesignSpace.from_dict(SPEC)
    d = space_filling_design(space, 12, seed=0)
    assert len(d) == 12 and space.feasible(d).all()
    assert d[space.columns].duplicated().sum() == 0
    assert np.allclose(d["temperature"], d["temperature"].round(0))  # 300..900 -> resolution 1
    assert np.allclose(d["time"], d["time"].round(2))  # 1..10 -> 0.01
    assert np.allclose(d[["Ni", "Fe", "Co"]] / 0.05, (d[["Ni", "Fe", "Co"]] / 0.05).round())  # step 0.05
    assert np.allclose(d[["Ni", "Fe", "Co"]].sum(axis=1), 1.0)
    assert d["layers"].dtype.kind == "i"
    again = space_filling_design(space, 4, measured=d.head(3), seed=0)
    keys = set(map(tuple, d.head(3)[space.columns].astype(str).to_numpy()))
    assert not keys & set(map(tuple, again[space.columns].astype(str).to_numpy()))
    U = space.unit(d)
    gaps = np.abs(U[:, None] - U[None]).max(-1)[np.triu_indices(12, 1)]
    assert gaps.min() > 0.05  # spread over the space, not clustered


def test_space_campaign_first_batch_then_model(tmp_path):
    space = DesignSpace.from_dict(SPEC)
    camp = Campaign.create("s", str(tmp_path / "c.db"), Objective("max"), "y", space=space, space_spec=SPEC)
    first = camp.suggest(batch=6, model="rf")
    assert len(first) == 6 and first.attrs["cold_start"] and space.feasible(first).all()
    assert first["reason"].str.contains("design space").all()
    res = first[space.columns].copy()
    res["y"] = (res["temperature"] / 900 + res["Ni"]).to_numpy()
    camp.record(res, "r1.csv")
    nxt = camp.suggest(batch=4, model="rf")
    assert not nxt.attrs.get("cold_start") and nxt["prediction"].notna().all()
    assert space.feasible(nxt).all()
    U = space.unit(nxt)
    assert np.abs(U[:, None] - U[None]).max(-1)[np.triu_indices(4, 1)].min() >= space.min_separation - 1e-9


def test_balanced_pool_spreads_numbers_and_gives_categories_out_in_turn():
    """Over one-hot features every medoid of a factorial pool sits at the middle of the numbers; the
    balanced design spreads them and uses each label about k / L times (measured rows count)."""
    from matloop.design.coldstart import balanced_pool, coverage_pool

    grid = np.array([(t, e, s) for t in (60, 80, 100) for e in (1.0, 1.5, 2.0) for s in range(4)], dtype=float)
    X = np.column_stack([grid[:, :2], np.eye(4)[grid[:, 2].astype(int)]])
    cats = [[2, 3, 4, 5]]
    old = coverage_pool(X, 4, seed=0)
    new = balanced_pool(X, 4, np.empty((0, 6)), cats, seed=0)
    assert len(np.unique(X[old, 0])) == 1  # the failure: every pick at one temperature
    assert len(np.unique(X[new, 0])) >= 2 and len(np.unique(X[new, 1])) >= 2
    assert sorted(grid[new, 2].astype(int).tolist()) == [0, 1, 2, 3]  # each label once
    assert np.array_equal(new, balanced_pool(X, 4, np.empty((0, 6)), cats, seed=0))  # deterministic
    # a measured row with label 0 counts: the first 3 picks take the other labels
    again = balanced_pool(X, 4, X[[0]], cats, seed=0)
    assert sorted(grid[again[:3], 2].astype(int).tolist()) == [1, 2, 3]
    # labels are given out in turn even when there are more of them than picks
    three = balanced_pool(X, 3, np.empty((0, 6)), cats, seed=0)
    assert len(set(grid[three, 2].astype(int).tolist())) == 3 and len(np.unique(X[three, 0])) >= 2
    # molecules (a chemical encoding: fewer columns than molecules) with more levels than picks count as
    # numeric features; with no other category, or no numeric feature at all: None (medoids of all features)
    chem = np.column_stack([grid[:, :2], np.array([[0, 0], [1, 0], [0, 1], [1, 1]])[grid[:, 2].astype(int)]])
    assert balanced_pool(chem, 3, np.empty((0, 4)), [[2, 3]], seed=0) is None
    assert balanced_pool(chem, 4, np.empty((0, 4)), [[2, 3]], seed=0) is not None
    assert balanced_pool(X[:, 2:], 4, np.empty((0, 4)), [[0, 1, 2, 3]], seed=0) is None


def test_one_pick_from_nothing_is_the_pools_medoid():
    """A first batch of one (nothing measured) is the row nearest the pool's centre, not its first row."""
    from matloop.design.coldstart import coverage_pool

    grid = np.array([(t, e) for t in (60, 80, 100) for e in (1.0, 1.5, 2.0)], dtype=float)
    assert grid[coverage_pool(grid, 1, seed=0)].tolist() == [[80.0, 1.5]]
