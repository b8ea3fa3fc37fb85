"""All-or-nothing campaign steps (issue 16, items 8 and 9): creating a campaign with its measured pool
rows, and suggesting a batch together with writing its file."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from matloop.design.acquisition import Objective
from matloop.design.campaign import Campaign
from matloop.design.ledger import Ledger
from matloop.errors import InputError
from matloop.io.dataset import Dataset


def _pool(n=30, measured=8):
    rng = np.random.default_rng(1)
    f = pd.DataFrame({"temperature": rng.uniform(300, 900, n).round(1), "time": rng.uniform(1, 10, n).round(2)})
    f["yield"] = -((f["temperature"] - 700) / 200) ** 2 - ((f["time"] - 3) / 3) ** 2
    f.loc[measured:, "yield"] = np.nan
    return Dataset(frame=f, input=None, kind="parameters", targets=["yield"])


def _tables(db):
    import sqlite3

    with sqlite3.connect(db) as conn:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0]
                for t in ("campaigns", "candidates", "measurements")}


def test_a_failure_between_campaign_and_measurements_commits_nothing(tmp_path, monkeypatch):
    db = str(tmp_path / "c.db")

    def boom(*args, **kwargs):
        raise RuntimeError("killed between the steps")
    monkeypatch.setattr(Ledger, "_record", boom)
    with pytest.raises(RuntimeError):
        Campaign.create("proc", db, Objective("max"), "yield", pool=_pool())
    assert _tables(db) == {"campaigns": 0, "candidates": 0, "measurements": 0}
    monkeypatch.undo()
    camp = Campaign.create("proc", db, Objective("max"), "yield", pool=_pool())  # can be created again
    assert (camp.status().n_candidates, camp.status().n_measured) == (30, 8)


def test_a_bad_measured_pool_row_creates_no_campaign(tmp_path):
    db = str(tmp_path / "c.db")
    ds = _pool()
    ds.frame["yield"] = ds.frame["yield"].astype(object)
    ds.frame.loc[3, "yield"] = "1e999"  # numeric to pandas, not finite: the ledger refuses it
    with pytest.raises(InputError):
        Campaign.create("proc", db, Objective("max"), "yield", pool=ds)
    assert _tables(db)["campaigns"] == 0


KILLED_CREATE = textwrap.dedent("""
    import sys, time
    import numpy as np, pandas as pd
    from matloop.design.acquisition import Objective
    from matloop.design.campaign import Campaign
    from matloop.design.ledger import Ledger
    from matloop.io.dataset import Dataset

    real = Ledger._record
    def slow(self, conn, *args):
        print("campaign and candidates inserted", flush=True)
        time.sleep(60)  # killed here
        return real(self, conn, *args)
    Ledger._record = slow
    f = pd.DataFrame({"x": np.arange(10.0), "y": [1.0, 2.0, 3.0] + [np.nan] * 7})
    Campaign.create("proc", sys.argv[1], Objective("max"), "y",
                    pool=Dataset(frame=f, input=None, kind="parameters", targets=["y"]))
""")


def test_kill_9_between_the_steps_leaves_no_half_campaign(tmp_path):
    db = str(tmp_path / "c.db")
    proc = subprocess.Popen([sys.executable, "-c", KILLED_CREATE, db], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("campaign and candidates inserted")
    proc.kill()  # SIGKILL
    proc.wait(timeout=30)
    assert _tables(db) == {"campaigns": 0, "candidates": 0, "measurements": 0}
    f = pd.DataFrame({"x": np.arange(10.0), "y": [1.0, 2.0, 3.0] + [np.nan] * 7})
    camp = Campaign.create("proc", db, Objective("max"), "y",
                           pool=Dataset(frame=f, input=None, kind="parameters", targets=["y"]))
    assert camp.status().n_measured == 3


@pytest.fixture
def campaign(tmp_path):
    return Campaign.create("proc", str(tmp_path / "c.db"), Objective("max"), "yield", pool=_pool())


@pytest.mark.parametrize("name, reason", [("next.weird", "unsupported format"),
                                          ("no-such-folder/next.csv", "does not exist")])
def test_an_output_that_cannot_be_written_is_refused_before_anything_is_stored(campaign, tmp_path, name, reason):
    with pytest.raises(InputError, match=reason):
        campaign.suggest(batch=2, model="rf", output=tmp_path / name)
    assert campaign.ledger.suggestions().empty and campaign.status().n_pending == 0


def test_a_failed_write_rolls_the_batch_back_and_leaves_no_file(campaign, tmp_path, monkeypatch):
    import matloop.io.write as write

    def full_disk(frame, path, **kwargs):
        open(path, "w").write("partial")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(write, "write_table", full_disk)
    with pytest.raises(Exception, match="nothing was stored"):
        campaign.suggest(batch=2, model="rf", output=tmp_path / "next.csv")
    assert campaign.ledger.suggestions().empty
    assert os.listdir(tmp_path) == ["c.db"] or set(os.listdir(tmp_path)) <= {"c.db", "c.db-wal", "c.db-shm"}


def test_a_failed_commit_leaves_no_file(campaign, tmp_path, monkeypatch):
    real = Ledger._add_suggestions

    def then_fail(self, *args):
        real(self, *args)
        raise RuntimeError("the database went away")
    monkeypatch.setattr(Ledger, "_add_suggestions", then_fail)
    with pytest.raises(RuntimeError):
        campaign.suggest(batch=2, model="rf", output=tmp_path / "next.csv")
    assert not [p for p in os.listdir(tmp_path) if "next" in p]
    assert campaign.ledger.suggestions().empty


def test_suggest_writes_the_file_and_stores_the_batch(campaign, tmp_path):
    out = tmp_path / "next.csv"
    batch = campaign.suggest(batch=2, model="rf", output=out)
    written = pd.read_csv(out)
    assert len(written) == 2 and written["rank"].tolist() == [1, 2]
    assert np.allclose(written["prediction"], batch["prediction"])
    assert len(campaign.ledger.suggestions()) == 2
    assert not [p for p in os.listdir(tmp_path) if "partial" in p]
