"""Bearer tokens of ``matloop serve``: who may read, record and administer.

A token is ``mlt_<id>_<secret>``: the id names its row (so ``matloop serve token revoke ID`` and the
audit trail can refer to it), the secret is 32 random bytes. Only the SHA-256 of the secret is stored
(a random 256-bit secret needs no slow hash: there is nothing to guess), and a presented secret is
compared with :func:`hmac.compare_digest` on the hashes, so the time taken does not depend on how
much of it matched. Roles are ordered: ``viewer`` (read) < ``experimenter`` (suggest, record) <
``admin`` (create campaigns, veto, manage tokens).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update

from matloop.errors import InputError, error_table
from matloop.serve.db import tokens

ROLES = ("viewer", "experimenter", "admin")
PREFIX = "mlt_"

_DUMMY = hashlib.sha256(b"no such token").hexdigest()


@dataclass(frozen=True)
class Principal:
    """The holder of a valid token."""

    id: int
    role: str
    label: str

    def can(self, role: str) -> bool:
        """Whether this token's role is at least ``role``."""
        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def actor(self) -> str:
        """What the ledger stores as who did it."""
        return f"{self.label} (token {self.id})" if self.label else f"token {self.id}"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`, else an :class:`InputError`."""
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}", error_table([{"row": 0, "column": "role", "value": role,
                                                                 "reason": f"one of {', '.join(ROLES)}"}]))
    return role


def create_token(db, role: str, label: str = "", created_by: str = "matloop serve") -> tuple[int, str]:
    """A new token: ``(id, token)``. The token is returned once and never stored (only its hash)."""
    from matloop.serve.db import as_db

    check_role(role)
    label = str(label or "")[:200]
    secret = secrets.token_urlsafe(32)
    with as_db(db).engine.begin() as conn:
        tid = conn.execute(insert(tokens).values(role=role, hash=_hash(secret), label=label,
                                                 created_at=datetime.now(UTC), created_by=created_by[:200])
                           ).inserted_primary_key[0]
    return int(tid), f"{PREFIX}{tid}_{secret}"


def revoke_token(db, token_id: int) -> bool:
    """Revoke a token for good; False if there is no such (unrevoked) token."""
    from matloop.serve.db import as_db

    with as_db(db).engine.begin() as conn:
        done = conn.execute(update(tokens).where(tokens.c.id == int(token_id), tokens.c.revoked_at.is_(None))
                            .values(revoked_at=datetime.now(UTC))).rowcount
    return bool(done)


def list_tokens(db) -> list[dict]:
    """Every token's id, role, label, creation and revocation (never a hash or a secret)."""
    from matloop.serve.db import as_db

    with as_db(db).engine.connect() as conn:
        rows = conn.execute(select(tokens.c.id, tokens.c.role, tokens.c.label, tokens.c.created_at,
                                   tokens.c.created_by, tokens.c.revoked_at).order_by(tokens.c.id)).mappings().all()
    return [{**dict(r), "created_at": r["created_at"].isoformat() if r["created_at"] else None,
             "revoked_at": r["revoked_at"].isoformat() if r["revoked_at"] else None} for r in rows]


def count_tokens(db) -> int:
    """How many tokens were ever created (0 on a server's first start)."""
    from sqlalchemy import func

    from matloop.serve.db import as_db

    with as_db(db).engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tokens)).scalar_one())


def verify_token(db, token: str | None) -> Principal | None:
    """The :class:`Principal` of a valid, unrevoked token, else None.

    The presented secret's hash is compared with the stored one by :func:`hmac.compare_digest`; a
    malformed token or an unknown id is compared against a dummy hash, so every refusal costs the same."""
    from matloop.serve.db import as_db

    tid, secret = _parse(token)
    row = None
    if tid is not None:
        with as_db(db).reader.connect() as conn:
            row = conn.execute(select(tokens.c.role, tokens.c.hash, tokens.c.label, tokens.c.revoked_at)
                               .where(tokens.c.id == tid)).first()
    stored = row.hash if row is not None else _DUMMY
    ok = hmac.compare_digest(_hash(secret or ""), stored)
    if not ok or row is None or row.revoked_at is not None or row.role not in ROLES:
        return None
    return Principal(tid, row.role, row.label)


def _parse(token: str | None) -> tuple[int | None, str | None]:
    if not token or not token.startswith(PREFIX) or len(token) > 200:
        return None, None
    head, _, secret = token[len(PREFIX):].partition("_")
    if not (head.isascii() and head.isdigit()) or not secret or len(head) > 12:
        return None, None
    return int(head), secret


def session_secret(db) -> bytes:
    """The key that signs the dashboard's session cookies: 32 random bytes created on the server's first
    start and kept in the ledger database (``serve_secrets``), so that a restart keeps people logged in
    (a revoked token still ends its sessions: every request re-checks it). Never printed or logged;
    whoever can read the database can already read every campaign."""
    from sqlalchemy.exc import IntegrityError

    from matloop.serve.db import as_db, secrets_table

    db = as_db(db)
    q = select(secrets_table.c.value).where(secrets_table.c.name == "session")
    with db.engine.connect() as conn:
        row = conn.execute(q).first()
    if row is None:
        try:
            with db.engine.begin() as conn:
                conn.execute(insert(secrets_table).values(name="session", value=secrets.token_hex(32),
                                                          created_at=datetime.now(UTC)))
        except IntegrityError:  # another process started at the same moment and created it first
            pass
        with db.engine.connect() as conn:
            row = conn.execute(q).first()
    return bytes.fromhex(row[0])
