"""Design-space resolution, distinct batches and recording any point inside the space."""

import numpy as np
import pandas as pd
import pytest

from matloop.design.acquisition import Objective
from matloop.design.campaign import Campaign, read_space
from matloop.design.space import DesignSpace
from matloop.errors import InputError, MatloopError

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
SPEC = {"parameters": [
    {"name": "temperature", "type": "continuous", "low": 300, "high": 900},
    {"name": "time", "type": "continuous", "low": 1, "high": 10, "decimals": 1},
    {"name": "solvent", "type": "categorical", "values": ["water", "ethanol"]}]}


def test_resolutions_and_rounding():
    space = DesignSpace.from_dict({"parameters": [
        *SPEC["parameters"], {"name": "n", "type": "integer", "low": 1, "high": 9},
        {"name": "c", "type": "composition", "elements": {"Fe": [0, 1], "Ni": [0, 1], "Co": [0, 1]}, "step": 0.1}]})
    assert [p.resolution() for p in space.parameters] == [1.0, 0.1, None, 1.0, 0.1]
    raw = pd.DataFrame({"temperature": [607.3141592653], "time": [5.2345678], "solvent": ["water"], "n": [3.4],
                        "Fe": [0.333333], "Ni": [0.333333], "Co": [0.333334]})
    r = space.round(raw)
    assert r.loc[0, "temperature"] == 607 and r.loc[0, "time"] == 5.2 and r.loc[0, "n"] == 3
    assert sorted(r.loc[0, ["Fe", "Ni", "Co"]]) == pytest.approx([0.3, 0.3, 0.4])
    assert space.feasible(r).all()
    assert str(r.loc[0, "time"]) == "5.2"  # no 13-decimal values
    with pytest.raises(MatloopError, match="step"):
        DesignSpace.from_dict({"parameters": [{"name": "x", "type": "continuous", "low": 0, "high": 1, "step": -1}]})


def test_distinct_thins_near_identical_points():
    space = DesignSpace.from_dict(SPEC)
    f = pd.DataFrame({"temperature": [607, 608, 609, 700, 607], "time": [5.2, 5.2, 5.3, 5.2, 5.2],
                      "solvent": ["ethanol", "ethanol", "ethanol", "ethanol", "water"]})
    assert space.distinct(f).tolist() == [0, 3, 4]  # 608/609 are the same experiment as 607


def test_record_inside_space_without_allow_new_and_refuse_outside(tmp_path):
    space = DesignSpace.from_dict(SPEC)
    camp = Campaign.create("s", str(tmp_path / "c.db"), Objective("max"), "y", space=space, space_spec=SPEC)
    inside = pd.DataFrame({"temperature": [450.0, 800], "time": [2.5, 7], "solvent": ["water", "ethanol"],
                           "y": [1.0, 2.0]})
    assert camp.record(inside, "mine.csv").inserted == 2
    outside = pd.DataFrame({"temperature": [950.0, 500], "time": [2.0, 3], "solvent": ["water", "acetone"],
                            "y": [1.0, 2.0]})
    with pytest.raises(InputError, match="outside the campaign's design space") as err:
        camp.record(outside, "bad.csv")
    t = err.value.table
    assert set(zip(t["row"], t["column"], strict=True)) == {(1, "temperature"), (2, "solvent")}
    assert camp.status().n_measured == 2  # nothing of the bad file was recorded
    assert camp.record(outside, "bad.csv", allow_new=True).inserted == 2  # the explicit override


def test_suggested_batch_is_distinct_and_short(tmp_path):
    space = DesignSpace.from_dict(SPEC)
    camp = Campaign.create("s", str(tmp_path / "c.db"), Objective("max"), "y", space=space, space_spec=SPEC)
    rng = np.random.default_rng(0)
    start = space.round(space.sample(10, rng))
    start["y"] = -((start["temperature"] - 607) / 100) ** 2 - (start["time"] - 5.2) ** 2 + (start["solvent"] == "ethanol")
    camp.record(start, "start.csv")
    batch = camp.suggest(batch=4, model="rf", seed=1)
    U = space.unit(batch)
    assert np.abs(U[:, None] - U[None]).max(-1)[np.triu_indices(4, 1)].min() >= 0.05
    for col in ("temperature", "time"):
        assert all(len(repr(float(v)).split(".")[1]) <= 2 for v in batch[col])


def test_shipped_example_space_reads():
    space, spec = read_space(ROOT / "docs" / "examples" / "anneal_space.yaml")
    assert {"temperature", "time", "layers", "solvent", "Ni", "Fe", "Co"} == set(space.columns)
    assert spec["min_separation"] == 0.05
