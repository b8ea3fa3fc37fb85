"""The campaign ledger on a real PostgreSQL server (a team's database), not only on SQLite.

A throwaway server is started for this module with the machine's PostgreSQL binaries (Debian's
``postgresql`` package), listening on a Unix socket in a temporary folder only (no TCP port), and
removed afterwards. Skipped, with the reason, where the binaries or the ``psycopg`` driver are
missing.
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from matloop.design.acquisition import Objective
from matloop.design.campaign import Campaign
from matloop.errors import MatloopError
from matloop.io.dataset import Dataset
from pg_server import server_bin, throwaway_postgres
from standins import LEDGER_WRITER, oxides_ledger

pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")
if server_bin() is None:
    pytest.skip("no PostgreSQL server binaries (Debian package 'postgresql')", allow_module_level=True)


@pytest.fixture(scope="module")
def url():
    """SQLAlchemy URL of a throwaway server; each test uses its own campaign names."""
    with throwaway_postgres(54329) as address:
        yield address


def test_campaign_round_trip_on_postgres(url):
    frame = pd.DataFrame({"time": [1.0, 2, 3, 4, 5, 6, 7, 8], "temperature": [300.0, 350, 400, 450, 500, 550,
                                                                               600, 650]})
    frame["yield"] = [0.1, 0.3, 0.5, 0.6, None, None, None, None]
    ds = Dataset(frame=frame, input=None, kind="parameters", targets=["yield"])
    camp = Campaign.create("round-trip", url, Objective("max"), "yield", pool=ds, actor="me@lab")
    assert (camp.status().n_candidates, camp.status().n_measured) == (8, 4)
    batch = camp.suggest(batch=2, model="rf")
    results = batch[["time", "temperature"]].copy()
    results["yield"] = [0.7, 0.8]
    assert camp.record(results, "batch1.csv").inserted == 2
    assert camp.record(results, "batch1.csv").already_recorded == 2  # idempotent on the server too
    exported = Campaign("round-trip", url).export()
    assert exported["measured_value"].notna().sum() == 6 and exported["suggested_rank"].notna().sum() == 2
    with pytest.raises(MatloopError, match="already exists"):
        Campaign.create("round-trip", url, Objective("max"), "yield", pool=ds)


@pytest.mark.parametrize("ids", ["distinct", "same"])
def test_two_processes_recording_at_once_on_postgres(url, ids):
    """Distinct measurements from two processes all land; the same measurements sent by both at once
    land exactly once (the loser of a race retries and sees them as already recorded)."""
    name = f"concurrent-{ids}"
    ledger = oxides_ledger(url, name)
    procs = [subprocess.Popen([sys.executable, "-c", LEDGER_WRITER, url, name, tag, "30", ids], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for tag in ("p1", "p2")]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    m = ledger.measurements()
    if ids == "distinct":
        assert len(m) == 60 and set(m["source"]) == {"p1", "p2"}
    else:
        assert len(m) == 30 and m["idempotency_key"].is_unique
