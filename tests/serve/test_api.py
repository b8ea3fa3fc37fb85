"""The REST contract of ``matloop serve`` (issue 18), in process with FastAPI's TestClient on a temporary
SQLite ledger per test: every status code, roles, idempotency, all-or-nothing, the 422 problem tables,
413, and HTML/JS in names and reasons kept as data."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from matloop.serve import auth, service  # noqa: E402
from matloop.serve.app import create_app  # noqa: E402
from matloop.serve.settings import ServeSettings  # noqa: E402

XSS = "<script>alert('x')</script>"
IMG = '<img src=x onerror="alert(1)">'


def _pool(n: int = 12, measured: int = 4) -> list[dict]:
    return [{"temperature": 300 + 25 * i, "solvent": [XSS, "water", "ethanol"][i % 3],
             "yield": (0.1 + 0.05 * i if i < measured else None)} for i in range(n)]


@pytest.fixture
def server(tmp_path):
    """An app on its own ledger, tokens of every role, and a client."""
    def make(**kw):
        app = create_app(ServeSettings(db=str(tmp_path / "lab.db"), **kw))
        db = app.state.db
        tokens = {role: auth.create_token(db, role, f"{role} one")[1] for role in auth.ROLES}
        client = TestClient(app)
        client.__enter__()
        made.append(client)
        return client, tokens, db
    made: list = []
    yield make
    for c in made:
        c.__exit__(None, None, None)


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    """One app with the "film" campaign for the tests that only read or are refused (401/403/404/422):
    shared by the module, and each such test checks that it left the ledger as it found it."""
    app = create_app(ServeSettings(db=str(tmp_path_factory.mktemp("film") / "lab.db")))
    tokens = {role: auth.create_token(app.state.db, role, f"{role} one")[1] for role in auth.ROLES}
    with TestClient(app) as client:
        _create(client, tokens)
        yield client, tokens, app.state.db
        _unchanged(app.state.db)


def _unchanged(db) -> None:
    st = service.campaign_status(db, "film")
    assert (st["candidates"], st["measurements"], st["failures"], st["suggestions"], st["vetoed"]) == (12, 4, 0, 0, 0)
    assert [c["name"] for c in service.list_campaigns(db)] == ["film"]


def H(token: str, **extra) -> dict:
    return {"Authorization": f"Bearer {token}", **extra}


def _create(client, tokens, name="film", pool=None, goals=("yield:max",)):
    r = client.post("/api/campaigns", json={"name": name, "goals": list(goals), "pool": pool or _pool()},
                    headers=H(tokens["admin"]))
    assert r.status_code == 201, r.text
    return r.json()


def test_round_trip_create_status_suggest_record_export(server):
    client, tok, db = server()
    created = _create(client, tok)
    assert (created["candidates"], created["measurements"], created["failures"], created["suggestions"]) == (12, 4, 0, 0)
    assert created["best"]["value"] == pytest.approx(0.25) and client.post(
        "/api/campaigns", json={"name": "film", "goals": ["yield:max"], "pool": _pool()},
        headers=H(tok["admin"])).status_code == 409
    r = client.post("/api/campaigns/film/suggestions", json={"batch": 3}, headers=H(tok["experimenter"]))
    assert r.status_code == 201, r.text
    rows = r.json()["rows"]
    assert len(rows) == 3 and all({"prediction", "std", "reason", "rank"} <= set(row) for row in rows)
    assert all(row["std"] > 0 and row["reason"] for row in rows)
    results = [{"temperature": row["temperature"], "solvent": row["solvent"], "yield": 0.9 - 0.1 * i}
               for i, row in enumerate(rows)]
    results[2] = {**results[2], "yield": None, "status": "failed", "reason": "precipitate"}
    r = client.post("/api/campaigns/film/results", json={"rows": results}, headers=H(tok["experimenter"]))
    assert r.status_code == 201, r.text
    assert (r.json()["recorded"], r.json()["failed"]) == (2, 1)
    st = client.get("/api/campaigns/film", headers=H(tok["viewer"])).json()
    assert (st["candidates"], st["measurements"], st["failures"], st["suggestions"], st["pending"]) == (12, 6, 1, 3, 0)
    assert all(isinstance(st[k], int) for k in ("candidates", "measurements", "failures", "suggestions"))
    assert st["best"]["value"] == pytest.approx(0.9)
    r = client.get("/api/campaigns/film/export", headers=H(tok["viewer"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "precipitate" in r.text and r.text.count("\n") >= 13
    listed = client.get("/api/campaigns", headers=H(tok["viewer"])).json()
    assert [c["name"] for c in listed] == ["film"] and listed[0]["candidates"] == 12
    hist = client.get("/api/campaigns/film/history", headers=H(tok["viewer"])).json()
    assert len(hist["progress"]) == 6 and len(hist["suggestions"]) == 3
    assert {e["event"] for e in hist["log"]} == {"measured", "failed"}


ENDPOINTS = [("get", "/api/campaigns", None, "viewer"), ("get", "/api/campaigns/film", None, "viewer"),
             ("get", "/api/campaigns/film/export", None, "viewer"), ("get", "/api/campaigns/film/history", None, "viewer"),
             ("post", "/api/campaigns/film/suggestions", {"batch": 1}, "experimenter"),
             ("post", "/api/campaigns/film/results", {"rows": [{"temperature": 400, "solvent": "water",
                                                                 "yield": 0.5}]}, "experimenter"),
             ("post", "/api/campaigns", {"name": "other", "goals": ["yield:max"], "pool": _pool()}, "admin"),
             ("post", "/api/campaigns/film/vetoes", {"candidate": "#12", "reason": "no precursor"}, "admin"),
             ("post", "/api/campaigns/film/retractions", {"entries": ["m4"], "reason": "wrong vial"}, "admin"),
             ("post", "/api/campaigns/film/abandonments", {"reason": "robot down"}, "experimenter"),
             ("get", "/api/tokens", None, "admin"), ("post", "/api/tokens", {"role": "viewer"}, "admin")]


def test_every_endpoint_needs_a_token_and_its_role(server):
    client, tok, db = server()
    _create(client, tok)
    tid, revoked = auth.create_token(db, "admin", "gone")
    auth.revoke_token(db, tid)
    for method, path, body, role in ENDPOINTS:
        call = getattr(client, method)
        kw = {"json": body} if body is not None else {}
        for headers in ({}, H("nonsense"), H(tok["admin"] + "x"), H(revoked), H("mlt_1_" + "A" * 43),
                        {"Authorization": f"Basic {tok['admin']}"}):
            r = call(path, headers=headers, **kw)
            assert r.status_code == 401, (path, headers, r.text)
            assert r.headers["www-authenticate"] == "Bearer" and r.json()["detail"]
        for other in auth.ROLES:  # lowest role first: a write refused to a viewer is then done by the others
            r = call(path, headers=H(tok[other]), **kw)
            allowed = auth.ROLES.index(other) >= auth.ROLES.index(role)
            assert (r.status_code < 400) == allowed, (path, other, r.status_code, r.text)
            if not allowed:
                assert r.status_code == 403, (path, other, r.text)
    assert service.campaign_status(db, "film")["vetoed"] == 1 and len(service.list_campaigns(db)) == 2


def test_a_bad_body_without_a_token_is_still_401_and_for_a_viewer_403(film):
    client, tok, db = film
    bad = {"content": b"{not json", "headers": {"content-type": "application/json"}}
    assert client.post("/api/campaigns/film/results", **bad).status_code == 401
    assert client.post("/api/campaigns/film/results", content=bad["content"],
                       headers=H(tok["viewer"], **bad["headers"])).status_code == 403
    r = client.post("/api/campaigns/film/results", content=bad["content"],
                    headers=H(tok["experimenter"], **bad["headers"]))
    assert r.status_code == 422 and r.json()["problems"][0]["column"] == "(body)"
    assert "invalid JSON" in r.json()["problems"][0]["reason"]
    _unchanged(db)


def test_unknown_campaign_is_404(film):
    client, tok, db = film
    for method, path, body in [("get", "/api/campaigns/nope", None), ("get", "/api/campaigns/nope/export", None),
                               ("post", "/api/campaigns/nope/results", {"rows": [{"yield": 1.0}]}),
                               ("post", "/api/campaigns/nope/suggestions", {"batch": 2}),
                               ("post", "/api/campaigns/nope/vetoes", {"candidate": "#1", "reason": "r"})]:
        r = getattr(client, method)(path, headers=H(tok["admin"]), **({"json": body} if body else {}))
        assert r.status_code == 404 and "nope" in r.json()["detail"], (path, r.text)
    _unchanged(db)


def _count(db, name="film") -> int:
    return service.campaign_status(db, name)["measurements"]


def test_the_same_request_twice_records_once(server):
    client, tok, db = server()
    _create(client, tok)
    rows = [{"temperature": 400, "solvent": "water", "yield": 0.5, "measurement_id": "run-7"},
            {"temperature": 375, "solvent": XSS, "yield": 0.6}]
    first = client.post("/api/campaigns/film/results", json={"rows": rows},
                        headers=H(tok["experimenter"], **{"Idempotency-Key": "abc"}))
    again = client.post("/api/campaigns/film/results", json={"rows": rows},
                        headers=H(tok["experimenter"], **{"Idempotency-Key": "abc"}))
    assert first.status_code == again.status_code == 201
    assert first.json()["recorded"] == 2 and again.json() == {**first.json(), "replayed": True}
    assert again.headers["idempotent-replayed"] == "true"
    assert _count(db) == 6
    # without a key the ledger still knows the measurements: recorded once, acknowledged as already recorded
    plain = client.post("/api/campaigns/film/results", json={"rows": rows}, headers=H(tok["experimenter"]))
    assert plain.status_code == 201 and (plain.json()["recorded"], plain.json()["already_recorded"]) == (0, 2)
    # the same key for different rows is refused, and nothing of them is recorded
    other = client.post("/api/campaigns/film/results", json={"rows": [{**rows[0], "measurement_id": "run-8"}]},
                        headers=H(tok["experimenter"], **{"Idempotency-Key": "abc"}))
    assert other.status_code == 422 and other.json()["problems"][0]["column"] == "Idempotency-Key"
    assert _count(db) == 6


def test_a_request_is_recorded_all_or_nothing(server):
    client, tok, db = server()
    _create(client, tok)
    rows = [{"temperature": 400, "solvent": "water", "yield": 0.5},
            {"temperature": 425, "solvent": "ethanol", "yield": 0.55},
            {"temperature": 450, "solvent": XSS, "status": "failed", "reason": "cracked"},
            {"temperature": 9999, "solvent": "water", "yield": 0.7}]  # not a candidate
    r = client.post("/api/campaigns/film/results", json={"rows": rows},
                    headers=H(tok["experimenter"], **{"Idempotency-Key": "k"}))
    assert r.status_code == 422
    assert [(p["row"], p["column"]) for p in r.json()["problems"]] == [(4, "(material)")]
    st = service.campaign_status(db, "film")
    assert (st["measurements"], st["failures"]) == (4, 0)
    # the key of a refused request was not used up: the corrected request goes through under it
    r = client.post("/api/campaigns/film/results", json={"rows": rows[:3]},
                    headers=H(tok["experimenter"], **{"Idempotency-Key": "k"}))
    assert r.status_code == 201 and (r.json()["recorded"], r.json()["failed"]) == (2, 1)


@pytest.mark.parametrize("body,expected", [
    ({"rows": [{"temperature": 400, "solvent": "water", "yield": 0.5, "colour": "red"}]},
     [(1, "colour", "red", "unknown column")]),
    ({"rows": [{"temperature": 400, "solvent": "water", "yield": 0.5},
               {"temperature": 425, "solvent": "water", "yield": "high"}]}, [(2, "yield", "high", "not a number")]),
    ({"rows": [{"temperature": 400, "solvent": "water", "yield": True}]}, [(1, "yield", True, "not a number")]),
    ({"rows": [{"temperature": 400, "solvent": "water", "yield": {"v": 1}}]},
     [(1, "yield", '{"v": 1}', "a number, text or null")]),
    ({"rows": [{"temperature": 400, "solvent": "water", "yield": 0.5, "status": "maybe"}]},
     [(1, "status", "maybe", "status must be")]),
    ({"rows": []}, [(0, "rows", "[]", "at least 1")]),
    ({"rows": [[1, 2]]}, [(1, "(rows row)", "[1, 2]", "dictionary")]),
    ({"row": [{"yield": 1}]}, [(0, "rows", None, "Field required"), (0, "row", '[{"yield": 1}]', "Extra inputs")]),
])
def test_bad_results_are_422_with_the_problem_table(film, body, expected):
    client, tok, db = film
    r = client.post("/api/campaigns/film/results", json=body, headers=H(tok["experimenter"]))
    assert r.status_code == 422, r.text
    got = r.json()["problems"]
    assert len(got) == len(expected), got
    for p, (row, col, value, reason) in zip(got, expected, strict=True):
        assert (p["row"], p["column"]) == (row, col) and reason in p["reason"], p
        if value is not None:
            assert p["value"] == value, p
    _unchanged(db)
    assert _count(db) == 4


def test_non_finite_numbers_and_bad_suggestion_bodies_are_422(film):
    client, tok, db = film
    body = b'{"rows": [{"temperature": 400, "solvent": "water", "yield": NaN}]}'
    r = client.post("/api/campaigns/film/results", content=body,
                    headers=H(tok["experimenter"], **{"content-type": "application/json"}))
    assert r.status_code == 422 and r.json()["problems"][0]["reason"] == "not a finite number"
    for bad, column in [({"batch": "3"}, "batch"), ({"batch": 0}, "batch"), ({"batch": 2, "colour": 1}, "colour"),
                        ({"batch": 10_000}, "batch")]:
        r = client.post("/api/campaigns/film/suggestions", json=bad, headers=H(tok["experimenter"]))
        assert r.status_code == 422 and r.json()["problems"][0]["column"] == column, (bad, r.text)
    _unchanged(db)


def test_bad_campaigns_are_422(server):
    client, tok, _ = server()
    for body, column in [({"name": "a/b", "goals": ["yield:max"], "pool": _pool()}, "name"),
                         ({"name": "a", "goals": ["yield"], "pool": _pool()}, None),
                         ({"name": "a", "goals": ["missing:max"], "pool": _pool()}, None),
                         ({"name": "a", "goals": ["yield:max"], "pool": [{"yield": {"x": 1}}]}, "yield"),
                         ({"name": "a", "goals": [], "pool": _pool()}, "goals")]:
        r = client.post("/api/campaigns", json=body, headers=H(tok["admin"]))
        assert r.status_code == 422, (body, r.text)
        assert r.json()["problems"] and all(p["reason"] for p in r.json()["problems"])
        if column is not None:
            assert any(p["column"] == column for p in r.json()["problems"]), r.json()
    assert client.get("/api/campaigns", headers=H(tok["admin"])).json() == []


def test_bodies_over_the_limit_are_413(server):
    client, tok, db = server(max_body_bytes=4000)
    _create(client, tok, pool=_pool(6))
    rows = [{"temperature": 400, "solvent": "water", "yield": 0.5, "reason": "x" * 100}] * 60
    r = client.post("/api/campaigns/film/results", json={"rows": rows}, headers=H(tok["experimenter"]))
    assert r.status_code == 413 and r.json()["problems"][0]["column"] == "(body)"

    def chunks():  # no Content-Length: counted while it streams in
        yield b'{"rows": ['
        for _ in range(100):
            yield b'{"temperature": 400, "solvent": "water", "yield": 0.5},'
        yield b'{}]}'
    r = client.post("/api/campaigns/film/results", content=chunks(),
                    headers=H(tok["experimenter"], **{"content-type": "application/json"}))
    assert r.status_code == 413
    assert _count(db) == 4


def test_html_and_script_in_names_and_reasons_survive_as_data(server):
    client, tok, db = server()
    name = f"film {IMG} & \"quotes\" 'x'"
    _create(client, tok, name=name)
    r = client.post(f"/api/campaigns/{name}/results", headers=H(tok["experimenter"]),
                    json={"rows": [{"temperature": 375, "solvent": XSS, "status": "failed", "reason": IMG + XSS}]})
    assert r.status_code == 201, r.text
    st = client.get(f"/api/campaigns/{name}", headers=H(tok["viewer"]))
    assert st.headers["content-type"] == "application/json" and st.json()["name"] == name
    log = client.get(f"/api/campaigns/{name}/history", headers=H(tok["viewer"])).json()["log"]
    assert [e["reason"] for e in log if e["event"] == "failed"] == [IMG + XSS]
    csv = client.get(f"/api/campaigns/{name}/export", headers=H(tok["viewer"]))
    assert csv.headers["x-content-type-options"] == "nosniff" and XSS in csv.text
    assert "<" not in csv.headers["content-disposition"]
    import io

    import pandas as pd

    frame = pd.read_csv(io.StringIO(csv.text))
    assert set(frame["solvent"]) == {XSS, "water", "ethanol"} and IMG + XSS in set(frame["failure_reason"].dropna())


def test_tokens_are_hashed_compared_in_constant_time_and_revocable(server, monkeypatch):
    client, tok, db = server()
    r = client.post("/api/tokens", json={"role": "viewer", "label": "screen"}, headers=H(tok["admin"]))
    assert r.status_code == 201
    new = r.json()
    assert client.get("/api/campaigns", headers=H(new["token"])).status_code == 200
    listed = client.get("/api/tokens", headers=H(tok["admin"])).json()
    assert all(set(t) == {"id", "role", "label", "created_at", "created_by", "revoked_at"} for t in listed)
    with db.engine.connect() as conn:  # only hashes are stored
        stored = conn.exec_driver_sql("SELECT hash FROM serve_tokens").scalars().all()
    assert all(new["token"].split("_", 2)[2] not in h and new["token"] not in h and len(h) == 64 for h in stored)
    calls = []
    real = auth.hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    for token in (new["token"], "mlt_999_" + "x" * 43, "garbage", new["token"][:-1] + "A"):
        auth.verify_token(db, token)
    assert len(calls) == 4 and all(len(a) == len(b) == 64 for a, b in calls)
    assert client.delete(f"/api/tokens/{new['id']}", headers=H(tok["admin"])).status_code == 204
    assert client.get("/api/campaigns", headers=H(new["token"])).status_code == 401
    assert client.delete(f"/api/tokens/{new['id']}", headers=H(tok["admin"])).status_code == 404


def test_a_long_suggestion_answers_202_with_a_job_to_poll(server):
    client, tok, db = server(suggest_wait_s=0.0)
    _create(client, tok)
    r = client.post("/api/campaigns/film/suggestions", json={"batch": 2}, headers=H(tok["experimenter"]))
    if r.status_code == 201:  # a fit faster than the event loop's first check: nothing to poll
        pytest.skip("the fit finished at once")
    assert r.status_code == 202 and r.headers["location"] == r.json()["url"]
    for _ in range(600):
        job = client.get(r.json()["url"], headers=H(tok["viewer"])).json()
        if job["status"] != "running":
            break
        time.sleep(0.1)
    assert job["status"] == "done" and len(job["result"]["rows"]) == 2
    assert service.campaign_status(db, "film")["suggestions"] == 2
    assert client.get("/api/jobs/nope", headers=H(tok["viewer"])).status_code == 404


def test_a_veto_rules_a_candidate_out(server):
    client, tok, db = server()
    _create(client, tok, pool=_pool(8, 2))
    r = client.post("/api/campaigns/film/vetoes", json={"candidate": "#8", "reason": IMG},
                    headers=H(tok["admin"]))
    assert r.status_code == 201 and r.json()["vetoed"] == 1
    r = client.post("/api/campaigns/film/suggestions", json={"batch": 6}, headers=H(tok["experimenter"]))
    assert r.status_code == 201 and 475 not in {row["temperature"] for row in r.json()["rows"]}
    assert service.campaign_status(db, "film")["vetoed"] == 1
    r = client.post("/api/campaigns/film/vetoes", json={"candidate": "#99", "reason": "x"}, headers=H(tok["admin"]))
    assert r.status_code == 422 and r.json()["problems"][0]["value"] == "#99"


def test_a_retraction_takes_a_value_out_and_keeps_it_in_the_log(server):
    client, tok, db = server()
    _create(client, tok, pool=_pool(8, 3))
    before = service.campaign_status(db, "film")
    r = client.post("/api/campaigns/film/retractions", json={"entries": ["m3"], "reason": IMG},
                    headers=H(tok["admin"]))
    assert r.status_code == 201 and r.json() == {"campaign": "film", "retracted": 1, "already_retracted": 0}
    after = service.campaign_status(db, "film")
    assert (before["measured_candidates"], after["measured_candidates"], after["retracted"]) == (3, 2, 1)
    assert after["best"]["value"] < before["best"]["value"]  # the best (last) of 0.1, 0.15, 0.2 is gone
    log = client.get("/api/campaigns/film/history", headers=H(tok["viewer"])).json()["log"]
    assert [e["event"] for e in log if e["entry"] == "m3"] == ["measured (retracted)"]
    assert log[-1]["event"] == "retracted" and log[-1]["reason"] == f"m3: {IMG}" and log[-1]["source"] == "REST API"
    r = client.post("/api/campaigns/film/results", json={"rows": [{"temperature": 350, "solvent": "ethanol",
                                                                   "yield": 0.2}]}, headers=H(tok["experimenter"]))
    assert r.status_code == 201, r.text  # the retracted value sent again: already recorded, and it stays retracted
    assert (r.json()["recorded"], r.json()["already_recorded"], r.json()["still_retracted"]) == (0, 1, ["m3"])
    r = client.post("/api/campaigns/film/retractions", json={"entries": ["m3", "e9"], "reason": "x"},
                    headers=H(tok["admin"]))
    assert r.status_code == 422 and [p["value"] for p in r.json()["problems"]] == ["e9"]
    r = client.post("/api/campaigns/film/retractions", json={"entries": [], "reason": "x"}, headers=H(tok["admin"]))
    assert r.status_code == 422


def test_a_robot_asks_for_a_batch_that_shares_a_setting(server):
    client, tok, db = server()
    _create(client, tok, pool=_pool(12, 3))
    r = client.post("/api/campaigns/film/suggestions", json={"batch": 3, "same": ["solvent"]},
                    headers=H(tok["experimenter"]))
    assert r.status_code == 201 and len({row["solvent"] for row in r.json()["rows"]}) == 1
    assert all("the batch shares solvent" in row["reason"] for row in r.json()["rows"])
    r = client.post("/api/campaigns/film/suggestions", json={"batch": 3, "same": ["oven"]},
                    headers=H(tok["experimenter"]))
    assert r.status_code == 422 and r.json()["problems"][0]["value"] == "oven"
    # a campaign created with "same": every batch shares it unless the request names its own columns
    r = client.post("/api/campaigns", json={"name": "oven", "goals": ["yield:max"], "pool": _pool(12, 3),
                                            "same": ["solvent"]}, headers=H(tok["admin"]))
    assert r.status_code == 201 and r.json()["same"] == ["solvent"]
    rows = client.post("/api/campaigns/oven/suggestions", json={"batch": 3},
                       headers=H(tok["experimenter"])).json()["rows"]
    assert len({row["solvent"] for row in rows}) == 1 and all("shares solvent" in row["reason"] for row in rows)
    free = client.post("/api/campaigns/oven/suggestions", json={"batch": 3, "no_same": True},
                       headers=H(tok["experimenter"])).json()["rows"]
    assert len(free) == 3 and not any("shares" in row["reason"] for row in free)
    r = client.post("/api/campaigns/oven/suggestions", json={"batch": 3, "no_same": True, "same": ["solvent"]},
                    headers=H(tok["experimenter"]))
    assert r.status_code == 422 and r.json()["problems"][0]["value"] == "solvent"
    r = client.post("/api/campaigns", json={"name": "o2", "goals": ["yield:max"], "pool": _pool(12, 3),
                                            "same": ["yield"]}, headers=H(tok["admin"]))
    assert r.status_code == 422 and r.json()["problems"][0]["value"] == "yield"


def test_abandoned_suggestions_may_be_suggested_again(server):
    client, tok, db = server()
    _create(client, tok, pool=_pool(8, 2))
    r = client.post("/api/campaigns/film/suggestions", json={"batch": 6}, headers=H(tok["experimenter"]))
    assert r.status_code == 201 and service.campaign_status(db, "film")["pending"] == 6
    r = client.post("/api/campaigns/film/abandonments", json={"candidates": ["#8"], "reason": "no solvent"},
                    headers=H(tok["experimenter"]))
    assert r.status_code == 201 and r.json() == {"campaign": "film", "abandoned": 1, "already_abandoned": 0}
    r = client.post("/api/campaigns/film/suggestions", json={"batch": 2}, headers=H(tok["experimenter"]))
    assert r.status_code == 201 and [row["temperature"] for row in r.json()["rows"]] == [475]
    r = client.post("/api/campaigns/film/abandonments", json={"reason": "robot down"}, headers=H(tok["experimenter"]))
    assert r.json()["abandoned"] == 6 and service.campaign_status(db, "film")["pending"] == 0
    assert service.campaign_status(db, "film")["abandoned"] == 7
    r = client.post("/api/campaigns/film/abandonments", json={"candidates": ["#1"], "reason": "x"},
                    headers=H(tok["experimenter"]))
    assert r.status_code == 422 and r.json()["problems"][0]["value"] == "#1"


def test_a_read_only_server_refuses_writes(server):
    client, tok, db = server(read_only=True)
    service.create_campaign(db, "film", ["yield:max"], _pool(), actor="setup")
    assert client.get("/api/campaigns/film", headers=H(tok["admin"])).status_code == 200
    r = client.post("/api/campaigns/film/results", json={"rows": [{"temperature": 400, "solvent": "water",
                                                                    "yield": 0.5}]}, headers=H(tok["admin"]))
    assert r.status_code == 403 and _count(db) == 4


def test_the_openapi_document_describes_the_contract(film):
    client, _, _ = film
    doc = client.get("/api/openapi.json").json()
    paths = doc["paths"]
    for path in ("/api/campaigns", "/api/campaigns/{name}", "/api/campaigns/{name}/suggestions",
                 "/api/campaigns/{name}/results", "/api/campaigns/{name}/export"):
        assert path in paths
    post = paths["/api/campaigns/{name}/results"]["post"]
    assert {"201", "401", "403", "404", "413", "422"} <= set(post["responses"])
    assert any(p["name"].lower() == "idempotency-key" for p in post["parameters"])
    assert "202" in paths["/api/campaigns/{name}/suggestions"]["post"]["responses"]
    assert "HTTPBearer" in json.dumps(doc["components"]["securitySchemes"])


def test_a_composition_campaign_records_by_formula(server):
    client, tok, db = server()
    pool = [{"formula": f, "hardness": h} for f, h in [("Fe2O3", 5.0), ("TiO2", 6.5), ("Al2O3", None),
                                                       ("MgO", None), ("ZnO", None), ("CuO", None)]]
    r = client.post("/api/campaigns", json={"name": "hard", "goals": ["hardness:max"], "pool": pool},
                    headers=H(tok["admin"]))
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "composition" and r.json()["input"] == "formula"
    r = client.post("/api/campaigns/hard/results", json={"rows": [{"formula": "O3Al2", "hardness": 9.0}]},
                    headers=H(tok["experimenter"]))
    assert r.status_code == 201 and r.json()["recorded"] == 1
    r = client.post("/api/campaigns/hard/results", json={"rows": [{"formula": "Xx2O", "hardness": 1.0}]},
                    headers=H(tok["experimenter"]))
    assert r.status_code == 422 and r.json()["problems"][0]["row"] == 1
    assert client.get("/api/campaigns/hard", headers=H(tok["viewer"])).json()["best"]["value"] == 9.0


def test_several_goals_with_a_failed_row_are_all_or_nothing(server):
    client, tok, db = server()
    pool = [{"t": 300 + 25 * i, "a": (float(i) if i < 4 else None), "b": (float(10 - i) if i < 4 else None)}
            for i in range(10)]
    r = client.post("/api/campaigns", json={"name": "two", "goals": ["a:max", "b:min"], "pool": pool},
                    headers=H(tok["admin"]))
    assert r.status_code == 201 and r.json()["front"] and r.json()["best"] is None
    rows = [{"t": 400, "a": 5.0, "b": 1.0}, {"t": 9999, "status": "failed", "reason": "unknown setting"}]
    r = client.post("/api/campaigns/two/results", json={"rows": rows}, headers=H(tok["experimenter"]))
    assert r.status_code == 422 and r.json()["problems"][0]["row"] == 2
    assert service.campaign_status(db, "two")["measurements"] == 4  # the good row was not recorded either
    rows[1]["t"] = 425
    r = client.post("/api/campaigns/two/results", json={"rows": rows},
                    headers=H(tok["experimenter"], **{"Idempotency-Key": "two-1"}))
    again = client.post("/api/campaigns/two/results", json={"rows": rows},
                        headers=H(tok["experimenter"], **{"Idempotency-Key": "two-1"}))
    assert r.status_code == 201 and (r.json()["recorded"], r.json()["failed"]) == (2, 1)
    assert again.json() == {**r.json(), "replayed": True}
    st = service.campaign_status(db, "two")
    assert (st["measurements"], st["measurement_values"], st["failures"]) == (5, 10, 1)


def test_a_pool_cannot_reach_files_outside_the_upload(server, tmp_path, monkeypatch):
    client, tok, _ = server()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "secret.cif").write_text("data_secret\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    pool = [{"structure": "../" * 12 + "etc/passwd.cif", "y": 1.0}, {"structure": str(tmp_path / "secret.cif"), "y": None},
            {"structure": "../secret.cif", "y": None}]
    r = client.post("/api/campaigns", json={"name": "s", "goals": ["y:max"], "pool": pool}, headers=H(tok["admin"]))
    assert r.status_code == 422
    problems = r.json()["problems"]
    assert [p["row"] for p in problems] == [1, 2, 3] and all("leads outside" in p["reason"] for p in problems)
    assert "matloop-serve-" not in r.text and "--skip-invalid" not in r.text
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_campaign_created_with_a_related_campaigns_history(server):
    client, tok, db = server()
    history = [{"temperature": 290 + 20 * i, "solvent": ["water", "ethanol"][i % 2], "yield": 0.05 + 0.04 * i}
               for i in range(15)]
    r = client.post("/api/campaigns", json={"name": "h", "goals": ["yield:max"], "pool": _pool(12, 4),
                                            "history": [{"source": "last_year.csv", "rows": history}]},
                    headers=H(tok["admin"]))
    assert r.status_code == 201, r.text
    from matloop.design.campaign import Campaign
    from matloop.design.history import history_tables

    (frame, source), = history_tables(Campaign("h", db.url).config["history"])
    assert source == "last_year.csv" and len(frame) == 15 and frame["yield"].iloc[-1] == pytest.approx(0.61)
    assert service.campaign_status(db, "h")["measurements"] == 4  # history rows are not the campaign's results
    out = client.post("/api/campaigns/h/suggestions", json={"batch": 2}, headers=H(tok["experimenter"])).json()
    assert any(n.startswith("history: ") and "last_year.csv" in n for n in out["notes"]), out["notes"]
    # a history that does not measure the goal: 422 naming the source, never the server's private file
    r = client.post("/api/campaigns", json={"name": "h2", "goals": ["yield:max"], "pool": _pool(12, 4),
                                            "history": [{"source": "old.csv", "rows": [{"temperature": 300}]}]},
                    headers=H(tok["admin"]))
    assert r.status_code == 422 and "old.csv" in r.text and "history0" not in r.text and "matloop-serve" not in r.text
    r = client.post("/api/campaigns", json={"name": "h3", "goals": ["yield:max"], "pool": _pool(12, 4),
                                            "history": [{"source": "x.csv", "rows": [{"yield": {"a": 1}}]}]},
                    headers=H(tok["admin"]))
    assert r.status_code == 422 and r.json()["problems"][0]["column"] == "yield"
    assert [c["name"] for c in service.list_campaigns(db)] == ["h"]


def test_a_campaign_of_text_labels_in_order_as_campaign_new_target_order(server):
    """A crystallisation screen's scores as text labels, worst to best (campaign new --target-order)."""
    client, tok, db = server()
    labels = ["clear_solution", "fine_powder", "small_crystallites", "large_crystallites"]
    pool = [{"temperature": 280 + 10 * i, "antisolvent": round(0.1 * (i % 7), 1),
             "crystal_score": labels[i % 4] if i < 8 else None} for i in range(24)]
    body = {"name": "vials", "goals": ["crystal_score:max"], "pool": pool, "target_order": labels,
            "failed_if": "crystal_score == 'clear_solution'"}
    r = client.post("/api/campaigns", json=body, headers=H(tok["admin"]))
    assert r.status_code == 201, r.text
    from matloop.design.campaign import Campaign

    assert Campaign("vials", db.url).config["target_order"] == {"column": "crystal_score", "labels": labels}
    status = service.campaign_status(db, "vials")
    assert status["measurements"] == 6 and status["failures"] == 2  # two vials stayed clear: failures, not zeros
    out = client.post("/api/campaigns/vials/suggestions", json={"batch": 3}, headers=H(tok["experimenter"])).json()
    assert len(out["rows"]) == 3
    # a label outside the order: 422 naming the row and the label
    bad = client.post("/api/campaigns", json={**body, "name": "v2", "target_order": labels[:3]},
                      headers=H(tok["admin"]))
    assert bad.status_code == 422 and "large_crystallites" in bad.text and "outside --target-order" in bad.text
    one = client.post("/api/campaigns", json={**body, "name": "v3", "target_order": ["clear_solution"]},
                      headers=H(tok["admin"]))
    assert one.status_code == 422 and "at least 2 distinct labels" in one.text
