"""Retracting entries recorded in error (``campaign retract``): kept in the ledger and its history, out
of every model, status and suggestion rule; re-recording a retracted value needs a measurement_id."""

import re

import numpy as np
import pandas as pd
import pytest

from matloop.design.acquisition import Objective
from matloop.design.campaign import Campaign
from matloop.design.campaign_failures import veto_candidates
from matloop.design.ledger_events import campaign_log, read_events, retract, retracted_entries
from matloop.errors import InputError
from matloop.io.dataset import Dataset


def _campaign(tmp_path, goals=None):
    f = pd.DataFrame({"temperature": np.repeat([60, 80, 100], 4), "time": np.tile([1, 2, 3, 4], 3)})
    f["yield"] = np.nan
    f["cost"] = np.nan
    if goals:
        from matloop.design.goals import Goal

        ds = Dataset(frame=f, input=None, kind="parameters", targets=goals, parameters=["temperature", "time"])
        goals = [Goal(goals[0], "max"), Goal(goals[1], "min")]
        return Campaign.create("rx", str(tmp_path / "l.db"), goals[0].objective, goals[0].column, pool=ds,
                               actor="alice", goals=goals)
    ds = Dataset(frame=f, input=None, kind="parameters", targets=["yield"], parameters=["temperature", "time"])
    return Campaign.create("rx", str(tmp_path / "l.db"), Objective("max"), "yield", pool=ds, actor="alice")


def _results(temps, times, yields, **more):
    return pd.DataFrame({"temperature": temps, "time": times, "yield": yields, **more})


def test_a_retracted_value_stays_in_the_history_and_leaves_the_model(tmp_path):
    camp = _campaign(tmp_path)
    camp.record(_results([60, 80, 100], [1, 2, 3], [20.0, 70.0, 45.0]), source="r1.csv", actor="bob")
    camp.record(_results([80], [2], [7.5]), source="typo.csv", actor="bob")  # meant 75: a replicate of 70 now
    t = camp.table().set_index(["temperature", "time"])
    assert t.loc[(80, 2), "yield"] == pytest.approx(38.75) and camp.status().best == 45.0
    log = campaign_log(camp)
    typo = log.loc[log["value"] == 7.5, "entry"].item()
    assert typo == "m4" and list(log["entry"]) == ["m1", "m2", "m3", "m4"]

    done = retract(camp.ledger, [typo], "typo: 75 not 7.5", actor="carol")
    assert (done.inserted, done.already_recorded) == (1, 0)
    assert retracted_entries(camp.ledger) == {"m4": "typo: 75 not 7.5"}
    t = camp.table().set_index(["temperature", "time"])
    assert t.loc[(80, 2), "yield"] == 70.0 and t.loc[(80, 2), "n_measurements"] == 1
    st = camp.status()
    assert st.best == 70.0 and st.n_retracted == 1
    assert re.search(r"^retracted: +1 entry recorded in error", str(st), re.M)
    assert len(camp.ledger.measurements()) == 3 and len(camp.ledger.measurements(retracted=True)) == 4

    log = campaign_log(camp)
    assert log["event"].tolist() == ["measured"] * 3 + ["measured (retracted)", "retracted"]
    last = log.iloc[-1]
    assert (last["target"], last["value"], last["recorded_by"]) == ("yield", 7.5, "carol")
    assert last["reason"] == "m4: typo: 75 not 7.5"
    out = camp.export()
    gone = out[out["status"] == "retracted"]
    assert gone["measured_value"].tolist() == [7.5] and gone["retracted_reason"].tolist() == ["typo: 75 not 7.5"]
    assert (out["status"] == "ok").sum() == 3

    # retracting again is acknowledged once; the same value recorded again stays retracted ...
    assert retract(camp.ledger, ["M4"], "again", actor="carol").already_recorded == 1
    again = camp.record(_results([80], [2], [7.5]), source="typo.csv")
    assert (again.inserted, again.already_recorded, again.duplicate_ids) == (0, 1, [4])
    assert len(camp.ledger.measurements()) == 3
    # ... unless it is a new measurement (its own measurement_id); the right value is recorded as usual
    camp.record(_results([80, 80], [2, 2], [7.5, 75.0], measurement_id=["rerun", None]), source="r2.csv")
    assert camp.table().set_index(["temperature", "time"]).loc[(80, 2), "n_measurements"] == 3


def test_a_retracted_veto_or_failure_lets_the_candidate_be_suggested_again(tmp_path):
    camp = _campaign(tmp_path)
    camp.record(_results([60, 100, 80], [1, 4, 3], [20.0, 45.0, None], status=["ok", "ok", "failed"]),
                source="r1.csv")
    veto_candidates(camp, ["#2"], "no precursor")  # 60 C, 2 h
    st = camp.status()
    assert (st.n_failed, st.n_vetoed) == (1, 1)
    ev = read_events(camp.ledger)
    assert ev["kind"].tolist() == ["failed", "veto"]
    picks = camp.suggest(batch=10, seed=0)  # 12 candidates: 2 measured, 1 failed, 1 vetoed
    chosen = set(zip(picks["temperature"], picks["time"], strict=True))
    assert (80, 3) not in chosen and (60, 2) not in chosen and len(chosen) == 8

    retract(camp.ledger, [f"e{i}" for i in ev["id"]], "failure was on another row; veto lifted")
    st = camp.status()
    assert (st.n_failed, st.n_vetoed) == (0, 0)
    assert read_events(camp.ledger)["kind"].tolist() == ["retracted", "retracted"]
    assert read_events(camp.ledger, retracted=True)["kind"].tolist() == ["failed", "veto", "retracted", "retracted"]
    log = campaign_log(camp)
    assert {"failed (retracted)", "veto (retracted)"} <= set(log["event"])
    out = camp.export()
    assert out["status"].eq("failed (retracted)").sum() == 1 and out["vetoed_reason"].isna().all()
    picks = camp.suggest(batch=10, seed=0)  # the other 8 await results: the two freed are all that is left
    assert set(zip(picks["temperature"], picks["time"], strict=True)) == {(80, 3), (60, 2)}


def test_retract_refuses_unknown_entries_additions_and_retractions_all_or_nothing(tmp_path):
    camp = _campaign(tmp_path)
    camp.record(_results([60], [1], [20.0]), source="r1.csv")
    from matloop.design.campaign_failures import add_expert_candidates

    add_expert_candidates(camp, pd.DataFrame({"temperature": [120], "time": [1]}), [1], "a guess", "mine.csv")
    retract(camp.ledger, ["m1"], "wrong sample")
    with pytest.raises(InputError) as err:
        retract(camp.ledger, ["m1", "m7", "e1", "e2", "x3", "7"], "oops")
    reasons = dict(zip(err.value.table["value"], err.value.table["reason"], strict=True))
    assert set(reasons) == {"m7", "e1", "e2", "x3", "7"}  # m1 (retracted before) is no problem
    assert "campaign veto" in reasons["e1"] and "final" in reasons["e2"]
    assert "m<N>" in reasons["m7"] and "m<N>" in reasons["x3"]
    with pytest.raises(InputError) as err:  # a range is every entry in it, all or nothing
        retract(camp.ledger, ["e1-e2", "m2-m1", "m1-e2"], "oops")
    assert err.value.table["value"].tolist() == ["e1-e2", "m2-m1", "m1-e2"]  # e1 added, e2 a retraction: none
    with pytest.raises(InputError, match="needs a reason"):
        retract(camp.ledger, ["m1"], "  ")
    assert len(read_events(camp.ledger, retracted=True)) == 2  # the addition and one retraction


def test_a_range_retracts_a_whole_results_file(tmp_path):
    camp = _campaign(tmp_path)
    camp.record(_results([60, 80], [1, 1], [20.0, 30.0]), source="mine.csv")
    camp.record(_results([60, 80, 100], [2, 2, 2], [1.0, 2.0, 3.0]), source="other_plate.csv")
    log = campaign_log(camp)
    wrong = log.loc[log["source"] == "other_plate.csv", "entry"].tolist()
    assert wrong == ["m3", "m4", "m5"]
    assert retract(camp.ledger, ["m3-m5"], "the other plate's file").inserted == 3
    assert retract(camp.ledger, ["M3 - 5"], "again").already_recorded == 3
    assert camp.status().n_measured == 2 and len(retracted_entries(camp.ledger)) == 3
    # a team ledger: another campaign's results land between this one's; a range leaves them alone
    other = Campaign.create("other", str(tmp_path / "l.db"), Objective("max"), "yield", pool=camp._dataset(
        camp.table()[["temperature", "time", "yield"]].assign(**{"yield": np.nan})))
    camp.record(_results([100], [1], [9.0]), source="a.csv")
    other.record(_results([100], [1], [9.5]), source="b.csv")
    camp.record(_results([120 - 20], [3], [8.0]), source="c.csv")
    log = campaign_log(camp)
    mine = log.loc[log["event"] == "measured", "entry"].tolist()[-2:]
    assert mine == ["m6", "m8"]  # m7 is the other campaign's
    assert retract(camp.ledger, ["m6-m8"], "both files were another plate's").inserted == 2
    assert other.status().best == 9.5 and not retracted_entries(other.ledger)
    with pytest.raises(InputError, match="nor a range holding one"):
        retract(camp.ledger, ["m7"], "not mine")


def test_several_goals_retract_one_value_and_record_a_failure_without_goal_columns(tmp_path):
    camp = _campaign(tmp_path, goals=["yield", "cost"])
    camp.record(_results([60, 100], [1, 4], [20.0, 45.0], cost=[3.0, 5.0]), source="r1.csv")
    retract(camp.ledger, ["m1"], "yield of the wrong vial")  # 60 C: yield only
    t = camp.table().set_index(["temperature", "time"])
    assert np.isnan(t.loc[(60, 1), "yield"]) and t.loc[(60, 1), "cost"] == 3.0
    # a batch file marked failed needs no goal column (it has none to fill in for a failure)
    failed = pd.DataFrame({"temperature": [80], "time": [2], "status": ["failed"], "reason": ["tar"]})
    r = camp.record(failed, source="b1.csv")
    assert (r.inserted, r.failed) == (0, 1)
    with pytest.raises(InputError, match="Cannot record"):
        camp.record(failed.assign(status="ok"), source="b1.csv")


def test_abandoned_suggestions_stop_awaiting_results_and_may_be_suggested_again(tmp_path):
    from matloop.design.campaign_failures import abandon_candidates

    camp = _campaign(tmp_path)
    camp.record(_results([60, 100], [1, 4], [20.0, 45.0]), source="r1.csv")
    batch = camp.suggest(batch=10, seed=0)  # every other candidate: all awaiting results now
    assert len(batch) == 10 and camp.status().n_pending == 10
    with pytest.raises(InputError, match=r"10 await results .* \(matloop campaign abandon\)"):
        camp.suggest(batch=1, seed=0)
    done = abandon_candidates(camp, ["temperature=80, time=2", "#7"], "no precursor this week", actor="ana")
    assert (done.inserted, done.already_recorded) == (2, 0)
    assert camp.status().n_pending == 8
    again = camp.suggest(batch=5, seed=0)  # only the two abandoned are free
    assert set(zip(again["temperature"], again["time"], strict=True)) == {(80, 2), (80, 3)}
    assert camp.status().n_pending == 10
    with pytest.raises(InputError, match="only suggestions awaiting results") as err:
        abandon_candidates(camp, ["#1", "temperature=80, time=2"], "x")  # measured; awaited again: all or nothing
    assert err.value.table["value"].tolist() == ["#1"]
    log = campaign_log(camp)
    assert (log["event"] == "abandoned").sum() == 2 and set(log.loc[log["event"] == "abandoned", "recorded_by"]) == {"ana"}
    # everything awaited, abandoned at once; a retracted abandonment awaits results again
    assert abandon_candidates(camp, [], "plate dropped", all_pending=True).inserted == 10
    assert camp.status().n_pending == 0
    assert abandon_candidates(camp, [], "plate dropped", all_pending=True).inserted == 0
    last = campaign_log(camp)["entry"].iloc[-1]
    retract(camp.ledger, [last], "that one was run after all")
    assert camp.status().n_pending == 1
