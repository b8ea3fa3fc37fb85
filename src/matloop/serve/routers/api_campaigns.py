"""``/api/campaigns``: list, create (admin), status, history, export (viewers), abandon (experimenters), veto and
retract (admin). HTTP only: every read and write is a :mod:`matloop.serve.service` call."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from matloop.serve import service
from matloop.serve.deps import Admin, DbDep, Experimenter, SettingsDep, Viewer
from matloop.serve.schemas import (
    CAMPAIGN_ERRORS,
    ERRORS,
    AbandonOut,
    AbandonRequest,
    CampaignCreate,
    ErrorOut,
    RetractOut,
    RetractRequest,
    StatusOut,
    VetoOut,
    VetoRequest,
)

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"])


@router.get("", responses=ERRORS, summary="every campaign of the ledger")
def list_campaigns(db: DbDep, _: Viewer) -> list[dict]:
    return service.list_campaigns(db)


@router.post("", status_code=201, response_model=StatusOut, summary="create a pool campaign (admin)",
             responses={**ERRORS, 409: {"model": ErrorOut, "description": "a campaign of that name exists"}})
async def create_campaign(body: CampaignCreate, db: DbDep, settings: SettingsDep, who: Admin, response: Response):
    for what, n in [("pool", len(body.pool))] + [(f"history {t.source}", len(t.rows)) for t in body.history]:
        if n > settings.max_rows:
            from matloop.errors import InputError, error_table

            raise InputError(f"too many {what} rows", error_table([{"row": 0, "column": what, "value": n,
                                                                    "reason": f"at most {settings.max_rows} rows"}]))
    out = await run_in_threadpool(service.create_campaign, db, body.name, body.goals, body.pool, body.input,
                                  who.actor, body.failed_if, body.constraints, body.same,
                                  [(t.rows, t.source) for t in body.history], body.target_order)
    response.headers["Location"] = f"/api/campaigns/{body.name}"
    return out


@router.get("/{name}", response_model=StatusOut, responses=CAMPAIGN_ERRORS, summary="where a campaign stands")
def campaign_status(name: str, db: DbDep, _: Viewer):
    return service.campaign_status(db, name)


@router.get("/{name}/history", responses=CAMPAIGN_ERRORS,
            summary="progress (best so far), the ledger's log, every suggestion")
def campaign_history(name: str, db: DbDep, _: Viewer) -> dict:
    return service.history(db, name)


@router.get("/{name}/export", responses={**CAMPAIGN_ERRORS, 200: {"content": {"text/csv": {}}}},
            response_class=Response, summary="everything, as CSV (campaign export)")
def export(name: str, db: DbDep, _: Viewer) -> Response:
    text = service.export_csv(db, name)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:80] or "campaign"
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{safe}.csv"',
                             "X-Content-Type-Options": "nosniff"})


@router.post("/{name}/vetoes", status_code=201, response_model=VetoOut, responses=CAMPAIGN_ERRORS,
             summary="rule a candidate out for good (admin)")
def veto(name: str, body: VetoRequest, db: DbDep, who: Admin):
    return service.veto(db, name, body.candidate, body.reason, who.actor)


@router.post("/{name}/retractions", status_code=201, response_model=RetractOut, responses=CAMPAIGN_ERRORS,
             summary="withdraw measurements, failures or vetoes recorded in error (admin; kept in the log)")
def retract(name: str, body: RetractRequest, db: DbDep, who: Admin):
    return service.retract(db, name, body.entries, body.reason, who.actor)


@router.post("/{name}/abandonments", status_code=201, response_model=AbandonOut, responses=CAMPAIGN_ERRORS,
             summary="suggested experiments that will not be run: no longer awaited, may be suggested again")
def abandon(name: str, body: AbandonRequest, db: DbDep, who: Experimenter):
    return service.abandon(db, name, body.candidates, body.reason, who.actor)
