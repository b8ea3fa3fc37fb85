"""The dashboard through FastAPI's TestClient: login by token, the session cookie, CSRF, roles,
escaping of hostile names and reasons, uploads, the live endpoint and the static files."""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("jinja2")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402

from matloop.errors import InputError, error_table  # noqa: E402
from matloop.serve import service  # noqa: E402
from matloop.serve.app import create_app  # noqa: E402
from matloop.serve.auth import create_token, revoke_token  # noqa: E402
from matloop.serve.settings import ServeSettings  # noqa: E402

HOSTILE = '<script>alert("x")</script>'


def _pool(n: int = 24, measured: int = 5, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({"temperature": rng.uniform(300, 900, n).round(1), "time": rng.uniform(1, 10, n).round(2)})
    f["yield"] = (-((f["temperature"] - 700) / 200) ** 2 - ((f["time"] - 3) / 3) ** 2).round(4)
    f.loc[measured:, "yield"] = np.nan
    return f


@pytest.fixture(scope="module")
def _template(tmp_path_factory):
    """One ledger with the campaign and a token of each role, built once per module; every test gets a
    copy of the file (its own ledger, as before, without paying for the campaign's creation again)."""
    from matloop.serve.db import open_db

    path = tmp_path_factory.mktemp("dash-template") / "ledger.db"
    db = open_db(str(path))
    tokens = {role: create_token(db, role, f"{role}-person")[1] for role in ("viewer", "experimenter", "admin")}
    service.create_campaign(db, "opt", ["yield:max"], _pool(), actor="setup")
    db.close()
    import sqlite3

    con = sqlite3.connect(path)  # everything into the main file: the copy needs no -wal file
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return path, tokens


@pytest.fixture
def dash(tmp_path, _template):
    """An app on its own ledger with one campaign and a token of each role."""
    import shutil

    shutil.copyfile(_template[0], tmp_path / "ledger.db")
    # form_wait_s: these tests read the batch right after the form (the background path has its own test)
    app = create_app(ServeSettings(db=str(tmp_path / "ledger.db"), max_body_bytes=64 * 1024, form_wait_s=300))
    with TestClient(app) as client:
        yield app, client, dict(_template[1])


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, token: str):
    page = client.get("/login")
    assert page.status_code == 200
    return client.post("/login", data={"token": token, "csrf_token": _csrf(page.text)}, follow_redirects=False)


def _n_suggested(app) -> int:
    return service.campaign_status(app.state.db, "opt")["suggestions"]


def test_login_sets_a_strict_httponly_session_and_logout_ends_it(dash):
    app, client, tokens = dash
    first = client.get("/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/login"
    bad = login(client, "mlt_1_not-the-secret")
    assert bad.status_code == 401 and "matloop_session" not in bad.headers.get("set-cookie", "")
    ok = login(client, tokens["viewer"])
    assert ok.status_code == 303
    cookie = ok.headers["set-cookie"]
    assert "matloop_session=" in cookie and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert tokens["viewer"] not in cookie  # the cookie never carries the token
    home = client.get("/")
    assert home.status_code == 200 and 'href="/campaigns/opt"' in home.text
    assert "Content-Security-Policy" in home.headers and "script-src 'self'" in home.headers["Content-Security-Policy"]
    out = client.post("/logout", data={"csrf_token": _csrf(home.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_login_form_needs_its_csrf_token(dash):
    _, client, tokens = dash
    client.get("/login")
    r = client.post("/login", data={"token": tokens["admin"]}, follow_redirects=False)
    assert r.status_code == 403 and "matloop_session" not in r.headers.get("set-cookie", "")


def test_forms_without_the_csrf_token_are_refused_and_write_nothing(dash):
    app, client, tokens = dash
    login(client, tokens["admin"])
    page = client.get("/campaigns/opt")
    token = _csrf(page.text)
    for data in ({"batch": "2"}, {"batch": "2", "csrf_token": "forged"}, {"batch": "2", "csrf_token": ""}):
        r = client.post("/campaigns/opt/suggest", data=data, follow_redirects=False)
        assert r.status_code == 403
    assert _n_suggested(app) == 0
    r = client.post("/campaigns/opt/veto", data={"candidate": "#9", "reason": "no"}, follow_redirects=False)
    assert r.status_code == 403 and service.campaign_status(app.state.db, "opt")["vetoed"] == 0
    ok = client.post("/campaigns/opt/suggest", data={"batch": "2", "csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303 and _n_suggested(app) == 2


def test_a_session_from_another_server_or_a_tampered_cookie_is_not_accepted(dash):
    app, client, tokens = dash
    login(client, tokens["viewer"])
    value = client.cookies.get("matloop_session")
    body, mac = value.split(".")
    import base64
    import json

    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data["role"] = "admin"  # a viewer promoting itself
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=") + "." + mac
    client.cookies.set("matloop_session", forged)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_roles_viewer_reads_experimenter_records_admin_vetoes_and_creates(dash):
    app, client, tokens = dash
    login(client, tokens["viewer"])
    page = client.get("/campaigns/opt")
    assert page.status_code == 200 and 'id="suggest-form"' not in page.text and 'id="veto-form"' not in page.text
    token = _csrf(page.text)
    assert client.post("/campaigns/opt/suggest", data={"batch": "2", "csrf_token": token}).status_code == 403
    assert _n_suggested(app) == 0
    assert client.get("/campaigns/opt/export.csv").status_code == 200

    client.cookies.clear()
    login(client, tokens["experimenter"])
    page = client.get("/campaigns/opt")
    assert 'id="suggest-form"' in page.text and 'id="veto-form"' not in page.text
    token = _csrf(page.text)
    assert client.post("/campaigns/opt/suggest", data={"batch": "2", "csrf_token": token},
                       follow_redirects=False).status_code == 303
    assert client.post("/campaigns/opt/veto", data={"candidate": "#9", "reason": "toxic", "csrf_token": token}
                       ).status_code == 403
    r = client.post("/campaigns", data={"name": "new", "goals": "yield:max", "csrf_token": token},
                    files={"pool": ("p.csv", _pool().to_csv(index=False), "text/csv")})
    assert r.status_code == 403 and [c["name"] for c in service.list_campaigns(app.state.db)] == ["opt"]

    client.cookies.clear()
    login(client, tokens["admin"])
    token = _csrf(client.get("/").text)
    r = client.post("/campaigns/opt/veto", data={"candidate": "#9", "reason": "toxic", "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303 and service.campaign_status(app.state.db, "opt")["vetoed"] == 1


def test_a_batch_from_the_page_can_share_a_setting(dash):
    app, client, tokens = dash
    login(client, tokens["experimenter"])
    page = client.get("/campaigns/opt")
    assert 'id="same"' in page.text
    r = client.post("/campaigns/opt/suggest", data={"batch": "3", "same": "oven", "csrf_token": _csrf(page.text)})
    assert r.status_code == 422 and "oven" in r.text and not service.history(app.state.db, "opt")["suggestions"]
    r = client.post("/campaigns/opt/suggest", data={"batch": "3", "same": "temperature",
                                                    "csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and "done=suggested&n=1" in r.headers["location"]  # every temperature differs
    sug = service.history(app.state.db, "opt")["suggestions"]
    assert len(sug) == 1 and "the batch shares temperature" in sug[0]["reason"]


def test_an_experimenter_abandons_a_suggestion_from_the_page(dash):
    app, client, tokens = dash
    login(client, tokens["experimenter"])
    page = client.get("/campaigns/opt")
    assert 'id="abandon-form"' in page.text and 'id="retract-form"' not in page.text
    token = _csrf(page.text)
    assert client.post("/campaigns/opt/suggest", data={"batch": "2", "csrf_token": token},
                       follow_redirects=False).status_code == 303
    assert service.campaign_status(app.state.db, "opt")["pending"] == 2
    page = client.get("/campaigns/opt")
    pending = page.text.split('<datalist id="pending">')[1].split("</datalist>")[0]
    waiting = pending.split('<option value="')[1].split('"')[0]  # the pending list's first
    r = client.post("/campaigns/opt/abandon", data={"candidate": waiting, "reason": "no precursor",
                                                    "csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and "done=abandon&n=1" in r.headers["location"]
    page = client.get(r.headers["location"])
    assert "1 suggestion(s) abandoned" in page.text and ">abandoned<" in page.text
    assert service.campaign_status(app.state.db, "opt")["pending"] == 1


def test_an_admin_retracts_entries_from_the_page(dash):
    app, client, tokens = dash
    login(client, tokens["experimenter"])
    page = client.get("/campaigns/opt")
    assert 'id="retract-form"' not in page.text
    assert client.post("/campaigns/opt/retract", data={"entries": "m1", "reason": "x", "csrf_token": _csrf(page.text)}
                       ).status_code == 403
    client.cookies.clear()
    login(client, tokens["admin"])
    page = client.get("/campaigns/opt")
    assert 'id="retract-form"' in page.text
    before = service.campaign_status(app.state.db, "opt")
    r = client.post("/campaigns/opt/retract", data={"entries": "m1, m2", "reason": "wrong plate",
                                                    "csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and "done=retract&n=2" in r.headers["location"]
    page = client.get(r.headers["location"])
    assert "2 entry(ies) retracted" in page.text and "measured (retracted)" in page.text
    after = service.campaign_status(app.state.db, "opt")
    assert (after["retracted"], after["measured_candidates"]) == (2, before["measured_candidates"] - 2)
    r = client.post("/campaigns/opt/retract", data={"entries": "m999", "reason": "x", "csrf_token": _csrf(page.text)})
    assert r.status_code == 422 and "m999" in r.text and service.campaign_status(app.state.db, "opt")["retracted"] == 2


def test_no_session_no_data_and_a_read_only_server_refuses_forms(dash, tmp_path):
    app, client, tokens = dash
    assert client.get("/campaigns/opt/live.json").status_code == 401
    assert client.get("/campaigns/opt/export.csv", follow_redirects=False).status_code == 303
    ro = create_app(ServeSettings(db=str(tmp_path / "ledger.db"), read_only=True))
    with TestClient(ro) as other:
        login(other, tokens["admin"])
        page = other.get("/campaigns/opt").text
        assert 'id="suggest-form"' not in page and 'id="veto-form"' not in page
        token = _csrf(page)
        r = other.post("/campaigns/opt/suggest", data={"batch": "2", "csrf_token": token})
        assert r.status_code == 403 and "read-only" in r.text
    assert _n_suggested(app) == 0


def test_revoking_the_token_ends_its_browser_sessions(dash):
    app, client, tokens = dash
    tid, token = create_token(app.state.db, "experimenter", "short-lived")
    login(client, token)
    assert client.get("/", follow_redirects=False).status_code == 200
    revoke_token(app.state.db, tid)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_sessions_survive_a_restart_on_the_same_ledger_and_revoking_still_ends_them(dash, tmp_path):
    app, client, tokens = dash
    tid, token = create_token(app.state.db, "experimenter", "night-shift")
    login(client, token)
    cookie = client.cookies.get("matloop_session")
    assert client.get("/", follow_redirects=False).status_code == 200
    from sqlalchemy import select

    from matloop.serve.db import secrets_table
    with app.state.db.engine.connect() as conn:
        stored = conn.execute(select(secrets_table.c.value)).scalars().all()
    assert len(stored) == 1 and len(stored[0]) == 64 and stored[0] not in cookie  # created once, never sent
    restarted = create_app(ServeSettings(db=str(tmp_path / "ledger.db"), max_body_bytes=64 * 1024))
    other = create_app(ServeSettings(db=str(tmp_path / "elsewhere.db")))  # another ledger, another secret
    with TestClient(restarted) as again, TestClient(other) as stranger:
        again.cookies.set("matloop_session", cookie)
        page = again.get("/campaigns/opt", follow_redirects=False)
        assert page.status_code == 200 and "night-shift" in page.text
        # the CSRF token inside the old session still works for a form on the restarted server
        r = again.post("/campaigns/opt/veto", data={"candidate": "#9", "reason": "r", "csrf_token": _csrf(page.text)},
                       follow_redirects=False)
        assert r.status_code == 403 and "needs admin" in r.text  # the session's role, not a login page
        stranger.cookies.set("matloop_session", cookie)
        assert stranger.get("/", follow_redirects=False).status_code == 303
        revoke_token(restarted.state.db, tid)
        assert again.get("/", follow_redirects=False).status_code == 303
    with app.state.db.engine.connect() as conn:
        assert conn.execute(select(secrets_table.c.value)).scalars().all() == stored


def test_names_and_reasons_with_html_are_shown_as_text(dash):
    app, client, tokens = dash
    name = "x<img src=x onerror=alert(1)>"
    pool = _pool()
    pool["solvent"] = np.where(np.arange(len(pool)) % 2, HOSTILE, "water")  # a categorical input
    service.create_campaign(app.state.db, name, ["yield:max"], pool, actor=HOSTILE)
    login(client, tokens["admin"])
    token = _csrf(client.get("/").text)
    from urllib.parse import quote

    url = "/campaigns/" + quote(name, safe="")
    assert client.post(url + "/suggest", data={"batch": "3", "csrf_token": token},
                       follow_redirects=False).status_code == 303
    r = client.post(url + "/failure", data={"candidate": "#2", "reason": f"cracked {HOSTILE}", "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    assert client.post(url + "/veto", data={"candidate": "#4", "reason": HOSTILE, "csrf_token": token},
                       follow_redirects=False).status_code == 303
    report = client.get(url + "/report.html")
    assert report.status_code == 200 and "script-src" not in report.headers["Content-Security-Policy"]
    assert "default-src 'none'" in report.headers["Content-Security-Policy"] and "<script" not in report.text
    pages = [client.get("/").text, client.get(url).text, client.get(url + "/live.json").json()["html"], report.text]
    for html in pages:
        assert "<script>alert" not in html and "<img src=x" not in html
    page = pages[1]
    assert "cracked &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page  # the failure, as text
    assert "x&lt;img src=x onerror=alert(1)&gt;" in page  # the campaign's name
    assert page.count("<script") == 2  # only the page's own two script files


def test_results_upload_is_recorded_once_and_the_live_endpoint_notices(dash):
    app, client, tokens = dash
    login(client, tokens["experimenter"])
    token = _csrf(client.get("/campaigns/opt").text)
    before = client.get("/campaigns/opt/live.json").json()
    assert client.get("/campaigns/opt/live.json", params={"since": before["version"]}).json() == {
        "version": before["version"]}  # nothing changed: no data sent
    batch = service.suggest(app.state.db, "opt", 3, "robot")["rows"]
    results = pd.DataFrame(batch)[["temperature", "time"]]
    results["yield"] = [-0.1, -0.2, -0.05]
    csv = results.to_csv(index=False)
    for _ in range(2):  # the same file twice: recorded once
        r = client.post("/campaigns/opt/results", data={"csrf_token": token},
                        files={"file": ("../../outside.csv", csv, "text/csv")}, follow_redirects=False)
        assert r.status_code == 303
    assert "done=recorded&n=0&m=3" in r.headers["location"]
    import tempfile
    from pathlib import Path

    for where in (Path(tempfile.gettempdir()), Path.cwd(), Path.cwd().parent.parent, Path("/")):
        assert not (where / "outside.csv").exists()  # the client's file name never became a path
    assert service.campaign_status(app.state.db, "opt")["measurements"] == 5 + 3
    after = client.get("/campaigns/opt/live.json", params={"since": before["version"]}).json()
    assert after["version"] != before["version"]
    progress = after["plots"]["progress"]
    assert progress["x"] == [0, 1, 2, 3] and progress["best"][-1] == pytest.approx(-0.05)
    assert len(progress["baseline"]) == 4 and len(after["plots"]["parity"]["points"]) == 3
    assert "3 results recorded since" in after["html"]


def test_bad_and_oversized_uploads_are_refused_with_the_problem_named(dash, tmp_path):
    app, client, tokens = dash
    login(client, tokens["experimenter"])
    token = _csrf(client.get("/campaigns/opt").text)
    row = _pool().iloc[7]
    bad = f"temperature,time,yield\n{row['temperature']},{row['time']},not-a-number\n"
    r = client.post("/campaigns/opt/results", data={"csrf_token": token}, files={"file": ("r.csv", bad, "text/csv")})
    assert r.status_code == 422 and "not-a-number" in r.text and 'role="alert"' in r.text
    big = "temperature,time,yield\n" + "300,2,1\n" * 20_000  # over the 64 KiB limit of this app
    r = client.post("/campaigns/opt/results", data={"csrf_token": token}, files={"file": ("r.csv", big, "text/csv")})
    assert r.status_code == 413
    assert service.campaign_status(app.state.db, "opt")["measurements"] == 5


def test_admin_creates_a_campaign_from_an_uploaded_table(dash):
    app, client, tokens = dash
    login(client, tokens["admin"])
    token = _csrf(client.get("/").text)
    pool = _pool(seed=3)
    pool["cost"] = np.where(pool["yield"].notna(), np.arange(len(pool)) % 4 + 1.0, np.nan)
    r = client.post("/campaigns", data={"name": "two goals", "goals": "yield:max, cost:min", "csrf_token": token},
                    files={"pool": ("pool.csv", pool.to_csv(index=False), "text/csv")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/campaigns/two%20goals?done=created"
    st = service.campaign_status(app.state.db, "two goals")
    assert st["candidates"] == len(pool) and st["measurements"] == 5
    page = client.get(r.headers["location"])
    assert "Campaign created." in page.text and 'id="plot-front"' in page.text
    plots = client.get("/campaigns/two%20goals/live.json").json()["plots"]
    assert plots["progress"]["kind"] == "hypervolume" and len(plots["front"]["points"]) == 5
    again = client.post("/campaigns", data={"name": "two goals", "goals": "yield:max, cost:min", "csrf_token": token},
                        files={"pool": ("pool.csv", pool.to_csv(index=False), "text/csv")})
    assert again.status_code == 409 and "already exists" in again.text


def test_the_create_form_takes_constraints_a_failure_rule_and_a_shared_setting(dash):
    app, client, tokens = dash
    login(client, tokens["admin"])
    token = _csrf(client.get("/").text)
    pool = _pool(n=24, measured=6, seed=4)
    pool["oven (C)"] = np.repeat([600, 700, 800], 8)
    pool["cost"] = np.where(pool["yield"].notna(), np.arange(len(pool)) % 4 + 1.0, np.nan)
    r = client.post("/campaigns", data={"name": "oven", "goals": "yield:max", "constraints": "cost < 4",
                                        "failed_if": "yield < -3", "same": "oven (C)", "csrf_token": token},
                    files={"pool": ("pool.csv", pool.to_csv(index=False), "text/csv")}, follow_redirects=False)
    assert r.status_code == 303, r.text
    camp = service.open_campaign(app.state.db, "oven", read_only=True)
    assert (camp.config["constraints"], camp.config["failed_if"], camp.config["same"]) == (
        ["cost < 4"], "yield < -3", ["oven (C)"])
    page = client.get("/campaigns/oven")
    assert "batches share" in page.text
    r = client.post("/campaigns/oven/suggest", data={"batch": "3", "same": "", "csrf_token": _csrf(page.text)},
                    follow_redirects=False)
    assert r.status_code == 303
    sug = service.open_campaign(app.state.db, "oven", read_only=True).ledger.suggestions()
    cands = service.open_campaign(app.state.db, "oven", read_only=True).ledger.candidates()
    ovens = cands.set_index("candidate_id").loc[sug["candidate_id"], "oven (C)"]
    assert len(sug) == 3 and ovens.nunique() == 1  # the campaign's own setting, with the form's field empty
    page = client.get("/campaigns/oven")
    assert 'id="no-same"' in page.text
    r = client.post("/campaigns/oven/suggest", data={"batch": "6", "same": "", "no_same": "1",
                                                     "csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    sug = service.open_campaign(app.state.db, "oven", read_only=True).ledger.suggestions()
    latest = sug[sug["batch_id"] == sug["batch_id"].max()]
    ovens = cands.set_index("candidate_id").loc[latest["candidate_id"], "oven (C)"]
    assert len(latest) == 6 and ovens.nunique() > 1  # this batch spans ovens: the campaign's setting set aside
    both = client.post("/campaigns/oven/suggest", data={"batch": "3", "same": "oven (C)", "no_same": "1",
                                                        "csrf_token": _csrf(page.text)})
    assert both.status_code == 422 and "shares nothing" in both.text


def test_the_create_form_takes_a_related_campaigns_history(dash):
    from matloop.design.history import history_tables

    app, client, tokens = dash
    login(client, tokens["admin"])
    page = client.get("/")
    assert 'id="c-history"' in page.text
    pool, past = _pool(n=20, measured=4, seed=5), _pool(n=30, measured=30, seed=6)
    r = client.post("/campaigns", data={"name": "with past", "goals": "yield:max", "csrf_token": _csrf(page.text)},
                    files={"pool": ("pool.csv", pool.to_csv(index=False), "text/csv"),
                           "history": ("plate_2025.csv", past.to_csv(index=False), "text/csv")}, follow_redirects=False)
    assert r.status_code == 303, r.text
    camp = service.open_campaign(app.state.db, "with past", read_only=True)
    (frame, source), = history_tables(camp.config["history"])
    assert source == "plate_2025.csv" and len(frame) == 30 and service.campaign_status(app.state.db, "with past")[
        "measurements"] == 4
    bad = client.post("/campaigns", data={"name": "bad past", "goals": "yield:max", "csrf_token": _csrf(page.text)},
                      files={"pool": ("pool.csv", pool.to_csv(index=False), "text/csv"),
                             "history": ("old.csv", past.drop(columns=["yield"]).to_csv(index=False), "text/csv")})
    assert bad.status_code == 422 and "old.csv" in bad.text and "no column" in bad.text


def test_the_create_form_takes_the_order_of_a_goals_text_labels(dash):
    app, client, tokens = dash
    login(client, tokens["admin"])
    page = client.get("/")
    assert 'id="c-target-order"' in page.text
    labels = ["clear_solution", "fine_powder", "large_crystallites"]
    pool = pd.DataFrame({"temperature": [280.0 + 10 * i for i in range(12)],
                         "crystal_score": [labels[i % 3] for i in range(6)] + [None] * 6})
    r = client.post("/campaigns", data={"name": "vials", "goals": "crystal_score:max", "csrf_token": _csrf(page.text),
                                        "target_order": ", ".join(labels)},
                    files={"pool": ("vials.csv", pool.to_csv(index=False), "text/csv")}, follow_redirects=False)
    assert r.status_code == 303, r.text
    camp = service.open_campaign(app.state.db, "vials", read_only=True)
    assert camp.config["target_order"]["labels"] == labels
    assert service.campaign_status(app.state.db, "vials")["measurements"] == 6
    bad = client.post("/campaigns", data={"name": "v2", "goals": "crystal_score:max", "csrf_token": _csrf(page.text),
                                          "target_order": "clear_solution, fine_powder"},
                      files={"pool": ("vials.csv", pool.to_csv(index=False), "text/csv")})
    assert bad.status_code == 422 and "large_crystallites" in bad.text


def test_static_files_are_a_fixed_list_with_the_vendored_licence(dash):
    _, client, _ = dash
    js = client.get("/static/uPlot.iife.min.js")
    assert js.status_code == 200 and "uPlot" in js.text[:2000]
    assert client.get("/static/dashboard.js").status_code == 200
    for name in ("..%2Fsettings.py", "vendor", "LICENSE", "%2e%2e%2fapp.py"):
        assert client.get(f"/static/{name}").status_code == 404
    from pathlib import Path

    import matloop.serve

    licence = Path(matloop.serve.__file__).parent / "static" / "vendor" / "uplot" / "LICENSE"
    assert "MIT License" in licence.read_text()


def test_ask_for_a_batch_runs_as_a_worker_job_and_the_page_shows_it_when_done(tmp_path, monkeypatch):
    import threading

    app = create_app(ServeSettings(db=str(tmp_path / "ledger.db"), form_wait_s=0.0))
    token = create_token(app.state.db, "experimenter", "robot-arm")[1]
    service.create_campaign(app.state.db, "opt", ["yield:max"], _pool(), actor="setup")
    two = _pool().rename(columns={"yield": "a"}).assign(b=[1.0] + [np.nan] * 23)  # its fit is made to fail below
    service.create_campaign(app.state.db, "two", ["a:max", "b:min"], two, actor="setup")
    gate, real, threads = threading.Event(), service.suggest, []

    def held(*args, **kwargs):  # the fit waits until the test lets it go: the form must not wait for it
        threads.append(threading.current_thread().name)
        assert gate.wait(60)
        if args[1] == "two":  # a fit that fails with a problem table (what a bad ledger state would give)
            raise InputError("record at least 2 measurements of b first",
                             error_table([{"row": 1, "column": "b", "value": 1.0, "reason": "one result only"}]))
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "suggest", held)
    with TestClient(app) as client:
        login(client, token)
        page = client.get("/campaigns/opt")
        r = client.post("/campaigns/opt/suggest", data={"batch": "2", "csrf_token": _csrf(page.text)},
                        follow_redirects=False)
        assert r.status_code == 303 and "done=fitting&job=" in r.headers["location"]
        job = r.headers["location"].split("job=")[1]
        page = client.get(r.headers["location"])
        assert f'data-job="{job}"' in page.text and "being fitted in the background" in page.text
        first = client.get(f"/campaigns/opt/live.json?job={job}").json()
        assert first["job"] == {"id": job, "status": "running"} and _n_suggested(app) == 0
        assert "job" not in client.get("/campaigns/two/live.json?job=" + job).json()  # another campaign's: none
        gate.set()
        for _ in range(600):
            state = client.get(f"/campaigns/opt/live.json?since={first['version']}&job={job}").json()
            if state["job"]["status"] != "running":
                break
            time.sleep(0.1)
        assert state["job"] == {"id": job, "status": "done", "batch": 2} and _n_suggested(app) == 2
        assert state["version"] != first["version"]
        assert len(re.findall(r"<tr", state["html"].split('id="suggestions"')[1].split("</table>")[0])) == 3
        assert threads and all(t.startswith("matloop-suggest") for t in threads)  # the API's worker pool

        gate.clear()
        page = client.get("/campaigns/two")
        r = client.post("/campaigns/two/suggest", data={"batch": "2", "csrf_token": _csrf(page.text)},
                        follow_redirects=False)
        job = r.headers["location"].split("job=")[1]
        gate.set()
        for _ in range(600):
            state = client.get(f"/campaigns/two/live.json?job={job}").json()
            if state["job"]["status"] != "running":
                break
            time.sleep(0.1)
        assert state["job"]["status"] == "failed" and "at least 2 measurements" in state["job"]["detail"]
