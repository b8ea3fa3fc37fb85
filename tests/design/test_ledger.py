import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from matloop.design.ledger import Ledger
from matloop.errors import InputError, MatloopError
from standins import LEDGER_WRITER, oxides_ledger


@pytest.fixture
def ledger(tmp_path):
    return oxides_ledger(str(tmp_path / "c.db"))


def test_create_twice_is_an_error(ledger, tmp_path):
    with pytest.raises(MatloopError, match="already exists"):
        Ledger.create(str(tmp_path / "c.db"), "oxides", {}, None, None)
    with pytest.raises(MatloopError, match="no campaign named"):
        Ledger(str(tmp_path / "c.db"), "other")


def test_record_is_idempotent_and_keeps_everything(ledger):
    res = pd.DataFrame({"formula": ["NiO", "CuO"], "gap": [3.7, 1.2], "operator": ["x", "y"]})
    r1 = ledger.record(res, ["NiO", "CuO"], ["gap"], "run1.csv", [1, 2], actor="alice@lab")
    r2 = ledger.record(res, ["NiO", "CuO"], ["gap"], "run1.csv", [1, 2], actor="alice@lab")
    assert (r1.inserted, r2.inserted, r2.already_recorded) == (2, 0, 2)
    m = ledger.measurements()
    assert m["value"].tolist() == [3.7, 1.2] and set(m["recorded_by"]) == {"alice@lab"}
    assert '"operator": "x"' in m["extra"].iloc[0]  # the whole results row is kept


def test_unknown_candidate_is_an_error_unless_allowed(ledger):
    res = pd.DataFrame({"formula": ["NiO", "MgO"], "gap": [3.7, 7.8]})
    with pytest.raises(InputError) as err:
        ledger.record(res, ["NiO", "MgO"], ["gap"], "f.csv", [1, 2])
    assert err.value.table["row"].tolist() == [2] and "MgO" in str(err.value)
    assert ledger.measurements().empty  # all or nothing
    ledger.record(res, ["NiO", "MgO"], ["gap"], "f.csv", [1, 2], allow_new=True)
    cands = ledger.candidates()
    assert cands.loc[cands["key"] == "MgO", "source"].item() == "recorded"


def test_bad_values_are_reported_and_empty_cells_skipped(ledger):
    res = pd.DataFrame({"formula": ["NiO", "CuO", "ZnO"], "gap": [np.nan, "abc", np.inf]})
    with pytest.raises(InputError) as err:
        ledger.record(res, ["NiO", "CuO", "ZnO"], ["gap"], "f.csv", [1, 2, 3])
    assert err.value.table["row"].tolist() == [2, 3]
    assert ledger.measurements().empty


def test_suggestions_are_stored_with_model_and_strategy(ledger):
    batch = pd.DataFrame({"key": ["CuO", "Cu2O"], "data": [{"formula": "CuO"}, {"formula": "Cu2O"}],
                          "rank": [1, 2], "prediction": [1.0, 2.0], "std": [0.1, 0.2],
                          "acquisition": [0.5, 0.4], "reason": ["r1", "r2"]})
    ledger.add_suggestions(batch, {"acquisition": "ei"}, "RandomForest", "abc123", n_measured=0)
    s = ledger.suggestions()
    assert s["model"].tolist() == ["RandomForest"] * 2 and s["rank"].tolist() == [1, 2]
    assert "Cu2O" in ledger.candidates()["key"].tolist()  # a new space point became a candidate


def test_two_processes_recording_at_once_both_land(ledger):
    procs = [subprocess.Popen([sys.executable, "-c", LEDGER_WRITER, ledger.url, "oxides", tag, "25", "distinct"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for tag in ("p1", "p2")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    m = ledger.measurements()
    assert len(m) == 50 and set(m["source"]) == {"p1", "p2"}


def test_kill_loses_nothing_acknowledged(ledger):
    p = subprocess.Popen([sys.executable, "-c", LEDGER_WRITER, ledger.url, "oxides", "k", "100000",
                          "distinct"], stdout=subprocess.PIPE,
                         text=True)
    acked = 0
    for _line in p.stdout:
        acked += 1
        if acked == 15:
            p.kill()
            break
    p.wait(timeout=30)
    assert len(ledger.measurements()) >= acked


# ----------------------------------------------------------------- idempotency keys (issue 16, items 2 and 10)
def test_empty_measurement_id_cells_do_not_merge_different_measurements(ledger, tmp_path):
    """``X,100,`` and ``X,200,``: an empty measurement_id is "no id", not the shared id "nan"."""
    path = tmp_path / "results.csv"
    path.write_text("formula,gap,measurement_id\nNiO,100,\nNiO,200,\n")
    from matloop.io.files import read_raw

    frame, rows = read_raw(path)
    r = ledger.record(frame, ["NiO", "NiO"], ["gap"], "results.csv", [int(x) for x in rows])
    assert (r.inserted, r.already_recorded) == (2, 0)
    assert sorted(ledger.measurements()["value"]) == [100.0, 200.0]
    again = ledger.record(frame, ["NiO", "NiO"], ["gap"], "results.csv", [1, 2])
    assert (again.inserted, again.already_recorded) == (0, 2)


def test_a_re_export_with_other_number_text_or_extra_columns_is_the_same_measurement(ledger):
    first = pd.DataFrame({"formula": ["NiO", "CuO"], "gap": ["555", "1.2"]})
    ledger.record(first, ["NiO", "CuO"], ["gap"], "a.csv", [1, 2])
    reexport = pd.DataFrame({"gap": ["555.0", "1.20"], "formula": ["NiO", "CuO"], "operator": ["x", "y"],
                             "measurement_id": [np.nan, "  "]})
    r = ledger.record(reexport, ["NiO", "CuO"], ["gap"], "b.xlsx", [1, 2])
    assert (r.inserted, r.already_recorded) == (0, 2)
    assert len(ledger.measurements()) == 2


def test_measurement_ids_are_normalised_and_a_conflicting_value_is_an_error(ledger):
    ledger.record(pd.DataFrame({"formula": ["NiO"], "gap": [3.7], "measurement_id": [7]}), ["NiO"], ["gap"], "a", [1])
    same = pd.DataFrame({"formula": ["NiO"], "gap": ["3.70"], "measurement_id": ["7.0"]})
    assert ledger.record(same, ["NiO"], ["gap"], "b", [1]).already_recorded == 1
    replicate = pd.DataFrame({"formula": ["NiO"], "gap": [3.7], "measurement_id": ["r2"]})
    assert ledger.record(replicate, ["NiO"], ["gap"], "c", [1]).inserted == 1  # equal value, distinct id
    changed = pd.DataFrame({"formula": ["NiO"], "gap": [3.9], "measurement_id": ["7"]})
    with pytest.raises(InputError) as err:
        ledger.record(changed, ["NiO"], ["gap"], "d", [1])
    assert err.value.table["column"].tolist() == ["measurement_id"] and "3.7" in str(err.value)
    assert sorted(ledger.measurements()["value"]) == [3.7, 3.7]


def test_opening_a_missing_ledger_creates_nothing(tmp_path):
    missing = tmp_path / "typo.db"
    with pytest.raises(InputError, match="no ledger file"):
        Ledger(str(missing), "oxides")
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    import sqlite3

    sqlite3.connect(empty).close()  # a SQLite file that is not a ledger
    with pytest.raises(InputError, match="no matloop campaigns"):
        Ledger(str(empty), "oxides")


@pytest.mark.parametrize("url, reason", [
    ("bogus://x", "not a valid database URL"),
    ("sqlite:////nonexistent-folder-xyz/c.db", "does not exist"),
])
def test_bad_ledger_urls_are_input_errors(url, reason):
    with pytest.raises(InputError, match=reason) as err:
        Ledger.create(url, "c", {}, None, None)
    assert err.value.table["column"].tolist() == ["--db"]


def test_measurements_recorded_with_the_old_key_are_still_recognised(ledger):
    import hashlib

    from sqlalchemy import insert

    from matloop.design.ledger import _json, measurements, now

    rec = {"formula": "NiO", "gap": 3.7}
    old = hashlib.sha256(f"{ledger.id}|NiO|gap|{3.7!r}|{_json(rec)}".encode()).hexdigest()
    cand = int(ledger.candidates().set_index("key").loc["NiO", "candidate_id"])
    with ledger.engine.begin() as conn:
        conn.execute(insert(measurements).values(campaign_id=ledger.id, candidate_id=cand, target="gap", value=3.7,
                                                 idempotency_key=old, source="v1", extra=_json(rec),
                                                 recorded_at=now(), recorded_by="old@host"))
    r = ledger.record(pd.DataFrame([rec]), ["NiO"], ["gap"], "again", [1])
    assert (r.inserted, r.already_recorded) == (0, 1)
