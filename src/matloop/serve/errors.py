"""How ``matloop serve`` answers errors: one JSON shape, ``{"detail": message, "problems": [...]}``,
where ``problems`` is the CLI's error table as records (``row``, ``column``, ``value``, ``reason``;
rows are 1-based positions in the rows sent, 0 for the request as a whole).

- :class:`~matloop.errors.InputError` and request validation (invalid JSON, a missing field, a wrong
  type) -> 422; an unknown campaign -> 404; a taken name -> 409; any other
  :class:`~matloop.errors.MatloopError` -> 400.
- :class:`BodyLimit` refuses a body over the limit with 413 before anything parses it (declared
  ``Content-Length`` or counted while it streams in).
- A request that fails validation without a valid token is still 401 (and 403 for a role without the
  right): FastAPI parses the JSON before it runs the auth dependency, so the handler checks it first.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from matloop.errors import InputError, MatloopError
from matloop.serve.service import CampaignExists, CampaignNotFound, _jsonable


def problems_of(table) -> list[dict]:
    """An error table as JSON records."""
    if table is None or getattr(table, "empty", True):
        return []
    return [{"row": int(r["row"]) if str(r["row"]).lstrip("-").isdigit() else r["row"], "column": _jsonable(r["column"]),
             "value": _jsonable(r["value"]), "reason": _jsonable(r["reason"])} for r in table.to_dict(orient="records")]


def error_response(status: int, detail: str, problems: list[dict] | None = None,
                   headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "problems": problems or []}, status_code=status, headers=headers)


def _validation_problems(errors: list[dict]) -> list[dict]:
    out = []
    for e in errors:
        loc = [x for x in e.get("loc", ()) if x != "body"]
        kind, ctx = e.get("type", ""), e.get("ctx") or {}
        if kind == "json_invalid":
            out.append({"row": 0, "column": "(body)", "value": None,
                        "reason": f"invalid JSON ({ctx.get('error', e.get('msg'))}) at character {loc[0] if loc else 0}"})
            continue
        row, column = 0, ".".join(map(str, loc)) or "(body)"
        if len(loc) >= 2 and loc[0] in ("rows", "pool") and isinstance(loc[1], int):
            row, column = loc[1] + 1, ".".join(map(str, loc[2:])) or f"({loc[0]} row)"
        value = e.get("input")
        out.append({"row": row, "column": column, "value": _jsonable(value) if not isinstance(value, dict | list)
                    else json.dumps(value, default=str)[:200], "reason": e.get("msg", "invalid")})
    return out


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError):
        problems = problems_of(exc.table) or [{"row": 0, "column": None, "value": None, "reason": exc.message}]
        return error_response(422, exc.message, problems)

    @app.exception_handler(CampaignNotFound)
    async def _missing(request: Request, exc: CampaignNotFound):
        return error_response(404, str(exc))

    @app.exception_handler(CampaignExists)
    async def _exists(request: Request, exc: CampaignExists):
        return error_response(409, str(exc))

    @app.exception_handler(MatloopError)
    async def _other(request: Request, exc: MatloopError):
        return error_response(400, str(exc))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):  # logged by the server; the client learns no internals
        return error_response(500, "internal error: the server's log has the details")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        from starlette.concurrency import run_in_threadpool

        from matloop.serve.deps import auth_refusal

        refusal = await run_in_threadpool(auth_refusal, request)
        if refusal is not None:
            return refusal
        return error_response(422, "invalid request", _validation_problems(exc.errors()))


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` is answered 413 and never reaches the app."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, int(max_bytes)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, send, declared.decode("latin-1"))
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(scope, send, f"more than {self.max_bytes}")
                return
        done = False

        async def replay() -> dict[str, Any]:
            nonlocal done
            if not done:
                done = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope, send, size: str) -> None:
        response = error_response(413, f"the request body is over the server's limit of {self.max_bytes} bytes",
                                  [{"row": 0, "column": "(body)", "value": size,
                                    "reason": f"at most {self.max_bytes} bytes (send fewer rows per request)"}],
                                  headers={"Connection": "close"})
        await response(scope, None, send)
