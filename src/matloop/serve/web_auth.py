"""Browser login for the dashboard: a token once, then a signed session cookie with a CSRF token.

Why not the API's ``Authorization`` header: a browser cannot attach it to form posts, and a token kept
in page storage can be read by any script. So the login form exchanges the token (checked by
:func:`matloop.serve.auth.verify_token`, constant time, stored hashed) for a session cookie:

- the cookie holds ``{token id, role, actor, csrf, expiry}`` as base64 JSON signed with HMAC-SHA256
  under the server's secret (never the token itself), 32 random bytes created on first start and kept in
  the ledger database (:func:`matloop.serve.auth.session_secret`), so sessions survive a restart;
  ``HttpOnly``, ``SameSite=Strict``, ``Secure`` when served over HTTPS, ``Path=/``;
- every form carries the session's CSRF token and every POST compares it in constant time (the login
  form uses a pre-session cookie of its own: double submit), so a page on another site cannot post;
- each request re-checks that the token behind the session is not revoked (``matloop serve token
  revoke ID`` ends its sessions at once);
- roles are ordered ``viewer < experimenter < admin``, as in the API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from fastapi import Request

SESSION_COOKIE = "matloop_session"
LOGIN_CSRF_COOKIE = "matloop_login_csrf"
#: a session lasts 12 hours (a lab shift), then the token is asked again
SESSION_SECONDS = 12 * 3600
ROLES = ("viewer", "experimenter", "admin")


@dataclass(frozen=True)
class WebSession:
    """Who is logged in: the token's id (for revocation), role, actor string and CSRF token."""

    token_id: str
    role: str
    actor: str
    csrf: str
    expires: int

    def allows(self, role: str) -> bool:
        """Whether this session's role is ``role`` or above."""
        return ROLES.index(self.role) >= ROLES.index(role)


class LoginRequired(Exception):
    """No valid session: the dashboard redirects to the login page."""


class Forbidden(Exception):
    """A session whose role may not do this (403), or a form without the right CSRF token (403)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _secret(request: Request) -> bytes:
    """The app's signing key: the settings' ``session_secret`` if given, else the ledger database's
    (created once, shared by every process and restart of the server on that database)."""
    from matloop.serve.auth import session_secret

    state = request.app.state
    key = getattr(state, "dashboard_secret", None)
    if key is None:
        settings = getattr(state, "settings", None)
        given = getattr(settings, "session_secret", None)
        key = given.encode() if isinstance(given, str) and given else session_secret(_db(request))
        state.dashboard_secret = key
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(request: Request, payload: dict) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(_secret(request), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def unsign(request: Request, value: str | None) -> dict | None:
    """The payload of a cookie value signed by :func:`sign`, or None (bad signature, garbage, too long)."""
    if not value or len(value) > 4096 or value.count(".") != 1:
        return None
    body, mac = value.split(".")
    want = _b64(hmac.new(_secret(request), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac, want):
        return None
    try:
        data = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def principal_fields(principal) -> tuple[str, str, str]:
    """``(token id, role, actor)`` of a :class:`matloop.serve.auth.Principal` (attribute names tolerated)."""
    role = str(getattr(principal, "role", "viewer"))
    tid = getattr(principal, "token_id", None)
    if tid is None:
        tid = getattr(principal, "id", "")
    actor = getattr(principal, "actor", None) or getattr(principal, "name", None) or f"token {tid}"
    return str(tid), role, str(actor)


def _db(request: Request):
    """The server's shared database handle (:class:`matloop.serve.db.LedgerDB`)."""
    return request.app.state.db


def check_token(request: Request, token: str):
    """The :class:`~matloop.serve.auth.Principal` of a token typed into the login form, or None."""
    from matloop.serve.auth import verify_token

    token = (token or "").strip()
    if not token or len(token) > 512:
        return None
    return verify_token(_db(request), token)


def _still_valid(request: Request, token_id: str) -> bool:
    """Whether the token behind a session still exists and is not revoked."""
    from matloop.serve.auth import list_tokens

    if not token_id.isdigit():
        return False
    return any(t["id"] == int(token_id) and t["revoked_at"] is None for t in list_tokens(_db(request)))


def start_session(request: Request, principal) -> tuple[str, WebSession]:
    """The signed cookie value for a fresh session of ``principal``, and the session."""
    tid, role, actor = principal_fields(principal)
    if role not in ROLES:
        role = "viewer"
    sess = WebSession(tid, role, actor, secrets.token_urlsafe(24), int(time.time()) + SESSION_SECONDS)
    value = sign(request, {"tid": sess.token_id, "role": sess.role, "actor": sess.actor, "csrf": sess.csrf,
                           "exp": sess.expires})
    return value, sess


def current_session(request: Request) -> WebSession | None:
    """The session of this request's cookie, or None (no cookie, bad signature, expired, revoked token)."""
    data = unsign(request, request.cookies.get(SESSION_COOKIE))
    if not data:
        return None
    try:
        sess = WebSession(str(data["tid"]), str(data["role"]), str(data["actor"]), str(data["csrf"]),
                          int(data["exp"]))
    except (KeyError, TypeError, ValueError):
        return None
    if sess.role not in ROLES or sess.expires < time.time() or not _still_valid(request, sess.token_id):
        return None
    return sess


def require(request: Request, role: str = "viewer") -> WebSession:
    """The session, or :class:`LoginRequired` / :class:`Forbidden` (role below ``role``)."""
    sess = current_session(request)
    if sess is None:
        raise LoginRequired()
    if not sess.allows(role):
        raise Forbidden(f"your role ({sess.role}) may not do this; it needs {role}")
    return sess


def check_csrf(sess: WebSession, given: str | None) -> None:
    """Raise :class:`Forbidden` unless ``given`` is this session's CSRF token."""
    if not given or not hmac.compare_digest(str(given).encode(), sess.csrf.encode()):
        raise Forbidden("the form's security token is missing or stale: reload the page and try again")


def cookie_options(request: Request) -> dict:
    """``set_cookie`` keywords: HttpOnly, SameSite=Strict, Secure over HTTPS."""
    return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https", "path": "/"}
