"""``/api/campaigns/{name}/results`` (experimenters record, all or nothing, idempotent with an
``Idempotency-Key``), ``/api/campaigns/{name}/suggestions`` (the next batch; 202 with a job URL when
the fit takes longer than the settings' wait) and ``/api/jobs/{id}``."""

from __future__ import annotations

import concurrent.futures
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool

from matloop.errors import InputError, MatloopError, error_table
from matloop.serve import service
from matloop.serve.deps import DbDep, Experimenter, SettingsDep, Viewer
from matloop.serve.schemas import (
    CAMPAIGN_ERRORS,
    ERRORS,
    JobOut,
    RecordOut,
    ResultsRequest,
    SuggestOut,
    SuggestRequest,
)

router = APIRouter(prefix="/api", tags=["results"])


@router.post("/campaigns/{name}/results", status_code=201, response_model=RecordOut, responses=CAMPAIGN_ERRORS,
             summary="record results (experimenter); all or nothing; idempotent")
def record_results(name: str, body: ResultsRequest, db: DbDep, settings: SettingsDep, who: Experimenter,
                   response: Response,
                   idempotency_key: Annotated[str | None, Header(max_length=200)] = None):
    if len(body.rows) > settings.max_rows:
        raise InputError("too many rows in one request", error_table(
            [{"row": 0, "column": "rows", "value": len(body.rows), "reason": f"at most {settings.max_rows} rows"}]))
    out = service.record_results(db, name, body.rows, who.actor, idempotency_key=idempotency_key,
                                 source=body.source or f"api ({who.actor})", allow_new=body.allow_new)
    if out["replayed"]:
        response.headers["Idempotent-Replayed"] = "true"
    return out


@router.post("/campaigns/{name}/suggestions", status_code=201, response_model=SuggestOut,
             responses={**CAMPAIGN_ERRORS, 202: {"model": JobOut, "description": "still fitting: poll the job URL"}},
             summary="suggest and store the next batch (experimenter)")
async def suggest(name: str, body: SuggestRequest, request: Request, db: DbDep, settings: SettingsDep,
                  who: Experimenter):
    if body.batch > settings.max_batch:
        raise InputError("batch too large", error_table([{"row": 0, "column": "batch", "value": body.batch,
                                                          "reason": f"at most {settings.max_batch}"}]))
    if body.no_same and body.same:
        raise InputError("same and no_same contradict each other", error_table(
            [{"row": 0, "column": "same", "value": c, "reason": "no_same asks for a batch that shares nothing"}
             for c in body.same]))
    await run_in_threadpool(service.open_campaign, db, name)  # 404 now, not in the job
    runner = request.app.state.jobs
    job = runner.submit(name, service.suggest, db, name, body.batch, who.actor, body.model, body.seed,
                        body.acquisition, body.retry_failed, [] if body.no_same else (body.same or None))
    try:
        return await run_in_threadpool(job.future.result, settings.suggest_wait_s)
    except concurrent.futures.TimeoutError:
        url = f"/api/jobs/{job.id}"
        from fastapi.responses import JSONResponse

        return JSONResponse({"job": job.id, "status": "running", "url": url, "result": None, "error": None},
                            status_code=202, headers={"Location": url})


@router.get("/jobs/{job_id}", response_model=JobOut, responses=ERRORS, summary="a suggestion job's state")
def job_state(job_id: str, request: Request, _: Viewer):
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, "no such job (jobs are kept in memory for an hour)")
    out = {"job": job.id, "status": "running", "url": f"/api/jobs/{job.id}", "result": None, "error": None}
    if job.future.done():
        exc = job.future.exception()
        if exc is None:
            out.update(status="done", result=job.future.result())
        else:
            from matloop.serve.errors import problems_of

            table = exc.table if isinstance(exc, InputError) else None
            message = exc.message if isinstance(exc, InputError) else (
                str(exc) if isinstance(exc, MatloopError) else "the suggestion failed (see the server's log)")
            out.update(status="failed", error={"detail": message, "problems": problems_of(table)})
    return out
