"""``/api/tokens`` (admins): list, create (the token is shown once), revoke."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from matloop.serve import auth
from matloop.serve.deps import Admin, DbDep
from matloop.serve.schemas import ERRORS, TokenCreate, TokenOut

router = APIRouter(prefix="/api/tokens", tags=["tokens"])


@router.get("", responses=ERRORS, summary="every token (never a secret)")
def list_tokens(db: DbDep, _: Admin) -> list[dict]:
    return auth.list_tokens(db)


@router.post("", status_code=201, response_model=TokenOut, responses=ERRORS, summary="create a token (admin)")
def create_token(body: TokenCreate, db: DbDep, who: Admin):
    tid, token = auth.create_token(db, body.role, body.label, created_by=who.actor)
    return {"id": tid, "role": body.role, "label": body.label, "token": token}


@router.delete("/{token_id}", status_code=204, responses={**ERRORS, 404: {"description": "no such token"}},
               summary="revoke a token (admin)")
def revoke_token(token_id: int, db: DbDep, _: Admin) -> Response:
    if not auth.revoke_token(db, token_id):
        raise HTTPException(404, f"no unrevoked token {token_id}")
    return Response(status_code=204)
