"""Failed experiments, vetoes and expert candidates in a campaign ledger (SQLite; PostgreSQL in
test_campaign_failures_postgres.py)."""

import sqlite3

import numpy as np
import pandas as pd
import pytest

from matloop.design.acquisition import Objective
from matloop.design.campaign import Campaign
from matloop.design.campaign_failures import add_expert_candidates, veto_candidates
from matloop.design.ledger_events import campaign_log, read_events
from matloop.errors import InputError
from matloop.io.dataset import Dataset


def process_pool(n=50, measured=16, seed=0):
    """A process table: yield peaks near 700 C / 3 h; every run above 800 C fails (no yield, status failed)."""
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({"temperature": rng.uniform(300, 900, n).round(1), "time": rng.uniform(1, 10, n).round(2)})
    f["yield"] = (-((f["temperature"] - 700) / 200) ** 2 - ((f["time"] - 3) / 3) ** 2).round(4)
    f.loc[measured:, "yield"] = np.nan
    return f


def new_campaign(tmp_path, frame=None, failed_if=None, name="proc"):
    frame = process_pool() if frame is None else frame
    ds = Dataset(frame=frame, input=None, kind="parameters", targets=["yield"],
                 parameters=["temperature", "time"])
    return Campaign.create(name, str(tmp_path / "l.db"), Objective("max"), "yield", pool=ds, actor="alice",
                           failed_if=failed_if)


def _results(rows, yields, status, reason=None):
    out = rows[["temperature", "time"]].reset_index(drop=True).copy()
    out["yield"] = yields
    out["status"] = status
    if reason is not None:
        out["reason"] = reason
    return out


def test_failures_are_recorded_with_who_and_why_idempotently(tmp_path):
    camp = new_campaign(tmp_path)
    open_rows = camp.table().query("`yield`.isna()", engine="python").head(3)
    res = _results(open_rows, [-0.5, None, None], ["ok", "failed", "FAILED "], [None, "film peeled off", None])
    r = camp.record(res, source="batch1.csv", actor="bob")
    assert (r.inserted, r.failed, r.failed_already) == (1, 2, 0)
    again = camp.record(res, source="batch1.csv", actor="bob")
    assert (again.inserted, again.already_recorded, again.failed, again.failed_already) == (0, 1, 0, 2)
    ev = read_events(camp.ledger)
    assert ev["kind"].tolist() == ["failed", "failed"]
    assert ev["reason"].tolist() == ["film peeled off", "status failed"]
    assert set(ev["recorded_by"]) == {"bob"} and set(ev["source"]) == {"batch1.csv"}
    log = campaign_log(camp)
    assert log["event"].value_counts().to_dict() == {"measured": 17, "failed": 2}
    assert "film peeled off" in set(log["reason"])
    st = camp.status()
    assert (st.n_failed, st.n_measured) == (2, 17)
    exp = camp.export()
    assert (exp["status"] == "failed").sum() == 2 and (exp["status"] == "ok").sum() == 17
    assert set(exp.loc[exp["status"] == "failed", "failure_reason"]) == {"film peeled off", "status failed"}


def test_bad_status_records_nothing(tmp_path):
    camp = new_campaign(tmp_path)
    rows = camp.table().tail(2)
    with pytest.raises(InputError) as err:
        camp.record(_results(rows, [-1.0, None], ["ok", "exploded"]), source="x.csv", rows=[3, 4])
    assert err.value.table["row"].tolist() == [4]
    assert camp.status().n_measured == 16 and read_events(camp.ledger).empty


def test_failed_candidates_are_not_suggested_again_unless_retry(tmp_path):
    camp = new_campaign(tmp_path)
    first = camp.suggest(batch=3, model="rf", seed=0)
    assert "p_success" not in first.columns  # nothing failed yet: the output is as before
    failed = first.iloc[:2]
    camp.record(_results(failed, [None, None], ["failed", "failed"]), source="b1.csv")
    camp.record(_results(first.iloc[2:], [-0.2], ["ok"]), source="b1.csv")
    keys = lambda frame: set(map(tuple, frame[["temperature", "time"]].to_numpy()))  # noqa: E731
    open_n = int(camp.table()["yield"].isna().sum()) - 2  # every candidate not measured and not failed
    nxt = camp.suggest(batch=open_n, model="rf", seed=0)
    assert not keys(nxt) & keys(failed) and len(nxt) == open_n
    assert "p_success" in nxt.columns and nxt["p_success"].between(0, 1).all()
    again = camp.suggest(batch=50, model="rf", seed=0, retry_failed=True)
    assert keys(failed) <= keys(again)
    assert camp.ledger.suggestions()["reason"].str.contains("P\\(success\\)").any()


def test_vetoed_candidates_are_never_suggested(tmp_path):
    camp = new_campaign(tmp_path)
    table = camp.table()
    open_keys = table.loc[table["yield"].isna(), "key"].tolist()
    t0 = table.loc[table["yield"].isna()].iloc[1]
    given = [open_keys[0], f"temperature={t0['temperature']}, time={t0['time']}", "#40"]
    done = veto_candidates(camp, given, "precursor is toxic", actor="carol")
    assert done.inserted == 3
    assert veto_candidates(camp, given[:1], "precursor is toxic").already_recorded == 1
    vetoed = {open_keys[0], open_keys[1], table["key"].iloc[39]}
    sug = camp.suggest(batch=len(open_keys), model="rf", seed=1)
    chosen = set(camp.ledger.suggestions().merge(camp.ledger.candidates(), on="candidate_id")["key"])
    assert len(sug) == len(open_keys) - len(vetoed & set(open_keys)) and not chosen & vetoed
    assert camp.status().n_vetoed == 3
    log = campaign_log(camp)
    assert set(log.loc[log["event"] == "veto", "recorded_by"]) == {"carol"}
    with pytest.raises(InputError) as err:
        veto_candidates(camp, ["#999", "no such thing"], "x")
    assert len(err.value.table) == 2
    with pytest.raises(InputError):
        veto_candidates(camp, [open_keys[2]], "  ")


def test_expert_candidates_join_the_pool_and_are_recorded(tmp_path):
    camp = new_campaign(tmp_path)
    ideas = pd.DataFrame({"temperature": [701.0, 702.0, 300.0], "time": [3.0, 3.1, 1.0]})
    done = add_expert_candidates(camp, ideas, [1, 2, 3], "close to the best so far", "ideas.csv", actor="dave")
    assert (done.new_candidates, done.inserted) == (3, 3)
    cands = camp.ledger.candidates()
    assert (cands["source"] == "expert").sum() == 3
    log = campaign_log(camp)
    assert (log["event"] == "added").sum() == 3 and set(log.loc[log["event"] == "added", "recorded_by"]) == {"dave"}
    sug = camp.suggest(batch=60, model="rf", seed=0)
    assert {701.0, 702.0} <= set(sug["temperature"])
    with pytest.raises(InputError):  # an idea with a result is a measurement, not a candidate
        add_expert_candidates(camp, ideas.assign(**{"yield": [0.1, None, None]}), [1, 2, 3], "", "x.csv")
    with pytest.raises(InputError):
        add_expert_candidates(camp, ideas.assign(time=["soon", 1, 2]), [1, 2, 3], "", "x.csv")


def test_failed_if_rule_at_creation_and_in_every_record(tmp_path):
    frame = process_pool()
    frame["outcome"] = np.where(frame["temperature"] > 800, "peeled", "film")
    frame.loc[16:, "outcome"] = None
    n_fail = int((frame["outcome"] == "peeled").sum())
    assert n_fail > 0
    camp = new_campaign(tmp_path, frame, failed_if="outcome == 'peeled'")
    assert camp.config["failed_if"] == "outcome == 'peeled'"
    assert camp.config["parameter_columns"] == ["temperature", "time"]  # the outcome is not an input
    st = camp.status()
    assert (st.n_failed, st.n_measured) == (n_fail, 16 - n_fail)
    rows = camp.table().iloc[16:18]  # never tried
    res = rows[["temperature", "time"]].assign(**{"yield": [0.5, 0.9], "outcome": ["film", "peeled"]})
    r = camp.record(res, source="b.csv")
    assert (r.inserted, r.failed) == (1, 1)  # the peeled film's yield is not a measurement
    ev = read_events(camp.ledger)
    assert ev["reason"].iloc[-1] == "failed-if: outcome == 'peeled'"


def test_an_old_ledger_without_the_events_table_still_opens_and_upgrades(tmp_path):
    camp = new_campaign(tmp_path)
    db = tmp_path / "l.db"
    with sqlite3.connect(db) as conn:  # a ledger written before failures existed
        conn.execute("DROP TABLE campaign_events")
    old = Campaign("proc", str(db))
    assert old.status().n_measured == 16 and old.export()["status"].eq("ok").sum() == 16
    assert campaign_log(old)["event"].eq("measured").all()
    row = old.table().query("`yield`.isna()", engine="python").head(1)
    assert old.record(_results(row, [None], ["failed"]), source="late.csv").failed == 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM campaign_events").fetchone()[0] == 1
    del camp


def test_design_space_campaign_with_failures_vetoes_and_ideas(tmp_path):
    from matloop.design.space import DesignSpace

    spec = {"parameters": [{"name": "temperature", "type": "continuous", "low": 300, "high": 900},
                           {"name": "time", "type": "continuous", "low": 1, "high": 10}]}
    camp = Campaign.create("space", str(tmp_path / "s.db"), Objective("max"), "yield",
                           space=DesignSpace.from_dict(spec), space_spec=spec)
    done = pd.DataFrame({"temperature": [400.0, 500, 600, 700, 850, 880], "time": [2.0, 4, 6, 8, 3, 7]})
    done["yield"] = [0.1, 0.4, 0.6, 0.5, None, None]
    done["status"] = ["ok"] * 4 + ["failed"] * 2
    r = camp.record(done, source="start.csv")
    assert (r.inserted, r.failed) == (4, 2)
    add_expert_candidates(camp, pd.DataFrame({"temperature": [650.0], "time": [5.0]}), [1], "my hunch", "i.csv")
    sug = camp.suggest(batch=200, model="rf", seed=0)  # every generated point: the idea is among them
    assert "p_success" in sug.columns
    points = set(map(tuple, sug[["temperature", "time"]].to_numpy()))
    assert (650.0, 5.0) in points and not points & {(850.0, 3.0), (880.0, 7.0)}
    hot = sug["temperature"] > 840
    if hot.any() and (~hot).any():  # near the failures P(success) is lower than elsewhere
        assert sug.loc[hot, "p_success"].mean() < sug.loc[~hot, "p_success"].mean()


def test_veto_names_a_material_however_it_is_written(tmp_path):
    frame = pd.DataFrame({"formula": ["Fe2O3", "NiO", "CuO", "ZnO"], "gap": [2.1, None, None, None]})
    ds = Dataset(frame=frame, input="formula", kind="composition", targets=["gap"])
    camp = Campaign.create("oxides", str(tmp_path / "o.db"), Objective("max"), "gap", pool=ds)
    done = veto_candidates(camp, ["O1Ni1", "#3"], "no nickel or copper in this lab")
    assert done.inserted == 2
    ev = read_events(camp.ledger)
    assert sorted(ev["key"]) == sorted(camp.ledger.candidates()["key"].iloc[[1, 2]])
    assert camp.status().n_vetoed == 2


def test_report_says_where_failures_cluster(tmp_path):
    from matloop.report.campaign import campaign_report

    formulas = ["CoO", "Co2O3", "CoS", "LiCoO2", "ZnO", "ZnS", "MgO", "CaO", "SrO", "BaO", "TiO2", "SnO2", "NiO"]
    frame = pd.DataFrame({"formula": formulas, "gap": [None, None, None, None, 3.4, 3.6, 7.8, 7.1, 5.9, 4.0, 3.2,
                                                       3.6, None],
                          "status": ["failed"] * 4 + ["ok"] * 8 + [None]})
    ds = Dataset(frame=frame, input="formula", kind="composition", targets=["gap"])
    camp = Campaign.create("oxides", str(tmp_path / "o.db"), Objective("max"), "gap", pool=ds,
                           failed_if="formula == 'no such formula'")
    assert camp.status().n_failed == 4
    html = campaign_report(camp, interpret=False).to_html()
    assert "Failed experiments" in html and "failures cluster at Co = present (4 of 4 failed, 100%)" in html


FAILURE_WRITER = """
import sys, pandas as pd
from matloop.design.campaign import Campaign
camp = Campaign("proc", sys.argv[1])
rows = camp.table().iloc[20:40][["temperature", "time"]].reset_index(drop=True)
for i in range(len(rows)):
    res = rows.iloc[[i]].assign(status="failed", reason=f"attempt {i}")
    camp.record(res, source=sys.argv[2], actor=sys.argv[2])
"""


def test_two_processes_recording_the_same_failures_at_once_land_once(tmp_path):
    import subprocess
    import sys

    new_campaign(tmp_path)
    db = str(tmp_path / "l.db")
    procs = [subprocess.Popen([sys.executable, "-c", FAILURE_WRITER, db, tag], stderr=subprocess.PIPE, text=True)
             for tag in ("p1", "p2")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    ev = read_events(Campaign("proc", db).ledger)
    assert len(ev) == 20 and ev["reason"].nunique() == 20 and set(ev["recorded_by"]) <= {"p1", "p2"}
