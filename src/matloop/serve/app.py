"""The ``matloop serve`` application factory: ``create_app(settings)`` opens the ledger once, keeps the
settings, the database handle and the suggestion workers on ``app.state``, installs the error
handlers and the body-size limit, and includes the API routers (and the dashboard's, when
:mod:`matloop.serve.routers.dashboard` is present). Nothing is built at import."""

from __future__ import annotations

import importlib.util
from contextlib import asynccontextmanager

from fastapi import FastAPI

from matloop import __version__
from matloop.serve.settings import ServeSettings


def create_app(settings: ServeSettings) -> FastAPI:
    """A FastAPI app serving the campaigns of ``settings.db`` (the OpenAPI document at
    ``/api/openapi.json``)."""
    from matloop.serve import errors
    from matloop.serve.db import open_db
    from matloop.serve.jobs import JobRunner
    from matloop.serve.routers import api_campaigns, api_results, api_tokens

    db = open_db(settings.db)
    import matloop.design.campaign  # noqa: F401 - paid at start, not by the first instrument's request

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            yield
        finally:
            app.state.jobs.shutdown()
            db.close()

    # no Swagger/ReDoc pages: FastAPI loads them from a CDN, and everything here works offline
    app = FastAPI(title=settings.title, version=__version__, lifespan=lifespan, openapi_url="/api/openapi.json",
                  docs_url=None, redoc_url=None,
                  description="Campaigns of a matloop ledger for a team and its instruments. Every request "
                              "carries 'Authorization: Bearer TOKEN' (matloop serve token create).")
    app.state.settings = settings
    app.state.db = db
    app.state.jobs = JobRunner(settings.suggest_workers)
    errors.install(app)
    app.add_middleware(errors.BodyLimit, max_bytes=settings.max_body_bytes)
    for module in (api_campaigns, api_results, api_tokens):
        app.include_router(module.router)
    if importlib.util.find_spec("matloop.serve.routers.dashboard") is not None:
        from matloop.serve.routers import dashboard

        app.include_router(dashboard.router)
    return app
