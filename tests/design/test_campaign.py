import numpy as np
import pandas as pd
import pytest

from matloop.design.acquisition import Objective
from matloop.design.campaign import Campaign
from matloop.design.space import DesignSpace
from matloop.errors import InputError
from matloop.io.dataset import Dataset


def _pool(n=40, measured=10, seed=0):
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({"temperature": rng.uniform(300, 900, n), "time": rng.uniform(1, 10, n)})
    f["yield"] = -((f["temperature"] - 700) / 200) ** 2 - ((f["time"] - 3) / 3) ** 2
    f.loc[measured:, "yield"] = np.nan
    return Dataset(frame=f, input=None, kind="parameters", targets=["yield"]), f


def test_pool_campaign_round_trip(tmp_path):
    ds, f = _pool()
    db = str(tmp_path / "c.db")
    camp = Campaign.create("opt", db, Objective("max"), "yield", pool=ds, actor="me@lab")
    st = camp.status()
    assert (st.n_candidates, st.n_measured) == (40, 10)
    batch = camp.suggest(batch=3, model="rf")
    assert len(batch) == 3 and {"prediction", "std", "acquisition", "rank", "reason"} <= set(batch.columns)
    assert batch[["temperature", "time"]].duplicated().sum() == 0
    # measured rows are never suggested again; a second suggestion skips pending ones
    again = Campaign("opt", db).suggest(batch=3, model="rf")
    assert not set(map(tuple, again[["temperature", "time"]].to_numpy())) & set(
        map(tuple, batch[["temperature", "time"]].to_numpy()))
    # record the results of the first batch (values as a person would type them back)
    res = batch[["temperature", "time"]].copy()
    res["yield"] = [-0.1, -0.2, -0.3]
    r = camp.record(res, "batch1.csv")
    assert r.inserted == 3 and camp.record(res, "batch1.csv").already_recorded == 3
    assert camp.status().n_measured == 13
    hist = camp.history()
    assert hist["best_so_far"].is_monotonic_increasing
    exported = camp.export()
    assert exported["measured_value"].notna().sum() == 13 and exported["suggested_rank"].notna().sum() == 6


def test_suggestions_keep_the_users_column_order(tmp_path):
    ds, f = _pool()
    f = f[["time", "temperature", "yield"]]  # not alphabetical
    ds = Dataset(frame=f, input=None, kind="parameters", targets=["yield"])
    camp = Campaign.create("opt", str(tmp_path / "c.db"), Objective("max"), "yield", pool=ds)
    assert list(camp.suggest(batch=2, model="rf").columns[:2]) == ["time", "temperature"]
    exported = list(camp.export().columns)
    assert exported.index("time") < exported.index("temperature")


def test_unknown_material_is_refused(tmp_path):
    ds, _ = _pool()
    camp = Campaign.create("opt", str(tmp_path / "c.db"), Objective("min"), "yield", pool=ds)
    with pytest.raises(InputError, match="not a candidate"):
        camp.record(pd.DataFrame({"temperature": [1.0], "time": [2.0], "yield": [0.5]}), "x.csv")


def test_space_campaign_suggests_feasible_new_points(tmp_path):
    spec = {"parameters": [{"name": "x", "type": "continuous", "low": 0, "high": 1},
                           {"name": "y", "type": "continuous", "low": 0, "high": 1}],
            "constraints": ["x + y <= 1.2"]}
    space = DesignSpace.from_dict(spec)
    camp = Campaign.create("sp", str(tmp_path / "c.db"), Objective("max"), "f", space=space, space_spec=spec)
    rng = np.random.default_rng(0)
    init = space.sample(8, rng)
    init["f"] = -((init["x"] - 0.6) ** 2 + (init["y"] - 0.5) ** 2)
    camp.record(init, "init.csv", allow_new=True)
    batch = camp.suggest(batch=4, model="rf")
    assert len(batch) == 4 and space.feasible(batch).all()
    res = batch[["x", "y"]].copy()
    res["f"] = -((res["x"] - 0.6) ** 2 + (res["y"] - 0.5) ** 2)
    assert camp.record(res, "b1.csv").inserted == 4  # suggested points are known candidates
