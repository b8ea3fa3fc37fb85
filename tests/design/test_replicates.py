"""suggest and campaign agree on "best measured" (mean of replicates); replicates are not re-suggested."""

import numpy as np
import pandas as pd
import pytest

from matloop.design.acquisition import Objective
from matloop.design.campaign import Campaign
from matloop.design.suggest import suggest
from matloop.io.dataset import Dataset


def _table():
    rng = np.random.default_rng(0)
    f = pd.DataFrame({"t": rng.uniform(0, 10, 30).round(2), "p": rng.uniform(0, 1, 30).round(3)})
    f["y"] = np.nan
    f.loc[:9, "y"] = (f["t"][:10] / 10 + f["p"][:10]).round(3)
    # input 0 measured three times: 0.9 (a lucky single reading), then 0.1 and 0.2 -> mean 0.4
    reps = pd.DataFrame({"t": [f.loc[0, "t"]] * 2, "p": [f.loc[0, "p"]] * 2, "y": [0.1, 0.2]})
    f.loc[0, "y"] = 0.9
    # the best single reading is the replicated input; its mean is not the best mean
    blank_dupes = pd.DataFrame({"t": [f.loc[1, "t"], f.loc[20, "t"]], "p": [f.loc[1, "p"], f.loc[20, "p"]],
                                "y": [np.nan, np.nan]})  # a blank copy of a measured input, of a blank row
    return pd.concat([f, reps, blank_dupes], ignore_index=True)


def test_best_measured_is_the_mean_of_replicates_in_suggest_and_campaign(tmp_path):
    f = _table()
    means = f.dropna().groupby(["t", "p"])["y"].mean()
    ds = Dataset(frame=f, input=None, kind="parameters", targets=["y"])
    out = suggest(ds, Objective("max"), batch=3, model="rf")
    assert out.attrs["best_measured"] == pytest.approx(means.max())
    assert out.attrs["best_measured"] != pytest.approx(0.9) and "mean of replicates" in out.attrs["best_rule"]
    camp = Campaign.create("r", str(tmp_path / "c.db"), Objective("max"), "y",
                           pool=Dataset(frame=f, input=None, kind="parameters", targets=["y"]))
    st = camp.status()
    assert st.best == pytest.approx(out.attrs["best_measured"])
    assert "mean of its replicates" in str(st)


def test_measured_or_repeated_inputs_are_not_suggested_unless_asked():
    f = _table()
    ds = Dataset(frame=f, input=None, kind="parameters", targets=["y"])
    out = suggest(ds, Objective("max"), batch=25, model="rf")
    measured = set(map(tuple, f.dropna()[["t", "p"]].to_numpy()))
    assert not measured & set(map(tuple, out[["t", "p"]].to_numpy()))
    assert out[["t", "p"]].duplicated().sum() == 0 and out.attrs["n_replicates_left_out"] == 2
    assert len(out) == 20  # 20 distinct unmeasured inputs
    allowed = suggest(ds, Objective("max"), batch=25, model="rf", allow_replicates=True)
    assert len(allowed) == 22


def test_campaign_allow_replicates_offers_measured_candidates(tmp_path):
    f = _table().drop_duplicates(["t", "p", "y"])
    camp = Campaign.create("r", str(tmp_path / "c.db"), Objective("max"), "y",
                           pool=Dataset(frame=f, input=None, kind="parameters", targets=["y"]))
    plain = camp.suggest(batch=40, model="rf")
    assert len(plain) == 20
    camp2 = Campaign.create("r2", str(tmp_path / "c.db"), Objective("max"), "y",
                            pool=Dataset(frame=f, input=None, kind="parameters", targets=["y"]))
    assert len(camp2.suggest(batch=40, model="rf", allow_replicates=True)) == 30
