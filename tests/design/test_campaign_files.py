"""Files a campaign reads besides its ledger: last campaign's ``campaign export`` as this one's history."""

import numpy as np
import pandas as pd
import pytest

from matloop.design.acquisition import Objective
from matloop.design.campaign import Campaign
from matloop.design.campaign_files import wide_from_export
from matloop.design.history import HistoryPrior
from matloop.design.ledger_events import retract
from matloop.errors import InputError
from matloop.io.dataset import Dataset


def _finished_campaign(tmp_path):
    f = pd.DataFrame({"temperature": np.repeat([60, 80, 100], 3), "base": np.tile(["K2CO3", "DBU", "Cs2CO3"], 3)})
    f["yield"] = np.nan
    ds = Dataset(frame=f, input=None, kind="parameters", targets=["yield"], parameters=["temperature", "base"])
    camp = Campaign.create("old", str(tmp_path / "old.db"), Objective("max"), "yield", pool=ds)
    res = pd.DataFrame({"temperature": [60, 60, 80, 100, 100], "base": ["K2CO3", "K2CO3", "DBU", "DBU", "Cs2CO3"],
                        "yield": [20.0, 30.0, 55.0, 5.0, None], "status": ["ok", "ok", "ok", "ok", "failed"]})
    camp.record(res, source="r.csv")
    retract(camp.ledger, ["m4"], "wrong vial")  # 100 C, DBU
    return camp


def test_a_campaign_export_is_read_as_one_row_per_candidate(tmp_path):
    export = _finished_campaign(tmp_path).export()
    assert len(export) > 5  # one row per measurement, failure and unmeasured candidate
    wide, name = wide_from_export(export, "old.csv")
    assert list(wide.columns) == ["temperature", "base", "yield"]
    got = {(t, b): y for t, b, y in wide.itertuples(index=False)}
    assert got == {(60, "K2CO3"): 25.0, (80, "DBU"): 55.0}  # replicates averaged; failed and retracted left out
    assert name == "old.csv (a campaign export: 3 measurements of 2 candidates, replicates averaged)"
    table = pd.DataFrame({"temperature": [60], "base": ["DBU"], "yield": [1.0]})
    assert wide_from_export(table, "t.csv")[0] is table  # any other table as it is
    with pytest.raises(InputError, match="no measurement to learn from"):
        wide_from_export(export[export["status"] != "ok"], "old.csv")


def test_last_campaigns_export_informs_the_next_as_history(tmp_path):
    path = tmp_path / "old.csv"
    _finished_campaign(tmp_path).export().to_csv(path, index=False)
    from matloop.design.history import read_history

    frame, name = read_history(str(path), "yield")
    prior = HistoryPrior(["temperature", "base"], "yield").fit([(frame, name)])
    assert prior.n_rows == 2 and prior.shared == ["temperature", "base"] and "campaign export" in prior.describe()
