"""Batches that share a setting (``--same``): the first pick as usual, the rest in its group."""

import numpy as np
import pandas as pd
import pytest

from matloop.design.acquisition import Objective
from matloop.design.batch_groups import check_same, rank_in_one_group, same_groups
from matloop.design.campaign import Campaign
from matloop.design.goals import Goal
from matloop.design.multi_suggest import suggest_multi
from matloop.design.suggest import Ranking, suggest
from matloop.errors import InputError
from matloop.io.dataset import Dataset


def _table(measured=8, seed=0):
    """A reaction grid: yield peaks at 100 C and 4 h; MeCN is best, DMF worst; ``cost`` grows with time."""
    rows = [(t, tm, s) for t in (60, 80, 100, 120) for tm in (1, 2, 4, 8) for s in ("EtOH", "MeCN", "DMF")]
    f = pd.DataFrame(rows, columns=["temperature", "time", "solvent"])
    y = 80 - ((f.temperature - 100) / 20) ** 2 * 10 - (np.log2(f.time) - 2) ** 2 * 5 + f.solvent.map(
        {"EtOH": 0, "MeCN": 5, "DMF": -5})
    f["yield"], f["cost"] = np.nan, np.nan
    idx = np.random.default_rng(seed).choice(len(f), measured, replace=False)
    f.loc[idx, "yield"] = y[idx].round(1)
    f.loc[idx, "cost"] = (f.time * 2 + f.temperature / 20)[idx]
    return f


def _dataset(frame, targets):
    return Dataset(frame=frame, input=None, kind="parameters", targets=targets,
                   parameters=["temperature", "time", "solvent"])


def test_groups_and_the_first_pick_decides_the_group():
    frame = pd.DataFrame({"t": [60, 80, 60.0, 80], "s": ["a", "a", "b", "a"]})
    assert same_groups(frame, None) is None
    assert same_groups(frame, ["t"]).tolist() == [0, 1, 0, 1]
    assert same_groups(frame, ["t", "s"]).tolist() == [0, 1, 2, 1]
    with pytest.raises(InputError) as err:
        same_groups(frame, ["temp"])
    assert "not found" in err.value.table["reason"].iloc[0]
    with pytest.raises(InputError, match="fix the parameter"):
        check_same(["t"], space=object())
    check_same(["t"], space=None)
    score = np.array([0.1, 0.9, 0.5, 0.2])  # the best is row 1 (80 C): the batch is 80 C only

    def rank(pos, k):
        order = pos[np.argsort(-score[pos])][:k]
        chosen = frame.iloc[order].reset_index(drop=True).assign(reason="r")
        return Ranking(chosen, np.searchsorted(pos, order), "m", "v", "a")
    r = rank_in_one_group(rank, 4, same_groups(frame, ["t"]), 3, ["t"])
    assert r.chosen_positions.tolist() == [1, 3] and r.chosen["t"].tolist() == [80, 80]
    assert r.chosen["reason"].iloc[0] == "r; the batch shares t = 80 (--same: 2 candidates have it)"
    assert rank_in_one_group(rank, 4, None, 3).chosen_positions.tolist() == [1, 2, 3]


def test_suggest_one_goal_several_goals_and_a_cold_start_share_the_setting():
    frame = _table()
    plain = suggest(_dataset(frame.drop(columns="cost"), ["yield"]), Objective("max"), batch=4, seed=0)
    out = suggest(_dataset(frame.drop(columns="cost"), ["yield"]), Objective("max"), batch=4, seed=0,
                  same=["temperature"])
    assert out["temperature"].nunique() == 1 and len(out) == 4
    assert out.iloc[0][["temperature", "time", "solvent"]].tolist() == plain.iloc[0][["temperature", "time",
                                                                                      "solvent"]].tolist()
    assert plain["temperature"].nunique() > 1  # without --same the batch spreads (so the test can fail)
    cold = frame.drop(columns="cost").assign(**{"yield": np.nan})
    out = suggest(_dataset(cold, ["yield"]), Objective("max"), batch=5, seed=0, same=["temperature", "solvent"])
    assert len(out) == 4 and out[["temperature", "solvent"]].drop_duplicates().shape[0] == 1  # the group has 4
    multi = suggest_multi(_dataset(frame, ["yield", "cost"]), [Goal("yield", "max"), Goal("cost", "min")], batch=3,
                          seed=0, same=["solvent"])
    assert multi["solvent"].nunique() == 1 and multi["reason"].str.contains("the batch shares solvent").all()


def test_a_campaign_batch_shares_the_setting_one_goal_and_several(tmp_path):
    frame = _table()
    camp = Campaign.create("one", str(tmp_path / "l.db"), Objective("max"), "yield",
                           pool=_dataset(frame.drop(columns="cost"), ["yield"]))
    batch = camp.suggest(batch=4, seed=0, same=["temperature"])
    assert batch["temperature"].nunique() == 1 and camp.status().n_pending == 4
    again = camp.suggest(batch=4, seed=0, same=["temperature"])  # the next batch: another oven run
    cols = ["temperature", "time", "solvent"]
    assert again["temperature"].nunique() == 1
    assert not set(map(tuple, again[cols].to_numpy())) & set(map(tuple, batch[cols].to_numpy()))  # pending: not again
    goals = [Goal("yield", "max"), Goal("cost", "min")]
    two = Campaign.create("two", str(tmp_path / "l.db"), goals[0].objective, "yield",
                          pool=_dataset(frame, ["yield", "cost"]), goals=goals)
    b = two.suggest(batch=3, seed=0, same=["temperature", "time"])
    assert b[["temperature", "time"]].drop_duplicates().shape[0] == 1 and len(b) == 3


def test_the_replay_keeps_every_round_in_one_group():
    from matloop.design.simulate import RandomStrategy, make_strategy, simulate, top_mask

    frame = _table(measured=0).drop(columns=["yield", "cost"])
    X = pd.get_dummies(frame, columns=["solvent"]).to_numpy(dtype=float)
    y = -((frame["temperature"] - 100) / 20) ** 2 - (np.log2(frame["time"]) - 2) ** 2
    groups = same_groups(frame, ["temperature"])
    top = top_mask(y.to_numpy(), 0.1)
    for strategy in (make_strategy("default", 0), RandomStrategy()):
        run = simulate(X, y.to_numpy(), strategy, top, n_initial=2, budget=22, batch=4, seed=3, groups=groups)
        rounds = [run.order[i:i + 4] for i in range(2, len(run.order), 4)]
        assert len(run.order) == 22 and len(set(run.order)) == 22
        assert all(len(set(groups[r])) == 1 for r in rounds)
    free = simulate(X, y.to_numpy(), make_strategy("default", 0), top, n_initial=2, budget=22, batch=4, seed=3)
    assert any(len(set(groups[free.order[i:i + 4]])) > 1 for i in range(2, 22, 4))  # the test can fail
