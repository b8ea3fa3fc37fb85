"""One results request is one transaction, for several goals too (issue 18: "all or nothing per
request"): a failure injected after the ok rows' measurements were written, before the failed rows'
events, leaves nothing of the request in the ledger (and its Idempotency-Key unused)."""

from __future__ import annotations

import pytest

pytest.importorskip("sqlalchemy")

import matloop.design.campaign_failures as campaign_failures  # noqa: E402
from matloop.serve import service  # noqa: E402
from matloop.serve.db import open_db  # noqa: E402


class Crash(RuntimeError):
    """Stands for the process dying between two writes of one request."""


def _two_goal_campaign(tmp_path):
    db = open_db(f"sqlite:///{tmp_path / 'lab.db'}")
    pool = [{"t": 300 + 25 * i, "a": (float(i) if i < 4 else None), "b": (float(10 - i) if i < 4 else None)}
            for i in range(10)]
    service.create_campaign(db, "two", ["a:max", "b:min"], pool, actor="test")
    return db


def _state(db) -> tuple:
    st = service.campaign_status(db, "two")
    return st["measurements"], st["measurement_values"], st["failures"], st["failed_candidates"]


ROWS = [{"t": 400, "a": 5.0, "b": 1.0}, {"t": 425, "a": None, "b": 2.5},
        {"t": 450, "status": "failed", "reason": "cracked"}]


def test_a_crash_after_the_ok_rows_leaves_nothing_recorded(tmp_path, monkeypatch):
    db = _two_goal_campaign(tmp_path)
    before = _state(db)
    assert before == (4, 8, 0, 0)
    real = campaign_failures.record_failures
    calls = {"n": 0}

    def crash_after_ok_rows(conn, ledger, *args, **kwargs):
        calls["n"] += 1
        from sqlalchemy import func, select

        from matloop.design.ledger import measurements
        # the ok rows' measurements are written on this very connection, not yet committed
        n = conn.execute(select(func.count()).select_from(measurements)).scalar()
        assert n == 8 + 3
        raise Crash("killed between the ok rows and the failed row")

    monkeypatch.setattr(campaign_failures, "record_failures", crash_after_ok_rows)
    with pytest.raises(Crash):
        service.record_results(db, "two", ROWS, actor="robot", idempotency_key="req-1")
    assert calls["n"] == 1
    assert _state(db) == before  # neither the ok rows' values nor the failure
    from sqlalchemy import func, select

    from matloop.serve.db import requests
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(requests)).scalar() == 0  # key not used up

    monkeypatch.setattr(campaign_failures, "record_failures", real)
    done = service.record_results(db, "two", ROWS, actor="robot", idempotency_key="req-1")
    assert (done["recorded"], done["failed"], done["replayed"]) == (3, 1, False)
    assert _state(db) == (6, 11, 1, 1)
    again = service.record_results(db, "two", ROWS, actor="robot", idempotency_key="req-1")
    assert again == {**done, "replayed": True} and _state(db) == (6, 11, 1, 1)


def test_ok_and_failed_rows_of_several_goals_take_one_transaction(tmp_path, monkeypatch):
    db = _two_goal_campaign(tmp_path)
    from matloop.design.ledger import Ledger

    real = Ledger._write
    transactions = []

    def counted(self, work, attempts=5):
        transactions.append(work)
        return real(self, work, attempts)

    monkeypatch.setattr(Ledger, "_write", counted)
    camp = service.open_campaign(db, "two")
    import pandas as pd

    done = camp.record(pd.DataFrame.from_records(ROWS), source="test", actor="robot")
    assert (done.inserted, done.failed) == (3, 1) and len(transactions) == 1
