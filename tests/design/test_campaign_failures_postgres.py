"""Failures, vetoes and expert candidates on a real PostgreSQL server, including a ledger created
before the events table existed (it is added on the first write).

The throwaway server is the fixture of test_ledger_postgres.py (skipped, with the reason, where
PostgreSQL's binaries or psycopg are missing).
"""

import pandas as pd
from sqlalchemy import text

from matloop.design.acquisition import Objective
from matloop.design.campaign import Campaign
from matloop.design.campaign_failures import add_expert_candidates, veto_candidates
from matloop.design.ledger_events import campaign_log, read_events, retract
from matloop.io.dataset import Dataset


def _server_fixture():
    """test_ledger_postgres.py's module-scoped server fixture (its skips apply here too)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("_ledger_postgres", Path(__file__).with_name("test_ledger_postgres.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.url


url = _server_fixture()


def _pool():
    frame = pd.DataFrame({"time": [1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                          "temperature": [300.0, 350, 400, 450, 500, 550, 600, 650, 700, 750]})
    frame["yield"] = [0.1, 0.3, 0.5, 0.6, None, None, None, None, None, None]
    return Dataset(frame=frame, input=None, kind="parameters", targets=["yield"], parameters=["time", "temperature"])


def test_failures_vetoes_and_additions_on_postgres(url):
    camp = Campaign.create("failures", url, Objective("max"), "yield", pool=_pool(), actor="me@lab")
    batch = camp.suggest(batch=2, model="rf")
    res = batch[["time", "temperature"]].assign(**{"yield": [0.7, None], "status": ["ok", "failed"],
                                                   "reason": [None, "crucible cracked"]})
    r = camp.record(res, "batch1.csv", actor="bob")
    assert (r.inserted, r.failed) == (1, 1)
    again = camp.record(res, "batch1.csv", actor="bob")
    assert (again.already_recorded, again.failed_already) == (1, 1)  # idempotent on the server too
    veto_candidates(camp, ["time=10, temperature=750"], "furnace limit", actor="carol")
    add_expert_candidates(camp, pd.DataFrame({"time": [2.5], "temperature": [420.0]}), [1], "my idea", "ideas.csv")
    st = Campaign("failures", url).status()
    assert (st.n_failed, st.n_vetoed, st.n_candidates) == (1, 1, 11)
    log = campaign_log(camp)
    assert {"measured", "failed", "veto", "added"} <= set(log["event"])
    nxt = camp.suggest(batch=10, model="rf")
    assert "p_success" in nxt.columns
    chosen = set(map(tuple, nxt[["time", "temperature"]].to_numpy()))
    failed = tuple(res.loc[res["status"] == "failed", ["time", "temperature"]].iloc[0])
    assert failed not in chosen and (10.0, 750.0) not in chosen and (2.5, 420.0) in chosen
    # the 0.7 was a typo and the veto a mistake: both retracted, kept in the log, out of the status
    typo = log.loc[log["value"] == 0.7, "entry"].item()
    veto = log.loc[log["event"] == "veto", "entry"].item()
    assert retract(camp.ledger, [typo, veto], "typo; veto lifted", actor="dana").inserted == 2
    st = Campaign("failures", url).status()
    assert (st.n_measured, st.n_vetoed, st.n_retracted, st.best) == (4, 0, 2, 0.6)
    log = campaign_log(camp)
    assert {"measured (retracted)", "veto (retracted)", "retracted"} <= set(log["event"])


def test_a_ledger_from_before_the_events_table_upgrades_on_postgres(url):
    camp = Campaign.create("old-schema", url, Objective("max"), "yield", pool=_pool(), actor="me@lab")
    with camp.ledger.engine.begin() as conn:  # as a ledger written by an older matloop
        conn.execute(text("DROP TABLE campaign_events"))
    old = Campaign("old-schema", url)
    assert old.status().n_measured == 4 and read_events(old.ledger).empty
    row = old.table().iloc[[6]]
    assert old.record(row[["time", "temperature"]].assign(status="failed"), "late.csv").failed == 1
    assert len(read_events(old.ledger)) == 1
