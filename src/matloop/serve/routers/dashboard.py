"""The web dashboard of ``matloop serve``: server-rendered pages for people, beside the JSON API.

- ``/login`` (a token, once) and ``/logout``: :mod:`matloop.serve.web_auth` (signed session cookie,
  CSRF token on every form);
- ``/``: the campaigns, and (admins) a form to create one from an uploaded CSV of candidates;
- ``/campaigns/{name}``: progress (best so far, or hypervolume for several goals, against experiments,
  with the random-order baseline), measured against predicted with 95 % intervals, the current front,
  the suggestion table with reasons, failures and the ledger's history; forms to ask for a batch,
  upload results, record a failure or a suggestion that will not be run, and (admins) veto a candidate or
  retract an entry recorded in error; ``export.csv``; ``report.html`` (the
  full report of ``matloop campaign report``, served with a CSP that allows no script);
- ``/campaigns/{name}/live.json``: what the page polls to redraw itself when results arrive
  (:mod:`matloop.serve.dashboard_data`);
- ``/static/...``: the page's CSS and JavaScript and the vendored uPlot (MIT, ``static/vendor/uplot``):
  a fixed list of files, nothing else on disk can be named.

Every read and write goes through :mod:`matloop.serve.service` (no SQL here). Pages are Jinja2
templates with autoescaping on, so material names, reasons and column names holding HTML or script
are shown as text; the Content-Security-Policy allows only this server's own scripts and styles.
Uploads are read from memory into a private temporary file with a fixed name (the client's file name
is never used) through :func:`matloop.io.files.read_raw` (every check of ``matloop`` tables), and are
limited to ``settings.max_body_bytes``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from matloop.errors import InputError, MatloopError
from matloop.serve import web_auth
from matloop.serve.uploads import failure_row, read_upload
from matloop.serve.web_auth import Forbidden, LoginRequired, WebSession

router = APIRouter(include_in_schema=False, tags=["dashboard"])
FormText = Annotated[str, Form()]
FormFile = Annotated[UploadFile | None, File()]

_HERE = Path(__file__).resolve().parent.parent
_STATIC = {  # the only files /static serves: name -> (path, media type)
    "dashboard.css": ("dashboard.css", "text/css"),
    "dashboard.js": ("dashboard.js", "text/javascript"),
    "uPlot.iife.min.js": ("vendor/uplot/uPlot.iife.min.js", "text/javascript"),
    "uPlot.min.css": ("vendor/uplot/uPlot.min.css", "text/css"),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
#: what a finished form says (fixed texts with numbers only: nothing from the request is echoed)
_DONE = {
    "created": "Campaign created.",
    "suggested": "A batch of {n} was suggested: see the suggestions below.",
    "fitting": "The batch is being fitted in the background: it appears below when the fit finishes.",
    "recorded": "{n} result(s) recorded, {m} already in the ledger, {f} failure(s).",
    "failure": "The failure was recorded.",
    "veto": "The candidate was vetoed: it will not be suggested again.",
    "retract": "{n} entry(ies) retracted: kept in the history, left out of everything else.",
    "abandon": "{n} suggestion(s) abandoned: no longer awaited, they may be suggested again.",
}


@functools.cache
def _templates():
    """The Jinja2 environment (autoescape on for everything), built on first use."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(_HERE / "templates")), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["seg"] = lambda v: quote(str(v), safe="")
    return env


def _db(request: Request):
    return request.app.state.db


def _settings(request: Request):
    return request.app.state.settings


def _html(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    context.setdefault("session", None)
    context.setdefault("message", None)
    context.setdefault("error", None)
    context.setdefault("max_upload_mb", round(_settings(request).max_body_bytes / 2**20, 1))
    context.setdefault("read_only", bool(_settings(request).read_only))  # no write forms shown
    context.setdefault("max_upload_bytes", int(_settings(request).max_body_bytes))
    return HTMLResponse(_templates().get_template(template).render(**context), status_code=status,
                        headers=SECURITY_HEADERS)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _page(url: str) -> str:
    return "/campaigns/" + quote(url, safe="")


def _error(exc: Exception) -> dict:
    from matloop.serve.errors import problems_of

    if isinstance(exc, InputError):
        return {"message": exc.message, "problems": problems_of(exc.table)}
    return {"message": str(exc), "problems": []}


def _status_of(exc: Exception) -> int:
    from matloop.serve.service import CampaignExists, CampaignNotFound

    if isinstance(exc, CampaignNotFound):
        return 404
    if isinstance(exc, CampaignExists):
        return 409
    return 422 if isinstance(exc, InputError) else 400


def _guard(request: Request, role: str, csrf: str | None = None, write: bool = False) -> WebSession:
    """The session with at least ``role``; for forms also the CSRF check and the read-only switch."""
    sess = web_auth.require(request, role)
    if csrf is not None or write:
        web_auth.check_csrf(sess, csrf)
    if write and _settings(request).read_only:
        raise Forbidden("this server is read-only")
    return sess


def _refused(request: Request, exc: Exception) -> Response:
    if isinstance(exc, LoginRequired):
        if request.method == "GET" and not request.url.path.endswith(".json"):
            return _redirect("/login")
        return JSONResponse({"detail": "log in first", "problems": []}, status_code=401, headers=SECURITY_HEADERS)
    return _html(request, "error.html", 403, title=getattr(exc, "message", "Forbidden"),
                 session=web_auth.current_session(request))


# ------------------------------------------------------------------------------------------- login
@router.get("/login")
def login_page(request: Request) -> Response:
    if web_auth.current_session(request) is not None:
        return _redirect("/")
    import secrets

    value = secrets.token_urlsafe(24)
    resp = _html(request, "login.html", login_csrf=value)
    resp.set_cookie(web_auth.LOGIN_CSRF_COOKIE, value, max_age=3600, **web_auth.cookie_options(request))
    return resp


@router.post("/login")
def login(request: Request, token: FormText = "", csrf_token: FormText = "") -> Response:
    import hmac
    import secrets

    expected = request.cookies.get(web_auth.LOGIN_CSRF_COOKIE, "")
    if not expected or not csrf_token or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        return _html(request, "error.html", 403, title="The login form's security token is missing or stale: "
                                                       "open the login page again")
    principal = web_auth.check_token(request, token)
    if principal is None:
        value = secrets.token_urlsafe(24)
        resp = _html(request, "login.html", 401, login_csrf=value,
                     error={"message": "That token is not valid (mistyped, revoked, or for another server).",
                            "problems": []})
        resp.set_cookie(web_auth.LOGIN_CSRF_COOKIE, value, max_age=3600, **web_auth.cookie_options(request))
        return resp
    value, _ = web_auth.start_session(request, principal)
    resp = _redirect("/")
    resp.set_cookie(web_auth.SESSION_COOKIE, value, max_age=web_auth.SESSION_SECONDS,
                    **web_auth.cookie_options(request))
    resp.delete_cookie(web_auth.LOGIN_CSRF_COOKIE, path="/")
    return resp


@router.post("/logout")
def logout(request: Request, csrf_token: FormText = "") -> Response:
    try:
        _guard(request, "viewer", csrf_token)
    except (LoginRequired, Forbidden) as exc:
        return _refused(request, exc)
    resp = _redirect("/login")
    resp.delete_cookie(web_auth.SESSION_COOKIE, path="/")
    return resp


# ----------------------------------------------------------------------------------------- campaigns
def _overview(request: Request) -> list[dict]:
    from matloop.serve import service

    out = []
    for c in service.list_campaigns(_db(request)):
        try:
            st = service.campaign_status(_db(request), c["name"])
        except MatloopError:
            continue
        best = st.get("best")
        best_text = (f"{best['value']:.4g} at {best['at']}" if best else
                     f"hypervolume {st['hypervolume']:.4g}" if st.get("hypervolume") is not None else "")
        out.append({"name": c["name"], "goal": ", ".join(st["goals"]), "candidates": st["candidates"],
                    "measurements": st["measurements"], "failures": st["failures"],
                    "suggestions": st["suggestions"], "best": best_text})
    return out


def _message(request: Request) -> str | None:
    q = request.query_params
    text = _DONE.get(q.get("done", ""))
    if text is None:
        return None

    def num(key: str) -> int:
        value = q.get(key, "0")
        return int(value) if value.isdigit() and len(value) < 10 else 0
    return text.format(n=num("n"), m=num("m"), f=num("f"))


@router.get("/")
def index(request: Request) -> Response:
    try:
        sess = _guard(request, "viewer")
    except (LoginRequired, Forbidden) as exc:
        return _refused(request, exc)
    return _html(request, "index.html", session=sess, campaigns=_overview(request), message=_message(request))


@router.post("/campaigns")
async def create(request: Request, csrf_token: FormText = "", name: FormText = "", goals: FormText = "",
                 input: FormText = "", constraints: FormText = "", failed_if: FormText = "", same: FormText = "",
                 target_order: FormText = "", pool: FormFile = None, history: FormFile = None) -> Response:
    from starlette.concurrency import run_in_threadpool

    from matloop.serve import service

    try:
        sess = _guard(request, "admin", csrf_token, write=True)
    except (LoginRequired, Forbidden) as exc:
        return _refused(request, exc)
    try:
        goal_list = [g.strip() for g in goals.replace("\n", ",").split(",") if g.strip()]
        frame = await read_upload(_settings(request), pool)
        past = ([(await read_upload(_settings(request), history), history.filename[:200])]
                if history is not None and history.filename else [])  # optional: a related campaign's table
        await run_in_threadpool(service.create_campaign, _db(request), name.strip(), goal_list, frame,
                                input.strip() or None, sess.actor, failed_if.strip() or None,
                                [c.strip() for c in constraints[:2000].split(",") if c.strip()] or None,
                                _columns(same), past, _columns(target_order) or None)
    except MatloopError as exc:
        campaigns = await run_in_threadpool(_overview, request)
        return _html(request, "index.html", _status_of(exc), session=sess, campaigns=campaigns, error=_error(exc))
    return _redirect(_page(name.strip()) + "?done=created")


def _columns(text: str) -> list[str]:
    """Comma-separated column names of a form field (a name may hold spaces: 'temp (C)')."""
    return [c.strip() for c in text[:2000].split(",") if c.strip()]


def _campaign_page(request: Request, sess: WebSession, name: str, status: int = 200, error=None) -> Response:
    from matloop.serve import service
    from matloop.serve.dashboard_data import page_data, version

    camp = service.open_campaign(_db(request), name)
    job = request.app.state.jobs.of_campaign(camp.ledger.name, request.query_params.get("job", ""))
    return _html(request, "campaign.html", status, session=sess, name=camp.ledger.name, page=page_data(camp),
                 version=version(camp), max_batch=_settings(request).max_batch, message=_message(request),
                 error=error, job=job.id if job is not None else "")



@router.get("/campaigns/{name}")
def campaign(request: Request, name: str) -> Response:
    from matloop.serve.service import CampaignNotFound

    try:
        sess = _guard(request, "viewer")
    except (LoginRequired, Forbidden) as exc:
        return _refused(request, exc)
    try:
        return _campaign_page(request, sess, name)
    except CampaignNotFound:
        return _html(request, "error.html", 404, title="No campaign of that name", session=sess)


def _read_as_viewer(request: Request, name: str, read):
    """``(read(db, name), None)`` for a logged-in viewer, else ``(None, the refusal or the 404 answer)``."""
    try:
        _guard(request, "viewer")
    except (LoginRequired, Forbidden) as exc:
        return None, _refused(request, exc)
    from matloop.serve.service import CampaignNotFound

    try:
        return read(_db(request), name), None
    except CampaignNotFound:
        return None, JSONResponse({"detail": "no such campaign", "problems": []}, status_code=404)


@router.get("/campaigns/{name}/live.json")
def live(request: Request, name: str, since: str = "", job: str = "") -> Response:
    """The ledger's fingerprint; when it differs from ``since``, the plots' data and the page's tables;
    with ``job``, the state of that suggestion job (the "ask for a batch" form's fit)."""
    from matloop.serve import service
    from matloop.serve.dashboard_data import page_data, plot_data, version

    camp, refusal = _read_as_viewer(request, name, service.open_campaign)
    if refusal is not None:
        return refusal
    found = request.app.state.jobs.of_campaign(camp.ledger.name, job)
    extra = {"job": found.state()} if found is not None else {}
    now = version(camp)
    if since == now:
        return JSONResponse({"version": now, **extra}, headers=SECURITY_HEADERS)
    state = request.app.state
    if getattr(state, "dashboard_cache", None) is None:
        state.dashboard_cache = {}  # campaign -> (version, answer): browsers polling one ledger state share it
    cache = state.dashboard_cache
    hit = cache.get(camp.ledger.name)
    if hit is None or hit[0] != now:
        html = _templates().get_template("_live.html").render(page=page_data(camp))
        hit = (now, {"version": now, "plots": plot_data(camp), "html": html})
        if len(cache) > 64:
            cache.clear()
        cache[camp.ledger.name] = hit
    return JSONResponse({**hit[1], **extra}, headers=SECURITY_HEADERS)


@router.get("/campaigns/{name}/export.csv")
def export(request: Request, name: str) -> Response:
    from matloop.serve import service

    text, refusal = _read_as_viewer(request, name, service.export_csv)
    if refusal is not None:
        return refusal
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in name)[:80] or "campaign"
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{safe}.csv"'})


@router.get("/campaigns/{name}/report.html")
def report(request: Request, name: str) -> Response:
    """The campaign's full HTML report (:func:`matloop.report.campaign.campaign_report`: the measured data,
    what a model learned, every batch), self-contained; its CSP allows no script at all."""
    from matloop.report.campaign import campaign_report
    from matloop.serve import service

    camp, refusal = _read_as_viewer(request, name, service.open_campaign)
    if refusal is not None:
        return refusal
    csp = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
           "frame-ancestors 'none'")
    return HTMLResponse(campaign_report(camp).to_html(), headers={**SECURITY_HEADERS, "Content-Security-Policy": csp})


async def _write(request: Request, name: str, role: str, csrf: str, action) -> Response:
    """Run a form's write (``action(session)`` -> the redirect's query) and redirect to the campaign page,
    or show the page again with the error table."""
    from starlette.concurrency import run_in_threadpool

    from matloop.serve.service import CampaignNotFound

    try:
        sess = _guard(request, role, csrf, write=True)
    except (LoginRequired, Forbidden) as exc:
        return _refused(request, exc)
    try:
        query = await action(sess)
    except CampaignNotFound:
        return _html(request, "error.html", 404, title="No campaign of that name", session=sess)
    except MatloopError as exc:
        return await run_in_threadpool(_campaign_page, request, sess, name, _status_of(exc), _error(exc))
    return _redirect(_page(name) + "?" + query)


@router.post("/campaigns/{name}/suggest")
async def suggest(request: Request, name: str, csrf_token: FormText = "", batch: FormText = "",
                  same: FormText = "", no_same: FormText = "") -> Response:
    """The API's job path (:mod:`matloop.serve.jobs`): the fit runs in a suggestion worker; a fit done
    within ``form_wait_s`` redirects with the batch, a longer one at once with the job's id, and the
    page's poll shows the batch (or the job's error) when it finishes."""
    import concurrent.futures

    from starlette.concurrency import run_in_threadpool

    from matloop.serve import service

    async def action(sess: WebSession) -> str:
        limit = _settings(request).max_batch
        n = int(batch) if batch.strip().isdigit() and len(batch.strip()) < 7 else 0
        if not 1 <= n <= limit:
            raise InputError(f"the batch size must be a whole number from 1 to {limit}")
        camp = await run_in_threadpool(service.open_campaign, _db(request), name, True)  # 404 now, not in the job
        shared = _columns(same)  # columns the batch shares (--same); "share nothing" ticked: none (--no-same)
        if no_same and shared:
            raise InputError(f"a batch that shares nothing cannot also share {', '.join(shared)}")
        job = request.app.state.jobs.submit(camp.ledger.name, service.suggest, _db(request), camp.ledger.name, n,
                                            sess.actor, same=[] if no_same else (shared or None))
        try:
            done = await run_in_threadpool(job.future.result, max(0.0, float(_settings(request).form_wait_s)))
        except concurrent.futures.TimeoutError:
            return f"done=fitting&job={job.id}"
        return f"done=suggested&n={int(done['batch'])}"
    return await _write(request, name, "experimenter", csrf_token, action)


@router.post("/campaigns/{name}/results")
async def results(request: Request, name: str, csrf_token: FormText = "",
                  file: FormFile = None) -> Response:
    from starlette.concurrency import run_in_threadpool

    from matloop.serve import service

    async def action(sess: WebSession) -> str:
        frame = await read_upload(_settings(request), file)
        done = await run_in_threadpool(service.record_results, _db(request), name, frame, sess.actor, None,
                                       "dashboard upload", False)
        return (f"done=recorded&n={int(done['recorded'])}&m={int(done['already_recorded'])}"
                f"&f={int(done['failed'])}")
    return await _write(request, name, "experimenter", csrf_token, action)


@router.post("/campaigns/{name}/failure")
async def failure(request: Request, name: str, csrf_token: FormText = "", candidate: FormText = "",
                  reason: FormText = "") -> Response:
    from starlette.concurrency import run_in_threadpool

    from matloop.serve import service

    async def action(sess: WebSession) -> str:
        row = await run_in_threadpool(failure_row, _db(request), name, candidate[:500], reason[:500])
        await run_in_threadpool(service.record_results, _db(request), name, [row], sess.actor, None,
                                "dashboard failure form", False)
        return "done=failure"
    return await _write(request, name, "experimenter", csrf_token, action)


@router.post("/campaigns/{name}/abandon")
async def abandon(request: Request, name: str, csrf_token: FormText = "", candidate: FormText = "",
                  reason: FormText = "") -> Response:
    from starlette.concurrency import run_in_threadpool

    from matloop.serve import service

    async def action(sess: WebSession) -> str:
        done = await run_in_threadpool(service.abandon, _db(request), name, [candidate[:500].strip()], reason[:500],
                                       sess.actor)
        return f"done=abandon&n={int(done['abandoned'])}"
    return await _write(request, name, "experimenter", csrf_token, action)


@router.post("/campaigns/{name}/veto")
async def veto(request: Request, name: str, csrf_token: FormText = "", candidate: FormText = "",
               reason: FormText = "") -> Response:
    from starlette.concurrency import run_in_threadpool

    from matloop.serve import service

    async def action(sess: WebSession) -> str:
        await run_in_threadpool(service.veto, _db(request), name, candidate[:500].strip(), reason[:500], sess.actor)
        return "done=veto"
    return await _write(request, name, "admin", csrf_token, action)


@router.post("/campaigns/{name}/retract")
async def retract(request: Request, name: str, csrf_token: FormText = "", entries: FormText = "",
                  reason: FormText = "") -> Response:
    from starlette.concurrency import run_in_threadpool

    from matloop.serve import service

    async def action(sess: WebSession) -> str:
        done = await run_in_threadpool(service.retract, _db(request), name, entries[:2000].replace(",", " ").split(),
                                       reason[:500], sess.actor)
        return f"done=retract&n={int(done['retracted'])}"
    return await _write(request, name, "admin", csrf_token, action)


# ------------------------------------------------------------------------------------------- static
@router.get("/static/{filename}")
def static(filename: str) -> Response:
    """One of the dashboard's own files (a fixed list: no path from the request reaches the disk)."""
    found = _STATIC.get(filename)
    if found is None:
        return Response("not found", status_code=404, media_type="text/plain")
    rel, media = found
    return FileResponse(_HERE / "static" / rel, media_type=media,
                        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})
