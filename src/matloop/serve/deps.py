"""FastAPI dependencies of ``matloop serve`` (``Annotated`` aliases for the routers): the settings and
the shared database handle kept on ``app.state`` by :func:`~matloop.serve.app.create_app`, and the
bearer-token principal with a minimum role. No token, a malformed or unknown or revoked one: 401 with
``WWW-Authenticate: Bearer``; a valid token whose role is below the route's: 403. Tests replace any of
these with ``app.dependency_overrides``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from matloop.serve.auth import Principal, verify_token
from matloop.serve.db import LedgerDB
from matloop.serve.settings import ServeSettings

bearer = HTTPBearer(auto_error=False, description="a token from 'matloop serve token create'")


def get_settings(request: Request) -> ServeSettings:
    return request.app.state.settings


def get_db(request: Request) -> LedgerDB:
    return request.app.state.db


SettingsDep = Annotated[ServeSettings, Depends(get_settings)]
DbDep = Annotated[LedgerDB, Depends(get_db)]
UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def get_principal(db: DbDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
                  ) -> Principal:
    """The token's holder, or 401."""
    principal = verify_token(db, credentials.credentials) if credentials is not None else None
    if principal is None:
        raise HTTPException(401, "a valid token is needed: 'Authorization: Bearer TOKEN'", headers=UNAUTHORIZED)
    return principal


def _role(role: str):
    def require(principal: Annotated[Principal, Depends(get_principal)], settings: SettingsDep) -> Principal:
        if not principal.can(role):
            raise HTTPException(403, f"this needs the {role} role; the token's role is {principal.role}")
        if settings.read_only and role != "viewer":
            raise HTTPException(403, "this server is read-only")
        return principal
    require.__name__ = f"require_{role}"
    require.role = role  # read by auth_refusal
    return require


require_viewer, require_experimenter, require_admin = _role("viewer"), _role("experimenter"), _role("admin")
Viewer = Annotated[Principal, Depends(require_viewer)]
Experimenter = Annotated[Principal, Depends(require_experimenter)]
Admin = Annotated[Principal, Depends(require_admin)]


def _route_role(request: Request) -> str | None:
    route = request.scope.get("route")
    stack = [getattr(route, "dependant", None)]
    while stack:
        dep = stack.pop()
        if dep is None:
            continue
        if getattr(dep.call, "role", None):
            return dep.call.role
        stack += list(dep.dependencies)
    return None


def auth_refusal(request: Request):
    """The 401/403 answer a request would get from its route's role check, or None (used where FastAPI
    refused the body before running the dependencies, so that a bad body never hides a missing token)."""
    from matloop.serve.errors import error_response

    role = _route_role(request)
    if role is None:
        return None
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    principal = verify_token(request.app.state.db, token.strip()) if scheme.lower() == "bearer" else None
    if principal is None:
        return error_response(401, "a valid token is needed: 'Authorization: Bearer TOKEN'", headers=UNAUTHORIZED)
    if not principal.can(role) or (request.app.state.settings.read_only and role != "viewer"):
        return error_response(403, f"this needs the {role} role; the token's role is {principal.role}")
    return None
