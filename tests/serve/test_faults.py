"""``matloop serve`` as a real process under load, killed with SIGKILL in the middle and restarted
(issue 18): 16 concurrent clients post 1,000 results in all (some requests sent twice with the same
Idempotency-Key, some rows again under another key); the server is killed once a third of the
requests are acknowledged, the ledger is checked while it is down, then it is restarted on the same
port and the clients resend what was not acknowledged. Every acknowledged result must be in the ledger
exactly once, each request's rows all there or all absent, and at the end every result exactly once.
On SQLite and on a throwaway PostgreSQL server (as in ``tests/design/test_ledger_postgres.py``)."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

from matloop.serve import auth, service  # noqa: E402
from matloop.serve.db import open_db  # noqa: E402
from matloop.serve.loadtest import ServerProcess, plan_requests, run_load  # noqa: E402

N_RESULTS, PER_REQUEST, CLIENTS = 1000, 5, 16


def _ids(url: str) -> Counter:
    """measurement_id -> how many measurements the ledger holds for it."""
    from matloop.design.campaign import Campaign

    camp = Campaign("load", url)
    try:
        return Counter(json.loads(e)["measurement_id"] for e in camp.ledger.measurements()["extra"])
    finally:
        camp.ledger.engine.dispose()


def _check_consistent(url: str, requests, acked_keys: set[str]) -> Counter:
    ids = _ids(url)
    assert all(n == 1 for n in ids.values()), [k for k, n in ids.items() if n > 1][:5]
    for req in requests:
        present = [f"m{r['x']}" in ids for r in req.rows]
        assert all(present) or not any(present), f"request {req.key} half recorded"
        if req.key in acked_keys:
            assert all(present), f"acknowledged request {req.key} lost"
    if url.startswith("sqlite"):
        import sqlite3

        con = sqlite3.connect(url.split("///", 1)[1])
        try:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        finally:
            con.close()
    return ids


def _killed_load(url: str, tmp_path) -> None:
    db = open_db(url)
    token = auth.create_token(db, "experimenter", "robot")[1]
    service.create_campaign(db, "load", ["y:max"], [{"x": i, "y": None} for i in range(N_RESULTS)], actor="setup")
    db.close()
    server = ServerProcess(url, log_path=str(tmp_path / "server.log")).start(token)
    requests = plan_requests(N_RESULTS, PER_REQUEST)
    assert sum(len(r.rows) for r in requests) == N_RESULTS
    assert {r.repeat for r in requests} == {"", "same key", "other key"}
    state: dict = {"killed": False, "down": None}
    lock = threading.Lock()

    def on_ack(report):
        with lock:
            if state["killed"] or len(report.acks) < len(requests) // 3:
                return
            state["killed"] = True
        acked = {a.key for a in list(report.acks)}
        server.kill()  # mid-load: other clients have requests in flight
        try:
            state["down"] = len(_check_consistent(url, requests, acked))
        finally:
            server.start(token)  # same port: the clients' retries find it again

    try:
        report = run_load(server.url, token, "load", requests, clients=CLIENTS, deadline_s=240, on_ack=on_ack)
    finally:
        server.stop()
    assert state["killed"] and state["down"] is not None
    assert report.errors == []
    assert {a.key for a in report.acks} == {r.key for r in requests}
    ids = _check_consistent(url, requests, {a.key for a in report.acks})
    distinct = {f"m{row['x']}" for r in requests for row in r.rows}
    assert set(ids) == distinct and sum(ids.values()) == len(distinct)
    assert service.campaign_status(url, "load")["measurements"] == len(distinct)
    assert any(a.body["replayed"] for a in report.acks)  # same-key repeats answered from the stored answer
    assert any(a.body["already_recorded"] for a in report.acks)  # rows sent again under another key
    log = (tmp_path / "server.log").read_text()
    assert log.count("bound to 127.0.0.1: only this machine can connect") == 2  # started twice, said so twice


def test_sigkill_under_load_loses_nothing_acknowledged_sqlite(tmp_path):
    _killed_load(f"sqlite:///{tmp_path / 'lab.db'}", tmp_path)


# --------------------------------------------------------------------------- PostgreSQL (throwaway)
@pytest.fixture
def pg_url():
    pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")
    from pg_server import throwaway_postgres

    with throwaway_postgres(54337, prefix="matloop-serve-pg-") as url:
        yield url


def test_sigkill_under_load_loses_nothing_acknowledged_postgres(pg_url, tmp_path):
    _killed_load(pg_url, tmp_path)
